#include "training/thread_binding.h"

#include <gtest/gtest.h>

namespace rowshard {
namespace {

TEST(ThreadBinding, NoWarningWhileEveryThreadHasACpu) {
  EXPECT_FALSE(thread_binding_warning(0, 1, 1));
  EXPECT_FALSE(thread_binding_warning(0, 2, 2));
  EXPECT_FALSE(thread_binding_warning(0, 2, 16));
}

TEST(ThreadBinding, MoreThreadsThanCpusAreNamedWithTheWayOut) {
  EXPECT_EQ(thread_binding_warning(3, 4, 1),
            "warning: rank 3 runs 4 threads on 1 CPU(s) of its affinity mask, so they take "
            "turns; mpirun binds each rank to one core unless started with --bind-to none (or "
            "--map-by slot:PE=4)");
}

TEST(ThreadBinding, AllowedCpusIsAtLeastOne) { EXPECT_GE(allowed_cpus(), 1); }

}  // namespace
}  // namespace rowshard
