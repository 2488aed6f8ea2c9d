#include "notifiers/curl_multi.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>

#include <sys/socket.h>

#include <chrono>
#include <deque>
#include <mutex>
#include <new>
#include <optional>
#include <stdexcept>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include <unistd.h>

namespace convene::notifiers {
namespace {

namespace asio = boost::asio;

void global_init() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) throw std::runtime_error("curl_global_init failed");
  });
}

struct CurlMultiDeleter {
  void operator()(CURLM* multi) const noexcept { curl_multi_cleanup(multi); }
};

}  // namespace

CurlEasyPtr make_curl_easy() {
  global_init();
  CurlEasyPtr easy(curl_easy_init());
  if (!easy) throw std::bad_alloc();
  return easy;
}

void append(CurlSlistPtr& list, const std::string& item) {
  curl_slist* grown = curl_slist_append(list.get(), item.c_str());
  if (!grown) throw std::bad_alloc();
  (void)list.release();  // the same list, now longer (or a new one when it was empty)
  list.reset(grown);
}

std::string describe_curl_error(CURLcode code, const char* error_buffer) {
  std::string text = curl_easy_strerror(code);
  if (error_buffer && *error_buffer) {
    std::string_view extra(error_buffer);
    while (!extra.empty() && (extra.back() == '\n' || extra.back() == '\r')) extra.remove_suffix(1);
    if (extra != text) {
      text += " (";
      text.append(extra);
      text += ')';
    }
  }
  return clip_detail(text);
}

std::string clip_detail(std::string_view text, std::size_t max) {
  if (text.size() > max) {
    std::size_t cut = max;
    while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;  // not inside a UTF-8 sequence
    text = text.substr(0, cut);
  }
  std::string out(text);
  for (char& c : out)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7F) c = ' ';
  return out;
}

// One socket libcurl asked us to watch. The descriptor does not own the socket: libcurl opens it,
// and closes it through on_close_socket, which releases the descriptor first.
//
// A connection's socket stays registered with the loop between transfers (parked): libcurl says
// CURL_POLL_REMOVE when a transfer ends and asks again for the next one on the same connection,
// and registering it anew each time cost two epoll_ctl calls and an allocation per request.
struct Watch {
  Watch(const asio::any_io_executor& loop, curl_socket_t s) : descriptor(loop, s), fd(s) {}
  ~Watch() { retire(); }
  Watch(const Watch&) = delete;
  Watch& operator=(const Watch&) = delete;

  // Stops watching at once (pending waits complete with operation_aborted and let go of this).
  void retire() {
    alive = false;
    if (descriptor.is_open()) (void)descriptor.release();
  }

  asio::posix::stream_descriptor descriptor;
  curl_socket_t fd;
  int want = 0;          // CURL_POLL_IN/OUT/INOUT
  bool reading = false;  // an async_wait(wait_read) is pending
  bool writing = false;
  bool alive = true;    // false once released
  bool parked = false;  // libcurl said CURL_POLL_REMOVE and keeps the connection for reuse
};

class CurlMulti::Impl : public std::enable_shared_from_this<Impl> {
 public:
  Impl(asio::any_io_executor loop, const CurlOptions& options)
      : loop_(std::move(loop)), timer_(loop_), retire_failed_(options.retire_failed_connections) {
    global_init();
    multi_.reset(curl_multi_init());
    if (!multi_) throw std::bad_alloc();
    curl_multi_setopt(multi_.get(), CURLMOPT_SOCKETFUNCTION, &Impl::on_socket);
    curl_multi_setopt(multi_.get(), CURLMOPT_SOCKETDATA, this);
    curl_multi_setopt(multi_.get(), CURLMOPT_TIMERFUNCTION, &Impl::on_timer);
    curl_multi_setopt(multi_.get(), CURLMOPT_TIMERDATA, this);
    curl_multi_setopt(multi_.get(), CURLMOPT_MAX_HOST_CONNECTIONS, options.max_host_connections);
    curl_multi_setopt(multi_.get(), CURLMOPT_MAX_TOTAL_CONNECTIONS, options.max_total_connections);
    curl_multi_setopt(multi_.get(), CURLMOPT_MAXCONNECTS, options.max_cached_connections);
  }

  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;
  ~Impl() { close(); }

  // Removes every transfer (their callbacks are dropped), closes the connections, lets go of the
  // sockets. Handlers still queued on the loop find `closed_` and do nothing.
  void close() {
    if (closed_) return;
    closed_ = true;
    for (auto& [easy, transfer] : transfers_) curl_multi_remove_handle(multi_.get(), easy);
    transfers_.clear();
    finished_.clear();
    multi_.reset();  // may still call on_socket(CURL_POLL_REMOVE) for cached connections
    for (auto& [fd, watch] : watches_) watch->retire();
    watches_.clear();
    timer_.cancel();
  }

  void start(CurlEasyPtr easy, Done done) {
    if (closed_) throw std::logic_error("CurlMulti::start after close");
    if (!easy) throw std::invalid_argument("CurlMulti::start without an easy handle");
    CURL* handle = easy.get();
    if (transfers_.contains(handle)) throw std::logic_error("CurlMulti::start: the easy handle is already in flight");
    curl_easy_setopt(handle, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(handle, CURLOPT_SOCKOPTFUNCTION, &Impl::on_socket_created);
    curl_easy_setopt(handle, CURLOPT_SOCKOPTDATA, this);
    curl_easy_setopt(handle, CURLOPT_CLOSESOCKETFUNCTION, &Impl::on_close_socket);
    curl_easy_setopt(handle, CURLOPT_CLOSESOCKETDATA, this);
    auto it = transfers_.emplace(handle, Transfer{std::move(easy), std::move(done)}).first;
    if (curl_multi_add_handle(multi_.get(), handle) != CURLM_OK) {
      Transfer refused = std::move(it->second);
      transfers_.erase(it);
      finished_.push_back({CURLE_FAILED_INIT, std::move(refused)});
      asio::post(loop_, [weak = weak_from_this()] {
        if (auto self = weak.lock()) self->deliver();
      });
    }
  }

  std::size_t in_flight() const { return transfers_.size(); }
  const asio::any_io_executor& executor() const { return loop_; }

 private:
  struct Transfer {
    CurlEasyPtr easy;
    Done done;
  };
  struct Finished {
    CURLcode code;
    Transfer transfer;
  };

  static int on_socket(CURL*, curl_socket_t s, int what, void* self, void* socketp) noexcept {
    try {
      static_cast<Impl*>(self)->update_watch(s, what, static_cast<Watch*>(socketp));
      return 0;
    } catch (...) {
      return -1;  // libcurl fails the transfers on this socket
    }
  }

  // A connection's socket, just made: only these are parked (they are closed through
  // on_close_socket, so a parked number is never a new socket's). Others (a resolver's pipe)
  // are let go at CURL_POLL_REMOVE.
  static int on_socket_created(void* self, curl_socket_t s, curlsocktype purpose) noexcept {
    try {
      if (purpose == CURLSOCKTYPE_IPCXN) static_cast<Impl*>(self)->connections_.insert(s);
      return CURL_SOCKOPT_OK;
    } catch (...) {
      return CURL_SOCKOPT_ERROR;
    }
  }

  static int on_close_socket(void* self, curl_socket_t s) noexcept {
    auto* impl = static_cast<Impl*>(self);
    impl->connections_.erase(s);
    if (auto it = impl->watches_.find(s); it != impl->watches_.end()) {
      it->second->retire();
      impl->watches_.erase(it);
    }
    return ::close(s);
  }

  static int on_timer(CURLM*, long timeout_ms, void* self) noexcept {
    try {
      static_cast<Impl*>(self)->set_timer(timeout_ms);
      return 0;
    } catch (...) {
      return -1;
    }
  }

  void update_watch(curl_socket_t s, int what, Watch* known) {
    auto it = watches_.find(s);
    if (what == CURL_POLL_REMOVE) {
      if (it == watches_.end()) return;
      if (connections_.contains(s)) {
        it->second->want = 0;  // a wait still pending finds nothing wanted
        it->second->parked = true;
      } else {
        it->second->retire();
        watches_.erase(it);
      }
      return;
    }
    std::shared_ptr<Watch> watch;
    // A parked socket is taken up as it is. Each wait started on it re-arms it in epoll
    // (Asio's EPOLL_CTL_MOD when no operation is queued), which reports readiness that came
    // while it was parked; an idle connection that became readable meanwhile (the peer closed
    // it) is one libcurl finds dead and never reuses.
    if (it != watches_.end() && (it->second.get() == known || it->second->parked)) {
      watch = it->second;
      if (std::exchange(watch->parked, false)) curl_multi_assign(multi_.get(), s, watch.get());
    } else {
      if (it != watches_.end()) {  // a stale watch for a number libcurl has reused
        it->second->retire();
        watches_.erase(it);
      }
      watch = std::make_shared<Watch>(loop_, s);
      watches_.emplace(s, watch);
      curl_multi_assign(multi_.get(), s, watch.get());
    }
    watch->want = what;
    if (!closed_) arm(watch);
  }

  void arm(const std::shared_ptr<Watch>& watch) {
    if ((watch->want & CURL_POLL_IN) && !watch->reading) {
      watch->reading = true;
      watch->descriptor.async_wait(asio::posix::stream_descriptor::wait_read,
                                   [weak = weak_from_this(), watch](const boost::system::error_code& ec) {
                                     watch->reading = false;
                                     if (auto self = weak.lock()) self->on_ready(watch, ec, CURL_CSELECT_IN);
                                   });
    }
    if ((watch->want & CURL_POLL_OUT) && !watch->writing) {
      watch->writing = true;
      watch->descriptor.async_wait(asio::posix::stream_descriptor::wait_write,
                                   [weak = weak_from_this(), watch](const boost::system::error_code& ec) {
                                     watch->writing = false;
                                     if (auto self = weak.lock()) self->on_ready(watch, ec, CURL_CSELECT_OUT);
                                   });
    }
  }

  void on_ready(const std::shared_ptr<Watch>& watch, const boost::system::error_code& ec, int direction) {
    if (closed_ || !watch->alive || ec == asio::error::operation_aborted) return;
    const int wanted = direction == CURL_CSELECT_IN ? CURL_POLL_IN : CURL_POLL_OUT;
    if (!(watch->want & wanted)) return;  // libcurl changed its mind meanwhile
    int running = 0;
    curl_multi_socket_action(multi_.get(), watch->fd, ec ? CURL_CSELECT_ERR : direction, &running);
    collect();
    if (!closed_ && watch->alive) arm(watch);
    deliver();
  }

  // libcurl asks for a new timeout after nearly every action, mostly a later one; re-arming
  // the Asio timer each time costs a timerfd update. So the timer is re-armed only for an
  // earlier deadline; when it fires before libcurl's deadline it is simply set again.
  void set_timer(long timeout_ms) {
    if (timeout_ms < 0) {
      wanted_.reset();  // a pending wake-up finds nothing to do
      return;
    }
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    wanted_ = deadline;
    if (!armed_ || deadline < timer_.expiry()) arm_timer(deadline);
  }

  void arm_timer(std::chrono::steady_clock::time_point deadline) {
    armed_ = true;
    // Never call curl_multi_socket_action from here (libcurl forbids it): a zero timeout runs
    // from the loop like any other.
    timer_.expires_at(deadline);
    timer_.async_wait([weak = weak_from_this()](const boost::system::error_code& ec) {
      if (ec) return;
      if (auto self = weak.lock()) self->on_timer_fired();
    });
  }

  void on_timer_fired() {
    armed_ = false;
    if (!wanted_) return;
    if (std::chrono::steady_clock::now() < *wanted_) {
      arm_timer(*wanted_);
      return;
    }
    wanted_.reset();
    on_timeout();
  }

  void on_timeout() {
    if (closed_) return;
    int running = 0;
    curl_multi_socket_action(multi_.get(), CURL_SOCKET_TIMEOUT, 0, &running);
    collect();
    deliver();
  }

  // Moves finished transfers out of the multi handle (their messages are read before removing).
  void collect() {
    int left = 0;
    while (CURLMsg* message = curl_multi_info_read(multi_.get(), &left)) {
      if (message->msg != CURLMSG_DONE) continue;
      CURL* easy = message->easy_handle;
      const CURLcode code = message->data.result;
      if (code != CURLE_OK && retire_failed_) retire_connection(easy);
      curl_multi_remove_handle(multi_.get(), easy);
      auto it = transfers_.find(easy);
      if (it == transfers_.end()) continue;
      finished_.push_back({code, std::move(it->second)});
      transfers_.erase(it);
    }
  }

  // CurlOptions::retire_failed_connections. The connection a transfer left in the cache (libcurl
  // knows it while the handle is still added); shutting its socket down (libcurl still owns and
  // closes it) makes libcurl find it dead instead of reusing it.
  void retire_connection(CURL* easy) {
    curl_socket_t socket = CURL_SOCKET_BAD;
    if (curl_easy_getinfo(easy, CURLINFO_ACTIVESOCKET, &socket) == CURLE_OK && socket != CURL_SOCKET_BAD)
      ::shutdown(socket, SHUT_RDWR);
  }

  // Runs the callbacks, outside any libcurl callback. One at a time from the queue, so a callback
  // that starts transfers, throws or closes the multi leaves the rest consistent.
  void deliver() {
    auto keep = shared_from_this();
    while (!closed_ && !finished_.empty()) {
      Finished next = std::move(finished_.front());
      finished_.pop_front();
      if (next.transfer.done) next.transfer.done(next.code, std::move(next.transfer.easy));
    }
  }

  asio::any_io_executor loop_;
  asio::steady_timer timer_;
  bool armed_ = false;                                             // timer_ has a wait pending
  std::optional<std::chrono::steady_clock::time_point> wanted_;  // libcurl's deadline, if any
  std::unique_ptr<CURLM, CurlMultiDeleter> multi_;
  std::unordered_map<curl_socket_t, std::shared_ptr<Watch>> watches_;
  std::unordered_set<curl_socket_t> connections_;  // connection sockets libcurl made and has not closed
  std::unordered_map<CURL*, Transfer> transfers_;
  std::deque<Finished> finished_;
  bool retire_failed_ = false;
  bool closed_ = false;
};

CurlMulti::CurlMulti(asio::any_io_executor loop, CurlOptions options)
    : impl_(std::make_shared<Impl>(std::move(loop), options)) {}

CurlMulti::~CurlMulti() {
  if (impl_) impl_->close();
}

void CurlMulti::start(CurlEasyPtr easy, Done done) { impl_->start(std::move(easy), std::move(done)); }
std::size_t CurlMulti::in_flight() const { return impl_->in_flight(); }
const asio::any_io_executor& CurlMulti::executor() const { return impl_->executor(); }

}  // namespace convene::notifiers
