// main() for test binaries that run under mpirun: every rank runs every
// test; only rank 0 prints, and the exit code is non-zero if any rank failed.
#include <gtest/gtest.h>
#include <mpi.h>

#include "rowshard/sharding/communicator.h"

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  // Starts MPI (once per process) and keeps it up for every test.
  auto world = rowshard::world_communicator();
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  if (rank != 0) {
    auto& listeners = ::testing::UnitTest::GetInstance()->listeners();
    delete listeners.Release(listeners.default_result_printer());
  }
  int failed = RUN_ALL_TESTS() != 0;
  int any_failed = 0;
  MPI_Allreduce(&failed, &any_failed, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  return any_failed;
}
