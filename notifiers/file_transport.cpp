#include "notifiers/file_transport.hpp"

#include <boost/asio/post.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <string>
#include <string_view>
#include <utility>

namespace convene::notifiers {
namespace {

namespace asio = boost::asio;
namespace fs = std::filesystem;

bool valid_file_id(std::string_view id) {
  if (id.empty() || id.size() > 200 || id.front() == '.') return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           std::string_view("._@+-").find(c) != std::string_view::npos;
  });
}

SendResult failed(std::string what, int error) {
  SendResult result;
  result.kind = SendResult::Kind::transient;
  result.detail = what + ": " + std::strerror(error);
  return result;
}

// Blocking: on the blocking executor only.
SendResult write_eml(const fs::path& dir, const OutgoingEmail& email) {
  static std::atomic<unsigned long> counter{0};
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return failed("cannot create " + dir.string(), ec.value());

  const fs::path target = dir / (email.id + ".eml");
  const fs::path temporary =
      dir / ("." + email.id + ".eml.tmp-" + std::to_string(::getpid()) + "-" + std::to_string(++counter));
  const int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
  if (fd < 0) return failed("cannot create " + temporary.string(), errno);

  int error = 0;
  std::string_view rest = email.message;
  while (!rest.empty() && error == 0) {
    const ssize_t n = ::write(fd, rest.data(), rest.size());
    if (n < 0) {
      if (errno != EINTR) error = errno;
    } else {
      rest.remove_prefix(static_cast<std::size_t>(n));
    }
  }
  if (error == 0 && ::fsync(fd) != 0) error = errno;
  if (::close(fd) != 0 && error == 0) error = errno;
  if (error == 0 && ::rename(temporary.c_str(), target.c_str()) != 0) error = errno;
  if (error != 0) {
    ::unlink(temporary.c_str());
    return failed("cannot write " + target.string(), error);
  }
  // The rename itself must survive a crash: sync the directory too.
  const int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd >= 0) {
    ::fsync(dir_fd);
    ::close(dir_fd);
  }
  SendResult result;
  result.kind = SendResult::Kind::sent;
  result.detail = target.string();
  return result;
}

class FileTransport final : public EmailTransport {
 public:
  FileTransport(fs::path dir, asio::any_io_executor loop, asio::any_io_executor blocking)
      : dir_(std::move(dir)), loop_(std::move(loop)), blocking_(std::move(blocking)),
        in_flight_(std::make_shared<std::size_t>(0)) {}

  void send(OutgoingEmail email, SendDone done) override {
    ++*in_flight_;
    std::weak_ptr<std::size_t> weak = in_flight_;
    if (!valid_file_id(email.id)) {
      SendResult refused;
      refused.kind = SendResult::Kind::permanent;
      refused.detail = "invalid notification id for a file name";
      asio::post(loop_, [weak, done = std::move(done), refused = std::move(refused)]() mutable {
        complete(weak, done, std::move(refused));
      });
      return;
    }
    asio::post(blocking_, [dir = dir_, loop = loop_, weak, email = std::move(email), done = std::move(done)]() mutable {
      SendResult result = write_eml(dir, email);
      asio::post(loop, [weak, done = std::move(done), result = std::move(result)]() mutable {
        complete(weak, done, std::move(result));
      });
    });
  }

  std::size_t in_flight() const override { return *in_flight_; }

 private:
  static void complete(const std::weak_ptr<std::size_t>& weak, SendDone& done, SendResult result) {
    auto in_flight = weak.lock();
    if (!in_flight) return;
    --*in_flight;
    if (done) done(std::move(result));
  }

  fs::path dir_;
  asio::any_io_executor loop_;
  asio::any_io_executor blocking_;
  std::shared_ptr<std::size_t> in_flight_;  // expires with the transport
};

}  // namespace

std::unique_ptr<EmailTransport> make_file_transport(std::filesystem::path state_dir, asio::any_io_executor loop,
                                                    asio::any_io_executor blocking) {
  return std::make_unique<FileTransport>(std::move(state_dir) / "mail", std::move(loop), std::move(blocking));
}

}  // namespace convene::notifiers
