#include "daemon/http/body_budget.hpp"

#include <utility>

namespace convene::daemon::http {

BodyBudget::Reservation& BodyBudget::Reservation::operator=(Reservation&& other) noexcept {
  if (this != &other) {
    release();
    budget_ = std::exchange(other.budget_, nullptr);
    client_ = std::move(other.client_);
    bytes_ = std::exchange(other.bytes_, 0);
  }
  return *this;
}

bool BodyBudget::Reservation::grow_to(std::size_t bytes) {
  if (budget_ == nullptr || bytes <= bytes_) return budget_ != nullptr;
  const std::size_t more = bytes - bytes_;
  auto& budget = *budget_;
  const auto held = budget.by_client_.find(client_);
  const std::size_t client_bytes = held == budget.by_client_.end() ? 0 : held->second;
  if (budget.used_ + more > budget.total_ || client_bytes + more > budget.per_client_) return false;
  budget.used_ += more;
  budget.by_client_[client_] = client_bytes + more;
  bytes_ = bytes;
  return true;
}

void BodyBudget::Reservation::release() noexcept {
  if (budget_ == nullptr || bytes_ == 0) return;
  auto& budget = *budget_;
  budget.used_ -= bytes_;
  if (const auto held = budget.by_client_.find(client_); held != budget.by_client_.end()) {
    held->second -= bytes_;
    if (held->second == 0) budget.by_client_.erase(held);
  }
  bytes_ = 0;
}

std::size_t BodyBudget::used_by(const std::string& client) const {
  const auto held = by_client_.find(client);
  return held == by_client_.end() ? 0 : held->second;
}

}  // namespace convene::daemon::http
