// The safetensors reader against files an independent writer laid out from
// the specification (tests/io/fixtures, made by make_safetensors_fixtures.py),
// our writer against those bytes, and the reader against headers that lie.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "rowshard/engine/element_types.h"
#include "rowshard/engine/error.h"
#include "rowshard/io/safetensors/safetensors_file.h"

namespace rowshard::safetensors {
namespace {

const std::filesystem::path kFixtures = ROWSHARD_IO_FIXTURES;

// The fixtures our writer can reproduce byte for byte: compact JSON, the
// minimum padding, types we take.
constexpr const char* kWriterFixtures[] = {"float32_pair.safetensors", "float16_2x3.safetensors",
                                           "bfloat16.safetensors",
                                           "mixed_with_metadata.safetensors"};

std::string fixture(const char* name) { return (kFixtures / name).string(); }

// A path of this test's own, so tests run in parallel do not share files.
std::string temporary(const std::string& name) {
  const auto directory = std::filesystem::temp_directory_path() / "rowshard_safetensors_test";
  std::filesystem::create_directories(directory);
  const std::string test = ::testing::UnitTest::GetInstance()->current_test_info()->name();
  return (directory / (test + "_" + name)).string();
}

std::vector<std::byte> file_bytes(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  std::vector<char> chars((std::istreambuf_iterator<char>(file)), {});
  std::vector<std::byte> bytes(chars.size());
  if (!chars.empty()) std::memcpy(bytes.data(), chars.data(), chars.size());
  return bytes;
}

void write_bytes(const std::string& path, std::span<const std::byte> bytes) {
  std::ofstream file(path, std::ios::binary | std::ios::trunc);
  file.write(reinterpret_cast<const char*>(bytes.data()),
             static_cast<std::streamsize>(bytes.size()));
}

// A file whose header is `json` as given (no padding) and whose data is
// `data_bytes` zero bytes.
std::vector<std::byte> file_with_header(std::string_view json, std::size_t data_bytes) {
  std::vector<std::byte> bytes(8 + json.size() + data_bytes);
  for (std::size_t i = 0; i < 8; ++i)
    bytes[i] = static_cast<std::byte>((json.size() >> (8 * i)) & 0xff);
  std::memcpy(bytes.data() + 8, json.data(), json.size());
  return bytes;
}

Header parse(std::span<const std::byte> file) {
  return parse_header(file, file.size(), "lying.safetensors");
}

const TensorEntry& entry(const Header& header, std::string_view name) {
  for (const TensorEntry& tensor : header.tensors)
    if (tensor.name == name) return tensor;
  throw std::logic_error(message("no tensor '", name, "' in the header"));
}

// A tensor's elements, read straight from the file's bytes.
template <typename T>
std::vector<T> raw_values(const std::vector<std::byte>& file, const TensorEntry& tensor) {
  std::vector<T> values((tensor.data_end - tensor.data_begin) / sizeof(T));
  if (!values.empty())
    std::memcpy(values.data(), file.data() + tensor.data_begin, values.size() * sizeof(T));
  return values;
}

template <typename T>
std::span<const std::byte> bytes_of(const std::vector<T>& values) {
  return std::as_bytes(std::span(values));
}

TEST(Safetensors, ReadsTwoFloat32Tensors) {
  const Header header = read_header(fixture("float32_pair.safetensors"));
  EXPECT_TRUE(header.metadata.empty());
  EXPECT_EQ(header.data_start, 8u + 136u);
  ASSERT_EQ(header.tensors.size(), 2u);
  const TensorEntry& weight = header.tensors[0];
  EXPECT_EQ(weight.name, "embedding.weight");
  EXPECT_EQ(weight.type, TensorType::f32);
  EXPECT_EQ(weight.shape, (Shape{3, 4}));
  EXPECT_EQ(weight.data_begin, header.data_start);
  EXPECT_EQ(weight.data_end, header.data_start + 48);
  EXPECT_EQ(header.tensors[1].name, "dense.bias");
  EXPECT_EQ(header.tensors[1].data_begin, header.data_start + 48);

  Shape shape;
  const std::vector<float> weights =
      read_floats(fixture("float32_pair.safetensors"), "embedding.weight", &shape);
  EXPECT_EQ(shape, (Shape{3, 4}));
  ASSERT_EQ(weights.size(), 12u);
  for (int i = 0; i < 12; ++i) EXPECT_EQ(weights[i], i * 0.5f - 3) << i;
  const std::vector<float> bias =
      read_floats(fixture("float32_pair.safetensors"), "dense.bias", &shape);
  EXPECT_EQ(shape, Shape{4});
  ASSERT_EQ(bias.size(), 4u);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(bias[i], i * 0.25f + 1) << i;
}

TEST(Safetensors, AcceptsAHeaderPaddedWithSpaces) {
  const Header header = read_header(fixture("padded_header.safetensors"));
  EXPECT_EQ(header.data_start, 8u + 256u);
  ASSERT_EQ(header.tensors.size(), 2u);
  for (const char* name : {"embedding.weight", "dense.bias"})
    EXPECT_EQ(read_floats(fixture("padded_header.safetensors"), name),
              read_floats(fixture("float32_pair.safetensors"), name))
        << name;
}

TEST(Safetensors, WidensFloat16) {
  Shape shape;
  const std::vector<float> values = read_floats(fixture("float16_2x3.safetensors"), "half", &shape);
  EXPECT_EQ(shape, (Shape{2, 3}));
  ASSERT_EQ(values.size(), 6u);
  for (int i = 0; i < 6; ++i) EXPECT_EQ(values[i], i * 0.25f - 0.5f) << i;
}

TEST(Safetensors, WidensBFloat16RoundedToNearestEvenByNumPy) {
  const std::vector<float> values = read_floats(fixture("bfloat16.safetensors"), "brain");
  ASSERT_EQ(values.size(), 5u);
  for (int i = 0; i < 5; ++i)
    EXPECT_EQ(values[i], to_float(from_float<BFloat16>(i * 0.1f + 1))) << i;
  // 1 + 2^-8 and 1 + 3 * 2^-8 lie halfway between two BF16 values.
  EXPECT_EQ(read_floats(fixture("bfloat16.safetensors"), "ties"),
            (std::vector<float>{1.0f, 1.015625f}));
}

TEST(Safetensors, ReadsMetadataIntegersScalarsAndEmptyTensors) {
  const std::string path = fixture("mixed_with_metadata.safetensors");
  const Header header = read_header(path);
  EXPECT_EQ(header.metadata, (std::map<std::string, std::string>{
                                 {"format", "pt"}, {"producer", "make_safetensors_fixtures.py"}}));
  std::vector<std::string> names;
  for (const TensorEntry& tensor : header.tensors) names.push_back(tensor.name);
  EXPECT_EQ(names, (std::vector<std::string>{"ids", "counts", "scale", "naïve", "empty"}));

  const std::vector<std::byte> bytes = file_bytes(path);
  EXPECT_EQ(entry(header, "ids").type, TensorType::i64);
  EXPECT_EQ(raw_values<int64_t>(bytes, entry(header, "ids")),
            (std::vector<int64_t>{-10, -3, 4, 11, 18}));
  EXPECT_EQ(entry(header, "counts").type, TensorType::i32);
  EXPECT_EQ(entry(header, "counts").shape, (Shape{2, 2}));
  EXPECT_EQ(raw_values<int32_t>(bytes, entry(header, "counts")),
            (std::vector<int32_t>{-2, -1, 0, 1}));

  Shape shape{99};
  EXPECT_EQ(read_floats(path, "scale", &shape), std::vector<float>{2.5f});
  EXPECT_EQ(shape, Shape{});
  EXPECT_EQ(read_floats(path, "naïve"), (std::vector<float>{-1, 1}));
  EXPECT_TRUE(read_floats(path, "empty", &shape).empty());
  EXPECT_EQ(shape, (Shape{0, 3}));
}

TEST(Safetensors, WritesTheSameBytesAsTheIndependentWriter) {
  for (const char* name : kWriterFixtures) {
    const std::vector<std::byte> original = file_bytes(fixture(name));
    const Header header = read_header(fixture(name));
    std::vector<NamedTensor> tensors;
    for (const TensorEntry& tensor : header.tensors)
      tensors.push_back(
          {tensor.name, tensor.type, tensor.shape,
           std::span(original).subspan(tensor.data_begin, tensor.data_end - tensor.data_begin)});
    const std::string copy = temporary(name);
    write(copy, tensors, header.metadata);
    EXPECT_EQ(file_bytes(copy), original) << name;
  }
}

TEST(Safetensors, RoundTripsEveryTypeThroughWriterAndReader) {
  const std::vector<float> f32 = {0.5f, -1.25f, 3e-5f, 65504.0f, -0.0f, 7.0f};
  std::vector<Float16> f16;
  std::vector<BFloat16> bf16;
  for (float value : f32) {
    f16.push_back(from_float<Float16>(value));
    bf16.push_back(from_float<BFloat16>(value));
  }
  const std::vector<int64_t> i64 = {-(int64_t{1} << 40), 0, 1};
  const std::vector<int32_t> i32 = {7, -7};
  const std::vector<NamedTensor> tensors = {
      {"f32", TensorType::f32, {2, 3}, bytes_of(f32)},
      {"i32", TensorType::i32, {2}, bytes_of(i32)},
      {"f16", TensorType::f16, {3, 2}, bytes_of(f16)},
      {"bf16", TensorType::bf16, {6}, bytes_of(bf16)},
      {"i64", TensorType::i64, {3, 1}, bytes_of(i64)},
      {"nothing", TensorType::f32, {2, 0}, {}},
  };
  const std::string path = temporary("all_types.safetensors");
  write(path, tensors, {{"step", "12"}});

  const Header header = read_header(path);
  EXPECT_EQ(header.data_start % 8, 0u);
  EXPECT_EQ(header.metadata, (std::map<std::string, std::string>{{"step", "12"}}));
  ASSERT_EQ(header.tensors.size(), tensors.size());
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    EXPECT_EQ(header.tensors[i].name, tensors[i].name);
    EXPECT_EQ(header.tensors[i].type, tensors[i].type) << tensors[i].name;
    EXPECT_EQ(header.tensors[i].shape, tensors[i].shape) << tensors[i].name;
  }
  Shape shape;
  EXPECT_EQ(read_floats(path, "f32", &shape), f32);
  EXPECT_EQ(shape, (Shape{2, 3}));
  const std::vector<float> halves = read_floats(path, "f16");
  const std::vector<float> brains = read_floats(path, "bf16");
  for (std::size_t i = 0; i < f32.size(); ++i) {
    EXPECT_EQ(halves[i], to_float(f16[i])) << i;
    EXPECT_EQ(brains[i], to_float(bf16[i])) << i;
  }
  EXPECT_TRUE(read_floats(path, "nothing").empty());
  const std::vector<std::byte> bytes = file_bytes(path);
  EXPECT_EQ(raw_values<int64_t>(bytes, entry(header, "i64")), i64);
  EXPECT_EQ(raw_values<int32_t>(bytes, entry(header, "i32")), i32);
}

TEST(Safetensors, WritesAndReadsAFileWithoutTensors) {
  const std::string path = temporary("empty.safetensors");
  write(path, {});
  const Header header = read_header(path);
  EXPECT_TRUE(header.tensors.empty());
  EXPECT_EQ(header.data_start, 16u);  // "{}" and six spaces
  EXPECT_EQ(std::filesystem::file_size(path), 16u);
}

TEST(Safetensors, WriterRefusesBadTensorsBeforeCreatingTheFile) {
  const std::vector<float> four(4);
  const std::vector<NamedTensor> refused[] = {
      {{"twice", TensorType::f32, {4}, bytes_of(four)},
       {"twice", TensorType::f32, {4}, bytes_of(four)}},
      {{"__metadata__", TensorType::f32, {4}, bytes_of(four)}},
      {{"negative", TensorType::f32, {-4}, bytes_of(four)}},
      {{"overflowing", TensorType::f32, {int64_t{1} << 62, 4}, bytes_of(four)}},
      {{"short", TensorType::f32, {5}, bytes_of(four)}},
      {{"long", TensorType::f16, {4}, bytes_of(four)}},
      {{"bad \xff utf-8", TensorType::f32, {4}, bytes_of(four)}},
  };
  const std::string path = temporary("refused.safetensors");
  for (const std::vector<NamedTensor>& tensors : refused) {
    std::filesystem::remove(path);
    try {
      write(path, tensors);
      ADD_FAILURE() << "wrote '" << tensors[0].name << "'";
    } catch (const InvalidArgument& error) {
      EXPECT_NE(std::string(error.what()).find(path), std::string::npos) << error.what();
      EXPECT_NE(std::string(error.what()).find(tensors[0].name), std::string::npos) << error.what();
    }
    EXPECT_FALSE(std::filesystem::exists(path)) << tensors[0].name;
  }
  EXPECT_THROW(write(path, {}, {{"key", "bad \xff utf-8"}}), InvalidArgument);
}

TEST(Safetensors, RefusesMissingAndIntegerTensorsNamingThem) {
  try {
    read_floats(fixture("float32_pair.safetensors"), "embedding.wieght");
    ADD_FAILURE() << "read a tensor that is not there";
  } catch (const InvalidArgument& error) {
    const std::string text = error.what();
    for (const char* part :
         {"float32_pair.safetensors", "'embedding.wieght'", "'embedding.weight'", "'dense.bias'"})
      EXPECT_NE(text.find(part), std::string::npos) << part << " in " << text;
  }
  try {
    read_floats(fixture("mixed_with_metadata.safetensors"), "ids");
    ADD_FAILURE() << "read I64 as floats";
  } catch (const InvalidArgument& error) {
    const std::string text = error.what();
    EXPECT_NE(text.find("'ids'"), std::string::npos) << text;
    EXPECT_NE(text.find("I64"), std::string::npos) << text;
  }
}

TEST(Safetensors, ListsAtMostTwentyNamesWhenATensorIsMissing) {
  const std::vector<float> one(1);
  std::vector<NamedTensor> tensors;
  for (int i = 0; i < 25; ++i)
    tensors.push_back({message("t", i), TensorType::f32, {1}, bytes_of(one)});
  const std::string path = temporary("many.safetensors");
  write(path, tensors);
  try {
    read_floats(path, "absent");
    ADD_FAILURE() << "read a tensor that is not there";
  } catch (const InvalidArgument& error) {
    const std::string text = error.what();
    EXPECT_NE(text.find("'t19'"), std::string::npos) << text;
    EXPECT_EQ(text.find("'t20'"), std::string::npos) << text;
    EXPECT_NE(text.find("and 5 more"), std::string::npos) << text;
  }
}

TEST(Safetensors, DtypesItDoesNotTakeAreInvalidArgumentNamingThem) {
  EXPECT_THROW(read_header(fixture("float64.safetensors")), InvalidArgument);
  for (const char* dtype : {"F64", "F33", "U8", "f32", ""}) {
    const std::vector<std::byte> file = file_with_header(
        message(R"({"weight":{"dtype":")", dtype, R"(","shape":[2],"data_offsets":[0,8]}})"), 8);
    try {
      parse(file);
      ADD_FAILURE() << "accepted dtype '" << dtype << "'";
    } catch (const InvalidArgument& error) {
      const std::string text = error.what();
      EXPECT_NE(text.find(message("'", dtype, "'")), std::string::npos) << text;
      EXPECT_NE(text.find("'weight'"), std::string::npos) << text;
      EXPECT_NE(text.find("lying.safetensors"), std::string::npos) << text;
    }
  }
}

TEST(Safetensors, EveryTruncationIsCorruptDataNotACrash) {
  for (const char* name : kWriterFixtures) {
    const std::vector<std::byte> whole = file_bytes(fixture(name));
    for (std::size_t length = 0; length < whole.size(); ++length) {
      const std::span<const std::byte> prefix(whole.data(), length);
      EXPECT_THROW(parse_header(prefix, length, "truncated"), CorruptData)
          << name << " cut to " << length << " bytes";
    }
  }
  // The same through the file reader, which reads only what N announces.
  const std::vector<std::byte> whole = file_bytes(fixture("float32_pair.safetensors"));
  const std::string path = temporary("truncated.safetensors");
  for (std::size_t length = 0; length < whole.size(); ++length) {
    write_bytes(path, std::span(whole).first(length));
    EXPECT_THROW(read_header(path), CorruptData) << "cut to " << length << " bytes";
  }
}

TEST(Safetensors, HeadersThatLieAreCorruptDataNamingTheField) {
  const std::string f32_0_8 = R"({"dtype":"F32","shape":[2],"data_offsets":[0,8]})";
  struct Lie {
    std::string json;
    std::size_t data_bytes;
    std::string named;  // part of the message
  };
  const Lie lies[] = {
      {R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", 8, "[0, 16]"},
      {R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}})", 8, "[8, 0]"},
      {R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8, "needs 12"},
      {R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,12]}})", 12, "needs 8"},
      {R"({"a":)" + f32_0_8 + R"(,"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})", 12,
       "overlaps tensor 'a'"},
      {R"({"a":)" + f32_0_8 + R"(,"b":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", 8,
       "overlaps"},
      {R"({"a":)" + f32_0_8 + R"(,"b":{"dtype":"F32","shape":[2],"data_offsets":[12,20]}})", 20,
       "bytes [8, 12)"},
      {R"({"a":)" + f32_0_8 + "}", 12, "bytes [8, 12)"},
      {R"({"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", 8, "'shape' [-2]"},
      {R"({"a":{"dtype":"F32","shape":[2.0],"data_offsets":[0,8]}})", 8, "'shape'"},
      {R"({"a":{"dtype":"F32","shape":[18446744073709551616],"data_offsets":[0,8]}})", 8,
       "'shape'"},
      {R"({"a":{"dtype":"F32","shape":[9223372036854775808],"data_offsets":[0,8]}})", 8, "'shape'"},
      {R"({"a":{"dtype":"F32","shape":[4294967296,4294967296,16],"data_offsets":[0,8]}})", 8,
       "more than 2^64"},
      {R"({"a":{"dtype":"F32","shape":2,"data_offsets":[0,8]}})", 8, "'shape' 2"},
      {R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0]}})", 8, "'data_offsets'"},
      {R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[-8,0]}})", 8, "'data_offsets'"},
      {R"({"a":{"dtype":"F32","shape":[2],"data_offsets":{"0":8}}})", 8, "'data_offsets'"},
      {R"({"a":{"dtype":32,"shape":[2],"data_offsets":[0,8]}})", 8, "'dtype' 32"},
      {R"({"a":{"shape":[2],"data_offsets":[0,8]}})", 8, "no 'dtype'"},
      {R"({"a":{"dtype":"F32","data_offsets":[0,8]}})", 8, "no 'shape'"},
      {R"({"a":{"dtype":"F32","shape":[2]}})", 8, "no 'data_offsets'"},
      {R"({"a":[1,2]})", 0, "tensor 'a'"},
      {R"({"a":)" + f32_0_8 + R"(,"a":)" + f32_0_8 + "}", 8, "'a' twice"},
      {R"({"__metadata__":[1]})", 0, "'__metadata__'"},
      {R"({"__metadata__":{"step":12}})", 0, "'step'"},
      {R"({"a":)", 0, "not valid JSON"},
      {R"({"a":1}})", 0, "not valid JSON"},
      {"{\"\xff\":1}", 0, "not valid JSON"},
      {std::string("{}\0{\"a\":1}", 10), 0, "NUL byte at offset 10"},
      {" {}", 0, "start with '{'"},
      {"[]", 0, "start with '{'"},
      {"", 0, "start with '{'"},
      {"{\"a\":" + std::string(100000, '[') + std::string(100000, ']') + "}", 0, "tensor 'a'"},
  };
  for (const Lie& lie : lies) {
    const std::vector<std::byte> file = file_with_header(lie.json, lie.data_bytes);
    const std::string shown = lie.json.substr(0, 100);
    try {
      parse(file);
      ADD_FAILURE() << "accepted " << shown;
    } catch (const CorruptData& error) {
      const std::string text = error.what();
      EXPECT_NE(text.find("lying.safetensors"), std::string::npos) << text;
      EXPECT_NE(text.find(lie.named), std::string::npos)
          << "'" << lie.named << "' not in: " << text;
      EXPECT_LT(text.size(), 1000u) << shown;
    }
  }
}

TEST(Safetensors, HeaderSizeThatLiesIsCorruptData) {
  const std::vector<std::byte> valid = file_bytes(fixture("float32_pair.safetensors"));
  for (uint64_t size :
       {uint64_t{valid.size()}, uint64_t{valid.size() - 7}, ~uint64_t{0}, uint64_t{1} << 63}) {
    std::vector<std::byte> file = valid;
    for (std::size_t i = 0; i < 8; ++i) file[i] = static_cast<std::byte>((size >> (8 * i)) & 0xff);
    EXPECT_EQ(header_prefix_size(std::span(file).first(8), file.size()), 8u) << size;
    EXPECT_THROW(parse(file), CorruptData) << size;
  }
  // A header past the limit is refused from its size alone, without the
  // (here absent) bytes of the rest of the file.
  std::vector<std::byte> first_bytes(8);
  const uint64_t too_long = kMaxHeaderBytes + 1;
  for (std::size_t i = 0; i < 8; ++i)
    first_bytes[i] = static_cast<std::byte>((too_long >> (8 * i)) & 0xff);
  EXPECT_EQ(header_prefix_size(first_bytes, 2 * kMaxHeaderBytes), 8u);
  EXPECT_THROW(parse_header(first_bytes, 2 * kMaxHeaderBytes, "huge"), CorruptData);
}

TEST(Safetensors, PrefixShorterThanTheHeaderIsACallerError) {
  const std::vector<std::byte> file = file_bytes(fixture("float32_pair.safetensors"));
  EXPECT_EQ(header_prefix_size(std::span(file).first(8), file.size()), 8u + 136u);
  EXPECT_THROW(parse_header(std::span(file).first(100), file.size(), "short prefix"),
               InvalidArgument);
  EXPECT_THROW(parse_header(std::span(file).first(4), file.size(), "short prefix"),
               InvalidArgument);
  EXPECT_EQ(
      parse_header(std::span(file).first(8 + 136), file.size(), "exact prefix").tensors.size(), 2u);
}

// Changing any one byte of the header either leaves a header that parses or
// throws a rowshard::Error; nothing else escapes and nothing crashes.
TEST(Safetensors, SingleByteCorruptionsOfTheHeaderNeverCrash) {
  const std::vector<std::byte> valid = file_bytes(fixture("mixed_with_metadata.safetensors"));
  const std::size_t data_start = read_header(fixture("mixed_with_metadata.safetensors")).data_start;
  constexpr unsigned char kReplacements[] = {0x00, 0x01, 0x7f, 0x80, 0xff, '"', '[', ']', '{',
                                             '}',  ',',  ':',  '-',  '0',  '9', ' ', 'e'};
  for (std::size_t at = 0; at < data_start; ++at) {
    for (unsigned char value : kReplacements) {
      std::vector<std::byte> file = valid;
      file[at] = static_cast<std::byte>(value);
      try {
        parse(file);
      } catch (const Error&) {
      }
    }
  }
}

TEST(Safetensors, FilesThatCannotBeOpenedAreIoError) {
  EXPECT_THROW(read_header(temporary("does_not_exist.safetensors")), IoError);
  EXPECT_THROW(read_floats(temporary("does_not_exist.safetensors"), "x"), IoError);
  EXPECT_THROW(write(temporary("no_such_directory/x.safetensors"), {}), IoError);
}

}  // namespace
}  // namespace rowshard::safetensors
