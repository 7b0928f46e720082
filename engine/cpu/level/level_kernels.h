// The kernels of one CpuLevel. Only the files compiled once per level include
// this (and the other headers of engine/cpu/level/): the build sets
// ROWSHARD_CPU_LEVEL_NS to the level's name and its instruction set flags,
// so that each level's code, inline functions and templates included, has
// names of its own and the linker never mixes two levels' copies.
#pragma once

#ifndef ROWSHARD_CPU_LEVEL_NS
#error "engine/cpu/level/ is compiled once per CPU level; the build sets ROWSHARD_CPU_LEVEL_NS"
#endif

#include <cstdint>
#include <span>

#include "engine/cpu/kernel_table.h"

namespace rowshard::cpu::ROWSHARD_CPU_LEVEL_NS {

bool checked_pooled_forward(std::span<const PoolingTask> tasks);
void gather_rows(const RowStorage& weights, std::span<const int64_t> indices,
                 std::span<float> output);
void widen_row(const Float16* row, float* out, int64_t dim);
void widen_row(const BFloat16* row, float* out, int64_t dim);
void narrow(const float* values, Float16* row, int64_t dim);
void narrow(const float* values, BFloat16* row, int64_t dim);
void narrow_stochastically(const float* values, Float16* row, int64_t dim, uint64_t key,
                           uint64_t first_counter);
void narrow_stochastically(const float* values, BFloat16* row, int64_t dim, uint64_t key,
                           uint64_t first_counter);
void add_scaled_row(float scale, const float* upstream, const float* running, float* sum,
                    int64_t dim);
void add_scaled_winners(float scale, const float* upstream, const float* running, float* sum,
                        const int64_t* winners, int64_t position, int64_t dim);
float rowwise_adagrad_square_sum(const float* weights, const float* gradient, int64_t dim,
                                 float decay);
void rowwise_adagrad_step_row(float& accumulator, float* weights, const float* gradient,
                              int64_t dim, float square_sum, int64_t full_dim,
                              const RowWiseAdagradOptions& options);
void rowwise_adagrad_update_rows(std::span<const int64_t> rows, float* weights,
                                 const float* gradients, int64_t first_row, int64_t dim,
                                 float* accumulators, const RowWiseAdagradOptions& options);

void rowwise_adagrad_sum_and_update_rows(std::span<const int64_t> rows,
                                         std::span<const uint32_t> sum_end,
                                         std::span<const float* const> upstream, float* weights,
                                         int64_t dim, float* accumulators,
                                         const RowWiseAdagradOptions& options);

}  // namespace rowshard::cpu::ROWSHARD_CPU_LEVEL_NS
