#include "training/data/tsv_layout.h"

#include <xxhash.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <map>

#include "rowshard/engine/error.h"

namespace rowshard {
namespace {

void check_column(const TsvLayout& layout, const char* role, int column,
                  std::map<int, const char*>& role_of_column) {
  if (column < 0 || column >= layout.num_columns)
    throw OutOfRange(message("TsvLayout: ", role, " column ", column, " is out of range [0, ",
                             layout.num_columns, ")"));
  const auto [named, first_time] = role_of_column.emplace(column, role);
  if (!first_time)
    throw InvalidArgument(message("TsvLayout: column ", column, " is named twice, as ",
                                  named->second, " and as ", role));
}

// A dense field's value: a finite decimal number, integer or real, in plain
// or scientific notation; nullopt for anything else (NaN and infinities
// included). An integer converts exactly as static_cast<double> of it would:
// both round to nearest.
std::optional<double> dense_value(std::string_view text) {
  const char* const end = text.data() + text.size();
  double value = 0;
  const auto [stop, error] = std::from_chars(text.data(), end, value);
  if (error != std::errc() || stop != end || !std::isfinite(value)) return std::nullopt;
  return value;
}

}  // namespace

TsvLayout criteo_layout() {
  TsvLayout layout;
  layout.label_column = 0;
  for (int column = 1; column <= 13; ++column) layout.dense_columns.push_back(column);
  for (int column = 14; column <= 39; ++column) layout.categorical_columns.push_back(column);
  layout.num_columns = 40;
  return layout;
}

void validate_layout(const TsvLayout& layout) {
  if (layout.num_columns <= 0)
    throw InvalidArgument(message("TsvLayout: num_columns ", layout.num_columns, " must be > 0"));
  std::map<int, const char*> role_of_column;
  check_column(layout, "label", layout.label_column, role_of_column);
  for (int column : layout.dense_columns) check_column(layout, "dense", column, role_of_column);
  for (int column : layout.categorical_columns)
    check_column(layout, "categorical", column, role_of_column);
}

TsvLineParser::TsvLineParser(TsvLayout layout, std::vector<int64_t> rows_per_feature)
    : layout_(std::move(layout)), rows_per_feature_(std::move(rows_per_feature)) {
  validate_layout(layout_);
  if (rows_per_feature_.size() != layout_.categorical_columns.size())
    throw InvalidArgument(message("TsvLineParser: ", rows_per_feature_.size(), " row counts for ",
                                  layout_.categorical_columns.size(), " categorical features"));
  for (std::size_t k = 0; k < rows_per_feature_.size(); ++k)
    if (rows_per_feature_[k] <= 0)
      throw InvalidArgument(message("TsvLineParser: categorical feature ", k, " (column ",
                                    layout_.categorical_columns[k], ") has ", rows_per_feature_[k],
                                    " rows; a table has at least 1"));

  // Only the columns up to the last one named need a role: the rest are
  // ignored, however many num_columns allows.
  int last_named = layout_.label_column;
  for (int column : layout_.dense_columns) last_named = std::max(last_named, column);
  for (int column : layout_.categorical_columns) last_named = std::max(last_named, column);
  role_of_column_.resize(last_named + 1);
  role_of_column_[layout_.label_column] = {ColumnRole::Kind::label, 0};
  for (std::size_t k = 0; k < layout_.dense_columns.size(); ++k)
    role_of_column_[layout_.dense_columns[k]] = {ColumnRole::Kind::dense, static_cast<int>(k)};
  for (std::size_t k = 0; k < layout_.categorical_columns.size(); ++k)
    role_of_column_[layout_.categorical_columns[k]] = {ColumnRole::Kind::categorical,
                                                       static_cast<int>(k)};
}

std::optional<std::string> TsvLineParser::parse(std::string_view line, TsvExample& example) const {
  // Fields that the line lacks keep these values: missing.
  example.dense.assign(layout_.dense_columns.size(), 0.0f);
  example.categorical.assign(layout_.categorical_columns.size(), std::nullopt);
  bool has_label = false;

  const char* field = line.data();
  const char* const end = line.data() + line.size();
  for (int64_t column = 0;; ++column) {
    const auto* tab = static_cast<const char*>(std::memchr(field, '\t', end - field));
    const char* field_end = tab != nullptr ? tab : end;
    if (column == layout_.num_columns)
      return message("has more than ", layout_.num_columns, " columns");
    if (static_cast<std::size_t>(column) < role_of_column_.size()) {
      const ColumnRole role = role_of_column_[column];
      const std::string_view text(field, field_end - field);
      switch (role.kind) {
        case ColumnRole::Kind::ignored: break;
        case ColumnRole::Kind::label:
          if (text != "0" && text != "1")
            return message("column ", column, " (label) '", text, "' is not 0 or 1");
          example.label = text == "1" ? 1.0f : 0.0f;
          has_label = true;
          break;
        case ColumnRole::Kind::dense: {
          if (text.empty()) break;
          const std::optional<double> value = dense_value(text);
          if (!value) return message("column ", column, " '", text, "' is not a number");
          // Clips -0 too, to the +0 that an integer's transform gives.
          example.dense[role.feature] = static_cast<float>(std::log1p(*value > 0 ? *value : 0.0));
          break;
        }
        case ColumnRole::Kind::categorical:
          if (text.empty()) break;
          example.categorical[role.feature] =
              static_cast<int64_t>(XXH3_64bits_withSeed(text.data(), text.size(), role.feature) %
                                   static_cast<uint64_t>(rows_per_feature_[role.feature]));
          break;
      }
    }
    if (tab == nullptr) break;
    field = tab + 1;
  }
  if (!has_label) return message("column ", layout_.label_column, " (label) is missing");
  return std::nullopt;
}

}  // namespace rowshard
