#include "rowshard/io/checkpoint/manifest.h"

#include <nlohmann/json.hpp>

#include "io/checkpoint/shard_file.h"
#include "io/checksum.h"
#include "rowshard/engine/error.h"

namespace rowshard::checkpoint {
namespace {

using nlohmann::json;

constexpr std::string_view kFormat = "rowshard-checkpoint";
// Version 2 adds each table's steps_taken and settings; version 1
// manifests are still read (without them).
constexpr int64_t kFormatVersion = 2;

class Checker {
 public:
  explicit Checker(std::string_view file_name) : file_name_(file_name) {}

  [[noreturn]] void fail(std::string_view field, std::string_view problem) const {
    throw CorruptData(message("checkpoint manifest '", file_name_, "': ", field, ": ", problem));
  }

  const json& member(const json& object, const char* key, std::string_view where) const {
    if (!object.is_object() || !object.contains(key)) fail(message(where, key), "missing");
    return object.at(key);
  }
  int64_t integer(const json& object, const char* key, std::string_view where,
                  int64_t minimum = 0) const {
    const json& value = member(object, key, where);
    if (!value.is_number_integer()) fail(message(where, key), "not an integer");
    const auto number = value.get<int64_t>();
    if (number < minimum) fail(message(where, key), message(number, " is below ", minimum));
    return number;
  }
  std::string text(const json& object, const char* key, std::string_view where) const {
    const json& value = member(object, key, where);
    if (!value.is_string()) fail(message(where, key), "not a string");
    return value.get<std::string>();
  }
  uint64_t checksum(const json& object, std::string_view where) const {
    const std::optional<uint64_t> value = parse_checksum_hex(text(object, "xxh3", where));
    if (!value) fail(message(where, "xxh3"), "not 16 lowercase hex digits");
    return *value;
  }

 private:
  std::string_view file_name_;
};

// Checks that `files` of `kind` cover [0, rows) in order, with sizes that
// match their shapes.
void check_coverage(const Checker& check, const TableEntry& table, std::string_view kind,
                    int64_t columns, DType dtype, std::string_view where) {
  int64_t next = 0;
  for (const FileEntry& file : table.files) {
    if (file.kind != kind) continue;
    if (file.first_row != next)
      check.fail(message(where, file.path),
                 message("starts at row ", file.first_row, ", expected ", next));
    if (file.end_row <= file.first_row || file.end_row > table.rows)
      check.fail(message(where, file.path),
                 message("row range [", file.first_row, ", ", file.end_row,
                         ") is empty or past the table's ", table.rows, " rows"));
    const int64_t expected =
        static_cast<int64_t>(kShardHeaderBytes) +
        (file.end_row - file.first_row) * columns * static_cast<int64_t>(dtype_size(dtype));
    if (file.bytes != expected)
      check.fail(message(where, file.path),
                 message("bytes ", file.bytes, " does not match its shape (", expected, ")"));
    next = file.end_row;
  }
  if (next != table.rows)
    check.fail(message(where, kind, " files"),
               message("cover rows [0, ", next, ") of ", table.rows));
}

json settings_json(const TableEntry& table) {
  json settings = json::object();
  for (const auto& [name, value] : table.settings) settings[name] = value;
  return settings;
}

}  // namespace

bool is_safe_name(std::string_view name) {
  if (name.empty() || name == "." || name == "..") return false;
  for (char c : name)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-'))
      return false;
  return true;
}

std::string encode_manifest(const Manifest& manifest) {
  json tables = json::array();
  for (const TableEntry& table : manifest.tables) {
    json files = json::array();
    for (const FileEntry& file : table.files)
      files.push_back({{"kind", file.kind},
                       {"path", file.path},
                       {"first_row", file.first_row},
                       {"end_row", file.end_row},
                       {"bytes", file.bytes},
                       {"xxh3", checksum_hex(file.checksum)}});
    tables.push_back({{"name", table.name},
                      {"rows", table.rows},
                      {"dim", table.dim},
                      {"dtype", std::string(dtype_name(table.dtype))},
                      {"optimizer", table.optimizer},
                      {"state_columns", table.state_columns},
                      {"steps_taken", table.steps_taken},
                      {"settings", settings_json(table)},
                      {"files", files}});
  }
  json extras = json::array();
  for (const ExtraEntry& extra : manifest.extras)
    extras.push_back({{"name", extra.name},
                      {"path", extra.path},
                      {"bytes", extra.bytes},
                      {"xxh3", checksum_hex(extra.checksum)}});
  const json document = {{"format", kFormat},        {"format_version", kFormatVersion},
                         {"step", manifest.step},    {"world_size", manifest.world_size},
                         {"tables", tables},         {"extras", extras},
                         {"config", manifest.config}};
  return document.dump(2) + "\n";
}

Manifest parse_manifest(std::string_view text, std::string_view file_name) {
  const Checker check(file_name);
  json document;
  try {
    document = json::parse(text);
  } catch (const json::exception& error) {
    check.fail("document", message("not JSON: ", error.what()));
  }
  if (check.text(document, "format", "") != kFormat)
    check.fail("format", "not a rowshard checkpoint");
  const int64_t version = check.integer(document, "format_version", "");
  if (version < 1 || version > kFormatVersion)
    check.fail("format_version", message("unsupported (valid: 1 to ", kFormatVersion, ")"));

  Manifest manifest;
  manifest.step = check.integer(document, "step", "");
  manifest.world_size = check.integer(document, "world_size", "", 1);
  manifest.config = check.text(document, "config", "");
  const json& tables = check.member(document, "tables", "");
  if (!tables.is_array()) check.fail("tables", "not an array");
  for (std::size_t t = 0; t < tables.size(); ++t) {
    const std::string where = message("tables[", t, "].");
    const json& entry = tables[t];
    TableEntry table;
    table.name = check.text(entry, "name", where);
    if (!is_safe_name(table.name))
      check.fail(where + "name", "'" + table.name + "' is not a safe name");
    table.rows = check.integer(entry, "rows", where);
    table.dim = check.integer(entry, "dim", where, 1);
    const std::optional<DType> dtype = dtype_from_name(check.text(entry, "dtype", where));
    if (!dtype) check.fail(where + "dtype", "not f32, f16 or bf16");
    table.dtype = *dtype;
    table.optimizer = check.text(entry, "optimizer", where);
    table.state_columns = check.integer(entry, "state_columns", where);
    if (version >= 2) {
      table.steps_taken = static_cast<uint64_t>(check.integer(entry, "steps_taken", where));
      const json& settings = check.member(entry, "settings", where);
      if (!settings.is_object()) check.fail(where + "settings", "not an object");
      for (const auto& [name, value] : settings.items())
        table.settings.emplace_back(name, check.text(settings, name.c_str(), where + "settings."));
    }
    const json& files = check.member(entry, "files", where);
    if (!files.is_array()) check.fail(where + "files", "not an array");
    for (std::size_t i = 0; i < files.size(); ++i) {
      const std::string file_where = message(where, "files[", i, "].");
      FileEntry file;
      file.kind = check.text(files[i], "kind", file_where);
      if (file.kind != "weight" && file.kind != "state")
        check.fail(file_where + "kind", "'" + file.kind + "' is not weight or state");
      file.path = check.text(files[i], "path", file_where);
      file.first_row = check.integer(files[i], "first_row", file_where);
      file.end_row = check.integer(files[i], "end_row", file_where);
      file.bytes = check.integer(files[i], "bytes", file_where);
      file.checksum = check.checksum(files[i], file_where);
      const std::string expected_path =
          message(table.name, "/", file.kind, ".", file.first_row, "-", file.end_row, ".bin");
      if (file.path != expected_path)
        check.fail(file_where + "path", "'" + file.path + "' should be '" + expected_path + "'");
      table.files.push_back(file);
    }
    check_coverage(check, table, "weight", table.dim, table.dtype, where);
    if (table.state_columns > 0)
      check_coverage(check, table, "state", table.state_columns, DType::f32, where);
    manifest.tables.push_back(std::move(table));
  }
  const json& extras = check.member(document, "extras", "");
  if (!extras.is_array()) check.fail("extras", "not an array");
  for (std::size_t i = 0; i < extras.size(); ++i) {
    const std::string where = message("extras[", i, "].");
    ExtraEntry extra;
    extra.name = check.text(extras[i], "name", where);
    if (!is_safe_name(extra.name))
      check.fail(where + "name", "'" + extra.name + "' is not a safe name");
    extra.path = check.text(extras[i], "path", where);
    if (extra.path != "extras/" + extra.name + ".bin")
      check.fail(where + "path", "'" + extra.path + "' should be 'extras/" + extra.name + ".bin'");
    extra.bytes = check.integer(extras[i], "bytes", where);
    extra.checksum = check.checksum(extras[i], where);
    manifest.extras.push_back(std::move(extra));
  }
  return manifest;
}

}  // namespace rowshard::checkpoint
