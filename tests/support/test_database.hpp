#pragma once
// A fresh, empty PostgreSQL database for each integration test, created through the
// superuser URL in CONVENE_TEST_DATABASE_URL (scripts/test starts that cluster) and dropped
// afterwards.
#include "store/migrations.hpp"

#include <gtest/gtest.h>

#include <string>
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
};

}  // namespace convene::testing
