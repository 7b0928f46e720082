#include "training/config/yaml_node.h"

#include <charconv>

#include "engine/error.h"

namespace rowshard::config {
namespace {

std::string child_path(const std::string& parent, std::string_view key) {
  return parent.empty() ? std::string(key) : parent + "." + std::string(key);
}

std::string show(const YAML::Node& node) {
  if (node.IsScalar()) return "'" + node.Scalar() + "'";
  if (node.IsSequence()) return "a list";
  if (node.IsMap()) return "a mapping";
  return "nothing";
}

}  // namespace

void ConfigNode::fail(std::string_view problem) const {
  const YAML::Mark mark = node_.Mark();
  const std::string where =
      mark.line >= 0 ? message(file_, ":", mark.line + 1) : file_;
  throw InvalidArgument(message(where, ": ", path_.empty() ? "config" : path_, ": ", problem));
}

void ConfigNode::allow_only(std::initializer_list<std::string_view> allowed) const {
  if (!node_.IsMap()) fail("expected a mapping, got " + show(node_));
  for (const auto& entry : node_) {
    const std::string key = entry.first.as<std::string>();
    bool known = false;
    std::string valid;
    for (std::string_view name : allowed) {
      known = known || key == name;
      valid += message(valid.empty() ? "" : ", ", name);
    }
    if (!known)
      ConfigNode(entry.first, child_path(path_, key), file_)
          .fail(message("unknown key (valid here: ", valid, ")"));
  }
}

bool ConfigNode::has(std::string_view key) const {
  return node_.IsMap() && node_[std::string(key)].IsDefined() && !node_[std::string(key)].IsNull();
}

ConfigNode ConfigNode::at(std::string_view key) const {
  if (!node_.IsMap()) fail("expected a mapping, got " + show(node_));
  if (!has(key)) fail(message("missing required key '", key, "'"));
  return {node_[std::string(key)], child_path(path_, key), file_};
}

std::optional<ConfigNode> ConfigNode::find(std::string_view key) const {
  if (!has(key)) return std::nullopt;
  return at(key);
}

std::vector<ConfigNode> ConfigNode::items() const {
  if (!node_.IsSequence()) fail("expected a list, got " + show(node_));
  std::vector<ConfigNode> out;
  for (std::size_t i = 0; i < node_.size(); ++i)
    out.emplace_back(node_[i], message(path_, "[", i, "]"), file_);
  return out;
}

int64_t ConfigNode::as_integer(int64_t minimum) const {
  if (!node_.IsScalar()) fail("expected an integer, got " + show(node_));
  const std::string& text = node_.Scalar();
  int64_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size())
    fail("expected an integer, got " + show(node_));
  if (value < minimum) fail(message("must be at least ", minimum, ", got ", value));
  return value;
}

double ConfigNode::as_number() const {
  if (!node_.IsScalar()) fail("expected a number, got " + show(node_));
  try {
    std::size_t used = 0;
    const double value = std::stod(node_.Scalar(), &used);
    if (used == node_.Scalar().size()) return value;
  } catch (const std::exception&) {
  }
  fail("expected a number, got " + show(node_));
}

bool ConfigNode::as_bool() const {
  if (node_.IsScalar()) {
    const std::string& text = node_.Scalar();
    if (text == "true") return true;
    if (text == "false") return false;
  }
  fail("expected true or false, got " + show(node_));
}

std::string ConfigNode::as_string() const {
  if (!node_.IsScalar()) fail("expected a string, got " + show(node_));
  return node_.Scalar();
}

std::string ConfigNode::as_choice(std::initializer_list<std::string_view> choices) const {
  const std::string value = as_string();
  std::string valid;
  for (std::string_view choice : choices) {
    if (value == choice) return value;
    valid += message(valid.empty() ? "" : ", ", choice);
  }
  fail(message("'", value, "' is not one of: ", valid));
}

std::vector<int64_t> ConfigNode::as_integers(int64_t minimum) const {
  std::vector<int64_t> out;
  for (const ConfigNode& item : items()) out.push_back(item.as_integer(minimum));
  return out;
}

std::vector<std::string> ConfigNode::as_strings() const {
  std::vector<std::string> out;
  for (const ConfigNode& item : items()) out.push_back(item.as_string());
  return out;
}

int64_t ConfigNode::integer(std::string_view key, int64_t fallback, int64_t minimum) const {
  return has(key) ? at(key).as_integer(minimum) : fallback;
}
double ConfigNode::number(std::string_view key, double fallback) const {
  return has(key) ? at(key).as_number() : fallback;
}
bool ConfigNode::boolean(std::string_view key, bool fallback) const {
  return has(key) ? at(key).as_bool() : fallback;
}
std::string ConfigNode::string(std::string_view key, std::string fallback) const {
  return has(key) ? at(key).as_string() : std::move(fallback);
}

ConfigNode parse_document(const std::string& text, const std::string& file) {
  try {
    return {YAML::Load(text), "", file};
  } catch (const YAML::Exception& error) {
    throw InvalidArgument(message(file, ":", error.mark.line + 1, ": not valid YAML: ", error.msg));
  }
}

void apply_override(YAML::Node& document, const std::string& assignment) {
  const std::size_t equals = assignment.find('=');
  if (equals == std::string::npos || equals == 0)
    throw InvalidArgument(message("--set '", assignment, "': expected key=value"));
  const std::string key = assignment.substr(0, equals);
  YAML::Node value;
  try {
    value = YAML::Load(assignment.substr(equals + 1));
  } catch (const YAML::Exception& error) {
    throw InvalidArgument(message("--set '", assignment, "': the value is not YAML: ", error.msg));
  }
  // Walk the dotted path; yaml-cpp nodes are handles, so assigning through
  // the last one writes into the document.
  std::vector<YAML::Node> chain = {document};
  std::size_t start = 0;
  while (true) {
    const std::size_t dot = key.find('.', start);
    const std::string part = key.substr(start, dot - start);
    YAML::Node parent = chain.back();
    const bool index = !part.empty() && part.find_first_not_of("0123456789") == std::string::npos;
    if (index && parent.IsSequence()) {
      const std::size_t i = std::stoul(part);
      if (i >= parent.size())
        throw InvalidArgument(message("--set '", assignment, "': there is no element ", i,
                                      " in '", key.substr(0, start ? start - 1 : 0), "'"));
      chain.push_back(parent[i]);
    } else {
      chain.push_back(parent[part]);
    }
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  chain.back() = value;
}

}  // namespace rowshard::config
