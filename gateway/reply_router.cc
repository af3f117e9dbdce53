#include "gateway/reply_router.h"

#include "common/errors.h"

#include <fmt/format.h>

#include <vector>

namespace magic::gateway {

ReplyRouter::ReplyRouter(Clock& clock, bool start_sweeper, absl::Duration sweep_interval)
    : clock_(clock) {
  if (start_sweeper) sweeper_ = std::thread([this, sweep_interval] { SweepLoop(sweep_interval); });
}

ReplyRouter::~ReplyRouter() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  stop_cv_.notify_all();
  if (sweeper_.joinable()) sweeper_.join();
  std::unordered_map<std::string, Waiter> left;
  {
    std::lock_guard<std::mutex> lock(mu_);
    left.swap(waiters_);
    by_deadline_.clear();
  }
  for (auto& [id, waiter] : left) {
    waiter.callback(MakeError(ErrorCode::kE3005, "gateway shutting down", {{"request_id", id}}));
  }
}

void ReplyRouter::Expect(const std::string& request_id, absl::Time deadline, Callback callback) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!waiters_.contains(request_id)) {
      by_deadline_.emplace(deadline, request_id);
      waiters_.emplace(request_id, Waiter{deadline, std::move(callback)});
      return;
    }
  }
  callback(MakeError(ErrorCode::kE1005,
                     fmt::format("request id {} is already in flight", request_id),
                     {{"request_id", request_id}}));
}

std::optional<ReplyRouter::Waiter> ReplyRouter::Take(const std::string& id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = waiters_.find(id);
  if (it == waiters_.end()) return std::nullopt;
  Waiter waiter = std::move(it->second);
  waiters_.erase(it);
  auto [first, last] = by_deadline_.equal_range(waiter.deadline);
  for (auto d = first; d != last; ++d) {
    if (d->second == id) {
      by_deadline_.erase(d);
      break;
    }
  }
  return waiter;
}

void ReplyRouter::Deliver(magic::v1::InvocationResult result) {
  std::optional<Waiter> waiter = Take(result.request_id());
  if (!waiter) {
    std::lock_guard<std::mutex> lock(mu_);
    ++dropped_;
    return;
  }
  waiter->callback(std::move(result));
}

void ReplyRouter::Fail(const std::string& request_id, const absl::Status& status) {
  if (std::optional<Waiter> waiter = Take(request_id)) waiter->callback(status);
}

void ReplyRouter::ExpireDue() {
  const absl::Time now = clock_.Now();
  std::vector<std::pair<std::string, Waiter>> due;
  {
    std::lock_guard<std::mutex> lock(mu_);
    while (!by_deadline_.empty() && by_deadline_.begin()->first <= now) {
      std::string id = by_deadline_.begin()->second;
      by_deadline_.erase(by_deadline_.begin());
      auto it = waiters_.find(id);
      if (it == waiters_.end()) continue;
      due.emplace_back(id, std::move(it->second));
      waiters_.erase(it);
    }
  }
  for (auto& [id, waiter] : due) {
    waiter.callback(
        MakeError(ErrorCode::kE3001, "no result before the deadline", {{"request_id", id}}));
  }
}

void ReplyRouter::SweepLoop(absl::Duration interval) {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    stop_cv_.wait_for(lock, absl::ToChronoMilliseconds(interval));
    if (stopping_) break;
    lock.unlock();
    ExpireDue();
    lock.lock();
  }
}

bool ReplyRouter::Has(const std::string& request_id) const {
  std::lock_guard<std::mutex> lock(mu_);
  return waiters_.contains(request_id);
}

size_t ReplyRouter::pending() const {
  std::lock_guard<std::mutex> lock(mu_);
  return waiters_.size();
}

uint64_t ReplyRouter::dropped() const {
  std::lock_guard<std::mutex> lock(mu_);
  return dropped_;
}

}  // namespace magic::gateway
