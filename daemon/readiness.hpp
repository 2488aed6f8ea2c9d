#pragma once
// /readyz: the database answers and every migration this release knows is applied, and the
// connection pool is not turning requests away. The check uses a connection of its own, so it
// answers truthfully while every pooled connection is busy.
#include "store/database.hpp"
#include "store/migrations.hpp"

#include <pqxx/connection>

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace convene::daemon {

struct ReadinessReport {
  bool ready = false;
  std::vector<std::string> problems;  // empty when ready
};

class Readiness {
 public:
  Readiness(store::Database& database, std::vector<store::Migration> migrations)
      : database_(database), migrations_(std::move(migrations)) {}

  // Blocks for at most a few seconds (connect and statement timeouts); never throws;
  // concurrent calls take turns on the one connection.
  ReadinessReport check() const;

 private:
  store::SchemaStatus schema_status() const;  // throws when the database cannot be asked

  store::Database& database_;  // its pool's settings and statistics
  std::vector<store::Migration> migrations_;
  mutable std::mutex mutex_;
  mutable std::unique_ptr<pqxx::connection> connection_;
  mutable std::uint64_t acquire_timeouts_seen_ = 0;
};

}  // namespace convene::daemon
