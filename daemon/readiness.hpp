#pragma once
// /readyz: the database answers and every migration this release knows is applied.
#include "store/database.hpp"
#include "store/migrations.hpp"

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

  // Blocks for at most a few seconds (connect and statement timeouts); never throws.
  ReadinessReport check() const;

 private:
  store::Database& database_;
  std::vector<store::Migration> migrations_;
};

}  // namespace convene::daemon
