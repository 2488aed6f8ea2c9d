#pragma once
// What the delivery tests share: a DeliveryWorker wired as the daemon wires it (its own loop
// thread, pool, libcurl, SMTP and webhook transports), and an HTTP receiver on 127.0.0.1 that
// answers from a script of statuses. Backoff is shortened so retries happen within a test.
#include "jobs/delivery.hpp"
#include "jobs/engine.hpp"
#include "notifiers/address_policy.hpp"
#include "notifiers/curl_multi.hpp"
#include "notifiers/smtp_transport.hpp"
#include "notifiers/webhook_transport.hpp"
#include "support/http_receiver.hpp"
#include "support/process.hpp"
#include "support/scene.hpp"
#include "support/test_database.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <httplib.h>

#include <chrono>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace convene::testing {

// Changes to the options a Worker gives its DeliveryWorker, applied last.
using DeliveryTweak = std::function<void(jobs::DeliveryOptions&)>;

class Worker {
 public:
  Worker(const std::string& url, const std::string& smtp_url, const std::string& allowlist = "127.0.0.0/8",
         std::chrono::milliseconds lease = std::chrono::seconds(120),
         std::chrono::milliseconds webhook_timeout = std::chrono::seconds(2), const DeliveryTweak& tweak = {})
      : database_(store::PoolOptions{.conninfo = url, .max_size = 3}),
        templates_(notifiers::Templates::load(CONVENE_TEMPLATES_DIR)),
        curl_(io_.get_executor()) {
    using namespace std::chrono_literals;
    notifiers::SmtpSettings smtp;
    smtp.url = smtp_url;
    smtp.timeout = 5s;
    email_ = notifiers::make_smtp_transport(io_.get_executor(), smtp);
    notifiers::WebhookSettings hooks;
    hooks.timeout = webhook_timeout;
    hooks.allowed = [list = notifiers::parse_cidr_list(allowlist)](const sockaddr* a) {
      return !notifiers::is_forbidden_destination(a, list);
    };
    webhooks_ = notifiers::make_webhook_transport(curl_, hooks);
    jobs::DeliveryOptions options;
    options.owner = jobs::default_owner();
    options.poll_interval = 100ms;
    options.lease = lease;
    options.retry_backoff = store::Backoff{20ms, 80ms};
    options.max_attempts = 4;
    options.public_url = "https://convene.example.org";
    options.mail_from = "convene@example.org";
    options.domain = "convene.example.org";
    if (tweak) tweak(options);
    worker_.emplace(io_.get_executor(), database_, clock_, options, templates_, *email_, *webhooks_);
    boost::asio::co_spawn(io_, worker_->run(), boost::asio::detached);
    thread_ = std::thread([this] { io_.run(); });
  }
  ~Worker() {
    std::promise<void> stopped;
    boost::asio::co_spawn(io_, worker_->stop(std::chrono::seconds(5)),
                          [&stopped](std::exception_ptr) { stopped.set_value(); });
    stopped.get_future().wait();
    io_.stop();
    thread_.join();
  }
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  jobs::DeliveryCounters counters() const { return worker_->counters(); }

 private:
  boost::asio::io_context io_{1};
  calendar::SystemClock clock_;
  store::Database database_;
  notifiers::Templates templates_;
  notifiers::CurlMulti curl_;
  std::unique_ptr<notifiers::EmailTransport> email_;
  std::unique_ptr<notifiers::WebhookTransport> webhooks_;
  std::optional<jobs::DeliveryWorker> worker_;
  std::thread thread_;
};

// A webhook receiver (support/http_receiver.hpp's Receiver) that answers from a script of
// statuses, then 200, each after `delay`, and keeps every request; up to `threads` at once.
class ScriptedReceiver {
 public:
  explicit ScriptedReceiver(std::vector<int> statuses = {}, std::chrono::milliseconds delay = std::chrono::milliseconds(0),
                            std::size_t threads = 32)
      : statuses_(std::move(statuses)),
        delay_(delay),
        receiver_(
            [this](const httplib::Request& req, httplib::Response& res) {
              if (delay_.count() > 0) std::this_thread::sleep_for(delay_);
              std::lock_guard lock(mutex_);
              requests_.push_back(req);
              res.status = next_ < statuses_.size() ? statuses_[next_++] : 200;
              res.set_content("ok", "text/plain");
            },
            threads) {}

  std::string url() const { return receiver_.url("/hook"); }
  std::vector<httplib::Request> requests() const {
    std::lock_guard lock(mutex_);
    return requests_;
  }

 private:
  // Declared before the receiver, whose handler uses them (and which stops first).
  std::vector<int> statuses_;
  std::size_t next_ = 0;
  std::chrono::milliseconds delay_;
  mutable std::mutex mutex_;
  std::vector<httplib::Request> requests_;
  Receiver receiver_;
};

// A clean schema with a community ('data-science') and its member Ada (ada@example.org), for
// tests that queue notifications with SQL.
class DeliveryDatabaseTest : public MigratedDatabaseTest {
 protected:
  void SetUp() override {
    MigratedDatabaseTest::SetUp();
    community = scalar(scene::kInsertCommunity);
    member = scalar(scene::kInsertAda);
  }

  std::string text(const std::string& q) { return sql(q)[0][0].as<std::string>(); }
  std::string state(const std::string& id) { return text("SELECT state FROM notifications WHERE id = '" + id + "'"); }
  bool eventually(const std::function<bool()>& condition,
                  std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
    return wait_until(condition, timeout);
  }

  // A realtime email for `recipient`, as fan-out makes it: a topic message titled `title`.
  std::string email_notification(const std::string& title = "What are you reading?", const std::string& kind = "topic.posted",
                                 const std::string& recipient = "ada@example.org") {
    return sql("INSERT INTO notifications (id, dedupe_key, member_id, community_id, channel, kind, recipient, payload, "
               "due_at, created_at) VALUES (notification_id($1), $1, $2, $3, 'email', $4, $5, "
               "jsonb_set($6::jsonb, '{title}', to_jsonb($7::text)), now(), now()) RETURNING id",
               "test:" + std::to_string(++serial), member, community, kind, recipient, std::string(scene::kTopicPayload),
               title)[0][0]
        .as<std::string>();
  }

  std::int64_t community = 0, member = 0;
  int serial = 0;  // makes dedupe keys unique within a test
};

}  // namespace convene::testing
