#include "store/pool.hpp"

#include "store/conninfo.hpp"

#include <pqxx/except>

#include <utility>

namespace convene::store {

ConnectionPool::Lease::Lease(Lease&& other) noexcept
    : pool_(std::exchange(other.pool_, nullptr)), slot_(std::move(other.slot_)), discard_(other.discard_) {}

ConnectionPool::Lease::~Lease() {
  if (pool_ != nullptr) pool_->give_back(std::move(slot_), discard_);
}

ConnectionPool::ConnectionPool(PoolOptions options)
    : options_(std::move(options)),
      conninfo_(with_session_defaults(options_.conninfo, options_.connect_timeout, options_.application_name)) {
  if (options_.max_size == 0) throw std::invalid_argument("connection pool size must be at least 1");
}

ConnectionPool::~ConnectionPool() = default;

std::unique_ptr<pqxx::connection> ConnectionPool::connect() {
  auto connection = std::make_unique<pqxx::connection>(conninfo_);
  // Instants are exchanged as UTC text (store/sql_time.hpp), whatever the server's default.
  connection->set_variable("TimeZone", "'UTC'");
  return connection;
}

ConnectionPool::Lease ConnectionPool::acquire() {
  const auto started = std::chrono::steady_clock::now();
  std::unique_lock lock(mutex_);
  const auto deadline = started + options_.acquire_timeout;
  for (;;) {
    // Reuse the most recently returned healthy connection; drop suspect ones.
    while (!idle_.empty()) {
      Slot slot = std::move(idle_.back());
      idle_.pop_back();
      if (slot.generation == generation_ && slot.connection->is_open()) {
        ++in_use_;
        ++acquisitions_total_;
        acquire_wait_total_ += std::chrono::steady_clock::now() - started;
        return Lease(this, std::move(slot));
      }
      --open_;
      lock.unlock();
      slot.connection.reset();  // closing may touch the socket: not under the lock
      lock.lock();
    }
    if (open_ < options_.max_size) {
      ++open_;
      const auto generation = generation_;
      lock.unlock();
      std::unique_ptr<pqxx::connection> connection;
      try {
        connection = connect();
      } catch (...) {
        lock.lock();
        --open_;
        ++connect_failures_total_;
        available_.notify_one();
        throw;
      }
      lock.lock();
      ++connects_total_;
      ++in_use_;
      ++acquisitions_total_;
      acquire_wait_total_ += std::chrono::steady_clock::now() - started;
      return Lease(this, Slot{std::move(connection), generation});
    }
    if (available_.wait_until(lock, deadline) == std::cv_status::timeout && idle_.empty() &&
        open_ >= options_.max_size) {
      ++acquire_timeouts_total_;
      throw PoolExhausted("no database connection became free within " +
                          std::to_string(options_.acquire_timeout.count()) + " ms");
    }
  }
}

void ConnectionPool::give_back(Slot slot, bool discard) noexcept {
  std::unique_lock lock(mutex_);
  --in_use_;
  if (discard || !slot.connection || !slot.connection->is_open() || slot.generation != generation_) {
    --open_;
    if (discard) ++broken_total_;
    lock.unlock();
    available_.notify_one();
    slot.connection.reset();
    return;
  }
  idle_.push_back(std::move(slot));
  lock.unlock();
  available_.notify_one();
}

void ConnectionPool::invalidate_idle() noexcept {
  std::lock_guard lock(mutex_);
  ++generation_;
}

PoolStats ConnectionPool::stats() const {
  std::lock_guard lock(mutex_);
  PoolStats s;
  s.max_size = options_.max_size;
  s.open = open_;
  s.in_use = in_use_;
  s.connects_total = connects_total_;
  s.connect_failures_total = connect_failures_total_;
  s.acquisitions_total = acquisitions_total_;
  s.acquire_timeouts_total = acquire_timeouts_total_;
  s.broken_total = broken_total_;
  s.acquire_wait_seconds_total = std::chrono::duration<double>(acquire_wait_total_).count();
  return s;
}

}  // namespace convene::store
