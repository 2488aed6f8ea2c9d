#include "support/test_database.hpp"

#include <pqxx/connection>
#include <pqxx/nontransaction>

#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <regex>

namespace convene::testing {

std::string admin_database_url() {
  const char* url = std::getenv("CONVENE_TEST_DATABASE_URL");
  if (url == nullptr || *url == '\0')
    throw std::runtime_error("CONVENE_TEST_DATABASE_URL is not set: run the suite through scripts/test");
  return url;
}

std::string with_database(const std::string& url, const std::string& database) {
  // postgresql://user:pw@host:port/db?query
  static const std::regex path(R"(^(postgres(ql)?://[^/?]*)(/[^?]*)?(\?.*)?$)");
  std::smatch m;
  if (!std::regex_match(url, m, path)) throw std::runtime_error("test database URL must be a postgresql:// URI");
  return m[1].str() + "/" + database + m[4].str();
}

TestDatabase::TestDatabase() {
  static std::atomic<int> counter{0};
  name_ = "convene_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter++);
  url_ = with_database(admin_database_url(), name_);
  pqxx::connection admin(admin_database_url());
  pqxx::nontransaction tx(admin);
  tx.exec("DROP DATABASE IF EXISTS " + tx.quote_name(name_) + " WITH (FORCE)");
  tx.exec("CREATE DATABASE " + tx.quote_name(name_));
}

TestDatabase::~TestDatabase() {
  try {
    pqxx::connection admin(admin_database_url());
    pqxx::nontransaction tx(admin);
    tx.exec("DROP DATABASE IF EXISTS " + tx.quote_name(name_) + " WITH (FORCE)");
  } catch (const std::exception& e) {
    ADD_FAILURE() << "could not drop test database " << name_ << ": " << e.what();
  }
}

void TestDatabase::migrate() const {
  pqxx::connection connection(url_);
  store::migrate(connection, project_migrations());
}

const std::vector<store::Migration>& project_migrations() {
  static const std::vector<store::Migration> migrations = store::load_migrations(CONVENE_SOURCE_DIR "/schema");
  return migrations;
}

}  // namespace convene::testing
