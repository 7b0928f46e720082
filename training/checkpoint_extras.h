// What a rowshard-train checkpoint holds beyond the tables, as named extras
// (io/checkpoint/save.h), so that a resumed job continues exactly: the dense
// model and its optimizer, where each rank's data stream stood, and the
// recent losses behind the reported training loss.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>
#include <vector>

#include "rowshard/io/checkpoint/save.h"
#include "training/progress.h"

namespace rowshard {

struct TrainerExtras {
  std::vector<float> dense_parameters;       // Dlrm::parameters()
  std::vector<float> dense_optimizer_state;  // DenseOptimizer::state()
  int64_t dense_optimizer_steps = 0;
  // BatchSource::position() of each rank that saved, by rank; a position
  // holds no newline.
  std::vector<std::string> data_positions;
  std::deque<RecentLosses::Step> recent_losses;
};

// The extras "dense_parameters", "dense_optimizer_state" and
// "dense_optimizer_steps" (raw native-endian values), "data_positions" (one
// line per rank) and "recent_losses" (a double pair per step).
checkpoint::Extras encode_extras(const TrainerExtras& extras);

// The inverse, for a model of `num_parameters` parameters and
// `optimizer_state_size` optimizer state values. Throws CorruptData naming
// `checkpoint` for a missing extra, or the extra and both sizes for one of
// the wrong size.
TrainerExtras decode_extras(const checkpoint::Extras& extras, const std::string& checkpoint,
                            std::size_t num_parameters, std::size_t optimizer_state_size);

}  // namespace rowshard
