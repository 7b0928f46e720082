#include "training/checkpoint_extras.h"

#include <gtest/gtest.h>

#include <cstring>

#include "rowshard/engine/error.h"

namespace rowshard {
namespace {

TrainerExtras sample_extras() {
  TrainerExtras extras;
  extras.dense_parameters = {0.5f, -1.25f, 3.0f};
  extras.dense_optimizer_state = {1e-3f, 2e-3f, -4.0f, 8.0f, 0.0f, 7.5f};
  extras.dense_optimizer_steps = 42;
  extras.data_positions = {"0:0:128:9:9", "0:1:64:4:13", ""};
  extras.recent_losses = {{6.5, 10.0}, {5.25, 10.0}, {4.0, 8.0}};
  return extras;
}

std::string text_of(const std::vector<std::byte>& bytes) {
  return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

// The message of decode_extras' error.
std::string decode_error(const checkpoint::Extras& extras, std::size_t num_parameters,
                         std::size_t optimizer_state_size) {
  try {
    decode_extras(extras, "ckpt/ckpt-000100", num_parameters, optimizer_state_size);
  } catch (const CorruptData& error) {
    return error.what();
  }
  return "no error";
}

TEST(CheckpointExtras, DecodeRestoresWhatEncodeSaved) {
  const TrainerExtras saved = sample_extras();
  const TrainerExtras restored = decode_extras(encode_extras(saved), "ckpt", 3, 6);
  EXPECT_EQ(restored.dense_parameters, saved.dense_parameters);
  EXPECT_EQ(restored.dense_optimizer_state, saved.dense_optimizer_state);
  EXPECT_EQ(restored.dense_optimizer_steps, 42);
  EXPECT_EQ(restored.data_positions, saved.data_positions);
  ASSERT_EQ(restored.recent_losses.size(), 3u);
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(restored.recent_losses[i].loss_sum, saved.recent_losses[i].loss_sum);
    EXPECT_EQ(restored.recent_losses[i].examples, saved.recent_losses[i].examples);
  }
}

// The layout earlier checkpoints were written in, which resumes depend on.
TEST(CheckpointExtras, EncodesTheRowshardTrainLayout) {
  const checkpoint::Extras extras = encode_extras(sample_extras());
  ASSERT_EQ(extras.size(), 5u);
  EXPECT_EQ(extras.at("dense_parameters").size(), 3 * sizeof(float));
  EXPECT_EQ(extras.at("dense_optimizer_state").size(), 6 * sizeof(float));
  float second_parameter = 0;
  std::memcpy(&second_parameter, extras.at("dense_parameters").data() + sizeof(float),
              sizeof(float));
  EXPECT_EQ(second_parameter, -1.25f);
  int64_t steps = 0;
  ASSERT_EQ(extras.at("dense_optimizer_steps").size(), sizeof steps);
  std::memcpy(&steps, extras.at("dense_optimizer_steps").data(), sizeof steps);
  EXPECT_EQ(steps, 42);
  EXPECT_EQ(text_of(extras.at("data_positions")), "0:0:128:9:9\n0:1:64:4:13\n\n");
  const std::vector<double> losses = {6.5, 10.0, 5.25, 10.0, 4.0, 8.0};
  ASSERT_EQ(extras.at("recent_losses").size(), losses.size() * sizeof(double));
  EXPECT_EQ(
      std::memcmp(extras.at("recent_losses").data(), losses.data(), losses.size() * sizeof(double)),
      0);
}

TEST(CheckpointExtras, AMissingExtraNamesTheCheckpoint) {
  checkpoint::Extras extras = encode_extras(sample_extras());
  extras.erase("recent_losses");
  EXPECT_EQ(decode_error(extras, 3, 6),
            "checkpoint 'ckpt/ckpt-000100' has no 'recent_losses': it was not saved by "
            "rowshard-train");
}

TEST(CheckpointExtras, AnExtraOfTheWrongSizeNamesBothSizes) {
  const checkpoint::Extras extras = encode_extras(sample_extras());
  // A model with 4 parameters reading a checkpoint of a model with 3.
  EXPECT_EQ(decode_error(extras, 4, 6),
            "checkpoint extra 'dense_parameters' has 12 bytes, expected 16");
  EXPECT_EQ(decode_error(extras, 3, 5),
            "checkpoint extra 'dense_optimizer_state' has 24 bytes, expected 20");
  checkpoint::Extras torn = extras;
  torn["recent_losses"].pop_back();
  EXPECT_EQ(decode_error(torn, 3, 6), "checkpoint extra 'recent_losses' has 47 bytes, expected 40");
}

}  // namespace
}  // namespace rowshard
