#include "notifiers/smtp_transport.hpp"

#include "notifiers/classify.hpp"
#include "notifiers/curl_multi.hpp"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <deque>
#include <functional>
#include <optional>
#include <thread>
#include <unordered_map>
#include <stdexcept>
#include <string_view>
#include <utility>
#include <vector>

namespace convene::notifiers {
namespace {

namespace asio = boost::asio;

// Which part of the SMTP dialogue the last command belonged to, to tell a refusal of this
// message (sender, recipient, data) from a refusal of the session (greeting, EHLO, STARTTLS,
// AUTH), and a refusal of the recipient (RCPT, DATA) from one of our sender (MAIL).
enum class Stage { session, sender, recipient, data };

// One message on its way: owned by the completion callback, so everything libcurl points at
// (the message, the recipient list, the error buffer) lives until the transfer is over.
struct Job {
  std::uint64_t id = 0;
  OutgoingEmail email;
  CurlSlistPtr recipients;
  std::size_t offset = 0;
  char error[CURL_ERROR_SIZE] = {};
  std::string reply;  // the server's last reply without its code (lines of a multi-line reply joined)
  bool reply_complete = true;
  bool quitting = false;  // QUIT was the last command: its 221 is not the reply that matters
  Stage stage = Stage::session;
};

std::size_t read_message(char* buffer, std::size_t size, std::size_t count, void* userp) {
  auto* job = static_cast<Job*>(userp);
  const std::string& message = job->email.message;
  const std::size_t n = std::min(size * count, message.size() - job->offset);
  std::memcpy(buffer, message.data() + job->offset, n);
  job->offset += n;
  return n;
}

std::string_view trim_line(std::string_view line) {
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.remove_suffix(1);
  return line;
}

void note_reply_line(Job& job, std::string_view line) {
  line = trim_line(line);
  if (line.empty()) return;
  const bool last = line.size() < 4 || line[3] != '-';  // "250-..." continues, "250 ..." ends
  if (line.size() >= 3 && std::all_of(line.begin(), line.begin() + 3, [](char c) { return c >= '0' && c <= '9'; }))
    line.remove_prefix(std::min<std::size_t>(4, line.size()));
  if (job.reply_complete) {
    job.reply.clear();
    job.reply_complete = false;
  } else if (job.reply.size() < 600) {
    job.reply += ' ';
  }
  if (job.reply.size() < 600) job.reply.append(line.substr(0, 600 - job.reply.size()));
  if (last) job.reply_complete = true;
}

// Only the verb of what we sent is looked at: AUTH lines carry credentials and are never kept.
void note_command(Job& job, std::string_view line) {
  const std::string_view verb = trim_line(line.substr(0, line.find(' ')));
  auto is = [&](std::string_view v) {
    return verb.size() == v.size() && std::equal(verb.begin(), verb.end(), v.begin(), [](char a, char b) {
             return (a >= 'a' && a <= 'z' ? char(a - 32) : a) == b;
           });
  };
  job.quitting = is("QUIT");  // (libcurl may close another cached connection through this handle)
  if (is("EHLO") || is("HELO") || is("STARTTLS") || is("AUTH"))
    job.stage = Stage::session;
  else if (is("MAIL"))
    job.stage = Stage::sender;
  else if (is("RCPT"))
    job.stage = Stage::recipient;
  else if (is("DATA"))
    job.stage = Stage::data;
}

int on_debug(CURL*, curl_infotype type, char* data, std::size_t size, void* userp) {
  auto* job = static_cast<Job*>(userp);
  if (!job) return 0;
  std::string_view text(data, size);
  if (type == CURLINFO_HEADER_IN && !job->quitting) {
    while (!text.empty()) {
      const auto end = text.find('\n');
      note_reply_line(*job, text.substr(0, end));
      text = end == std::string_view::npos ? std::string_view() : text.substr(end + 1);
    }
  } else if (type == CURLINFO_HEADER_OUT) {
    note_command(*job, text);
  }
  return 0;
}

bool valid_envelope_address(const std::string& address) {
  return address.find_first_of(std::string_view("\r\n\0<>", 5)) == std::string::npos;
}

SendResult smtp_result(CURLcode code, CURL* easy, const Job& job) {
  long reply = 0;
  curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &reply);
  if (code == CURLE_OK) return classify_smtp(static_cast<int>(reply), job.reply);
  if (reply >= 400 && reply < 600) {
    SendResult result = classify_smtp(static_cast<int>(reply), job.reply);
    if (job.stage == Stage::session) {  // the relay or our settings, not this message
      result.kind = SendResult::Kind::transient;
      result.detail = clip_detail("session refused: " + result.detail);
    }
    result.recipient_refused = result.kind == SendResult::Kind::permanent &&
                               (job.stage == Stage::recipient || job.stage == Stage::data);
    return result;
  }
  return transport_failure(describe_curl_error(code, job.error));
}

// The relay's side, on the SMTP thread only: the queue, the pooled easy handles, the multi.
class Relay {
 public:
  using Report = std::function<void(std::uint64_t, SendResult)>;  // called on the SMTP thread

  Relay(asio::any_io_executor executor, SmtpSettings settings, Report report)
      : settings_(std::move(settings)),
        report_(std::move(report)),
        multi_(std::move(executor), CurlOptions{.max_host_connections = limit(settings_),
                                                .max_total_connections = limit(settings_),
                                                .max_cached_connections = limit(settings_),
                                                .retire_failed_connections = true}) {}

  void submit(std::uint64_t id, OutgoingEmail email) {
    queue_.emplace_back(id, std::move(email));
    pump();
  }

 private:
  static long limit(const SmtpSettings& settings) {
    return static_cast<long>(std::max<std::size_t>(1, settings.max_connections));
  }

  CurlEasyPtr new_easy() const {
    CurlEasyPtr easy = make_curl_easy();
    CURL* e = easy.get();
    curl_easy_setopt(e, CURLOPT_URL, settings_.url.c_str());
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
    // With credentials, TLS is required whatever require_tls says: a relay that offers AUTH but
    // not STARTTLS (or anything on the path that strips the offer) must never get the password.
    const bool tls_required = settings_.require_tls || !settings_.user.empty();
    curl_easy_setopt(e, CURLOPT_USE_SSL, tls_required ? long(CURLUSESSL_ALL) : long(CURLUSESSL_TRY));
    curl_easy_setopt(e, CURLOPT_SSLVERSION, long(CURL_SSLVERSION_TLSv1_2));
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
    if (!settings_.ca_file.empty()) curl_easy_setopt(e, CURLOPT_CAINFO, settings_.ca_file.c_str());
    if (!settings_.user.empty()) {
      curl_easy_setopt(e, CURLOPT_USERNAME, settings_.user.c_str());
      curl_easy_setopt(e, CURLOPT_PASSWORD, settings_.password.c_str());
    }
    curl_easy_setopt(e, CURLOPT_PROXY, "");  // no proxy from the environment
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(settings_.connect_timeout.count()));
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, static_cast<long>(settings_.timeout.count()));
    // libcurl 7.88 waits for some replies blocking (after the final dot, and for QUIT when it
    // closes a connection); this bounds those waits, which only ever hold up the SMTP thread.
    const long response_seconds = std::max<long>(1, static_cast<long>((settings_.timeout.count() + 999) / 1000));
    curl_easy_setopt(e, CURLOPT_SERVER_RESPONSE_TIMEOUT, response_seconds);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(e, CURLOPT_READFUNCTION, &read_message);
    // The debug callback only sees the server's replies and our commands' verbs; with it set,
    // verbose output goes nowhere else.
    curl_easy_setopt(e, CURLOPT_DEBUGFUNCTION, &on_debug);
    curl_easy_setopt(e, CURLOPT_VERBOSE, 1L);
    return easy;
  }

  void pump() {
    while (active_ < static_cast<std::size_t>(limit(settings_)) && !queue_.empty()) {
      auto job = std::make_shared<Job>();
      job->id = queue_.front().first;
      job->email = std::move(queue_.front().second);
      queue_.pop_front();

      CurlEasyPtr easy;
      if (idle_.empty()) {
        easy = new_easy();
      } else {
        easy = std::move(idle_.back());
        idle_.pop_back();
      }
      append(job->recipients, job->email.recipient);
      CURL* e = easy.get();
      curl_easy_setopt(e, CURLOPT_MAIL_FROM, job->email.envelope_from.c_str());
      curl_easy_setopt(e, CURLOPT_MAIL_RCPT, job->recipients.get());
      curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(job->email.message.size()));
      curl_easy_setopt(e, CURLOPT_READDATA, job.get());
      curl_easy_setopt(e, CURLOPT_DEBUGDATA, job.get());
      curl_easy_setopt(e, CURLOPT_ERRORBUFFER, job->error);

      ++active_;
      // The multi is a member, destroyed first: these never outlive the relay.
      CurlMulti::Done finished = [this, job](CURLcode code, CurlEasyPtr handle) {
        finish(*job, code, std::move(handle));
      };
      multi_.start(std::move(easy), std::move(finished));
    }
  }

  void finish(Job& job, CURLcode code, CurlEasyPtr easy) {
    SendResult result = smtp_result(code, easy.get(), job);
    --active_;
    CURL* e = easy.get();
    curl_easy_setopt(e, CURLOPT_MAIL_RCPT, static_cast<curl_slist*>(nullptr));
    curl_easy_setopt(e, CURLOPT_READDATA, static_cast<void*>(nullptr));
    curl_easy_setopt(e, CURLOPT_DEBUGDATA, static_cast<void*>(nullptr));
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, static_cast<char*>(nullptr));
    if (idle_.size() < static_cast<std::size_t>(limit(settings_))) idle_.push_back(std::move(easy));
    pump();
    report_(job.id, std::move(result));
  }

  SmtpSettings settings_;
  Report report_;
  std::vector<CurlEasyPtr> idle_;  // configured for the relay, reused (connections live in the multi's cache)
  std::deque<std::pair<std::uint64_t, OutgoingEmail>> queue_;
  std::size_t active_ = 0;
  CurlMulti multi_;  // last: destroyed first, dropping the callbacks into this object
};

// One connection to the relay with a thread of its own. libcurl 7.88 blocks for the reply to a
// message's final dot (and to QUIT), so connections sharing a thread would take turns: each
// lane's wait holds up only its own connection, never the caller's loop nor the other lanes.
class Lane {
 public:
  Lane(SmtpSettings settings, Relay::Report report) : work_(io_.get_executor()) {
    settings.max_connections = 1;
    relay_ = std::make_unique<Relay>(io_.get_executor(), std::move(settings), std::move(report));
    thread_ = std::thread([this] { io_.run(); });
  }

  ~Lane() {
    asio::post(io_, [this] {
      relay_.reset();  // closes the connection (QUIT) on the lane's thread
      io_.stop();
    });
    thread_.join();
  }

  Lane(const Lane&) = delete;
  Lane& operator=(const Lane&) = delete;

  void submit(std::uint64_t id, OutgoingEmail email) {
    // Posted in order, before the relay's destruction is: the pointer is valid when this runs.
    asio::post(io_, [relay = relay_.get(), id, email = std::move(email)]() mutable { relay->submit(id, std::move(email)); });
  }

  std::size_t outstanding = 0;  // caller's loop only: messages submitted and not yet reported

 private:
  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  std::unique_ptr<Relay> relay_;
  std::thread thread_;
};

// The caller's side, on its loop: the callbacks waiting for results, and which lane takes the
// next message (the one with the fewest outstanding, so a slow connection gets fewer).
class SmtpTransport final : public EmailTransport {
 public:
  SmtpTransport(asio::any_io_executor loop, SmtpSettings settings)
      : loop_(std::move(loop)), pending_(std::make_shared<Pending>()) {
    const std::size_t lanes = std::max<std::size_t>(1, settings.max_connections);
    lanes_.reserve(lanes);
    for (std::size_t i = 0; i < lanes; ++i)
      lanes_.push_back(std::make_unique<Lane>(
          settings, [loop = loop_, weak = std::weak_ptr<Pending>(pending_), i](std::uint64_t id, SendResult result) {
            asio::post(loop, [weak, i, id, result = std::move(result)]() mutable {
              if (auto pending = weak.lock()) pending->complete(id, std::move(result), i);
            });
          }));
    pending_->lanes = &lanes_;
  }

  ~SmtpTransport() override {
    pending_.reset();  // results still on their way are dropped
    lanes_.clear();    // each lane closes its connection and joins its thread
  }

  SmtpTransport(const SmtpTransport&) = delete;
  SmtpTransport& operator=(const SmtpTransport&) = delete;

  void send(OutgoingEmail email, SendDone done) override {
    const std::uint64_t id = pending_->next++;
    pending_->waiting.emplace(id, std::move(done));
    if (!valid_envelope_address(email.envelope_from) || email.recipient.empty() ||
        !valid_envelope_address(email.recipient)) {
      SendResult refused;
      refused.kind = SendResult::Kind::permanent;
      refused.detail = "invalid envelope address";
      asio::post(loop_, [weak = std::weak_ptr<Pending>(pending_), id, refused = std::move(refused)]() mutable {
        if (auto pending = weak.lock()) pending->complete(id, std::move(refused), std::nullopt);
      });
      return;
    }
    Lane& lane = **std::min_element(lanes_.begin(), lanes_.end(),
                                    [](const auto& a, const auto& b) { return a->outstanding < b->outstanding; });
    ++lane.outstanding;
    lane.submit(id, std::move(email));
  }

  std::size_t in_flight() const override { return pending_->waiting.size(); }

 private:
  struct Pending {
    std::unordered_map<std::uint64_t, SendDone> waiting;
    std::uint64_t next = 0;
    std::vector<std::unique_ptr<Lane>>* lanes = nullptr;

    void complete(std::uint64_t id, SendResult result, std::optional<std::size_t> lane) {
      if (lane) --(*lanes)[*lane]->outstanding;
      auto it = waiting.find(id);
      if (it == waiting.end()) return;
      SendDone done = std::move(it->second);
      waiting.erase(it);
      if (done) done(std::move(result));
    }
  };

  asio::any_io_executor loop_;
  std::shared_ptr<Pending> pending_;
  std::vector<std::unique_ptr<Lane>> lanes_;
};

}  // namespace

std::unique_ptr<EmailTransport> make_smtp_transport(asio::any_io_executor loop, SmtpSettings settings) {
  const std::string_view url = settings.url;
  if (!url.starts_with("smtp://") && !url.starts_with("smtps://"))
    throw std::invalid_argument("SMTP URL must start with smtp:// or smtps://");
  return std::make_unique<SmtpTransport>(std::move(loop), std::move(settings));
}

}  // namespace convene::notifiers
