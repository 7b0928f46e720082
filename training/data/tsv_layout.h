// Which column of a tab-separated click log holds what, and how one line
// becomes one example.
//
// A line is fields separated by '\t'; columns count from 0. Per column role:
//
//   label        "0" or "1"                      -> 0.0f or 1.0f
//   dense        a decimal number v, or empty    -> log(1 + max(v, 0)), 0 if
//                                                   empty
//   categorical  any bytes, or empty             -> a row of the feature's
//                                                   table, none if empty
//   (other)      ignored
//
// The dense transform is the standard DLRM preprocessing of the Criteo
// counts (which may be -1): negatives clip to 0, then log1p, computed in
// double and rounded to float:
//   dense = float(log1p(max(double(v), 0)))
// A dense value may be an integer ("12", "-1") or a real ("2.5", "-0.3",
// "1e-3"), so logs of measured quantities load as they are. The transform is
// the same for both (a negative real becomes 0 as a negative count does), and
// an integer gives the bits it gave when only integers were allowed.
//
// Categorical feature k (its position in categorical_columns, not its
// column) hashes its field's bytes into the rows of its table:
//   row = XXH3_64bits_withSeed(field bytes, field size, seed = k)
//         % rows_per_feature[k]
// An empty field is a missing value: the feature has no id for that example
// (a bag of length 0).
//
// Missing trailing fields (a line with fewer fields than num_columns) are
// missing values too. A line is malformed when its label is missing or not
// "0"/"1", a dense field is not a finite number, or it has more than
// num_columns fields.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace rowshard {

struct TsvLayout {
  int label_column = 0;
  // The dense features, in the order of the dense vector.
  std::vector<int> dense_columns{};
  // The categorical features, in the order of the sparse features.
  std::vector<int> categorical_columns{};
  // How many fields a full line has.
  int64_t num_columns = 0;
};

// The Criteo click logs (Kaggle Display Advertising Challenge, Terabyte):
// 40 columns, the label in column 0, 13 integer features in columns 1-13,
// 26 hexadecimal categorical features in columns 14-39.
TsvLayout criteo_layout();

// Throws InvalidArgument naming the column unless num_columns > 0 and every
// column named is in [0, num_columns) and named once.
void validate_layout(const TsvLayout& layout);

// One example as parsed from a line.
struct TsvExample {
  float label = 0;
  // [dense_columns.size()]: transformed.
  std::vector<float> dense;
  // [categorical_columns.size()]: the row of each feature, or nullopt for a
  // missing value.
  std::vector<std::optional<int64_t>> categorical;
};

// Turns lines into examples for one layout and one row count per
// categorical feature. Immutable once built, so threads may share one.
class TsvLineParser {
 public:
  // Throws InvalidArgument for an invalid layout (see validate_layout), or
  // unless rows_per_feature holds one positive count per categorical column.
  TsvLineParser(TsvLayout layout, std::vector<int64_t> rows_per_feature);

  // Parses `line` (without its line ending) into `example`, whose vectors are
  // resized and reused. Returns nullopt, or what makes the line malformed
  // (e.g. "column 3 '12a' is not a number"); `example` is then unspecified.
  std::optional<std::string> parse(std::string_view line, TsvExample& example) const;

  const TsvLayout& layout() const { return layout_; }

 private:
  // What a column holds; `feature` indexes the dense or categorical features.
  struct ColumnRole {
    enum class Kind { ignored, label, dense, categorical } kind = Kind::ignored;
    int feature = 0;
  };

  TsvLayout layout_;
  std::vector<int64_t> rows_per_feature_;
  std::vector<ColumnRole> role_of_column_;  // [num_columns]
};

}  // namespace rowshard
