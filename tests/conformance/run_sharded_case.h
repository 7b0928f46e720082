// Running an embedding_bag conformance case on a table sharded across the
// ranks of a communicator (CONFORMANCE.md, "The runner").
#pragma once

#include "rowshard/engine/shard_layout.h"
#include "rowshard/sharding/communicator.h"
#include "tests/conformance/conformance_case.h"
#include "tests/conformance/run_case.h"

namespace rowshard::conformance {

// The case's bags are split across ranks in contiguous blocks, one block
// per rank as its local batch; each rank checks its block's outputs and its
// shard's rows and state against the expected arrays. Collective: every
// rank returns the same verdict (a failure names the rank that saw it).
// Embedding cases, and cases a sharding cannot run (max_norm or fewer
// columns than ranks, column-wise), are skipped.
Verdict run_sharded_case(const Case& c, Communicator& comm, ShardingKind kind);

}  // namespace rowshard::conformance
