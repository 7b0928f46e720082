#include "training/config/yaml_node.h"

#include <charconv>

#include "rowshard/engine/error.h"

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

std::string range_problem(int64_t minimum, int64_t maximum, std::string_view value) {
  if (maximum == INT64_MAX) return message("must be at least ", minimum, ", got ", value);
  if (minimum == INT64_MIN) return message("must be at most ", maximum, ", got ", value);
  return message("must be in [", minimum, ", ", maximum, "], got ", value);
}

}  // namespace

struct ConfigNode::Sources {
  struct SetArgument {
    std::string assignment;  // "key=value", as given
    // Its value, and the mappings it created on the way there.
    std::vector<YAML::Node> nodes;
  };
  std::string file;
  std::vector<SetArgument> set_arguments;  // in the order applied
};

ConfigNode ConfigNode::child(YAML::Node node, std::string path) const {
  // A later --set wins over an earlier one that gave a mapping around it.
  if (node.IsDefined())
    for (int i = static_cast<int>(sources_->set_arguments.size()) - 1; i >= 0; --i)
      for (const YAML::Node& given : sources_->set_arguments[i].nodes)
        if (given.is(node)) return {std::move(node), std::move(path), sources_, i};
  return {std::move(node), std::move(path), sources_, set_argument_};
}

std::string ConfigNode::location() const {
  if (!from_file())
    return message("--set '", sources_->set_arguments[set_argument_].assignment, "'");
  const YAML::Mark mark = node_.Mark();
  return mark.line >= 0 ? message(sources_->file, ":", mark.line + 1) : sources_->file;
}

void ConfigNode::fail(std::string_view problem) const {
  throw InvalidArgument(message(location(), ": ", path_.empty() ? "config" : path_, ": ", problem));
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
    if (known) continue;
    // The key's own line, but the origin of its value: "--set a.b=1" gives
    // the value and makes a key node that no line of the file holds.
    const ConfigNode value = child(entry.second, child_path(path_, key));
    ConfigNode(entry.first, value.path_, sources_, value.set_argument_)
        .fail(message("unknown key (valid here: ", valid, ")"));
  }
}

void ConfigNode::refuse_duplicate_keys(std::vector<YAML::Node>& visited) const {
  for (const YAML::Node& seen : visited)
    if (seen.is(node_)) return;
  visited.push_back(node_);
  if (node_.IsSequence())
    for (const ConfigNode& item : items()) item.refuse_duplicate_keys(visited);
  if (!node_.IsMap()) return;
  std::vector<YAML::Node> keys;
  for (const auto& entry : node_) {
    if (!entry.first.IsScalar())
      ConfigNode(entry.first, path_, sources_, set_argument_)
          .fail("expected a name as a key, got " + show(entry.first));
    const std::string path = child_path(path_, entry.first.Scalar());
    for (const YAML::Node& key : keys)
      if (key.Scalar() == entry.first.Scalar())
        ConfigNode(entry.first, path, sources_, set_argument_)
            .fail(from_file() ? message("duplicate key, first given at line ", key.Mark().line + 1)
                              : "duplicate key");
    keys.push_back(entry.first);
    child(entry.second, path).refuse_duplicate_keys(visited);
  }
}

bool ConfigNode::has(std::string_view key) const {
  return node_.IsMap() && node_[std::string(key)].IsDefined() && !node_[std::string(key)].IsNull();
}

ConfigNode ConfigNode::at(std::string_view key) const {
  if (!node_.IsMap()) fail("expected a mapping, got " + show(node_));
  if (!has(key)) fail(message("missing required key '", key, "'"));
  return child(node_[std::string(key)], child_path(path_, key));
}

std::optional<ConfigNode> ConfigNode::find(std::string_view key) const {
  if (!has(key)) return std::nullopt;
  return at(key);
}

std::vector<ConfigNode> ConfigNode::items() const {
  if (!node_.IsSequence()) fail("expected a list, got " + show(node_));
  std::vector<ConfigNode> out;
  for (std::size_t i = 0; i < node_.size(); ++i)
    out.push_back(child(node_[i], message(path_, "[", i, "]")));
  return out;
}

int64_t ConfigNode::as_integer(int64_t minimum, int64_t maximum) const {
  if (!node_.IsScalar()) fail("expected an integer, got " + show(node_));
  const std::string& text = node_.Scalar();
  int64_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (end != text.data() + text.size() ||
      (error != std::errc() && error != std::errc::result_out_of_range))
    fail("expected an integer, got " + show(node_));
  if (error == std::errc::result_out_of_range || value < minimum || value > maximum)
    fail(range_problem(minimum, maximum, text));
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

int64_t ConfigNode::integer(std::string_view key, int64_t fallback, int64_t minimum,
                            int64_t maximum) const {
  return has(key) ? at(key).as_integer(minimum, maximum) : fallback;
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
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& error) {
    throw InvalidArgument(message(file, ":", error.mark.line + 1, ": not valid YAML: ", error.msg));
  }
  auto sources = std::make_shared<ConfigNode::Sources>();
  sources->file = file;
  ConfigNode document(root, "", std::move(sources), -1);
  std::vector<YAML::Node> visited;
  document.refuse_duplicate_keys(visited);
  return document;
}

namespace {

// The node that "--set KEY=..." replaces, found by walking KEY's dotted parts
// from the root; yaml-cpp nodes are handles, so assigning to it writes into
// the document. Mappings missing on the way are made (unattached until the
// assignment).
struct OverrideTarget {
  YAML::Node node;
  std::string path;                 // as ConfigNode names it: "tables[0].rows"
  std::vector<YAML::Node> created;  // the mappings made on the way
};

OverrideTarget find_override_target(YAML::Node root, const std::string& key,
                                    const std::string& assignment) {
  OverrideTarget target{std::move(root), "", {}};
  std::size_t start = 0;
  while (true) {
    const std::size_t dot = key.find('.', start);
    const std::string part = key.substr(start, dot - start);
    const std::string parent_name = key.substr(0, start ? start - 1 : 0);
    YAML::Node parent = target.node;
    const bool index = !part.empty() && part.find_first_not_of("0123456789") == std::string::npos;
    if (parent.IsScalar())
      throw InvalidArgument(message("--set '", assignment, "': '", parent_name, "' is ",
                                    show(parent), ", not a mapping with key '", part, "'"));
    if (parent.IsSequence() && !index)
      throw InvalidArgument(message("--set '", assignment, "': '", parent_name,
                                    "' is a list: name its element by index, not '", part, "'"));
    if (index && parent.IsSequence()) {
      const std::size_t i = std::stoul(part);
      if (i >= parent.size())
        throw InvalidArgument(message("--set '", assignment, "': there is no element ", i, " in '",
                                      parent_name, "'"));
      target.node.reset(parent[i]);
      target.path += message("[", i, "]");
    } else {
      target.node.reset(parent[part]);
      target.path = child_path(target.path, part);
      if (!target.node.IsDefined() && dot != std::string::npos)
        target.created.push_back(target.node);
    }
    if (dot == std::string::npos) return target;
    start = dot + 1;
  }
}

}  // namespace

void apply_override(ConfigNode& document, const std::string& assignment) {
  const std::size_t equals = assignment.find('=');
  if (equals == std::string::npos || equals == 0)
    throw InvalidArgument(message("--set '", assignment, "': expected key=value"));
  YAML::Node value;
  try {
    value = YAML::Load(assignment.substr(equals + 1));
  } catch (const YAML::Exception& error) {
    throw InvalidArgument(message("--set '", assignment, "': the value is not YAML: ", error.msg));
  }
  OverrideTarget target =
      find_override_target(document.node_, assignment.substr(0, equals), assignment);

  std::vector<ConfigNode::Sources::SetArgument>& given = document.sources_->set_arguments;
  std::vector<YAML::Node> nodes = std::move(target.created);
  nodes.push_back(value);
  given.push_back({assignment, std::move(nodes)});
  std::vector<YAML::Node> visited;
  try {
    ConfigNode(value, target.path, document.sources_, static_cast<int>(given.size()) - 1)
        .refuse_duplicate_keys(visited);
  } catch (const InvalidArgument&) {
    given.pop_back();
    throw;
  }
  target.node = value;
}

}  // namespace rowshard::config
