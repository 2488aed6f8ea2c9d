#pragma once
// Request bodies held in memory, counted as their bytes arrive: in all and per client. Bodies
// are read before anyone is authenticated, so this is what bounds the memory clients can make
// the daemon hold (a body that is declared but never sent holds nothing). Loop thread only.
#include <cstddef>
#include <memory>
#include <string>
#include <unordered_map>

namespace convene::daemon::http {

class BodyBudget {
 public:
  BodyBudget(std::size_t total, std::size_t per_client) : total_(total), per_client_(per_client) {}

  // One body's share, given back when destroyed. Keep the budget alive longer than it.
  class Reservation {
   public:
    Reservation() = default;
    Reservation(const Reservation&) = delete;
    Reservation& operator=(const Reservation&) = delete;
    Reservation(Reservation&& other) noexcept { *this = std::move(other); }
    Reservation& operator=(Reservation&& other) noexcept;
    ~Reservation() { release(); }
    // Grows the share to `bytes`; false (and no change) when that passes either limit.
    bool grow_to(std::size_t bytes);
    std::size_t bytes() const { return bytes_; }

   private:
    friend class BodyBudget;
    Reservation(BodyBudget* budget, std::string client) : budget_(budget), client_(std::move(client)) {}
    void release() noexcept;
    BodyBudget* budget_ = nullptr;
    std::string client_;
    std::size_t bytes_ = 0;
  };

  Reservation reserve(std::string client) { return Reservation(this, std::move(client)); }
  std::size_t used() const { return used_; }
  std::size_t used_by(const std::string& client) const;

 private:
  std::size_t total_, per_client_;
  std::size_t used_ = 0;
  std::unordered_map<std::string, std::size_t> by_client_;  // only clients with bytes held
};

}  // namespace convene::daemon::http
