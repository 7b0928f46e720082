// Which instruction set the CPU kernels (pooling, the fp16/bf16 conversions,
// the backward's scaled sums, row-wise Adagrad's update) run with. The library is built for the
// x86-64 baseline and carries each kernel three times, for the baseline, AVX2 (x86-64-v3) and
// AVX-512 (x86-64-v4); at the first kernel call it picks the best level the CPU has, so one build
// runs on any x86-64 machine. The environment variable ROWSHARD_CPU_LEVEL=baseline|avx2|avx512
// forces a level (one the CPU lacks is refused).
//
// Every level does the same float operations in the same order (no fused
// multiply-add unless the code asks for std::fma, whose result is defined),
// so results are bit-identical whatever the level.
#pragma once

#include <span>
#include <string_view>
#include <vector>

namespace rowshard {

enum class CpuLevel { baseline, avx2, avx512 };

std::string_view cpu_level_name(CpuLevel level);

// The levels this CPU can run, ascending; baseline always.
std::vector<CpuLevel> supported_cpu_levels();

// The level in use: ROWSHARD_CPU_LEVEL's, or else the best supported one.
// Throws InvalidArgument when ROWSHARD_CPU_LEVEL names no level or one this
// CPU lacks, naming the levels it has.
CpuLevel cpu_level();

// The level ROWSHARD_CPU_LEVEL=`name` asks for on a CPU that has the
// levels `supported`. Throws InvalidArgument naming the valid names, or the
// levels the CPU has.
CpuLevel parse_cpu_level(std::string_view name, std::span<const CpuLevel> supported);

// Switches the kernels to `level` from the next call on (for tests and
// benchmarks; not while kernels run). Throws InvalidArgument, changing
// nothing, when this CPU lacks it.
void use_cpu_level(CpuLevel level);

}  // namespace rowshard
