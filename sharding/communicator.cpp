#include "rowshard/sharding/communicator.h"

#include <iterator>
#include <utility>

namespace rowshard {

std::string_view phase_name(Phase phase) {
  switch (phase) {
    case Phase::input_exchange: return "input exchange";
    case Phase::output_exchange: return "output exchange";
    case Phase::gradient_exchange: return "gradient exchange";
    case Phase::all_reduce: return "all-reduce";
    case Phase::evaluation: return "evaluation";
    case Phase::checkpoint_save: return "checkpoint save";
    case Phase::checkpoint_restore: return "checkpoint restore";
  }
  return "unknown";
}

void Communicator::set_timeout(double seconds) {
  if (!(seconds > 0 && seconds <= kMaxTimeoutSeconds))
    throw InvalidArgument(message("collective timeout of ", seconds, " s is out of range (0, ",
                                  kMaxTimeoutSeconds, "]"));
  timeout_seconds_ = seconds;
}

Communicator::WatchdogLoan::WatchdogLoan(const Communicator& lender, Communicator& borrower)
    : borrower_(borrower),
      timeout_seconds_(borrower.timeout_seconds_),
      step_(borrower.step_),
      phases_(borrower.phases_) {
  borrower.timeout_seconds_ = lender.timeout_seconds_;
  borrower.step_ = lender.step_;
  borrower.phases_ = lender.phases_;
}

Communicator::WatchdogLoan::~WatchdogLoan() {
  borrower_.timeout_seconds_ = timeout_seconds_;
  borrower_.step_ = step_;
  borrower_.phases_ = std::move(phases_);
}

CollectiveTimeout Communicator::timeout_error(std::span<const int> late_ranks) const {
  std::string where;
  if (step_) where += message(" at step ", *step_);
  // Innermost first: "phase 'input exchange' during 'evaluation'".
  for (auto phase = phases_.rbegin(); phase != phases_.rend(); ++phase) {
    if (phase != phases_.rbegin() && *phase == *std::prev(phase)) continue;
    where +=
        message(phase == phases_.rbegin() ? ", phase '" : " during '", phase_name(*phase), "'");
  }
  std::string ranks;
  for (int rank : late_ranks) ranks += message(ranks.empty() ? "" : ", ", rank);
  return CollectiveTimeout(message("collective timed out after ", timeout_seconds_, " s", where,
                                   ": rank(s) ", ranks, " did not arrive"));
}

}  // namespace rowshard
