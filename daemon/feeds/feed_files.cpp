#include "daemon/feeds/feed_files.hpp"

#include "base/log.hpp"
#include "store/errors.hpp"
#include "store/pool.hpp"

#include <boost/asio/execution/outstanding_work.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/prefer.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <map>
#include <random>

namespace convene::feeds {
namespace {

namespace asio = boost::asio;
namespace fs = std::filesystem;

// Temporary files older than this are leftovers of a crash (or of a killed instance).
constexpr auto kStaleTemporary = std::chrono::minutes(10);
constexpr std::string_view kTemporaryMarker = ".tmp-";
constexpr std::size_t kMaxErrorsLogged = 3;

std::string errno_text(const std::string& what, const fs::path& path, int error) {
  return what + " " + path.string() + ": " + std::strerror(error);
}

// Closes a file descriptor on every path out.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }

 private:
  int fd_;
};

std::string random_suffix() {
  thread_local std::mt19937_64 engine{std::random_device{}()};
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(12, '0');
  auto bits = engine();
  for (auto& c : out) {
    c = kHex[bits & 0xf];
    bits >>= 4;
  }
  return out;
}

std::optional<std::string> fsync_directory(const fs::path& directory) {
  Fd fd(::open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd.get() < 0) return errno_text("cannot open directory", directory, errno);
  // Some file systems cannot sync a directory (EINVAL); the rename is as durable as they get.
  if (::fsync(fd.get()) != 0 && errno != EINVAL) return errno_text("cannot fsync directory", directory, errno);
  return std::nullopt;
}

// True when `path` holds exactly `bytes`.
bool same_content(const fs::path& path, std::string_view bytes) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return false;
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode) || static_cast<std::size_t>(st.st_size) != bytes.size())
    return false;
  std::string buffer(64 * 1024, '\0');
  std::size_t offset = 0;
  for (;;) {
    const auto n = ::read(fd.get(), buffer.data(), buffer.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return false;
    if (n == 0) return offset == bytes.size();
    const auto count = static_cast<std::size_t>(n);
    if (offset + count > bytes.size() || bytes.compare(offset, count, std::string_view(buffer.data(), count)) != 0)
      return false;
    offset += count;
  }
}

bool is_temporary(const std::string& name) {
  return !name.empty() && name.front() == '.' && name.find(kTemporaryMarker) != std::string::npos;
}

bool valid_slug(std::string_view slug) {
  if (slug.empty() || slug.size() > 64 || slug.front() == '-' || slug.back() == '-') return false;
  return std::all_of(slug.begin(), slug.end(),
                     [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'; });
}

std::optional<std::int64_t> parse_id(std::string_view text) {
  std::int64_t id = 0;
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), id);
  if (ec != std::errc() || ptr != text.data() + text.size() || id <= 0) return std::nullopt;
  return id;
}

// One run: what exists in the database and what was done.
class Run {
 public:
  Run(const std::atomic<bool>* stop, FeedFileReport& report) : stop_(stop), report_(report) {}

  bool stopping() const { return stop_ != nullptr && stop_->load(); }

  // Writes one file when its bytes differ; false when the database failed and the run must end.
  template <class Build>
  bool write(const fs::path& path, const std::string& label, Build&& build) {
    try {
      const auto feed = build();
      if (!feed) {  // gone between the listing and the build: the sweep removes its file
        return true;
      }
      if (same_content(path, feed->body)) {
        ++report_.unchanged;
        return true;
      }
      if (auto error = replace_file_atomically(path, feed->body)) {
        report_.errors.push_back(std::move(*error));
        return true;
      }
      ++report_.written;
      return true;
    } catch (const store::PoolExhausted& e) {
      report_.errors.push_back("cannot render " + label + ": " + e.what());
      return false;
    } catch (const std::exception& e) {
      report_.errors.push_back("cannot render " + label + ": " + e.what());
      // An unreachable database fails every other feed the same way: stop here.
      return store::classify(std::current_exception()) != store::FailureKind::connection;
    }
  }

  // Removes the .ics files whose names `keep` rejects, and stale temporary files.
  template <class Keep>
  void sweep(const fs::path& dir, Keep&& keep) {
    std::error_code ec;
    fs::directory_iterator it(dir, ec), end;
    if (ec) {
      report_.errors.push_back("cannot list " + dir.string() + ": " + ec.message());
      return;
    }
    bool removed_any = false;
    const auto now = fs::file_time_type::clock::now();
    for (; it != end; it.increment(ec)) {
      const auto name = it->path().filename().string();
      bool remove = false;
      if (is_temporary(name)) {
        std::error_code time_ec;
        const auto modified = fs::last_write_time(it->path(), time_ec);
        remove = !time_ec && now - modified > kStaleTemporary;
      } else if (name.size() > 4 && name.ends_with(".ics")) {
        remove = !keep(std::string_view(name).substr(0, name.size() - 4));
      }
      if (!remove) continue;
      if (::unlink(it->path().c_str()) != 0 && errno != ENOENT) {
        report_.errors.push_back(errno_text("cannot remove", it->path(), errno));
        continue;
      }
      removed_any = true;
      if (!is_temporary(name)) ++report_.removed;
    }
    if (ec) report_.errors.push_back("cannot list " + dir.string() + ": " + ec.message());
    if (removed_any)
      if (auto error = fsync_directory(dir)) report_.errors.push_back(std::move(*error));
  }

 private:
  const std::atomic<bool>* stop_;
  FeedFileReport& report_;
};

}  // namespace

void FeedFileChanges::add(std::string_view payload) {
  if (payload == "*") {
    all = true;
    return;
  }
  if (payload == "r") {
    rooms = true;
    return;
  }
  if (payload.starts_with("m:")) return;  // member feeds: HTTP only
  if (payload.starts_with("c:")) {
    if (const auto id = parse_id(payload.substr(2))) {
      communities.insert(*id);
      rooms = true;  // its meetings may be in any room
      return;
    }
  }
  all = true;  // something this version does not know: be safe
}

void FeedFileChanges::merge(const FeedFileChanges& other) {
  all = all || other.all;
  rooms = rooms || other.rooms;
  communities.insert(other.communities.begin(), other.communities.end());
}

std::optional<std::string> replace_file_atomically(const fs::path& path, std::string_view bytes) {
  try {
    const fs::path directory = path.has_parent_path() ? path.parent_path() : fs::path(".");
    const std::string name = path.filename().string();
    fs::path temporary;
    int raw = -1;
    for (int attempt = 0; attempt < 16 && raw < 0; ++attempt) {
      temporary = directory / ("." + name + std::string(kTemporaryMarker) + random_suffix());
      raw = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
      if (raw < 0 && errno != EEXIST) return errno_text("cannot create", temporary, errno);
    }
    if (raw < 0) return "cannot create a temporary file in " + directory.string();
    Fd fd(raw);
    auto fail = [&](const std::string& what, int error) {
      ::close(fd.release());
      ::unlink(temporary.c_str());
      return errno_text(what, temporary, error);
    };
    std::size_t offset = 0;
    while (offset < bytes.size()) {
      const auto n = ::write(fd.get(), bytes.data() + offset, bytes.size() - offset);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return fail("cannot write", errno);
      offset += static_cast<std::size_t>(n);
    }
    if (::fsync(fd.get()) != 0) return fail("cannot fsync", errno);
    if (::close(fd.release()) != 0) {
      const int error = errno;
      ::unlink(temporary.c_str());
      return errno_text("cannot close", temporary, error);
    }
    if (::rename(temporary.c_str(), path.c_str()) != 0) {
      const int error = errno;
      ::unlink(temporary.c_str());
      return errno_text("cannot rename " + temporary.string() + " to", path, error);
    }
    return fsync_directory(directory);
  } catch (const std::exception& e) {  // allocation failures
    return "cannot write " + path.string() + ": " + e.what();
  }
}

FeedFileReport write_feed_files(FeedService& feeds, store::Database& db, const fs::path& directory,
                                const FeedFileChanges& changes, const std::atomic<bool>* stop) {
  FeedFileReport report;
  try {
    if (changes.empty()) return report;
    const fs::path communities_dir = directory / "communities", rooms_dir = directory / "rooms";
    for (const auto& dir : {communities_dir, rooms_dir}) {
      std::error_code ec;
      fs::create_directories(dir, ec);
      if (ec) {
        report.errors.push_back("cannot create directory " + dir.string() + ": " + ec.message());
        return report;
      }
    }

    // What may have a file: active public communities, and rooms.
    std::map<std::string, std::int64_t, std::less<>> public_communities;  // slug → id
    std::set<std::int64_t> rooms;
    try {
      store::TxOptions options;
      options.read_only = true;
      db.transact(
          [&](pqxx::work& tx) {
            public_communities.clear();
            rooms.clear();
            for (const auto& r :
                 tx.exec("SELECT slug, id FROM communities WHERE visibility = 'public' AND status = 'active'"))
              public_communities.emplace(r[0].as<std::string>(), r[1].as<std::int64_t>());
            for (const auto& r : tx.exec("SELECT id FROM rooms")) rooms.insert(r[0].as<std::int64_t>());
          },
          options);
    } catch (const std::exception& e) {
      // Without the listing nothing may be removed either.
      report.errors.push_back(std::string("cannot list communities and rooms: ") + e.what());
      return report;
    }

    Run run(stop, report);
    bool database_ok = true;
    for (const auto& [slug, id] : public_communities) {
      if (!database_ok || run.stopping()) break;
      if (!changes.all && changes.communities.count(id) == 0) continue;
      if (!valid_slug(slug)) {
        report.errors.push_back("community " + std::to_string(id) + " has a slug unfit for a file name");
        continue;
      }
      database_ok = run.write(communities_dir / (slug + ".ics"), "the feed of community " + slug,
                              [&] { return feeds.public_community_feed(slug); });
    }
    if (changes.all || changes.rooms) {
      for (const auto id : rooms) {
        if (!database_ok || run.stopping()) break;
        database_ok = run.write(rooms_dir / (std::to_string(id) + ".ics"), "the feed of room " + std::to_string(id),
                                [&] { return feeds.room_feed(id); });
      }
    }
    if (run.stopping()) return report;

    // Files of communities that are no longer public and active (or renamed), of deleted rooms.
    run.sweep(communities_dir, [&](std::string_view slug) { return public_communities.find(slug) != public_communities.end(); });
    run.sweep(rooms_dir, [&](std::string_view stem) {
      const auto id = parse_id(stem);
      return id && rooms.count(*id) != 0;
    });
  } catch (const std::exception& e) {
    report.errors.push_back(std::string("feed files: ") + e.what());
  } catch (...) {
    report.errors.push_back("feed files: unknown error");
  }
  return report;
}

FeedFileWriter::FeedFileWriter(asio::any_io_executor loop, asio::any_io_executor blocking, FeedService& feeds,
                               store::Database& db, fs::path directory, FeedFileOptions options)
    : loop_(std::move(loop)),
      blocking_(std::move(blocking)),
      feeds_(feeds),
      db_(db),
      directory_(std::move(directory)),
      options_(options),
      timer_(loop_) {}

void FeedFileWriter::start() { notify("*"); }

void FeedFileWriter::notify(std::string_view payload) {
  if (stopped_) return;
  FeedFileChanges change;
  change.add(payload);
  if (change.empty()) return;
  pending_.merge(change);
  const auto now = std::chrono::steady_clock::now();
  if (!pending_since_) pending_since_ = now;
  // Also after a failure: the next change retries (debounced) without waiting for the backoff.
  if (!running_) schedule(std::min(now + options_.debounce, *pending_since_ + options_.max_delay));
}

void FeedFileWriter::stop() {
  stopped_ = true;
  stop_requested_ = true;
  ++timer_generation_;
  timer_.cancel();
}

void FeedFileWriter::schedule(std::chrono::steady_clock::time_point when) {
  const auto generation = ++timer_generation_;
  timer_.expires_at(when);
  timer_.async_wait([this, generation](const boost::system::error_code& ec) {
    if (ec || generation != timer_generation_ || stopped_ || running_) return;
    launch();
  });
}

void FeedFileWriter::launch() {
  if (pending_.empty()) return;
  running_ = true;
  FeedFileChanges taken = std::move(pending_);
  pending_ = {};
  pending_since_.reset();
  // The loop keeps running (has work) until the run's completion is back on it.
  auto loop = asio::prefer(loop_, asio::execution::outstanding_work.tracked);
  asio::post(blocking_, [this, loop = std::move(loop), taken = std::move(taken)]() mutable {
    const auto started = std::chrono::steady_clock::now();
    auto report = write_feed_files(feeds_, db_, directory_, taken, &stop_requested_);
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
    if (report.written + report.removed > 0)
      log::info("feed files written", {{"directory", directory_.string()},
                                       {"written", static_cast<unsigned long>(report.written)},
                                       {"removed", static_cast<unsigned long>(report.removed)},
                                       {"unchanged", static_cast<unsigned long>(report.unchanged)},
                                       {"ms", static_cast<long long>(ms.count())}});
    asio::post(loop, [this, taken = std::move(taken), report = std::move(report)]() mutable {
      finished(std::move(taken), std::move(report));
    });
  });
}

void FeedFileWriter::finished(FeedFileChanges taken, FeedFileReport report) {
  running_ = false;
  ++runs_;
  if (stopped_) return;
  const auto now = std::chrono::steady_clock::now();
  if (!report.ok()) {
    ++failed_runs_;
    for (std::size_t i = 0; i < report.errors.size() && i < kMaxErrorsLogged; ++i)
      log::error("feed files not written; retrying later",
                 {{"directory", directory_.string()}, {"error", report.errors[i]},
                  {"errors", static_cast<unsigned long>(report.errors.size())}});
    // Everything of this run is written again: on the next change, or after a growing delay.
    pending_.merge(taken);
    if (!pending_since_) pending_since_ = now;
    retry_delay_ = std::clamp(retry_delay_ * 2, options_.retry_min, options_.retry_max);
    schedule(now + retry_delay_);
    return;
  }
  retry_delay_ = std::chrono::milliseconds(0);
  // Changes that arrived during the run.
  if (!pending_.empty()) schedule(std::max(now, std::min(now + options_.debounce, *pending_since_ + options_.max_delay)));
}

}  // namespace convene::feeds
