// End-to-end tests of convened's one-shot commands (migrate, check-config, version, usage
// errors): the built binary run to completion against a private PostgreSQL cluster
// (support/e2e_fixture.hpp).
#include "support/e2e_fixture.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace convene::testing {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

constexpr auto kCommandTimeout = 60s;
constexpr const char* kSecret = "s3cr3tpw";

std::size_t sql_files_in(const std::string& dir) {
  std::size_t n = 0;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().extension() == ".sql") ++n;
  return n;
}

// Several of these tests never connect: the cluster is started by the first that creates a
// database (ConvenedTest::create_database), and the others get a URL to nowhere.
class CliTest : public ConvenedTest {};

const std::string kSchemaDir = CONVENE_SOURCE_DIR "/schema";

TEST_F(CliTest, MigrateTwice) {
  ASSERT_NO_FATAL_FAILURE(create_database());
  const std::size_t files = sql_files_in(kSchemaDir);
  ASSERT_GE(files, 1u);

  const auto first = run_convened({"migrate"});
  ASSERT_EQ(first.exit_code, 0) << describe(first);
  EXPECT_EQ(count_of(first.output, R"(msg="migration applied")"), files) << describe(first);
  EXPECT_TRUE(contains(first.output, "migration=001_core")) << describe(first);
  EXPECT_FALSE(contains(first.output, "schema is up to date")) << describe(first);
  EXPECT_EQ(query("SELECT count(*) FROM schema_migrations"), std::to_string(files));
  EXPECT_EQ(query("SELECT name FROM schema_migrations WHERE version = 1"), "001_core");
  const auto applied_at = query("SELECT string_agg(applied_at::text, ',' ORDER BY version) FROM schema_migrations");
  EXPECT_EQ(query("SELECT to_regclass('communities') IS NOT NULL"), "t");

  const auto second = run_convened({"migrate"});
  ASSERT_EQ(second.exit_code, 0) << describe(second);
  EXPECT_TRUE(contains(second.output, "schema is up to date")) << describe(second);
  EXPECT_FALSE(contains(second.output, "migration applied")) << describe(second);
  EXPECT_EQ(query("SELECT count(*) FROM schema_migrations"), std::to_string(files));
  EXPECT_EQ(query("SELECT string_agg(applied_at::text, ',' ORDER BY version) FROM schema_migrations"), applied_at)
      << "the second run re-applied something";
}

TEST_F(CliTest, EditedAppliedMigrationIsRefused) {
  ASSERT_NO_FATAL_FAILURE(create_database());
  const std::string schema = work_ + "/schema";
  fs::create_directories(schema);
  for (const auto& e : fs::directory_iterator(kSchemaDir))
    if (e.path().extension() == ".sql") write_file(schema + "/" + e.path().filename().string(), read_file(e.path()));
  const std::map<std::string, std::string> env{{"CONVENE_SCHEMA_DIR", schema}};

  const auto first = run_convened({"migrate"}, env);
  ASSERT_EQ(first.exit_code, 0) << describe(first);
  const auto before = query("SELECT string_agg(version || ':' || checksum || ':' || applied_at, ',' ORDER BY version) "
                            "FROM schema_migrations");

  const std::string core = schema + "/001_core.sql";
  write_file(core, read_file(core) + "\nCREATE TABLE e2e_must_not_exist (id integer);\n");
  const auto second = run_convened({"migrate"}, env);
  EXPECT_EQ(second.exit_code, 1) << describe(second);
  EXPECT_TRUE(contains(second.output, "001_core")) << describe(second);
  EXPECT_TRUE(contains(second.output, "changed")) << describe(second);

  EXPECT_EQ(query("SELECT string_agg(version || ':' || checksum || ':' || applied_at, ',' ORDER BY version) "
                  "FROM schema_migrations"),
            before);
  EXPECT_EQ(query("SELECT to_regclass('e2e_must_not_exist') IS NULL"), "t") << "the edited file was executed";

  // check-config only reads the files; it does not judge them against the database.
  const auto check = run_convened({"check-config"}, env);
  EXPECT_EQ(check.exit_code, 0) << describe(check);
}

TEST_F(CliTest, ConcurrentMigrate) {
  ASSERT_NO_FATAL_FAILURE(create_database());
  const std::size_t files = sql_files_in(kSchemaDir);
  ASSERT_GE(files, 1u);

  std::vector<std::unique_ptr<ChildProcess>> runs;
  const auto env = environment();
  for (int i = 0; i < 4; ++i)
    runs.push_back(
        std::make_unique<ChildProcess>(command({"migrate"}), env, work_ + "/migrate-" + std::to_string(i) + ".log"));

  std::size_t applied_messages = 0;
  for (std::size_t i = 0; i < runs.size(); ++i) {
    const auto status = runs[i]->wait_for_exit(kCommandTimeout);
    const auto log = runs[i]->log();
    ASSERT_TRUE(status.has_value()) << "migrate #" << i << " still running:\n" << log;
    EXPECT_EQ(*status, 0) << "migrate #" << i << ":\n" << log;
    applied_messages += count_of(log, R"(msg="migration applied")");
  }
  EXPECT_EQ(applied_messages, files) << "each migration must be applied by exactly one of the runs";
  EXPECT_EQ(query("SELECT count(*) || '/' || count(DISTINCT version) FROM schema_migrations"),
            std::to_string(files) + "/" + std::to_string(files));
}

TEST_F(CliTest, BadConfiguration) {
  {
    const auto r = run_convened({"check-config"}, {{"CONVENE_DATABASE_POOL_SIZE", "0"}});
    EXPECT_EQ(r.exit_code, 2) << describe(r);
    EXPECT_TRUE(contains(r.output, "CONVENE_DATABASE_POOL_SIZE")) << describe(r);
  }
  {
    write_file(config_path_, "log_level = \"info\"\ndatabse_url = \"postgresql:///x\"\n");
    const auto r = run_convened({"check-config"});
    EXPECT_EQ(r.exit_code, 2) << describe(r);
    EXPECT_TRUE(contains(r.output, "databse_url")) << describe(r);
    EXPECT_TRUE(contains(r.output, config_path_)) << "the message should name the file: " << describe(r);
  }
  {
    write_file(config_path_, "organisation_time_zone = \"Mars/Olympus\"\n");
    const auto r = run_convened({"check-config"});
    EXPECT_EQ(r.exit_code, 2) << describe(r);
    EXPECT_TRUE(contains(r.output, "organisation_time_zone")) << describe(r);
  }
  {
    write_file(config_path_, "organisation_time_zone = \"Europe/Berlin\"\n");
    const auto r = run_convened({"check-config"});
    EXPECT_EQ(r.exit_code, 0) << describe(r);
    EXPECT_TRUE(contains(r.output, "Europe/Berlin")) << describe(r);
  }
  {
    const auto missing = work_ + "/does-not-exist.toml";
    const auto r = run_command_with_timeout({CONVENE_BINARY, "--config", missing, "check-config"}, environment(),
                                            kCommandTimeout);
    EXPECT_EQ(r.exit_code, 2) << describe(r);
    EXPECT_TRUE(contains(r.output, missing)) << describe(r);
  }
  {
    const auto r = run_convened({"bogus"});
    EXPECT_EQ(r.exit_code, 2) << describe(r);
    EXPECT_TRUE(contains(r.output, "bogus")) << describe(r);
  }
  {
    const auto r = run_command_with_timeout({CONVENE_BINARY, "--version"}, {}, kCommandTimeout);
    EXPECT_EQ(r.exit_code, 0) << describe(r);
    EXPECT_EQ(r.output.rfind("convened ", 0), 0u) << describe(r);
  }
}

TEST_F(CliTest, CheckConfigHidesThePassword) {
  write_file(config_path_, "");
  const std::string url = std::string("postgresql://convene:") + kSecret + "@127.0.0.1:5432/convene";
  {
    const auto r = run_convened({"check-config"}, {{"CONVENE_DATABASE_URL", url}});
    EXPECT_EQ(r.exit_code, 0) << describe(r);
    EXPECT_TRUE(contains(r.output, "database_url")) << describe(r);
    EXPECT_TRUE(contains(r.output, "127.0.0.1:5432")) << describe(r);
    EXPECT_FALSE(contains(r.output, kSecret)) << describe(r);
  }
  {
    // libpq keyword/value form.
    const auto r = run_convened({"check-config"},
                                {{"CONVENE_DATABASE_URL", std::string("host=127.0.0.1 user=convene password=") + kSecret}});
    EXPECT_EQ(r.exit_code, 0) << describe(r);
    EXPECT_FALSE(contains(r.output, kSecret)) << describe(r);
  }
  {
    // Also when another setting is bad and the command fails.
    const auto r = run_convened({"check-config"}, {{"CONVENE_DATABASE_URL", url}, {"CONVENE_DATABASE_POOL_SIZE", "0"}});
    EXPECT_EQ(r.exit_code, 2) << describe(r);
    EXPECT_FALSE(contains(r.output, kSecret)) << describe(r);
  }
}

TEST_F(CliTest, MigrateWithUnreachableDatabase) {
  const int closed = free_port();  // nothing listens there
  const std::string url =
      std::string("postgresql://convene:") + kSecret + "@127.0.0.1:" + std::to_string(closed) + "/convene";
  const auto started = std::chrono::steady_clock::now();
  const auto r = run_convened({"migrate"}, {{"CONVENE_DATABASE_URL", url}});
  EXPECT_EQ(r.exit_code, 1) << describe(r);
  EXPECT_TRUE(contains(r.output, "cannot connect to the database")) << describe(r);
  EXPECT_TRUE(contains(r.output, std::to_string(closed))) << "the message should name the target: " << describe(r);
  EXPECT_FALSE(contains(r.output, kSecret)) << describe(r);
  EXPECT_LT(std::chrono::steady_clock::now() - started, 30s);
}

}  // namespace
}  // namespace convene::testing
