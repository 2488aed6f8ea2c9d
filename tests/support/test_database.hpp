#pragma once
// A fresh, empty PostgreSQL database for each integration test, created through the
// superuser URL in CONVENE_TEST_DATABASE_URL (scripts/test starts that cluster) and dropped
// afterwards.
#include "store/migrations.hpp"

#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace convene::testing {

// The server URL from the environment; fails the test when unset.
std::string admin_database_url();

// `url` with its database name replaced.
std::string with_database(const std::string& url, const std::string& database);

class TestDatabase {
 public:
  TestDatabase();  // creates convene_test_<pid>_<n>
  ~TestDatabase();  // drops it, terminating leftover sessions
  TestDatabase(const TestDatabase&) = delete;
  TestDatabase& operator=(const TestDatabase&) = delete;

  const std::string& url() const { return url_; }
  const std::string& name() const { return name_; }
  // Applies the project's migrations (schema/).
  void migrate() const;

 private:
  std::string name_;
  std::string url_;
};

// The project's migrations, read from the source tree.
const std::vector<store::Migration>& project_migrations();

// Fixture: a fresh database per test; migrated when the derived class asks for it.
class DatabaseTest : public ::testing::Test {
 protected:
  TestDatabase db;
};

class MigratedDatabaseTest : public DatabaseTest {
 protected:
  void SetUp() override { db.migrate(); }

  // One statement in a transaction of its own, on the test's connection to its database;
  // without parameters a simple query (which may hold several statements).
  template <class... Args>
  pqxx::result sql(const std::string& query, Args&&... args) {
    if (!sql_connection_) sql_connection_ = std::make_unique<pqxx::connection>(db.url());
    pqxx::work tx(*sql_connection_);
    pqxx::result result;
    if constexpr (sizeof...(Args) == 0) result = tx.exec(query);
    else result = tx.exec_params(query, std::forward<Args>(args)...);
    tx.commit();
    return result;
  }
  // The first column of the first row, as a number.
  template <class... Args>
  std::int64_t scalar(const std::string& query, Args&&... args) {
    return sql(query, std::forward<Args>(args)...)[0][0].template as<std::int64_t>();
  }

 private:
  std::unique_ptr<pqxx::connection> sql_connection_;
};

}  // namespace convene::testing
