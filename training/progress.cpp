#include "training/progress.h"

#include <algorithm>
#include <cstdio>
#include <limits>
#include <string>

namespace rowshard {
namespace {

std::string format_duration(double seconds) {
  const auto total = static_cast<int64_t>(seconds);
  char text[32];
  std::snprintf(text, sizeof text, "%02lld:%02lld:%02lld", static_cast<long long>(total / 3600),
                static_cast<long long>(total / 60 % 60), static_cast<long long>(total % 60));
  return text;
}

}  // namespace

void RecentLosses::add(Step step) {
  steps_.push_back(step);
  if (steps_.size() > kWindowSteps) steps_.pop_front();
}

std::optional<double> RecentLosses::mean() const {
  double sum = 0, count = 0;
  for (const Step& step : steps_) {
    sum += step.loss_sum;
    count += step.examples;
  }
  if (count > 0) return sum / count;
  return std::nullopt;
}

ProgressReport::ProgressReport(int64_t steps, int64_t batch_size, double every_seconds)
    : steps_(steps), batch_size_(batch_size), every_seconds_(every_seconds) {}

void ProgressReport::print_if_due(int64_t steps_done, const RecentLosses& losses) {
  if (seconds_since(last_print_) < every_seconds_ && steps_done != steps_) return;
  last_print_ = SteadyClock::now();
  const double rate = static_cast<double>(examples_seen_) / seconds_since(start_);
  const double remaining = static_cast<double>(steps_ - steps_done) *
                           static_cast<double>(batch_size_) / std::max(rate, 1e-9);
  std::printf("step %lld/%lld  %.0f examples/s  loss %.5f  eta %s\n",
              static_cast<long long>(steps_done), static_cast<long long>(steps_), rate,
              losses.mean().value_or(std::numeric_limits<double>::quiet_NaN()),
              format_duration(remaining).c_str());
  std::fflush(stdout);
}

double ProgressReport::examples_per_second() const {
  const double elapsed = seconds_since(start_);
  return elapsed > 0 ? static_cast<double>(examples_seen_) / elapsed : 0;
}

}  // namespace rowshard
