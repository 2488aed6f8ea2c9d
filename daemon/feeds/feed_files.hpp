#pragma once
// Feed files: the bytes the HTTP feeds serve, also written under the feeds directory so a
// static web server or CDN can serve them (DESIGN §5):
//   <dir>/communities/<slug>.ics   every active public community
//   <dir>/rooms/<id>.ics           every room (these carry join URLs: do not publish rooms/)
// Member feeds stay HTTP-only.
//
// Two layers:
//  * write_feed_files(): the synchronous core. Blocking (database and file system); call it on
//    a worker thread. Never throws: problems come back in FeedFileReport::errors.
//  * FeedFileWriter: the debounce on the Asio loop. Change notifications (the payloads of
//    NOTIFY convene_feeds) are collected; a burst is written once, `debounce` after the last
//    notification (at most `max_delay` after the first), on the blocking executor.
//
// Every file is replaced atomically: a temporary file in the same directory (".<name>.tmp-*",
// which no static server publishes as .ics) is written, fsync'd and renamed over the old one,
// then the directory is fsync'd. A crash leaves either the old or the new file, never a
// truncated one. A file whose bytes are unchanged is not rewritten (its mtime, and so the ETag
// a static server derives from it, stays).
#include "daemon/feeds/feed_routes.hpp"
#include "store/database.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace convene::feeds {

// What changed, accumulated from notification payloads.
struct FeedFileChanges {
  bool all = false;                    // "*": every file (start, reconnect, room changes)
  bool rooms = false;                  // every room file
  std::set<std::int64_t> communities;  // these communities' files

  static FeedFileChanges everything() { return {true, true, {}}; }
  // Adds a NOTIFY convene_feeds payload: "c:<id>" (a community's meetings; room files too,
  // since any meeting may sit in a room), "r" (rooms), "*" (all). "m:<id>" only touches
  // member feeds, which have no files. Unknown payloads count as "*".
  void add(std::string_view payload);
  void merge(const FeedFileChanges& other);
  bool empty() const { return !all && !rooms && communities.empty(); }
};

struct FeedFileReport {
  std::size_t written = 0;    // files created or replaced
  std::size_t unchanged = 0;  // same bytes already on disk
  std::size_t removed = 0;    // files of communities (rooms) no longer public and active (gone)
  std::vector<std::string> errors;
  bool ok() const { return errors.empty(); }
};

// Writes the files `changes` calls for and removes the files that must not exist (communities
// no longer public and active, deleted rooms, leftover temporary files). Creates the directory
// tree when missing. Blocking; never throws. `stop` (optional) ends the run early.
FeedFileReport write_feed_files(FeedService& feeds, store::Database& db, const std::filesystem::path& directory,
                                const FeedFileChanges& changes, const std::atomic<bool>* stop = nullptr);

// Every file (on start and after the listener reconnects).
inline FeedFileReport write_all_feed_files(FeedService& feeds, store::Database& db, const std::filesystem::path& directory,
                                           const std::atomic<bool>* stop = nullptr) {
  return write_feed_files(feeds, db, directory, FeedFileChanges::everything(), stop);
}

// Replaces `path` with `bytes` atomically (temporary file in the same directory, write, fsync,
// rename, fsync of the directory). The file gets mode 0644 less the process umask. Returns an
// error message, or nothing on success. Never throws.
std::optional<std::string> replace_file_atomically(const std::filesystem::path& path, std::string_view bytes);

struct FeedFileOptions {
  std::chrono::milliseconds debounce{2000};    // quiet time after the last notification
  std::chrono::milliseconds max_delay{10000};  // a steady stream of changes is still written
  std::chrono::milliseconds retry_min{5000};   // after a failed run (doubles up to retry_max)
  std::chrono::milliseconds retry_max{300000};
};

// The debounced writer. Construct, start(), notify() and stop() on the loop thread only.
// The FeedService, Database and the blocking executor must outlive it; destroy the blocking
// executor (joining a run in progress) before the writer.
class FeedFileWriter {
 public:
  FeedFileWriter(boost::asio::any_io_executor loop, boost::asio::any_io_executor blocking, FeedService& feeds,
                 store::Database& db, std::filesystem::path directory, FeedFileOptions options = {});
  FeedFileWriter(const FeedFileWriter&) = delete;
  FeedFileWriter& operator=(const FeedFileWriter&) = delete;

  void start();                           // writes every file (debounced like a change)
  void notify(std::string_view payload);  // a NOTIFY convene_feeds payload
  void stop();                            // no more runs; a run in progress ends after its current file

  const std::filesystem::path& directory() const { return directory_; }
  std::uint64_t runs() const { return runs_; }          // completed runs (loop thread)
  std::uint64_t failed_runs() const { return failed_runs_; }

 private:
  void schedule(std::chrono::steady_clock::time_point when);
  void launch();
  void finished(FeedFileChanges taken, FeedFileReport report);

  boost::asio::any_io_executor loop_, blocking_;
  FeedService& feeds_;
  store::Database& db_;
  const std::filesystem::path directory_;
  const FeedFileOptions options_;
  boost::asio::steady_timer timer_;
  std::uint64_t timer_generation_ = 0;  // ignores the completions of superseded waits
  FeedFileChanges pending_;
  std::optional<std::chrono::steady_clock::time_point> pending_since_;
  std::chrono::milliseconds retry_delay_{0};
  bool running_ = false;
  bool stopped_ = false;
  std::atomic<bool> stop_requested_{false};
  std::uint64_t runs_ = 0, failed_runs_ = 0;
};

}  // namespace convene::feeds
