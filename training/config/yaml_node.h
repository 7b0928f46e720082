// Reading a YAML document with errors that say where: every error names the
// file, the line and the key ("configs/x.yaml:12: tables[0].rows: expected
// an integer, got 'many'"), or, for a value given on the command line, the
// --set argument and the key ("--set 'tables.0.rows=many': tables[0].rows:
// expected an integer, got 'many'"), so a wrong config is fixed in one look.
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace rowshard::config {

// One node of a document read by parse_document, with its key path
// ("tables[0].rows") and where it came from.
class ConfigNode {
 public:
  const std::string& path() const { return path_; }
  const YAML::Node& yaml() const { return node_; }

  // Throws InvalidArgument "file:line: path: problem", or
  // "--set 'key=value': path: problem" for a node that a --set gave.
  [[noreturn]] void fail(std::string_view problem) const;

  // Refuses keys other than `allowed` (a misspelt key is an error, not a
  // silently ignored setting).
  void allow_only(std::initializer_list<std::string_view> allowed) const;

  bool has(std::string_view key) const;
  ConfigNode at(std::string_view key) const;  // required: fails when absent
  std::optional<ConfigNode> find(std::string_view key) const;

  bool is_scalar() const { return node_.IsScalar(); }
  std::vector<ConfigNode> items() const;  // a sequence's elements

  // An integer in [minimum, maximum]; outside it, the error gives the range.
  int64_t as_integer(int64_t minimum = INT64_MIN, int64_t maximum = INT64_MAX) const;
  double as_number() const;
  bool as_bool() const;
  std::string as_string() const;
  std::string as_choice(std::initializer_list<std::string_view> choices) const;
  std::vector<int64_t> as_integers(int64_t minimum = INT64_MIN) const;
  std::vector<std::string> as_strings() const;

  // Optional keys with defaults.
  int64_t integer(std::string_view key, int64_t fallback, int64_t minimum = INT64_MIN,
                  int64_t maximum = INT64_MAX) const;
  double number(std::string_view key, double fallback) const;
  bool boolean(std::string_view key, bool fallback) const;
  std::string string(std::string_view key, std::string fallback) const;

 private:
  struct Sources;
  friend ConfigNode parse_document(const std::string& text, const std::string& file);
  friend void apply_override(ConfigNode& document, const std::string& assignment);

  ConfigNode(YAML::Node node, std::string path, std::shared_ptr<Sources> sources, int set_argument)
      : node_(std::move(node)),
        path_(std::move(path)),
        sources_(std::move(sources)),
        set_argument_(set_argument) {}
  // `node`, a node below this one, at `path`.
  ConfigNode child(YAML::Node node, std::string path) const;
  bool from_file() const { return set_argument_ < 0; }
  std::string location() const;
  // Refuses a key given twice in one mapping, here or below (yaml-cpp keeps
  // both and reads the first). `visited` holds the nodes seen already:
  // aliases share nodes and may even form cycles.
  void refuse_duplicate_keys(std::vector<YAML::Node>& visited) const;

  YAML::Node node_;
  std::string path_;
  std::shared_ptr<Sources> sources_;
  int set_argument_;  // the --set that gave this node (an index), or -1: the file
};

// Parses `text` (the contents of `file`) into the root of a document. YAML
// syntax errors and a key given twice in one mapping become InvalidArgument
// naming the file and line (both lines for a duplicate).
ConfigNode parse_document(const std::string& text, const std::string& file);

// Applies one "--set a.b.c=value" override to `document` (a root from
// parse_document): `value` is read as YAML (so "3", "[1, 2]" and
// "{name: sgd}" work); list elements are addressed by index
// ("tables.0.rows=100"). Errors found later in what it gave name
// `assignment` instead of a line of the file. Throws InvalidArgument, before
// changing the document, for a malformed assignment, a value that is not
// YAML or gives a key twice, a path through a scalar, a list addressed by
// name or an element past a list's end.
void apply_override(ConfigNode& document, const std::string& assignment);

}  // namespace rowshard::config
