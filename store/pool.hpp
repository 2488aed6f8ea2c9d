#pragma once
// A bounded pool of PostgreSQL connections shared by worker threads (HTTP handlers, the
// database executor). Connections are made lazily, a broken one is dropped rather than
// returned, and a broken connection makes the idle ones suspect too (after a PostgreSQL
// restart they all are), so the next acquire makes fresh ones: the daemon reconnects by
// itself without a restart.
#include <pqxx/connection>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace convene::store {

struct PoolOptions {
  std::string conninfo;  // URI or keyword=value; passwords never reach the logs
  std::size_t max_size = 8;
  std::chrono::seconds connect_timeout{5};
  std::chrono::milliseconds acquire_timeout{5000};  // waiting for a free connection
  std::string application_name = "convened";
};

struct PoolStats {
  std::size_t max_size = 0;
  std::size_t open = 0;
  std::size_t in_use = 0;
  std::uint64_t connects_total = 0;
  std::uint64_t connect_failures_total = 0;
  std::uint64_t acquisitions_total = 0;
  std::uint64_t acquire_timeouts_total = 0;
  std::uint64_t broken_total = 0;
  double acquire_wait_seconds_total = 0;
};

// Thrown when no connection became free within acquire_timeout.
class PoolExhausted : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class ConnectionPool {
  struct Slot {
    std::unique_ptr<pqxx::connection> connection;
    std::uint64_t generation = 0;
  };

 public:
  // A connection on loan; returned to the pool when the lease ends unless discarded.
  class Lease {
   public:
    Lease(Lease&& other) noexcept;
    Lease& operator=(Lease&&) = delete;
    ~Lease();
    pqxx::connection& operator*() const { return *slot_.connection; }
    pqxx::connection* operator->() const { return slot_.connection.get(); }
    // The connection is broken or in an unknown state: close it instead of reusing it.
    void discard() noexcept { discard_ = true; }

   private:
    friend class ConnectionPool;
    Lease(ConnectionPool* pool, Slot slot) : pool_(pool), slot_(std::move(slot)) {}
    ConnectionPool* pool_;
    Slot slot_;
    bool discard_ = false;
  };

  explicit ConnectionPool(PoolOptions options);
  ConnectionPool(const ConnectionPool&) = delete;
  ConnectionPool& operator=(const ConnectionPool&) = delete;
  ~ConnectionPool();

  // Blocks up to acquire_timeout for a free slot; throws pqxx::broken_connection when a new
  // connection cannot be made and PoolExhausted when none became free.
  Lease acquire();

  // Marks every idle connection as suspect; called when one connection was found broken.
  void invalidate_idle() noexcept;

  PoolStats stats() const;
  const PoolOptions& options() const { return options_; }

 private:
  void give_back(Slot slot, bool discard) noexcept;
  std::unique_ptr<pqxx::connection> connect();

  const PoolOptions options_;
  const std::string conninfo_;  // with connect_timeout and application_name
  mutable std::mutex mutex_;
  std::condition_variable available_;
  std::vector<Slot> idle_;
  std::size_t open_ = 0;  // idle + in use + being connected
  std::size_t in_use_ = 0;
  std::uint64_t generation_ = 0;
  std::uint64_t connects_total_ = 0;
  std::uint64_t connect_failures_total_ = 0;
  std::uint64_t acquisitions_total_ = 0;
  std::uint64_t acquire_timeouts_total_ = 0;
  std::uint64_t broken_total_ = 0;
  std::chrono::nanoseconds acquire_wait_total_{0};
};

}  // namespace convene::store
