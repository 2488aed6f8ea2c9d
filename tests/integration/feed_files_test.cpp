// Feed files (issue 4, "Feed files"): the bytes the HTTP feeds serve, written under the feeds
// directory atomically; files of communities that are no longer public and active removed;
// errors reported, never thrown; the debounce on the Asio loop.
#include "daemon/feeds/feed_files.hpp"

#include "calendar/clock.hpp"
#include "calendar/zones.hpp"
#include "daemon/config.hpp"
#include "support/process.hpp"
#include "support/test_database.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>
#include <pqxx/connection>
#include <pqxx/transaction>

#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

using namespace convene;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

std::string slurp(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

ino_t inode_of(const fs::path& path) {
  struct stat st {};
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return st.st_ino;
}

// Every file below `dir` whose name marks a temporary file (or any dot file).
std::vector<std::string> hidden_files(const fs::path& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : fs::recursive_directory_iterator(dir, ec))
    if (e.path().filename().string().front() == '.') out.push_back(e.path().string());
  return out;
}

std::string joined(const feeds::FeedFileReport& r) {
  std::string out;
  for (const auto& e : r.errors) out += e + "\n";
  return out;
}

// Runs the loop for a while (again after it ran out of work).
void spin(boost::asio::io_context& io, std::chrono::milliseconds d) {
  io.restart();
  io.run_for(d);
}

store::PoolOptions pool_for(const std::string& url) {
  store::PoolOptions o;
  o.conninfo = url;
  o.max_size = 4;
  o.connect_timeout = std::chrono::seconds(2);
  o.acquire_timeout = std::chrono::seconds(2);
  return o;
}

class FeedFiles : public convene::testing::MigratedDatabaseTest {
 protected:
  void SetUp() override {
    MigratedDatabaseTest::SetUp();
    calendar::preload_zones();
    dir_ = std::make_unique<convene::testing::TempDir>("convene-feed-files");
    feeds_dir_ = fs::path(dir_->path()) / "feeds";
    database_ = std::make_unique<store::Database>(pool_for(db.url()));
    config_.organisation_time_zone = "Europe/London";
    service_ = std::make_unique<feeds::FeedService>(*database_, config_, clock_, cache_);
    exec(R"(
      INSERT INTO communities (slug, name, time_zone, visibility, status, archived_at, created_at, updated_at) VALUES
        ('open-source', 'Open Source', 'Europe/London', 'public', 'active', NULL, now(), now()),
        ('data-science', 'Data Science', 'Europe/London', 'public', 'active', NULL, now(), now()),
        ('secret-club', 'Secret Club', 'Europe/London', 'members', 'active', NULL, now(), now()),
        ('old-times', 'Old Times', 'Europe/London', 'public', 'archived', now(), now(), now());
      INSERT INTO rooms (name, join_url, capacity, created_at) VALUES
        ('Room A', 'https://meet.example.org/a', 50, now()),
        ('Room B', 'https://meet.example.org/b', 10, now());
      INSERT INTO meetings (uid, community_id, kind, title, time_zone, start_local, end_local, starts_at, ends_at,
                            rrule, room_id, created_at, updated_at) VALUES
        ('weekly-1@convene', 1, 'meeting', 'Weekly sync', 'Europe/London', '2027-03-01 10:00', '2027-03-01 11:00',
         '2027-03-01 10:00Z', '2027-03-01 11:00Z', 'FREQ=WEEKLY;BYDAY=MO', 1, now(), now()),
        ('talk-1@convene', 1, 'special_event', 'A talk', 'Europe/London', '2027-04-01 18:00', '2027-04-01 19:00',
         '2027-04-01 17:00Z', '2027-04-01 18:00Z', NULL, NULL, now(), now()),
        ('ds-1@convene', 2, 'meeting', 'Reading group', 'Europe/London', '2027-05-03 12:00', '2027-05-03 13:00',
         '2027-05-03 11:00Z', '2027-05-03 12:00Z', NULL, 2, now(), now()),
        ('secret-1@convene', 3, 'meeting', 'Secret meeting', 'Europe/London', '2027-03-02 10:00', '2027-03-02 11:00',
         '2027-03-02 10:00Z', '2027-03-02 11:00Z', NULL, 2, now(), now()),
        ('old-1@convene', 4, 'meeting', 'Old meeting', 'Europe/London', '2027-03-03 10:00', '2027-03-03 11:00',
         '2027-03-03 10:00Z', '2027-03-03 11:00Z', NULL, NULL, now(), now());
    )");
  }

  void exec(const std::string& sql) {
    pqxx::connection c(db.url());
    pqxx::work tx(c);
    tx.exec(sql);
    tx.commit();
  }

  // What the daemon does with a NOTIFY: drop the cached feeds, then write the files.
  feeds::FeedFileReport write_after(std::initializer_list<std::string_view> payloads) {
    feeds::FeedFileChanges changes;
    for (const auto p : payloads) {
      cache_.invalidate(p);
      changes.add(p);
    }
    return feeds::write_feed_files(*service_, *database_, feeds_dir_, changes);
  }
  feeds::FeedFileReport write_all() { return feeds::write_all_feed_files(*service_, *database_, feeds_dir_); }

  fs::path community_file(const std::string& slug) const { return feeds_dir_ / "communities" / (slug + ".ics"); }
  fs::path room_file(int id) const { return feeds_dir_ / "rooms" / (std::to_string(id) + ".ics"); }

  std::unique_ptr<convene::testing::TempDir> dir_;
  fs::path feeds_dir_;
  std::unique_ptr<store::Database> database_;
  daemon::Config config_;
  calendar::SystemClock clock_;
  feeds::FeedCache cache_;
  std::unique_ptr<feeds::FeedService> service_;
};

}  // namespace

TEST_F(FeedFiles, CommunityFilesHoldTheBytesTheHttpFeedServes) {
  const auto report = write_all();
  ASSERT_TRUE(report.ok()) << joined(report);
  EXPECT_EQ(report.written, 4u);  // two communities, two rooms
  EXPECT_EQ(report.removed, 0u);
  for (const std::string slug : {"open-source", "data-science"}) {
    const auto feed = service_->public_community_feed(slug);
    ASSERT_NE(feed, nullptr);
    ASSERT_TRUE(fs::exists(community_file(slug))) << slug;
    EXPECT_EQ(slurp(community_file(slug)), feed->body) << slug;
  }
  EXPECT_NE(slurp(community_file("open-source")).find("SUMMARY:Weekly sync"), std::string::npos);
  // The same bytes after the cache was emptied: the file is what a fresh build serves.
  cache_.invalidate("*");
  EXPECT_EQ(slurp(community_file("open-source")), service_->public_community_feed("open-source")->body);
}

TEST_F(FeedFiles, MembersOnlyAndArchivedCommunitiesHaveNoFile) {
  ASSERT_TRUE(write_all().ok());
  EXPECT_FALSE(fs::exists(community_file("secret-club")));
  EXPECT_FALSE(fs::exists(community_file("old-times")));
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(feeds_dir_ / "communities")) names.push_back(e.path().filename());
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"data-science.ics", "open-source.ics"}));
}

TEST_F(FeedFiles, RoomFilesExistWithTheRoomFeed) {
  ASSERT_TRUE(write_all().ok());
  for (int id : {1, 2}) {
    ASSERT_TRUE(fs::exists(room_file(id))) << id;
    EXPECT_EQ(slurp(room_file(id)), service_->room_feed(id)->body);
  }
  // Room B holds the members-only meeting too: room feeds show every community's bookings.
  EXPECT_NE(slurp(room_file(2)).find("SUMMARY:Secret meeting"), std::string::npos);
}

TEST_F(FeedFiles, NoTemporaryFilesRemain) {
  ASSERT_TRUE(write_all().ok());
  exec("UPDATE meetings SET title = 'Weekly sync (moved)', updated_at = now() WHERE id = 1");
  ASSERT_TRUE(write_after({"c:1"}).ok());
  EXPECT_TRUE(hidden_files(feeds_dir_).empty()) << hidden_files(feeds_dir_).front();
}

TEST_F(FeedFiles, AFileIsRemovedWhenItsCommunityBecomesMembersOnlyOrArchived) {
  ASSERT_TRUE(write_all().ok());
  ASSERT_TRUE(fs::exists(community_file("open-source")));
  ASSERT_TRUE(fs::exists(community_file("data-science")));

  exec("UPDATE communities SET visibility = 'members', updated_at = now() WHERE slug = 'open-source'");
  auto report = write_after({"c:1"});
  ASSERT_TRUE(report.ok()) << joined(report);
  EXPECT_EQ(report.removed, 1u);
  EXPECT_FALSE(fs::exists(community_file("open-source")));
  EXPECT_TRUE(fs::exists(community_file("data-science")));

  exec("UPDATE communities SET status = 'archived', archived_at = now(), updated_at = now() WHERE slug = 'data-science'");
  report = write_after({"c:2"});
  ASSERT_TRUE(report.ok()) << joined(report);
  EXPECT_EQ(report.removed, 1u);
  EXPECT_FALSE(fs::exists(community_file("data-science")));

  // Public again: written again.
  exec("UPDATE communities SET visibility = 'public', updated_at = now() WHERE slug = 'open-source'");
  report = write_after({"c:1"});
  ASSERT_TRUE(report.ok()) << joined(report);
  EXPECT_EQ(slurp(community_file("open-source")), service_->public_community_feed("open-source")->body);
}

TEST_F(FeedFiles, FilesOfDeletedRoomsAndRenamedCommunitiesAreRemoved) {
  ASSERT_TRUE(write_all().ok());
  exec("UPDATE communities SET slug = 'open-source-2', updated_at = now() WHERE id = 1");
  exec("UPDATE meetings SET room_id = NULL WHERE room_id = 2; DELETE FROM room_bookings WHERE room_id = 2; "
       "DELETE FROM rooms WHERE id = 2");
  const auto report = write_after({"c:1", "*"});
  ASSERT_TRUE(report.ok()) << joined(report);
  EXPECT_FALSE(fs::exists(community_file("open-source")));
  EXPECT_TRUE(fs::exists(community_file("open-source-2")));
  EXPECT_FALSE(fs::exists(room_file(2)));
  EXPECT_TRUE(fs::exists(room_file(1)));
}

TEST_F(FeedFiles, OnlyTheChangedCommunityIsRebuilt) {
  ASSERT_TRUE(write_all().ok());
  const auto other_inode = inode_of(community_file("data-science"));
  exec("UPDATE meetings SET title = 'Weekly sync (new title)', updated_at = now() WHERE id = 1");
  const auto report = write_after({"c:1"});
  ASSERT_TRUE(report.ok()) << joined(report);
  EXPECT_NE(slurp(community_file("open-source")).find("Weekly sync (new title)"), std::string::npos);
  EXPECT_EQ(inode_of(community_file("data-science")), other_inode);
  // Member feeds have no files: nothing to do.
  const auto member_only = write_after({"m:1"});
  EXPECT_EQ(member_only.written + member_only.unchanged + member_only.removed, 0u);
}

TEST_F(FeedFiles, UnchangedBytesAreNotRewritten) {
  ASSERT_TRUE(write_all().ok());
  const auto inode = inode_of(community_file("open-source"));
  const auto report = write_after({"*"});
  ASSERT_TRUE(report.ok()) << joined(report);
  EXPECT_EQ(report.written, 0u);
  EXPECT_EQ(report.unchanged, 4u);
  EXPECT_EQ(inode_of(community_file("open-source")), inode);
}

TEST_F(FeedFiles, ARewriteReplacesTheFileAtomically) {
  // A feed of several MB, so a non-atomic writer would be caught half-way.
  exec(R"(
    INSERT INTO meetings (uid, community_id, kind, title, description, time_zone, start_local, end_local, starts_at,
                          ends_at, created_at, updated_at)
      SELECT 'big-' || g || '@convene', 1, 'meeting', 'Big meeting ' || g, repeat('Long agenda line. ', 150),
             'Europe/London', timestamp '2027-06-01 09:00' + g * interval '1 day',
             timestamp '2027-06-01 10:00' + g * interval '1 day', timestamptz '2027-06-01 08:00Z' + g * interval '1 day',
             timestamptz '2027-06-01 09:00Z' + g * interval '1 day', now(), now()
        FROM generate_series(1, 800) g;
  )");
  ASSERT_TRUE(write_all().ok());
  const auto path = community_file("open-source");
  const auto first = slurp(path);
  ASSERT_GT(first.size(), 2u * 1024 * 1024);

  std::atomic<bool> done{false};
  std::atomic<int> reads{0}, torn{0};
  std::thread reader([&] {
    while (!done) {
      const auto content = slurp(path);
      ++reads;
      if (!content.starts_with("BEGIN:VCALENDAR\r\n") || !content.ends_with("END:VCALENDAR\r\n")) ++torn;
    }
  });
  std::vector<ino_t> inodes{inode_of(path)};
  for (int round = 1; round <= 3; ++round) {
    exec("UPDATE meetings SET title = title || ' +', updated_at = now() WHERE uid = 'big-1@convene'");
    const auto report = write_after({"c:1"});
    ASSERT_TRUE(report.ok()) << joined(report);
    EXPECT_GE(report.written, 1u);
    inodes.push_back(inode_of(path));
  }
  done = true;
  reader.join();
  EXPECT_GT(reads.load(), 0);
  EXPECT_EQ(torn.load(), 0) << "a reader saw a partial file";
  for (std::size_t i = 1; i < inodes.size(); ++i) EXPECT_NE(inodes[i], inodes[i - 1]) << "replaced by rename";
  EXPECT_EQ(slurp(path), service_->public_community_feed("open-source")->body);
  EXPECT_NE(slurp(path), first);
  EXPECT_TRUE(hidden_files(feeds_dir_).empty());
}

TEST_F(FeedFiles, StaleTemporaryFilesOfACrashAreRemoved) {
  fs::create_directories(feeds_dir_ / "communities");
  const auto stale = feeds_dir_ / "communities" / ".open-source.ics.tmp-0123456789ab";
  const auto fresh = feeds_dir_ / "communities" / ".data-science.ics.tmp-ba9876543210";
  convene::testing::write_file(stale, "BEGIN:VCALENDAR\r\nhalf");
  convene::testing::write_file(fresh, "BEGIN:VCALENDAR\r\nhalf");
  fs::last_write_time(stale, fs::file_time_type::clock::now() - std::chrono::hours(1));
  ASSERT_TRUE(write_all().ok());
  EXPECT_FALSE(fs::exists(stale));
  EXPECT_TRUE(fs::exists(fresh)) << "may belong to another instance writing right now";
  // Unknown files that are not feeds are left alone.
  convene::testing::write_file(feeds_dir_ / "communities" / "README", "hello");
  ASSERT_TRUE(write_all().ok());
  EXPECT_TRUE(fs::exists(feeds_dir_ / "communities" / "README"));
}

TEST_F(FeedFiles, AMissingDirectoryIsCreated) {
  feeds_dir_ = feeds_dir_ / "deeper" / "still";
  const auto report = write_all();
  ASSERT_TRUE(report.ok()) << joined(report);
  EXPECT_TRUE(fs::exists(community_file("open-source")));
}

TEST_F(FeedFiles, AnUnwritableDirectoryIsAnErrorNotAnException) {
  // A path below a regular file cannot be created, even by root.
  convene::testing::write_file(fs::path(dir_->path()) / "not-a-directory", "x");
  feeds_dir_ = fs::path(dir_->path()) / "not-a-directory" / "feeds";
  feeds::FeedFileReport report;
  EXPECT_NO_THROW(report = write_all());
  EXPECT_FALSE(report.ok());
  EXPECT_NE(joined(report).find("not-a-directory"), std::string::npos) << joined(report);

  // The directory exists, but communities/ is a file.
  feeds_dir_ = fs::path(dir_->path()) / "feeds-2";
  fs::create_directories(feeds_dir_);
  convene::testing::write_file(feeds_dir_ / "communities", "x");
  EXPECT_NO_THROW(report = write_all());
  EXPECT_FALSE(report.ok());

  // A read-only directory (root writes anyway, so only checked for other users).
  if (::geteuid() != 0) {
    feeds_dir_ = fs::path(dir_->path()) / "feeds-ro";
    fs::create_directories(feeds_dir_ / "communities");
    fs::create_directories(feeds_dir_ / "rooms");
    fs::permissions(feeds_dir_ / "communities", fs::perms::owner_read | fs::perms::owner_exec);
    EXPECT_NO_THROW(report = write_all());
    EXPECT_FALSE(report.ok());
    EXPECT_NE(joined(report).find("Permission denied"), std::string::npos) << joined(report);
    fs::permissions(feeds_dir_ / "communities", fs::perms::owner_all);
  }

  // The low-level replacement reports too.
  const auto error = feeds::replace_file_atomically(fs::path(dir_->path()) / "no-such-dir" / "x.ics", "bytes");
  ASSERT_TRUE(error.has_value());
  EXPECT_NE(error->find("no-such-dir"), std::string::npos) << *error;
}

TEST_F(FeedFiles, AnUnreachableDatabaseIsAnErrorNotAnException) {
  store::Database unreachable(
      pool_for("postgresql://convene:x@127.0.0.1:" + std::to_string(convene::testing::free_port()) + "/convene"));
  feeds::FeedCache cache;
  feeds::FeedService service(unreachable, config_, clock_, cache);
  ASSERT_TRUE(write_all().ok());  // files from the real database first
  feeds::FeedFileReport report;
  EXPECT_NO_THROW(report = feeds::write_all_feed_files(service, unreachable, feeds_dir_));
  EXPECT_FALSE(report.ok());
  // Nothing is removed on the strength of a listing that failed.
  EXPECT_TRUE(fs::exists(community_file("open-source")));
}

TEST_F(FeedFiles, ChangesCoalesce) {
  feeds::FeedFileChanges c;
  c.add("m:3");
  EXPECT_TRUE(c.empty());
  c.add("c:7");
  c.add("c:7");
  c.add("c:9");
  EXPECT_FALSE(c.all);
  EXPECT_TRUE(c.rooms);
  EXPECT_EQ(c.communities, (std::set<std::int64_t>{7, 9}));
  feeds::FeedFileChanges d;
  d.add("r");
  EXPECT_TRUE(d.rooms);
  EXPECT_TRUE(d.communities.empty());
  d.add("something new");
  EXPECT_TRUE(d.all);
}

// The debounce on the loop: a burst of notifications is one run, on the blocking executor.
TEST_F(FeedFiles, TheWriterDebouncesABurstIntoOneRun) {
  boost::asio::io_context io;
  boost::asio::thread_pool blocking(1);
  feeds::FeedFileOptions options;
  options.debounce = 200ms;
  options.max_delay = 5s;
  feeds::FeedFileWriter writer(io.get_executor(), blocking.get_executor(), *service_, *database_, feeds_dir_, options);
  writer.start();
  for (int i = 0; i < 10; ++i) writer.notify("c:1");
  writer.notify("m:1");
  spin(io, 100ms);
  EXPECT_EQ(writer.runs(), 0u) << "still waiting for the burst to end";
  EXPECT_FALSE(fs::exists(community_file("open-source")));
  ASSERT_TRUE(convene::testing::wait_until(
      [&] {
        spin(io, 50ms);
        return writer.runs() >= 1;
      },
      10s));
  spin(io, 400ms);
  EXPECT_EQ(writer.runs(), 1u);
  EXPECT_EQ(writer.failed_runs(), 0u);
  EXPECT_EQ(slurp(community_file("open-source")), service_->public_community_feed("open-source")->body);

  // A change after that: written again.
  exec("UPDATE meetings SET title = 'After the burst', updated_at = now() WHERE id = 1");
  cache_.invalidate("c:1");
  writer.notify("c:1");
  ASSERT_TRUE(convene::testing::wait_until(
      [&] {
        spin(io, 50ms);
        return writer.runs() >= 2;
      },
      10s));
  EXPECT_NE(slurp(community_file("open-source")).find("After the burst"), std::string::npos);
  writer.stop();
  writer.notify("c:1");
  spin(io, 400ms);
  EXPECT_EQ(writer.runs(), 2u) << "no runs after stop()";
  blocking.join();
}

TEST_F(FeedFiles, TheWriterRetriesAfterAFailure) {
  boost::asio::io_context io;
  boost::asio::thread_pool blocking(1);
  feeds::FeedFileOptions options;
  options.debounce = 50ms;
  options.retry_min = 200ms;
  options.retry_max = 400ms;
  convene::testing::write_file(feeds_dir_, "in the way");  // the directory is a file
  feeds::FeedFileWriter writer(io.get_executor(), blocking.get_executor(), *service_, *database_, feeds_dir_, options);
  writer.start();
  ASSERT_TRUE(convene::testing::wait_until(
      [&] {
        spin(io, 20ms);
        return writer.failed_runs() >= 1;
      },
      10s));
  EXPECT_FALSE(fs::is_directory(feeds_dir_));
  fs::remove(feeds_dir_);  // the operator fixes it: the retry writes everything
  ASSERT_TRUE(convene::testing::wait_until(
      [&] {
        spin(io, 20ms);
        return fs::exists(community_file("open-source")) && fs::exists(room_file(2));
      },
      10s));
  writer.stop();
  spin(io, 50ms);
  blocking.join();
  EXPECT_EQ(slurp(community_file("open-source")), service_->public_community_feed("open-source")->body);
}

// feeds_directory: state_directory/feeds unless set; absolute; needs a restart.
TEST(FeedFilesConfig, FeedsDirectoryDefaultsToTheStateDirectory) {
  using daemon::load_config;
  EXPECT_EQ(daemon::feeds_directory_of(load_config(std::nullopt, {})), "/var/lib/convene/feeds");
  EXPECT_EQ(daemon::feeds_directory_of(load_config(std::nullopt, {{"CONVENE_STATE_DIRECTORY", "/srv/convene"}})),
            "/srv/convene/feeds");
  const auto set = load_config(std::nullopt, {{"CONVENE_STATE_DIRECTORY", "/srv/convene"},
                                              {"CONVENE_FEEDS_DIRECTORY", "/srv/www/feeds"}});
  EXPECT_EQ(daemon::feeds_directory_of(set), "/srv/www/feeds");
  const auto lines = daemon::describe(set);
  EXPECT_NE(std::find(lines.begin(), lines.end(), "feeds_directory = /srv/www/feeds"), lines.end());
  EXPECT_THROW(load_config(std::nullopt, {{"CONVENE_FEEDS_DIRECTORY", "relative/feeds"}}), daemon::ConfigError);
  EXPECT_THROW(load_config(std::nullopt, {{"CONVENE_FEEDS_DIRECTORY", ""}}), daemon::ConfigError);
  const auto keys = daemon::restart_required(load_config(std::nullopt, {}), set);
  EXPECT_NE(std::find(keys.begin(), keys.end(), "feeds_directory"), keys.end());
}
