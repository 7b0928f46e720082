#include "bench/command_line.h"

#include <iostream>

namespace rowshard::bench {

bool parse_command_line(int argc, char** argv,
                        const boost::program_options::options_description& options) {
  namespace po = boost::program_options;
  po::variables_map given;
  po::store(po::parse_command_line(argc, argv, options), given);
  if (given.count("help")) {
    std::cout << options << "\n";
    return false;
  }
  po::notify(given);
  return true;
}

}  // namespace rowshard::bench
