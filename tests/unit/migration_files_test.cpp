#include "store/migrations.hpp"

#include <gtest/gtest.h>

#include <fstream>

using namespace convene::store;
namespace fs = std::filesystem;

namespace {

class TempDir {
 public:
  TempDir() {
    char name[] = "/tmp/convene-migrations-XXXXXX";
    path_ = ::mkdtemp(name);
  }
  ~TempDir() { fs::remove_all(path_); }
  void write(const std::string& name, const std::string& text) const { std::ofstream(path_ / name) << text; }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

}  // namespace

TEST(MigrationFiles, LoadsInNumericOrderWithChecksums) {
  TempDir dir;
  dir.write("010_later.sql", "SELECT 10;");
  dir.write("002_second.sql", "SELECT 2;");
  dir.write("001_first.sql", "SELECT 1;");
  dir.write("README.md", "not a migration");
  const auto migrations = load_migrations(dir.path());
  ASSERT_EQ(migrations.size(), 3u);
  EXPECT_EQ(migrations[0].name, "001_first");
  EXPECT_EQ(migrations[1].name, "002_second");
  EXPECT_EQ(migrations[2].name, "010_later");
  EXPECT_EQ(migrations[2].version, 10);
  EXPECT_EQ(migrations[0].sql, "SELECT 1;");
  EXPECT_EQ(migrations[0].checksum, sha256_hex("SELECT 1;"));
}

TEST(MigrationFiles, Sha256MatchesTheStandardVector) {
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(MigrationFiles, RejectsBadNamesAndDuplicateVersions) {
  {
    TempDir dir;
    dir.write("1_too_short.sql", "");
    EXPECT_THROW(load_migrations(dir.path()), MigrationError);
  }
  {
    TempDir dir;
    dir.write("001_Upper.sql", "");
    EXPECT_THROW(load_migrations(dir.path()), MigrationError);
  }
  {
    TempDir dir;
    dir.write("001_a.sql", "");
    dir.write("001_b.sql", "");
    EXPECT_THROW(load_migrations(dir.path()), MigrationError);
  }
  EXPECT_THROW(load_migrations("/nonexistent/schema"), MigrationError);
}

TEST(MigrationFiles, TheProjectSchemaLoads) {
  const auto migrations = load_migrations(CONVENE_SOURCE_DIR "/schema");
  ASSERT_FALSE(migrations.empty());
  EXPECT_EQ(migrations.front().name, "001_core");
}
