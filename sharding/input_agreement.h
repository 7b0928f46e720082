// Agreeing on bad input before anything moves: each rank checks its own
// batch, then all ranks learn whether any of them failed, so every rank
// stops at the same point with the same message instead of some ranks
// waiting forever in a collective the failed one never joins.
#pragma once

#include <functional>

#include "rowshard/sharding/communicator.h"

namespace rowshard {

// Runs `check` (which throws a rowshard::Error for bad input) on this rank,
// then tells every rank what every rank found. If any rank failed, throws
// on every rank the error of the lowest failing rank, of the same kind
// (OutOfRange, InvalidArgument, CorruptData, IoError, or Error) and, when
// there are several ranks, with its message prefixed "rank K: ".
// Collective.
void agree_on_input(Communicator& comm, const std::function<void()>& check);

}  // namespace rowshard
