#include "daemon/lifetime.hpp"

#include "base/log.hpp"
#include "calendar/clock.hpp"
#include "calendar/local_time.hpp"
#include "daemon/api/api.hpp"
#include "daemon/api/common.hpp"
#include "store/sql_time.hpp"
#include "daemon/config.hpp"
#include "daemon/feeds/feed_files.hpp"
#include "daemon/feeds/feed_routes.hpp"
#include "store/listener.hpp"
#include "daemon/http_server.hpp"
#include "daemon/metrics.hpp"
#include "daemon/readiness.hpp"
#include "daemon/pages/link_key.hpp"
#include "daemon/pages/preferences.hpp"
#include "daemon/pages/unsubscribe.hpp"
#include "daemon/systemd.hpp"
#include "daemon/version.hpp"
#include "daemon/job_metrics.hpp"
#include "jobs/delivery.hpp"
#include "jobs/engine.hpp"
#include "notifiers/address_policy.hpp"
#include "notifiers/curl_multi.hpp"
#include "notifiers/file_transport.hpp"
#include "notifiers/smtp_transport.hpp"
#include "notifiers/templates.hpp"
#include "notifiers/webhook_transport.hpp"
#include "jobs/kinds/kinds.hpp"
#include "jobs/periodic.hpp"
#include "store/database.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <csignal>
#include <cstdio>
#include <list>
#include <map>
#include <memory>
#include <thread>

namespace convene::daemon {
namespace {

namespace asio = boost::asio;

// Runs coroutines on the loop that all stop when shutdown begins.
class Tasks {
 public:
  explicit Tasks(asio::io_context& io) : io_(io) {}
  void spawn(asio::awaitable<void> task) {
    auto& signal = signals_.emplace_back();
    asio::co_spawn(io_, std::move(task), asio::bind_cancellation_slot(signal.slot(), asio::detached));
  }
  void cancel_all() {
    for (auto& s : signals_) s.emit(asio::cancellation_type::terminal);
  }

 private:
  asio::io_context& io_;
  std::list<asio::cancellation_signal> signals_;
};

// With --test-clock: a manual clock starting at the given instant or at the real time.
std::unique_ptr<calendar::ManualClock> make_test_clock(const DaemonOptions& options) {
  if (!options.test_clock) return nullptr;
  calendar::Instant start = calendar::SystemClock().now();
  if (!options.test_clock_start.empty()) {
    const auto& text = options.test_clock_start;
    const auto local = text.back() == 'Z' ? calendar::parse_local_datetime(text.substr(0, text.size() - 1)) : std::nullopt;
    if (!local) throw std::invalid_argument("--test-clock must be a UTC instant such as 2027-06-01T08:00:00Z");
    start = calendar::Instant{local->time_since_epoch()};
  }
  return std::make_unique<calendar::ManualClock>(start);
}

class Daemon {
 public:
  Daemon(const DaemonOptions& options, Config config, std::vector<store::Migration> migrations)
      : options_(options),
        config_(std::move(config)),
        test_clock_(make_test_clock(options)),
        clock_(test_clock_ ? static_cast<const calendar::Clock&>(*test_clock_) : system_clock_),
        database_(pool_options(config_)),
        readiness_(database_, std::move(migrations)),
        start_time_(std::chrono::duration<double>(system_clock_.now().time_since_epoch()).count()),
        templates_(notifiers::Templates::load(config_.templates_dir)),
        api_(api::v1_api(api::Services{database_, config_, clock_, test_clock_.get(), [this] { nudge_jobs(); }, &templates_})),
        feeds_(database_, config_, clock_, feed_cache_),
        link_key_(database_, clock_),
        unsubscribe_(database_, clock_, link_key_),
        preferences_(database_, config_, clock_, link_key_),
        http_(io_, config_, HttpServer::Services{readiness_, http_metrics_, [this] { return render_metrics(); },
                                                 [this](http::Router& router) {
                                                   api_.install(router);
                                                   feeds_.install(router);
                                                   unsubscribe_.install(router);
                                                   preferences_.install(router);
                                                 }}),
        tasks_(io_) {}

  int run() {
    http_.start();
    log::info("http listening", {{"listen", config_.http_listen.host + ":" + std::to_string(http_.port())},
                                 {"public_url", config_.public_url}});

    asio::signal_set signals(io_, SIGINT, SIGTERM, SIGHUP);
    asio::co_spawn(io_, handle_signals(signals), asio::detached);
    // Feed files: written (debounced, on the blocking pool) on start and whenever feeds change.
    feed_files_.emplace(io_.get_executor(), blocking_.get_executor(), feeds_, database_, feeds_directory_of(config_));
    feed_files_->start();
    log::info("feed files enabled", {{"directory", feed_files_->directory().string()}});
    // Feed caches on every instance follow the database's NOTIFY convene_feeds.
    // The job engine: woken by NOTIFY convene_jobs from any instance.
    jobs::EngineOptions engine_options;
    engine_options.owner = jobs::default_owner();
    engine_options.concurrency = config_.job_concurrency;
    engine_options.lease = config_.job_lease;
    engine_options.poll_interval = config_.job_poll_interval;
    engine_.emplace(io_.get_executor(), database_, clock_, engine_options, jobs::standard_kinds(api::kind_settings(config_)));
    asio::co_spawn(io_, engine_->run(), asio::detached);
    log::info("job engine started", {{"owner", engine_options.owner},
                                     {"concurrency", static_cast<long long>(engine_options.concurrency)},
                                     {"test_clock", test_clock_ != nullptr}});
    start_delivery(engine_options.owner);
    store::ListenerOptions listen;
    listen.conninfo = config_.database_url;
    listen.channels = {"convene_feeds", "convene_jobs", "convene_notifications"};
    listen.connect_timeout = std::chrono::duration_cast<std::chrono::seconds>(config_.database_connect_timeout);
    listener_.emplace(
        listen, blocking_.get_executor(),
        [this](const std::string& channel, const std::string& payload) {
          if (channel == "convene_jobs") {
            engine_->nudge();
            return;
          }
          if (channel == "convene_notifications") {
            delivery_->nudge();
            return;
          }
          feed_cache_.invalidate(payload);
          feed_files_->notify(payload);
        },
        [this] {  // whatever was missed while disconnected
          feed_cache_.invalidate("*");
          feed_files_->notify("*");
          engine_->nudge();
          delivery_->nudge();
        });
    tasks_.spawn(listener_->run());
    if (const auto interval = systemd::watchdog_interval()) {
      // Pinged from the loop thread, so a stalled loop stops the pings and systemd notices.
      tasks_.spawn(jobs::run_every(*interval / 2, [] { systemd::notify("WATCHDOG=1"); }));
      log::info("systemd watchdog enabled", {{"interval_ms", static_cast<long long>(interval->count() / 1000)}});
    }
    systemd::notify("READY=1\nSTATUS=serving");
    log::info("ready", {{"version", std::string(kVersion)}});
    io_.run();
    return exit_status_;
  }

 private:
  asio::awaitable<void> handle_signals(asio::signal_set& signals) {
    for (;;) {
      auto [ec, number] = co_await signals.async_wait(asio::as_tuple(asio::use_awaitable));
      if (ec) co_return;
      if (number == SIGHUP) {
        reload();
        continue;
      }
      co_await shutdown(number == SIGINT ? "SIGINT" : "SIGTERM");
      signals.cancel();
      co_return;
    }
  }

  // Stop accepting, let requests in flight finish within shutdown_timeout, stop the tasks.
  asio::awaitable<void> shutdown(const char* signal_name) {
    log::info("stopping", {{"signal", signal_name}});
    systemd::notify("STOPPING=1\nSTATUS=stopping");
    tasks_.cancel_all();
    if (feed_files_) feed_files_->stop();
    const auto deadline = std::chrono::steady_clock::now() + config_.shutdown_timeout;
    // No new connections; idle ones close now, the others once their answer is written.
    http_.stop();
    // Running jobs get most of shutdown_timeout to finish; the rest are handed back. Messages
    // in flight get the same to be answered and recorded.
    co_await delivery_->stop(config_.shutdown_timeout * 3 / 4);
    co_await engine_->stop(config_.shutdown_timeout * 3 / 4);
    asio::steady_timer poll(io_);
    while (!http_.drained()) {
      if (std::chrono::steady_clock::now() >= deadline) {
        log::error("requests still running after shutdown_timeout; exiting anyway",
                   {{"shutdown_timeout_ms", static_cast<long long>(config_.shutdown_timeout.count())}});
        std::fflush(nullptr);
        std::_Exit(1);
      }
      poll.expires_after(std::chrono::milliseconds(20));
      co_await poll.async_wait(asio::as_tuple(asio::use_awaitable));
    }
    if (engine_->busy()) {
      // A job outlived the deadline; its lease is already given back and its transaction rolls
      // back when the process closes the connection, so exiting now loses nothing.
      log::warn("stopped with a job still running; it will run again elsewhere");
      std::fflush(nullptr);
      std::_Exit(0);
    }
    log::info("stopped");
    exit_status_ = 0;
  }

  // Email over SMTP (or .eml files without a relay) and webhooks, both on libcurl driven by
  // this loop, fed by the delivery worker.
  void start_delivery(const std::string& owner) {
    // Webhooks share this multi; the transport queues each receiver's requests beyond the cap.
    curl_.emplace(io_.get_executor(),
                  notifiers::CurlOptions{.max_host_connections = static_cast<long>(config_.webhook_max_host_connections)});
    if (config_.smtp_url.empty()) {
      email_ = notifiers::make_file_transport(config_.state_directory, io_.get_executor(), blocking_.get_executor());
    } else {
      notifiers::SmtpSettings smtp;
      smtp.url = config_.smtp_url;
      smtp.require_tls = config_.smtp_require_tls;
      smtp.user = config_.smtp_user;
      smtp.password = config_.smtp_password;
      smtp.max_connections = static_cast<std::size_t>(config_.smtp_max_connections);
      smtp.ca_file = config_.smtp_ca_file;
      email_ = notifiers::make_smtp_transport(io_.get_executor(), smtp);
    }
    notifiers::WebhookSettings hooks;
    hooks.allowed = [allowlist = notifiers::parse_cidr_list(config_.webhook_allowlist)](const sockaddr* address) {
      return !notifiers::is_forbidden_destination(address, allowlist);
    };
    hooks.max_host_connections = static_cast<std::size_t>(config_.webhook_max_host_connections);
    webhooks_ = notifiers::make_webhook_transport(*curl_, std::move(hooks));
    jobs::DeliveryOptions options;
    options.owner = owner;
    options.max_in_flight = static_cast<std::size_t>(config_.delivery_concurrency);
    options.lease = config_.delivery_lease;
    options.receivers.in_flight = static_cast<std::size_t>(config_.delivery_receiver_in_flight);
    // A receiver measured fast may use up to half of the lane.
    options.receivers.max_in_flight = std::max(options.receivers.in_flight, options.max_in_flight / 2);
    options.public_url = config_.public_url;
    options.mail_from = config_.mail_from;
    options.unsubscribe_mailto = config_.list_unsubscribe_mailto;
    options.domain = api::uid_domain(config_);
    delivery_.emplace(io_.get_executor(), database_, clock_, options, templates_, *email_, *webhooks_);
    asio::co_spawn(io_, delivery_->run(), asio::detached);
    log::info("delivery started", {{"email", std::string(config_.smtp_url.empty() ? "files" : "smtp")},
                                   {"concurrency", static_cast<long long>(config_.delivery_concurrency)}});
  }

  void nudge_jobs() {
    if (engine_) engine_->nudge();
  }

  void reload() {
    try {
      Config reloaded = load_config(options_.config_path, process_environment());
      log::configure(reloaded.log_level, reloaded.log_format);
      config_.log_level = reloaded.log_level;
      config_.log_format = reloaded.log_format;
      std::string ignored;
      for (const auto& key : restart_required(config_, reloaded)) ignored += (ignored.empty() ? "" : ",") + key;
      if (ignored.empty()) {
        log::info("configuration reloaded");
      } else {
        log::warn("configuration reloaded; these settings need a restart", {{"settings", ignored}});
      }
    } catch (const ConfigError& e) {
      log::error("configuration not reloaded; keeping the running one", {{"error", std::string(e.what())}});
    }
  }

  // Pending jobs past their due time, by kind; empty when the database cannot be asked.
  std::map<std::string, std::int64_t> jobs_due_by_kind() {
    std::map<std::string, std::int64_t> due;
    try {
      const auto now = store::sql_instant(clock_.now());
      database_.transact([&](pqxx::work& tx) {
        due.clear();
        for (const auto& r : tx.exec_params("SELECT kind, count(*) FROM jobs WHERE state = 'pending' AND due_at <= $1 GROUP BY kind", now))
          due[r[0].as<std::string>()] = r[1].as<std::int64_t>();
      }, store::TxOptions{.max_attempts = 1, .read_only = true, .statement_timeout = std::chrono::milliseconds(2000)});
    } catch (const std::exception&) {
    }
    return due;
  }

  std::string render_metrics() {
    PrometheusText out;
    out.gauge("convene_build_info", "Build of the running convened.", 1, "version=\"" + std::string(kVersion) + "\"");
    render_process_metrics(out, read_process_metrics(), start_time_);
    render_database_metrics(out, database_.stats());
    out.counter("convene_feed_cache_hits_total", "Feed requests answered from memory.", static_cast<double>(feed_cache_.hits()));
    out.counter("convene_feed_cache_misses_total", "Feed requests that rendered the feed.",
                static_cast<double>(feed_cache_.misses()));
    out.gauge("convene_feed_cache_entries", "Rendered feeds held in memory.", static_cast<double>(feed_cache_.size()));
    out.gauge("convene_notification_listener_connected", "1 while LISTEN convene_feeds is connected.",
              listener_ && listener_->connected() ? 1 : 0);
    http_metrics_.render(out);
    const auto front = http_.counters();
    out.gauge("convene_http_connections_open", "Open HTTP connections.", static_cast<double>(front.open_connections));
    out.gauge("convene_http_connections_idle", "HTTP connections waiting for a request.", static_cast<double>(front.idle_connections));
    out.counter("convene_http_connections_total", "HTTP connections accepted.", static_cast<double>(front.connections_total));
    out.counter("convene_http_idle_closed_total", "Idle connections closed to make room at http_max_connections.",
                static_cast<double>(front.idle_closed_total));
    out.counter("convene_http_refused_total", "Connections refused at http_max_connections with none idle.",
                static_cast<double>(front.refused_total));
    out.counter("convene_http_busy_total", "Requests answered 503 because http_max_queued were waiting.",
                static_cast<double>(front.busy_total));
    out.gauge("convene_http_worker_requests", "Requests handed to the http_threads workers and not yet answered.",
              static_cast<double>(front.worker_requests));
    out.gauge("convene_http_body_bytes_held", "Request body bytes held in memory now.",
              static_cast<double>(front.body_bytes_held));
    out.counter("convene_http_rate_limited_total", "Requests answered 429.", static_cast<double>(front.rate_limited_total));
    if (engine_) render_job_metrics(out, engine_->stats(), jobs_due_by_kind());
    if (delivery_) {
      const auto d = delivery_->counters();
      out.counter("convene_notifications_claimed_total", "Notifications claimed for delivery by this instance.", static_cast<double>(d.claimed));
      out.counter("convene_notifications_sent_total", "Notifications delivered (SMTP accepted, HTTP 2xx, file written).", static_cast<double>(d.sent));
      out.counter("convene_notifications_retried_total", "Failed attempts scheduled for a retry.", static_cast<double>(d.retried));
      out.counter("convene_notifications_dead_total", "Notifications that failed for good.", static_cast<double>(d.dead));
      out.counter("convene_notifications_cancelled_total", "Notifications dropped unsent (endpoint disabled).", static_cast<double>(d.cancelled));
      out.counter("convene_notifications_suppressed_total", "Emails finished unsent at claim: their address is suppressed (a permanent refusal).", static_cast<double>(d.suppressed));
      out.counter("convene_notifications_deferred_total", "Webhooks put back at claim, unattempted: their receiver had no room (its share of the slots was in use, or it was rested).", static_cast<double>(d.deferred));
      out.counter("convene_delivery_record_failures_total", "Batches of delivery outcomes the database did not take (kept and recorded again).", static_cast<double>(d.record_failures));
    }
    return out.str();
  }

  const DaemonOptions options_;
  Config config_;
  calendar::SystemClock system_clock_;
  std::unique_ptr<calendar::ManualClock> test_clock_;
  const calendar::Clock& clock_;
  store::Database database_;
  Readiness readiness_;
  HttpMetrics http_metrics_;
  double start_time_;
  asio::io_context io_{1};
  // Email texts: the delivery worker's, and the API's previews.
  const notifiers::Templates templates_;
  api::Api api_;
  feeds::FeedCache feed_cache_;
  feeds::FeedService feeds_;
  LinkKey link_key_;  // signs the links of both pages below
  UnsubscribeService unsubscribe_;
  PreferencesService preferences_;
  // Declared before blocking_: a feed file run in progress uses it until blocking_ is joined.
  std::optional<feeds::FeedFileWriter> feed_files_;
  // Blocking database work started from the loop (connecting the listener, feed files).
  asio::thread_pool blocking_{1};
  std::optional<store::Listener> listener_;
  std::optional<jobs::Engine> engine_;
  // Destroyed in reverse: the worker before its transports, the transports before libcurl.
  std::optional<notifiers::CurlMulti> curl_;
  std::unique_ptr<notifiers::EmailTransport> email_;
  std::unique_ptr<notifiers::WebhookTransport> webhooks_;
  std::optional<jobs::DeliveryWorker> delivery_;
  HttpServer http_;
  Tasks tasks_;
  int exit_status_ = 1;
};

}  // namespace

store::PoolOptions pool_options(const Config& config) {
  store::PoolOptions options;
  options.conninfo = config.database_url;
  options.max_size = config.database_pool_size;
  options.connect_timeout = std::chrono::duration_cast<std::chrono::seconds>(config.database_connect_timeout);
  options.acquire_timeout = config.database_connect_timeout;
  return options;
}

int run_daemon(const DaemonOptions& options, Config config, std::vector<store::Migration> migrations) {
  Daemon daemon(options, std::move(config), std::move(migrations));
  return daemon.run();
}

}  // namespace convene::daemon
