// Running one conformance case on the engine and comparing what it computes
// with the case's expected arrays.
#pragma once

#include <memory>
#include <optional>
#include <span>
#include <string>

#include "rowshard/engine/table.h"
#include "tests/conformance/conformance_case.h"

namespace rowshard::conformance {

struct Verdict {
  enum class Outcome { passed, failed, skipped };
  Outcome outcome = Outcome::passed;
  // For a failure, the first mismatch: "array, flat index, expected, got".
  std::string detail;
};

// How an error case's call was refused: kind "out_of_range",
// "invalid_argument", or empty when it was not refused; and the message.
struct Refusal {
  std::string kind;
  std::string what;
};

// A failed verdict unless `refusal` is of the `expected` kind. An
// OutOfRange is an InvalidArgument too, so it satisfies "invalid_argument".
std::optional<Verdict> check_refusal(const std::string& expected, const Refusal& refusal);

// The case's table (its weight.npy, from_pretrained, trainable) on `device`.
std::unique_ptr<Table> make_table(const Case& c, Device device = Device::cpu);
// The case's forward on `table`, made by make_table.
Lookup forward(Table& table, const Case& c);
// The table's fp32 weights, [rows, dim].
std::span<const float> table_values(const Table& table);

// Runs `c` on one unsharded table: forward (and the table after it),
// the dense gradient, then `steps` optimizer steps; or, for an error case,
// checks that the operation is refused with the expected kind of error and
// leaves the table as it was.
Verdict run_case(const Case& c);

}  // namespace rowshard::conformance
