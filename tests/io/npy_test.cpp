// The .npy reader against files NumPy wrote (tests/io/fixtures, made by
// make_npy_fixtures.py), and the writer against NumPy's bytes.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "rowshard/engine/error.h"
#include "rowshard/io/npy/npy_file.h"

namespace rowshard::npy {
namespace {

const std::filesystem::path kFixtures = ROWSHARD_NPY_FIXTURES;

std::string fixture(const char* name) { return (kFixtures / name).string(); }

std::vector<std::byte> file_bytes(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  std::vector<char> chars((std::istreambuf_iterator<char>(file)), {});
  std::vector<std::byte> bytes(chars.size());
  std::memcpy(bytes.data(), chars.data(), chars.size());
  return bytes;
}

TEST(Npy, ReadsNumPyFloat32) {
  const Array array = read(fixture("float32_3x4.npy"));
  EXPECT_EQ(array.header.type, ElementType::float32);
  EXPECT_EQ(array.header.shape, (Shape{3, 4}));
  const std::vector<float> values = array.values<float>("float32_3x4");
  ASSERT_EQ(values.size(), 12u);
  for (int i = 0; i < 12; ++i) EXPECT_EQ(values[i], i * 0.5f - 3) << i;
}

TEST(Npy, WidensNumPyFloat16) {
  const Array array = read(fixture("float16_2x3.npy"));
  EXPECT_EQ(array.header.type, ElementType::float16);
  const std::vector<float> values = array.values<float>("float16_2x3");
  for (int i = 0; i < 6; ++i) EXPECT_EQ(values[i], i * 0.25f) << i;
}

TEST(Npy, ReadsNumPyIntegers) {
  const std::vector<int64_t> wide = read(fixture("int64_5.npy")).values<int64_t>("");
  EXPECT_EQ(wide, (std::vector<int64_t>{-10, -3, 4, 11, 18}));
  const std::vector<int64_t> narrow = read(fixture("int32_4.npy")).values<int64_t>("");
  EXPECT_EQ(narrow, (std::vector<int64_t>{-2, -1, 0, 1}));
}

TEST(Npy, ReadsScalarsAndEmptyArrays) {
  const Array scalar = read(fixture("float32_scalar.npy"));
  EXPECT_EQ(scalar.header.shape, Shape{});
  EXPECT_EQ(scalar.values<float>(""), std::vector<float>{2.5f});
  const Array empty = read(fixture("float32_0x3.npy"));
  EXPECT_EQ(empty.header.shape, (Shape{0, 3}));
  EXPECT_TRUE(empty.values<float>("").empty());
}

TEST(Npy, RefusesWhatItDoesNotTakeAndSaysWhy) {
  EXPECT_THROW(read(fixture("fortran_order.npy")), InvalidArgument);
  EXPECT_THROW(read(fixture("big_endian.npy")), InvalidArgument);
  EXPECT_THROW(read(fixture("float64.npy")), InvalidArgument);
  try {
    read(fixture("fortran_order.npy"));
  } catch (const InvalidArgument& error) {
    EXPECT_NE(std::string(error.what()).find("Fortran order"), std::string::npos);
  }
  EXPECT_THROW(read(fixture("float32_3x4.npy")).values<int64_t>("x"), InvalidArgument);
}

TEST(Npy, WritesTheSameBytesAsNumPy) {
  const auto temporary = std::filesystem::temp_directory_path() / "rowshard_npy_test";
  std::filesystem::create_directories(temporary);
  for (const char* name :
       {"float32_3x4.npy", "int64_5.npy", "float32_scalar.npy", "float32_0x3.npy"}) {
    const Array original = read(fixture(name));
    const std::string copy = (temporary / name).string();
    write(copy, original.header.type, original.header.shape,
          original.bytes.data() + original.header.data_offset);
    EXPECT_EQ(file_bytes(copy), file_bytes(fixture(name))) << name;
  }
}

TEST(Npy, EveryTruncationIsCorruptDataNotACrash) {
  const std::vector<std::byte> whole = file_bytes(fixture("float32_3x4.npy"));
  for (std::size_t length = 0; length < whole.size(); ++length) {
    const std::span<const std::byte> prefix(whole.data(), length);
    EXPECT_THROW(parse_header(prefix, length, "truncated"), CorruptData) << "length " << length;
  }
}

TEST(Npy, HeaderThatLiesAboutTheShapeIsCorruptData) {
  std::vector<std::byte> bytes = file_bytes(fixture("float32_3x4.npy"));
  std::string text(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  for (const auto& [from, to] :
       std::vector<std::pair<std::string, std::string>>{{"(3, 4)", "(3, 5)"},
                                                        {"(3, 4)", "(9999999999999, 99999)"},
                                                        {"(3, 4)", "(3, -4)"},
                                                        {"NUMPY", "NUMPX"}}) {
    std::string bad = text;
    bad.replace(bad.find(from), from.size(), to);
    const std::span<const std::byte> span(reinterpret_cast<const std::byte*>(bad.data()),
                                          bad.size());
    EXPECT_THROW(parse_header(span, bad.size(), "lying"), CorruptData) << to;
  }
}

}  // namespace
}  // namespace rowshard::npy
