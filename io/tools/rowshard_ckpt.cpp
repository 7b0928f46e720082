// rowshard-ckpt: look into, check, and convert checkpoints.
//
//   rowshard-ckpt inspect DIR
//       the step, every table (shape, dtype, optimizer, files) and extra,
//       and whether each file's checksum holds, as JSON
//   rowshard-ckpt verify DIR
//       checks every file against the manifest and its checksum; exit 1 on
//       the first problem, naming the file and the field
//   rowshard-ckpt export DIR OUT.npy --table NAME
//   rowshard-ckpt export DIR OUT.safetensors [--table NAME]
//       tables as PyTorch loads them: np.load / safetensors.torch.load_file
//       ("<table>.weight" and, when the optimizer keeps state,
//       "<table>.optimizer_state"); bf16 goes to .npy as float32
//   rowshard-ckpt import FILE --table NAME --root ROOT [--tensor T]
//                 [--step N] [--optimizer sgd|adagrad|rowwise_adagrad]
//       a .npy or safetensors table into ROOT/ckpt-<N> (optimizer state
//       zero); N is at least 0 and ROOT/ckpt-<N> must not exist yet
//   rowshard-ckpt --help
//       this usage, on stdout
#include <charconv>
#include <cstdio>
#include <cstring>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "rowshard/engine/element_types.h"
#include "rowshard/engine/embedding_bag_collection.h"
#include "rowshard/engine/error.h"
#include "rowshard/io/checkpoint/directory.h"
#include "rowshard/io/checkpoint/restore.h"
#include "rowshard/io/checkpoint/save.h"
#include "rowshard/io/npy/npy_file.h"
#include "rowshard/io/pretrained.h"
#include "rowshard/io/safetensors/safetensors_file.h"

namespace {

using namespace rowshard;
using namespace rowshard::checkpoint;

constexpr const char* kUsage =
    "usage: rowshard-ckpt inspect DIR\n"
    "       rowshard-ckpt verify DIR\n"
    "       rowshard-ckpt export DIR OUT.npy|OUT.safetensors [--table NAME]\n"
    "       rowshard-ckpt import FILE --table NAME --root ROOT [--tensor T] [--step N]\n"
    "                     [--optimizer sgd|adagrad|rowwise_adagrad]\n"
    "       rowshard-ckpt --help\n";

struct Arguments {
  bool help = false;
  std::vector<std::string> positional;
  std::map<std::string, std::string> options;

  std::optional<std::string> option(const std::string& name) const {
    const auto at = options.find(name);
    if (at == options.end()) return std::nullopt;
    return at->second;
  }
  std::string required(const std::string& name) const {
    const auto value = option(name);
    if (!value) throw InvalidArgument(message("--", name, " is required"));
    return *value;
  }
};

Arguments parse(int argc, char** argv) {
  Arguments arguments;
  for (int i = 1; i < argc; ++i) {
    const std::string word = argv[i];
    if (word == "--help" || word == "-h") {
      arguments.help = true;
    } else if (word.starts_with("--")) {
      if (i + 1 == argc) throw InvalidArgument(message(word, " needs a value"));
      arguments.options[word.substr(2)] = argv[++i];
    } else {
      arguments.positional.push_back(word);
    }
  }
  return arguments;
}

int inspect(const std::filesystem::path& directory) {
  const Manifest manifest = read_manifest(directory);
  nlohmann::ordered_json out = {{"checkpoint", directory.string()},
                                {"step", manifest.step},
                                {"world_size", manifest.world_size}};
  bool all_ok = true;
  for (const TableEntry& table : manifest.tables) {
    nlohmann::ordered_json files = nlohmann::json::array();
    for (const FileEntry& file : table.files) {
      std::string status = "ok";
      try {
        verify_file(directory, table, file);
      } catch (const Error& error) {
        status = error.what();
        all_ok = false;
      }
      files.push_back({{"path", file.path},
                       {"rows", {file.first_row, file.end_row}},
                       {"bytes", file.bytes},
                       {"checksum", status}});
    }
    out["tables"].push_back({{"name", table.name},
                             {"rows", table.rows},
                             {"dim", table.dim},
                             {"dtype", std::string(dtype_name(table.dtype))},
                             {"optimizer", table.optimizer},
                             {"state_columns", table.state_columns},
                             {"files", files}});
  }
  for (const ExtraEntry& extra : manifest.extras)
    out["extras"].push_back({{"name", extra.name}, {"bytes", extra.bytes}});
  std::printf("%s\n", out.dump(2).c_str());
  return all_ok ? 0 : 1;
}

int verify(const std::filesystem::path& directory) {
  const Manifest manifest = read_manifest(directory);
  int64_t files = 0;
  for (const TableEntry& table : manifest.tables) {
    read_whole(directory, table, "weight", true);
    if (table.state_columns > 0) read_whole(directory, table, "state", true);
    files += static_cast<int64_t>(table.files.size());
  }
  std::printf("ok: %s, step %lld, %lld files verified\n", directory.c_str(),
              static_cast<long long>(manifest.step), static_cast<long long>(files));
  return 0;
}

// Weights as float32 (npy has no bf16) when `widen`, else as stored.
std::vector<std::byte> weights_for_export(const std::vector<std::byte>& bytes, DType dtype,
                                          bool widen) {
  if (!widen || dtype == DType::f32) return bytes;
  std::vector<std::byte> out(bytes.size() / dtype_size(dtype) * 4);
  visit_element_type(dtype, [&]<typename Element>(Element) {
    for (std::size_t i = 0; i < bytes.size() / sizeof(Element); ++i) {
      Element value;
      std::memcpy(&value, &bytes[i * sizeof(Element)], sizeof(Element));
      const float widened = to_float(value);
      std::memcpy(&out[i * 4], &widened, 4);
    }
  });
  return out;
}

int export_checkpoint(const std::filesystem::path& directory, const std::string& out,
                      const std::optional<std::string>& only) {
  const Manifest manifest = read_manifest(directory);
  std::vector<const TableEntry*> tables;
  for (const TableEntry& table : manifest.tables)
    if (!only || table.name == *only) tables.push_back(&table);
  if (tables.empty())
    throw InvalidArgument(
        message("checkpoint '", directory.string(), "' has no table '", only.value_or(""), "'"));
  if (out.ends_with(".npy")) {
    if (!only) throw InvalidArgument("export to .npy needs --table: one file holds one table");
    const TableEntry& table = *tables[0];
    const bool half = table.dtype == DType::f16;
    const std::vector<std::byte> weights =
        weights_for_export(read_whole(directory, table, "weight"), table.dtype, !half);
    npy::write(out, *npy::element_type_of(half ? DType::f16 : DType::f32), {table.rows, table.dim},
               weights.data());
    return 0;
  }
  if (!out.ends_with(".safetensors"))
    throw InvalidArgument(message("export target '", out, "' is neither .npy nor .safetensors"));
  std::vector<std::vector<std::byte>> buffers;
  buffers.reserve(2 * tables.size());  // the tensors' spans point into them
  std::vector<safetensors::NamedTensor> tensors;
  for (const TableEntry* table : tables) {
    buffers.push_back(read_whole(directory, *table, "weight"));
    tensors.push_back({table->name + ".weight",
                       safetensors::tensor_type_of(table->dtype),
                       {table->rows, table->dim},
                       buffers.back()});
    if (table->state_columns > 0) {
      buffers.push_back(read_whole(directory, *table, "state"));
      Shape shape = {table->rows};
      if (table->state_columns > 1) shape.push_back(table->state_columns);
      tensors.push_back(
          {table->name + ".optimizer_state", safetensors::TensorType::f32, shape, buffers.back()});
    }
  }
  safetensors::write(out, tensors, {{"step", std::to_string(manifest.step)}});
  return 0;
}

// --step of import: a whole number, at least 0.
int64_t import_step(const Arguments& arguments) {
  const std::string text = arguments.option("step").value_or("0");
  int64_t step = -1;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), step);
  if (error != std::errc() || end != text.data() + text.size() || step < 0)
    throw InvalidArgument(message("import: --step '", text,
                                  "' is not a step: a whole number from 0 to ",
                                  std::numeric_limits<int64_t>::max()));
  return step;
}

int import_table(const Arguments& arguments) {
  const std::string file = arguments.positional.at(1);
  const std::filesystem::path root = arguments.required("root");
  const int64_t step = import_step(arguments);
  const std::filesystem::path checkpoint = root / checkpoint_name(step);
  if (std::filesystem::exists(checkpoint))
    throw InvalidArgument(message("import: '", checkpoint.string(),
                                  "' already exists; import never replaces a checkpoint: "
                                  "choose another --step or --root"));
  const PretrainedFile pretrained{file, arguments.option("tensor")};
  const RowStorage weights = map_pretrained(pretrained, false);
  CollectionTableConfig config;
  config.table.name = arguments.required("table");
  config.table.num_embeddings = weights.num_rows();
  config.table.embedding_dim = weights.dim();
  config.table.dtype = weights.dtype();
  if (const auto kind = arguments.option("optimizer")) {
    const auto parsed = parse_optimizer_kind(*kind);
    if (!parsed) throw InvalidArgument(message("--optimizer '", *kind, "' is not known"));
    config.optimizer.kind = *parsed;
  }
  EmbeddingBagCollection collection({config}, {{"imported", config.table.name, false}});
  load_pretrained(collection, 0, pretrained);
  SaveOptions options{
      .root = root, .step = step, .keep_last = 0, .config = "imported from " + file};
  options.record_settings = false;  // the defaults here are not the user's settings
  const auto saved = save(collection, options);
  std::printf("%s\n", saved.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const Arguments arguments = parse(argc, argv);
    if (arguments.help) {
      std::fputs(kUsage, stdout);
      return 0;
    }
    const std::vector<std::string>& words = arguments.positional;
    if (words.size() == 2 && words[0] == "inspect") return inspect(words[1]);
    if (words.size() == 2 && words[0] == "verify") return verify(words[1]);
    if (words.size() == 3 && words[0] == "export")
      return export_checkpoint(words[1], words[2], arguments.option("table"));
    if (words.size() == 2 && words[0] == "import") return import_table(arguments);
    std::fputs(kUsage, stderr);
    return 2;
  } catch (const std::exception& error) {
    std::fprintf(stderr, "rowshard-ckpt: %s\n", error_text(error).c_str());
    return 1;
  }
}
