// Reading a YAML document with errors that say where: every error names the
// file, the line and the key ("configs/x.yaml:12: tables[0].rows: expected
// an integer, got 'many'"), so a wrong config is fixed in one look.
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace rowshard::config {

class ConfigNode {
 public:
  ConfigNode(YAML::Node node, std::string path, std::string file)
      : node_(std::move(node)), path_(std::move(path)), file_(std::move(file)) {}

  const std::string& path() const { return path_; }
  const YAML::Node& yaml() const { return node_; }

  // Throws InvalidArgument "file:line: path: problem".
  [[noreturn]] void fail(std::string_view problem) const;

  // Refuses keys other than `allowed` (a misspelt key is an error, not a
  // silently ignored setting).
  void allow_only(std::initializer_list<std::string_view> allowed) const;

  bool has(std::string_view key) const;
  ConfigNode at(std::string_view key) const;  // required: fails when absent
  std::optional<ConfigNode> find(std::string_view key) const;

  bool is_map() const { return node_.IsMap(); }
  bool is_sequence() const { return node_.IsSequence(); }
  bool is_scalar() const { return node_.IsScalar(); }
  std::vector<ConfigNode> items() const;  // a sequence's elements

  int64_t as_integer(int64_t minimum = INT64_MIN) const;
  double as_number() const;
  bool as_bool() const;
  std::string as_string() const;
  std::string as_choice(std::initializer_list<std::string_view> choices) const;
  std::vector<int64_t> as_integers(int64_t minimum = INT64_MIN) const;
  std::vector<std::string> as_strings() const;

  // Optional keys with defaults.
  int64_t integer(std::string_view key, int64_t fallback, int64_t minimum = INT64_MIN) const;
  double number(std::string_view key, double fallback) const;
  bool boolean(std::string_view key, bool fallback) const;
  std::string string(std::string_view key, std::string fallback) const;

 private:
  YAML::Node node_;
  std::string path_;
  std::string file_;
};

// Parses `text` (the contents of `file`). YAML syntax errors become
// InvalidArgument naming the file and line.
ConfigNode parse_document(const std::string& text, const std::string& file);

// Applies one "--set a.b.c=value" override to the document: `value` is read
// as YAML (so "3", "[1, 2]" and "{name: sgd}" work); list elements are
// addressed by index ("tables.0.rows=100").
void apply_override(YAML::Node& document, const std::string& assignment);

}  // namespace rowshard::config
