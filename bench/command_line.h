// Command-line parsing shared by the benchmarks.
#pragma once

#include <boost/program_options.hpp>

namespace rowshard::bench {

// Parses argv into the targets of `options`. Returns false, having printed
// the options, when --help was given; throws boost's errors for bad input.
bool parse_command_line(int argc, char** argv,
                        const boost::program_options::options_description& options);

}  // namespace rowshard::bench
