// TsvReader against a plain parse written here: the Criteo sample split with
// std::getline, its features computed from the documented formulas.
#include "training/data/tsv_reader.h"

#include <gtest/gtest.h>
#include <xxhash.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <numeric>
#include <sstream>

#include "rowshard/engine/error.h"
#include "training/data/tsv_held_out.h"

namespace rowshard {
namespace {

using OnMalformed = TsvReaderOptions::OnMalformed;

const std::string kCriteoSample = ROWSHARD_CRITEO_SAMPLE;

std::string file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line, '\n');) lines.push_back(line);
  return lines;
}

std::string joined(const std::vector<std::string>& lines) {
  std::string text;
  for (const std::string& line : lines) text += line + "\n";
  return text;
}

// A file of `contents` in the test's temporary directory.
std::string write_file(const std::string& name, const std::string& contents) {
  const std::string path = (std::filesystem::path(testing::TempDir()) / name).string();
  std::ofstream(path, std::ios::binary) << contents;
  return path;
}

// What one example should be.
struct Expected {
  float label = 0;
  std::vector<float> dense;
  std::vector<std::optional<int64_t>> ids;
};

// The fields of `line` by std::getline on '\t' (a '\t' appended, so that a
// trailing empty field is still a field).
std::vector<std::string> fields_of(const std::string& line) {
  std::vector<std::string> fields;
  std::istringstream in(line + "\t");
  for (std::string field; std::getline(in, field, '\t');) fields.push_back(field);
  return fields;
}

std::string joined_fields(const std::vector<std::string>& fields) {
  std::string line;
  for (const std::string& field : fields) line += (line.empty() ? "" : "\t") + field;
  return line;
}

// Parses `line` independently of the reader.
Expected expected_from(const std::string& line, const TsvLayout& layout,
                       const std::vector<int64_t>& rows) {
  std::vector<std::string> fields = fields_of(line);
  fields.resize(layout.num_columns);

  Expected expected;
  expected.label = std::stof(fields[layout.label_column]);
  for (int column : layout.dense_columns) {
    const std::string& field = fields[column];
    const double count = field.empty() ? 0.0 : std::max(0.0, double(std::stoll(field)));
    expected.dense.push_back(static_cast<float>(std::log(1.0 + count)));
  }
  for (std::size_t k = 0; k < layout.categorical_columns.size(); ++k) {
    const std::string& field = fields[layout.categorical_columns[k]];
    if (field.empty())
      expected.ids.push_back(std::nullopt);
    else
      expected.ids.push_back(XXH3_64bits_withSeed(field.data(), field.size(), k) % rows[k]);
  }
  return expected;
}

std::vector<Expected> expected_from(const std::vector<std::string>& lines, const TsvLayout& layout,
                                    const std::vector<int64_t>& rows) {
  std::vector<Expected> all;
  for (const std::string& line : lines) all.push_back(expected_from(line, layout, rows));
  return all;
}

// The examples of `batch`, read back out of its layout (checking it).
std::vector<Expected> examples_of(const ExampleBatch& batch, const TsvLayout& layout) {
  const auto num_dense = static_cast<int64_t>(layout.dense_columns.size());
  const auto num_features = static_cast<int64_t>(layout.categorical_columns.size());
  EXPECT_EQ(static_cast<int64_t>(batch.labels.size()), batch.size);
  EXPECT_EQ(static_cast<int64_t>(batch.dense.size()), batch.size * num_dense);
  EXPECT_EQ(static_cast<int64_t>(batch.sparse_lengths.size()), batch.size * num_features);
  EXPECT_EQ(std::accumulate(batch.sparse_lengths.begin(), batch.sparse_lengths.end(), int64_t{0}),
            static_cast<int64_t>(batch.sparse_values.size()));
  std::vector<Expected> examples(batch.size);
  for (int64_t b = 0; b < batch.size; ++b) {
    examples[b].label = batch.labels[b];
    examples[b].dense.assign(batch.dense.begin() + b * num_dense,
                             batch.dense.begin() + (b + 1) * num_dense);
  }
  std::size_t value = 0;
  for (int64_t f = 0; f < num_features; ++f) {
    for (int64_t b = 0; b < batch.size; ++b) {
      const int64_t length = batch.sparse_lengths[f * batch.size + b];
      EXPECT_TRUE(length == 0 || length == 1) << "feature " << f << ", example " << b;
      examples[b].ids.push_back(length == 1 ? std::optional(batch.sparse_values[value])
                                            : std::nullopt);
      value += length;
    }
  }
  return examples;
}

void expect_examples(const std::vector<Expected>& actual, const std::vector<Expected>& expected) {
  ASSERT_EQ(actual.size(), expected.size());
  for (std::size_t i = 0; i < actual.size(); ++i) {
    SCOPED_TRACE(testing::Message() << "example " << i);
    EXPECT_EQ(actual[i].label, expected[i].label);
    ASSERT_EQ(actual[i].dense.size(), expected[i].dense.size());
    for (std::size_t d = 0; d < actual[i].dense.size(); ++d)
      EXPECT_FLOAT_EQ(actual[i].dense[d], expected[i].dense[d]) << "dense " << d;
    EXPECT_EQ(actual[i].ids, expected[i].ids);
  }
}

void expect_same(const ExampleBatch& actual, const ExampleBatch& expected) {
  EXPECT_EQ(actual.size, expected.size);
  EXPECT_EQ(actual.labels, expected.labels);
  EXPECT_EQ(actual.dense, expected.dense);
  EXPECT_EQ(actual.sparse_values, expected.sparse_values);
  EXPECT_EQ(actual.sparse_lengths, expected.sparse_lengths);
}

std::vector<int64_t> criteo_rows() {
  std::vector<int64_t> rows;
  for (int k = 0; k < 26; ++k) rows.push_back(k % 3 == 0 ? 7 : 1000 + 37 * k);
  return rows;
}

TsvReaderOptions criteo_options(std::vector<std::string> files, int64_t batch_size) {
  TsvReaderOptions options;
  options.files = std::move(files);
  options.layout = criteo_layout();
  options.rows_per_feature = criteo_rows();
  options.batch_size = batch_size;
  return options;
}

std::vector<ExampleBatch> read_all(TsvReader& reader) {
  std::vector<ExampleBatch> batches;
  while (std::optional<ExampleBatch> batch = reader.next()) batches.push_back(std::move(*batch));
  return batches;
}

std::vector<Expected> examples_of(const std::vector<ExampleBatch>& batches,
                                  const TsvLayout& layout) {
  std::vector<Expected> all;
  for (const ExampleBatch& batch : batches) {
    std::vector<Expected> examples = examples_of(batch, layout);
    all.insert(all.end(), examples.begin(), examples.end());
  }
  return all;
}

std::vector<std::string> sample_lines() { return lines_of(file_bytes(kCriteoSample)); }

TEST(TsvReader, ReadsTheCriteoSampleAsAPlainParseDoes) {
  const std::vector<std::string> lines = sample_lines();
  ASSERT_EQ(lines.size(), 100u);
  TsvReader reader(criteo_options({kCriteoSample}, 32));
  const std::vector<ExampleBatch> batches = read_all(reader);
  ASSERT_EQ(batches.size(), 4u);
  EXPECT_EQ(batches[0].size, 32);
  EXPECT_EQ(batches[3].size, 4);
  expect_examples(examples_of(batches, criteo_layout()),
                  expected_from(lines, criteo_layout(), criteo_rows()));
  EXPECT_EQ(reader.skipped_lines(), 0);
  EXPECT_FALSE(reader.next());
  EXPECT_FALSE(reader.next());
  // Its end is what the trainer's ranks must agree on.
  EXPECT_FALSE(reader.endless());
}

TEST(TsvReader, SampleHasTheCornerCasesTheOtherTestsRelyOn) {
  // The sample exercises empty dense fields, negative counts and empty
  // categorical fields; the comparison above covers them only if present.
  const std::string text = file_bytes(kCriteoSample);
  EXPECT_NE(text.find("\t\t"), std::string::npos);
  EXPECT_NE(text.find("\t-1\t"), std::string::npos);
  const std::vector<Expected> expected =
      expected_from(sample_lines(), criteo_layout(), criteo_rows());
  const auto missing_ids = std::count_if(expected.begin(), expected.end(), [](const Expected& e) {
    return std::count(e.ids.begin(), e.ids.end(), std::nullopt) > 0;
  });
  EXPECT_GT(missing_ids, 0);
}

TEST(TsvReader, DenseIsLog1pOfTheClippedCountAndMissingFieldsAreEmpty) {
  // Missing trailing fields are missing values, not a malformed line.
  const std::string path = write_file("short_lines.tsv", "1\t5\t-1\t\t0\n0\n1\t3");
  TsvReader reader(criteo_options({path}, 8));
  const std::vector<ExampleBatch> batches = read_all(reader);
  ASSERT_EQ(batches.size(), 1u);
  const ExampleBatch& batch = batches[0];
  ASSERT_EQ(batch.size, 3);
  EXPECT_EQ(batch.labels, (std::vector<float>{1, 0, 1}));
  EXPECT_FLOAT_EQ(batch.dense[0], std::log(6.0f));
  EXPECT_EQ(batch.dense[1], 0.0f);  // -1 clips to 0
  EXPECT_EQ(batch.dense[2], 0.0f);  // empty
  EXPECT_EQ(batch.dense[3], 0.0f);  // log(1 + 0)
  for (int d = 4; d < 13; ++d) EXPECT_EQ(batch.dense[d], 0.0f) << d;
  for (int d = 13; d < 26; ++d) EXPECT_EQ(batch.dense[d], 0.0f) << d;
  EXPECT_FLOAT_EQ(batch.dense[26], std::log(4.0f));
  EXPECT_TRUE(batch.sparse_values.empty());
  EXPECT_EQ(batch.sparse_lengths, std::vector<int64_t>(26 * 3, 0));
  EXPECT_EQ(reader.skipped_lines(), 0);
}

// The dense vector that `line` parses to under a layout of one label column
// and dense columns only, or the parser's complaint.
std::vector<float> dense_of(const std::string& line, std::string* problem = nullptr) {
  const int num_dense = static_cast<int>(std::count(line.begin(), line.end(), '\t'));
  TsvLayout layout{.label_column = 0, .num_columns = num_dense + 1};
  for (int column = 1; column <= num_dense; ++column) layout.dense_columns.push_back(column);
  const TsvLineParser parser(layout, {});
  TsvExample example;
  const std::optional<std::string> complaint = parser.parse(line, example);
  if (problem) *problem = complaint.value_or("");
  EXPECT_EQ(complaint.has_value(), problem != nullptr) << complaint.value_or("");
  return example.dense;
}

TEST(TsvLineParser, DenseFeaturesMayBeRealNumbers) {
  const std::vector<float> dense = dense_of("1\t2.5\t-0.5\t1e2\t0.25\t-0\t-1e-3\t.5");
  ASSERT_EQ(dense.size(), 7u);
  EXPECT_FLOAT_EQ(dense[0], 1.2527629684953681f);   // ln(3.5)
  EXPECT_EQ(dense[1], 0.0f);                        // negative: clipped to 0
  EXPECT_FLOAT_EQ(dense[2], 4.6151205168412594f);   // ln(101)
  EXPECT_FLOAT_EQ(dense[3], 0.22314355131420976f);  // ln(1.25)
  EXPECT_EQ(dense[4], 0.0f);
  EXPECT_FALSE(std::signbit(dense[4]));  // -0 clips to +0, as the integer 0 gives
  EXPECT_EQ(dense[5], 0.0f);
  EXPECT_FLOAT_EQ(dense[6], 0.40546510810816438f);  // ln(1.5)
}

TEST(TsvLineParser, IntegerDenseFeaturesKeepTheirBits) {
  for (const int64_t count :
       {int64_t{0}, int64_t{-1}, int64_t{7}, int64_t{123456789}, int64_t{9007199254740993},
        std::numeric_limits<int64_t>::max(), std::numeric_limits<int64_t>::min()}) {
    const float expected =
        static_cast<float>(std::log1p(static_cast<double>(std::max<int64_t>(count, 0))));
    const std::vector<float> dense = dense_of("0\t" + std::to_string(count));
    ASSERT_EQ(dense.size(), 1u);
    EXPECT_EQ(std::bit_cast<uint32_t>(dense[0]), std::bit_cast<uint32_t>(expected)) << count;
  }
}

TEST(TsvLineParser, DenseFeaturesThatAreNotFiniteNumbersAreMalformed) {
  for (const std::string field :
       {"nan", "inf", "-inf", "1.5x", "1e999", "0x10", "+3", " 3", "1,5"}) {
    std::string problem;
    dense_of("1\t" + field, &problem);
    EXPECT_EQ(problem, "column 1 '" + field + "' is not a number");
  }
}

TEST(TsvReader, BatchesAreFullButTheLast) {
  TsvReader reader(criteo_options({kCriteoSample}, 7));
  const std::vector<ExampleBatch> batches = read_all(reader);
  ASSERT_EQ(batches.size(), 15u);
  for (std::size_t i = 0; i < 14; ++i) EXPECT_EQ(batches[i].size, 7) << i;
  EXPECT_EQ(batches[14].size, 2);
  EXPECT_EQ(reader.position(), "0:1:0:0:100");
}

TEST(TsvReader, RanksTakeTheLinesOfTheirResidue) {
  const std::vector<Expected> expected =
      expected_from(sample_lines(), criteo_layout(), criteo_rows());
  std::vector<int> times_read(expected.size(), 0);
  for (int rank = 0; rank < 3; ++rank) {
    SCOPED_TRACE(testing::Message() << "rank " << rank);
    TsvReaderOptions options = criteo_options({kCriteoSample}, 5);
    options.rank = rank;
    options.world_size = 3;
    TsvReader reader(options);
    const std::vector<Expected> actual = examples_of(read_all(reader), criteo_layout());
    std::vector<Expected> mine;
    for (std::size_t i = rank; i < expected.size(); i += 3) {
      mine.push_back(expected[i]);
      ++times_read[i];
    }
    expect_examples(actual, mine);
  }
  EXPECT_EQ(times_read, std::vector<int>(expected.size(), 1));
}

TEST(TsvReader, FilesAreOneStreamOfLinesForSharding) {
  // 30 lines, an empty file, 70 lines without a final '\n': the global
  // index goes on across files.
  const std::vector<std::string> lines = sample_lines();
  const std::string first =
      write_file("part_0.tsv", joined(std::vector<std::string>(lines.begin(), lines.begin() + 30)));
  const std::string empty = write_file("part_1.tsv", "");
  std::string last_text = joined(std::vector<std::string>(lines.begin() + 30, lines.end()));
  last_text.pop_back();
  const std::string last = write_file("part_2.tsv", last_text);

  const std::vector<Expected> expected = expected_from(lines, criteo_layout(), criteo_rows());
  for (int rank = 0; rank < 4; ++rank) {
    SCOPED_TRACE(testing::Message() << "rank " << rank);
    TsvReaderOptions options = criteo_options({first, empty, last}, 6);
    options.rank = rank;
    options.world_size = 4;
    TsvReader reader(options);
    std::vector<Expected> mine;
    for (std::size_t i = rank; i < expected.size(); i += 4) mine.push_back(expected[i]);
    expect_examples(examples_of(read_all(reader), criteo_layout()), mine);
  }
}

TEST(TsvReader, LinesLongerThanTheReadBufferAndBuffersThatSplitLines) {
  // 60 copies of the sample (1.4 MB) put line ends across buffer refills;
  // a 3 MB ignored field needs the buffer to grow.
  std::string text;
  for (int copy = 0; copy < 60; ++copy) text += file_bytes(kCriteoSample);
  const std::string big = write_file("sample_x60.tsv", text);
  TsvReader reader(criteo_options({big}, 1000));
  std::vector<std::string> lines;
  for (int copy = 0; copy < 60; ++copy)
    for (const std::string& line : sample_lines()) lines.push_back(line);
  expect_examples(examples_of(read_all(reader), criteo_layout()),
                  expected_from(lines, criteo_layout(), criteo_rows()));

  TsvReaderOptions options;
  options.layout = {.label_column = 0, .dense_columns = {2}, .num_columns = 3};
  options.files = {
      write_file("long_line.tsv", "1\t" + std::string(3 << 20, 'x') + "\t9\n0\t\t2\n")};
  options.batch_size = 4;
  TsvReader long_lines(options);
  const std::optional<ExampleBatch> batch = long_lines.next();
  ASSERT_TRUE(batch);
  EXPECT_EQ(batch->labels, (std::vector<float>{1, 0}));
  EXPECT_FLOAT_EQ(batch->dense[0], std::log(10.0f));
  EXPECT_FLOAT_EQ(batch->dense[1], std::log(3.0f));
}

TEST(TsvReader, CarriageReturnsOfCrLfLineEndsAreDropped) {
  TsvReaderOptions options;
  options.layout = {
      .label_column = 0, .dense_columns = {1}, .categorical_columns = {2}, .num_columns = 3};
  options.rows_per_feature = {1000};
  options.files = {write_file("crlf.tsv", "1\t5\tab\r\n0\t7\tcd\r\n")};
  options.batch_size = 2;
  TsvReader reader(options);
  const std::optional<ExampleBatch> batch = reader.next();
  ASSERT_TRUE(batch);
  EXPECT_EQ(batch->sparse_values,
            (std::vector<int64_t>{int64_t(XXH3_64bits_withSeed("ab", 2, 0) % 1000),
                                  int64_t(XXH3_64bits_withSeed("cd", 2, 0) % 1000)}));
}

TEST(TsvReader, CustomLayoutTakesTheColumnsItNames) {
  // Column 0 dense, column 1 ignored (anything goes), column 2 the label,
  // column 3 categorical.
  TsvReaderOptions options;
  options.layout = {
      .label_column = 2, .dense_columns = {0}, .categorical_columns = {3}, .num_columns = 4};
  options.rows_per_feature = {10};
  options.files = {write_file("custom.tsv", "5\tjunk\t1\tuser42\n\tx\t0\t\n-3\t\t1\tuser7\n")};
  options.batch_size = 10;
  TsvReader reader(options);
  const std::optional<ExampleBatch> batch = reader.next();
  ASSERT_TRUE(batch);
  EXPECT_EQ(batch->labels, (std::vector<float>{1, 0, 1}));
  EXPECT_FLOAT_EQ(batch->dense[0], std::log(6.0f));
  EXPECT_EQ(batch->dense[1], 0.0f);
  EXPECT_EQ(batch->dense[2], 0.0f);
  EXPECT_EQ(batch->sparse_lengths, (std::vector<int64_t>{1, 0, 1}));
  EXPECT_EQ(batch->sparse_values,
            (std::vector<int64_t>{int64_t(XXH3_64bits_withSeed("user42", 6, 0) % 10),
                                  int64_t(XXH3_64bits_withSeed("user7", 5, 0) % 10)}));
}

TEST(TsvReader, LayoutOfSomeCriteoColumns) {
  TsvLayout layout{.label_column = 0,
                   .dense_columns = {13, 2},
                   .categorical_columns = {20, 14},
                   .num_columns = 40};
  const std::vector<int64_t> rows = {100, 3};
  TsvReaderOptions options = criteo_options({kCriteoSample}, 16);
  options.layout = layout;
  options.rows_per_feature = rows;
  TsvReader reader(options);
  expect_examples(examples_of(read_all(reader), layout),
                  expected_from(sample_lines(), layout, rows));
}

// Ten sample lines, of which three are malformed: line 3's label, line 5's
// dense field, line 7's extra column. Line 9 lacks trailing fields only.
std::string damaged_sample(std::vector<std::string>* good_lines) {
  std::vector<std::string> lines = sample_lines();
  lines.resize(10);
  lines[2].replace(0, 1, "2");
  std::vector<std::string> fields = fields_of(lines[4]);
  fields[3] = "12a";
  lines[4] = joined_fields(fields);
  lines[6] += "\textra";
  lines[8] = lines[8].substr(0, lines[8].find('\t', 2));
  for (std::size_t i : {0, 1, 3, 5, 7, 8, 9}) good_lines->push_back(lines[i]);
  return write_file("damaged.tsv", joined(lines));
}

TEST(TsvReader, SkipsMalformedLinesWithAWarningNamingFileAndLine) {
  std::vector<std::string> good;
  const std::string path = damaged_sample(&good);
  testing::internal::CaptureStderr();
  std::vector<ExampleBatch> batches;
  int64_t skipped = 0;
  {
    TsvReader reader(criteo_options({path}, 4));
    batches = read_all(reader);
    skipped = reader.skipped_lines();
  }
  const std::string warnings = testing::internal::GetCapturedStderr();
  EXPECT_EQ(skipped, 3);
  ASSERT_EQ(batches.size(), 2u);
  EXPECT_EQ(batches[0].size, 4);
  EXPECT_EQ(batches[1].size, 3);
  expect_examples(examples_of(batches, criteo_layout()),
                  expected_from(good, criteo_layout(), criteo_rows()));
  EXPECT_NE(warnings.find("file '" + path + "', line 3: column 0 (label) '2' is not 0 or 1"),
            std::string::npos)
      << warnings;
  EXPECT_NE(warnings.find("file '" + path +
                          "', line 5: column 3 '12a' is not a number; line "
                          "skipped"),
            std::string::npos)
      << warnings;
  EXPECT_NE(warnings.find("file '" + path + "', line 7: has more than 40 columns"),
            std::string::npos)
      << warnings;
  EXPECT_EQ(std::count(warnings.begin(), warnings.end(), '\n'), 3) << warnings;
}

TEST(TsvReader, FailsOnAMalformedLineWhenTheConfigSaysSo) {
  std::vector<std::string> good;
  TsvReaderOptions options = criteo_options({damaged_sample(&good)}, 1);
  options.on_malformed = OnMalformed::fail;
  TsvReader reader(options);
  ASSERT_TRUE(reader.next());
  ASSERT_TRUE(reader.next());
  const std::string position = reader.position();
  for (int attempt = 0; attempt < 2; ++attempt) {
    try {
      reader.next();
      ADD_FAILURE() << "no error";
    } catch (const CorruptData& error) {
      EXPECT_EQ(std::string(error.what()),
                "file '" + options.files[0] + "', line 3: column 0 (label) '2' is not 0 or 1");
    }
  }
  EXPECT_EQ(reader.position(), position);
}

TEST(TsvReader, MalformedLinesStillCountForSharding) {
  std::vector<std::string> good;
  const std::string path = damaged_sample(&good);
  std::vector<std::string> lines = lines_of(file_bytes(path));
  int64_t skipped = 0;
  for (int rank = 0; rank < 2; ++rank) {
    TsvReaderOptions options = criteo_options({path}, 3);
    options.rank = rank;
    options.world_size = 2;
    testing::internal::CaptureStderr();
    TsvReader reader(options);
    const std::vector<Expected> actual = examples_of(read_all(reader), criteo_layout());
    testing::internal::GetCapturedStderr();
    skipped += reader.skipped_lines();
    // Lines 3, 5 and 7 (indices 2, 4, 6) are rank 0's; rank 1 keeps all its own.
    std::vector<std::string> mine;
    for (std::size_t i = rank; i < lines.size(); i += 2)
      if (rank == 1 || i == 0 || i == 8) mine.push_back(lines[i]);
    expect_examples(actual, expected_from(mine, criteo_layout(), criteo_rows()));
  }
  EXPECT_EQ(skipped, 3);
}

TEST(TsvReader, MalformedLinesAreWarnedAboutAndCountedOnceOverEpochs) {
  std::vector<std::string> good;
  TsvReaderOptions options = criteo_options({damaged_sample(&good)}, 4);
  options.loop = true;
  testing::internal::CaptureStderr();
  int64_t skipped = 0;
  {
    TsvReader reader(options);
    int64_t examples = 0;
    while (examples < 3 * static_cast<int64_t>(good.size())) examples += reader.next()->size;
    skipped = reader.skipped_lines();
  }
  const std::string warnings = testing::internal::GetCapturedStderr();
  EXPECT_EQ(skipped, 3);
  EXPECT_EQ(lines_of(warnings).size(), 3u) << warnings;
}

TEST(TsvReader, WarningsStopAfterTwentyAndTheRestAreCounted) {
  std::string text;
  for (int i = 0; i < 30; ++i) text += "7\t1\n1\t2\n";
  const std::string path = write_file("many_bad.tsv", text);
  testing::internal::CaptureStderr();
  {
    TsvReader reader(criteo_options({path}, 8));
    int64_t examples = 0;
    while (std::optional<ExampleBatch> batch = reader.next()) examples += batch->size;
    EXPECT_EQ(examples, 30);
    EXPECT_EQ(reader.skipped_lines(), 30);
  }
  const std::string warnings = testing::internal::GetCapturedStderr();
  const std::vector<std::string> printed = lines_of(warnings);
  ASSERT_EQ(printed.size(), 21u) << warnings;
  EXPECT_NE(printed[19].find("line 39:"), std::string::npos) << printed[19];
  EXPECT_EQ(printed[20], "warning: TsvReader skipped 30 malformed lines; 10 not shown");
}

TEST(TsvReader, LoopStartsTheNextEpochAtTheEnd) {
  const std::vector<std::string> lines = sample_lines();
  std::vector<int64_t> line_start = {0};
  for (const std::string& line : lines) line_start.push_back(line_start.back() + line.size() + 1);

  TsvReaderOptions options = criteo_options({kCriteoSample}, 30);
  options.loop = true;
  TsvReader reader(options);
  std::vector<ExampleBatch> batches;
  std::vector<std::string> positions;
  for (int i = 0; i < 7; ++i) {
    std::optional<ExampleBatch> batch = reader.next();
    ASSERT_TRUE(batch);
    EXPECT_EQ(batch->size, 30);
    batches.push_back(std::move(*batch));
    positions.push_back(reader.position());
  }
  EXPECT_EQ(positions[2], "0:0:" + std::to_string(line_start[90]) + ":90:90");
  EXPECT_EQ(positions[3], "1:0:" + std::to_string(line_start[20]) + ":20:20");
  EXPECT_EQ(positions[6], "2:0:" + std::to_string(line_start[10]) + ":10:10");
  std::vector<std::string> looped;
  for (int i = 0; i < 210; ++i) looped.push_back(lines[i % 100]);
  expect_examples(examples_of(batches, criteo_layout()),
                  expected_from(looped, criteo_layout(), criteo_rows()));

  // A batch that ends with the epoch leaves the position at the next one.
  options.batch_size = 25;
  TsvReader exact(options);
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(exact.next());
  EXPECT_EQ(exact.position(), "1:0:0:0:0");
}

TEST(TsvReader, LoopOverDataWithNoExampleForTheRankIsAnError) {
  TsvReaderOptions options = criteo_options({write_file("two_lines.tsv", "1\t2\n0\t3\n")}, 4);
  options.loop = true;
  options.rank = 2;
  options.world_size = 3;
  TsvReader reader(options);
  EXPECT_THROW(reader.next(), InvalidArgument);

  testing::internal::CaptureStderr();
  options.files = {write_file("all_bad.tsv", "x\n")};
  options.rank = 0;
  options.world_size = 1;
  TsvReader all_bad(options);
  EXPECT_THROW(all_bad.next(), InvalidArgument);
  testing::internal::GetCapturedStderr();
}

TEST(TsvReader, SeekResumesExactly) {
  TsvReaderOptions options = criteo_options({kCriteoSample}, 8);
  TsvReader reader(options);
  ASSERT_TRUE(reader.next());
  ASSERT_TRUE(reader.next());
  const std::string position = reader.position();
  std::vector<ExampleBatch> following;
  for (int i = 0; i < 3; ++i) following.push_back(*reader.next());

  TsvReader resumed(options);
  resumed.seek(position);
  EXPECT_EQ(resumed.position(), position);
  for (const ExampleBatch& batch : following) {
    const std::optional<ExampleBatch> again = resumed.next();
    ASSERT_TRUE(again);
    expect_same(*again, batch);
  }
  // Backwards on the same reader too.
  reader.seek(position);
  for (const ExampleBatch& batch : following) expect_same(*reader.next(), batch);
}

TEST(TsvReader, SeekToEveryPositionAcrossFilesRanksAndEpochs) {
  const std::vector<std::string> lines = sample_lines();
  const std::string first =
      write_file("seek_0.tsv", joined(std::vector<std::string>(lines.begin(), lines.begin() + 37)));
  const std::string last =
      write_file("seek_1.tsv", joined(std::vector<std::string>(lines.begin() + 37, lines.end())));
  for (int rank = 0; rank < 2; ++rank) {
    SCOPED_TRACE(testing::Message() << "rank " << rank);
    TsvReaderOptions options = criteo_options({first, last}, 7);
    options.loop = true;
    options.rank = rank;
    options.world_size = 2;
    TsvReader reader(options);
    std::vector<std::string> positions = {reader.position()};
    std::vector<ExampleBatch> batches;
    for (int i = 0; i < 30; ++i) {  // 210 examples: four epochs of 50
      batches.push_back(*reader.next());
      positions.push_back(reader.position());
    }
    TsvReader resumed(options);
    for (int i = 0; i < 30; ++i) {
      SCOPED_TRACE(positions[i]);
      resumed.seek(positions[i]);
      expect_same(*resumed.next(), batches[i]);
      EXPECT_EQ(resumed.position(), positions[i + 1]);
    }
  }
}

TEST(TsvReader, TheSameOptionsGiveTheSameBatches) {
  TsvReaderOptions options = criteo_options({kCriteoSample}, 9);
  options.rank = 1;
  options.world_size = 2;
  TsvReader one(options);
  TsvReader two(options);
  const std::vector<ExampleBatch> first = read_all(one);
  const std::vector<ExampleBatch> second = read_all(two);
  ASSERT_EQ(first.size(), second.size());
  for (std::size_t i = 0; i < first.size(); ++i) expect_same(first[i], second[i]);
}

TEST(TsvReader, SeekRefusesWhatIsNotAPosition) {
  TsvReader reader(criteo_options({kCriteoSample}, 10));
  ASSERT_TRUE(reader.next());
  const std::string position = reader.position();
  const std::string bytes = std::to_string(file_bytes(kCriteoSample).size());
  for (const std::string& bad : std::vector<std::string>{
           "", "abc", "0:0:0:0", "0:0:0:0:0:0", "0:0:-1:0:0", "0:0:0:0:0 ", "0:2:0:0:0",
           "0:1:5:0:0", "0:0:3:0:0", "0:0:" + bytes + "1:0:0", "0:0:0:1:1"}) {
    SCOPED_TRACE(bad);
    try {
      reader.seek(bad);
      ADD_FAILURE() << "accepted";
    } catch (const InvalidArgument& error) {
      EXPECT_NE(std::string(error.what()).find("position '" + bad + "'"), std::string::npos)
          << error.what();
    }
  }
  // A refused seek leaves the stream where it was.
  EXPECT_EQ(reader.position(), position);
  TsvReader fresh(criteo_options({kCriteoSample}, 10));
  fresh.next();
  expect_same(*reader.next(), *fresh.next());
}

TEST(TsvReader, RefusesBadOptions) {
  const auto refused = [](auto change) {
    TsvReaderOptions options = criteo_options({kCriteoSample}, 4);
    change(options);
    try {
      TsvReader reader(options);
    } catch (const Error& error) {
      return std::string(error.what());
    }
    return std::string("accepted");
  };
  EXPECT_EQ(refused([](TsvReaderOptions& o) { o.batch_size = 0; }),
            "TsvReader: batch_size 0 must be > 0");
  EXPECT_EQ(refused([](TsvReaderOptions& o) { o.rank = 3, o.world_size = 3; }),
            "TsvReader: rank 3 is out of range [0, 3)");
  EXPECT_EQ(refused([](TsvReaderOptions& o) { o.files.clear(); }), "TsvReader: no files to read");
  EXPECT_EQ(refused([](TsvReaderOptions& o) { o.rows_per_feature.pop_back(); }),
            "TsvLineParser: 25 row counts for 26 categorical features");
  EXPECT_EQ(refused([](TsvReaderOptions& o) { o.rows_per_feature[3] = 0; }),
            "TsvLineParser: categorical feature 3 (column 17) has 0 rows; a table has at least 1");
  EXPECT_EQ(refused([](TsvReaderOptions& o) { o.files.push_back("/nonexistent/day_1.tsv"); }),
            "TsvReader: cannot open '/nonexistent/day_1.tsv': No such file or directory");
  EXPECT_EQ(refused([](TsvReaderOptions& o) { o.layout.dense_columns[4] = 20; }),
            "TsvLayout: column 20 is named twice, as dense and as categorical");
  EXPECT_EQ(refused([](TsvReaderOptions& o) { o.layout.categorical_columns.back() = 40; }),
            "TsvLayout: categorical column 40 is out of range [0, 40)");
  EXPECT_EQ(refused([](TsvReaderOptions& o) { o.layout.label_column = -1; }),
            "TsvLayout: label column -1 is out of range [0, 40)");
}

TEST(TsvLayout, CriteoIsLabelThenThirteenDenseThenTwentySixCategorical) {
  const TsvLayout layout = criteo_layout();
  EXPECT_EQ(layout.num_columns, 40);
  EXPECT_EQ(layout.label_column, 0);
  ASSERT_EQ(layout.dense_columns.size(), 13u);
  ASSERT_EQ(layout.categorical_columns.size(), 26u);
  EXPECT_EQ(layout.dense_columns.front(), 1);
  EXPECT_EQ(layout.categorical_columns.front(), 14);
  EXPECT_EQ(layout.categorical_columns.back(), 39);
  EXPECT_NO_THROW(validate_layout(layout));
}

// The held-out set is the first `examples` valid lines at any rank count:
// lines 3, 5 and 7 of the damaged sample are malformed, so the first 5
// examples are lines 1, 2, 4, 6 and 8.
TEST(TsvHeldOut, RanksShareTheFirstValidLinesWhateverTheirNumber) {
  std::vector<std::string> good;
  TsvReaderOptions options = criteo_options({damaged_sample(&good)}, 1);
  const std::vector<Expected> first_five = expected_from(
      std::vector<std::string>(good.begin(), good.begin() + 5), criteo_layout(), criteo_rows());
  for (int world_size = 1; world_size <= 3; ++world_size) {
    SCOPED_TRACE(testing::Message() << world_size << " ranks");
    std::vector<Expected> together;
    for (int rank = 0; rank < world_size; ++rank) {
      options.rank = rank;
      options.world_size = world_size;
      testing::internal::CaptureStderr();
      const TsvHeldOut held_out = tsv_held_out(options, 5);
      const std::string warnings = testing::internal::GetCapturedStderr();
      EXPECT_EQ(held_out.examples, 5);
      EXPECT_EQ(held_out.skipped_lines, 3);
      EXPECT_EQ(held_out.batch.size, 5 * (rank + 1) / world_size - 5 * rank / world_size);
      EXPECT_EQ(lines_of(warnings).size(), rank == 0 ? 3u : 0u) << warnings;
      const std::vector<Expected> share = examples_of(held_out.batch, criteo_layout());
      together.insert(together.end(), share.begin(), share.end());
    }
    expect_examples(together, first_five);
  }
}

TEST(TsvHeldOut, FewerLinesThanAskedForGiveWhatThereIs) {
  TsvReaderOptions options = criteo_options({write_file("empty.tsv", "")}, 1);
  EXPECT_EQ(tsv_held_out(options, 10).examples, 0);
  options.files = {kCriteoSample};
  options.world_size = 3;
  options.rank = 2;
  const TsvHeldOut held_out = tsv_held_out(options, 1000);
  EXPECT_EQ(held_out.examples, 100);
  EXPECT_EQ(held_out.batch.size, 34);
  const std::vector<std::string> lines = sample_lines();
  expect_examples(examples_of(held_out.batch, criteo_layout()),
                  expected_from(std::vector<std::string>(lines.begin() + 66, lines.end()),
                                criteo_layout(), criteo_rows()));
}

}  // namespace
}  // namespace rowshard
