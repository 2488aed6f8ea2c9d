#pragma once
// convened's configuration: a flat TOML file (--config, default /etc/convene/convened.toml)
// whose every key can be overridden by the environment variable CONVENE_<KEY>.
#include "base/log.hpp"
#include "daemon/http/rate_limit.hpp"

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace convene::daemon {

struct ListenAddress {
  std::string host;
  std::uint16_t port = 0;
  std::string to_string() const;
};

// A yearly moment: month, day and local time of day.
struct MonthDayTime {
  unsigned month = 1, day = 1;
  std::chrono::minutes time{0};
};

// A token bucket: per_second requests a second on average, bursts of up to `burst`.
// per_second 0 turns the limit off.
using RateLimit = http::BucketSpec;

struct Config {
  std::string database_url = "postgresql:///convene?host=/run/postgresql";
  std::size_t database_pool_size = 8;
  std::chrono::milliseconds database_connect_timeout{5000};
  ListenAddress http_listen{"127.0.0.1", 8080};
  int http_threads = 16;  // for handlers that use the database (the server itself runs on the event loop)
  int http_max_queued = 256;  // requests waiting for one of those threads; beyond it 503 with Retry-After
  int http_max_connections = 20000;  // beyond it the oldest idle connections are closed, then new ones refused
  std::size_t http_max_body = 1024 * 1024;
  std::chrono::milliseconds http_header_timeout{10000};  // to receive a request's headers
  std::chrono::milliseconds http_body_timeout{60000};    // to receive its body
  std::chrono::milliseconds http_idle_timeout{60000};    // keep-alive wait for the next request
  std::chrono::milliseconds http_write_timeout{30000};   // to send a response
  // Peers whose X-Forwarded-For names the client (CIDRs; see http/client_address.hpp).
  std::string trusted_proxies = "127.0.0.0/8, ::1/128";
  RateLimit rate_limit_api{100, 400};            // API requests per client address
  RateLimit rate_limit_token{50, 200};           // API requests per bearer token
  RateLimit rate_limit_auth_failures{0.5, 30};   // failed authentications per client address
  RateLimit rate_limit_links{10, 100};           // /preferences and /u (unsubscribe) per client address
  RateLimit rate_limit_feeds{200, 2000};         // feeds per client address (calendar providers poll many)
  std::filesystem::path state_directory = "/var/lib/convene";
  // Feed files (communities/<slug>.ics, rooms/<id>.ics); empty: state_directory/feeds.
  // Read it through feeds_directory_of().
  std::filesystem::path feeds_directory;
  std::filesystem::path schema_dir;  // defaults to the compiled-in CONVENE_SCHEMA_DIR
  std::string public_url = "http://127.0.0.1:8080";
  std::string organisation_time_zone = "UTC";
  log::Level log_level = log::Level::info;
  log::Format log_format = log::Format::text;
  std::chrono::milliseconds shutdown_timeout{20000};
  // The annual-meeting window: `annual_window_days` days from month/day `annual_window_start`
  // (default July 8-14: the days of every "second weekday of July").
  unsigned annual_window_month = 7;
  unsigned annual_window_first_day = 8;
  unsigned annual_window_days = 7;
  int booking_horizon_months = 18;  // rooms are booked for every occurrence this far ahead
  int max_occurrences = 800;        // a series with more occurrences in the horizon is refused
  // The job engine (jobs/engine.hpp).
  int job_concurrency = 4;                              // jobs running at once on this instance
  std::chrono::milliseconds job_lease{60000};           // a crashed instance's jobs wait this long
  std::chrono::milliseconds job_poll_interval{30000};   // fallback when a NOTIFY was missed
  // When the yearly and daily jobs run, in the organisation's zone ("MM-DDTHH:MM", "HH:MM").
  MonthDayTime placeholders_at{1, 1, std::chrono::minutes(0)};
  MonthDayTime tbd_reminder_at{6, 1, std::chrono::minutes(9 * 60)};
  MonthDayTime annual_review_at{8, 1, std::chrono::minutes(9 * 60)};
  std::chrono::minutes daily_checks_at{8 * 60};  // overdue topics, ending roles, reminder planning
  int role_ending_notice_days = 14;
  // Digests (jobs/kinds/digests.cpp): members per batch, and batches running at once.
  int digest_batch = 250;
  int digest_chains = 2;
  // Delivery (DESIGN §4): SMTP relay (empty smtp_url: .eml files in state_directory/mail),
  // the sender, and addresses webhooks may reach despite the SSRF guard.
  std::string smtp_url;  // smtp://relay:587 (STARTTLS when offered) or smtps://relay:465
  bool smtp_require_tls = false;
  int smtp_max_connections = 4;  // connections to the relay, each with its own thread
  std::string smtp_ca_file;      // CAs for the relay's certificate; empty: the system's
  std::string smtp_user;
  std::string smtp_password;  // never logged or shown
  std::string mail_from = "convene@localhost";
  // The List-Unsubscribe mailto: address, read by something that unsubscribes (the subject
  // names the one-click token); empty: no mailto, only the https one-click link.
  std::string list_unsubscribe_mailto;
  std::string webhook_allowlist;  // CIDRs, comma-separated
  int webhook_max_host_connections = 32;  // requests at once to one receiver (scheme://host:port)
  int webhook_max_endpoints_per_member = 10;     // webhook endpoints one member may own
  int webhook_max_endpoints_per_community = 10;  // webhook endpoints one community may have
  int delivery_concurrency = 1000;  // messages in flight on this instance, per channel
  std::chrono::milliseconds delivery_lease{120000};  // lease of a notification being delivered
  int delivery_receiver_in_flight = 100;  // messages in flight to one webhook receiver (scheme://host:port)
  std::filesystem::path templates_dir;  // defaults to the compiled-in CONVENE_TEMPLATES_DIR
};

// Where the feed files go: feeds_directory, or state_directory/feeds when unset.
std::filesystem::path feeds_directory_of(const Config& config);

// Every problem found, one per line, each naming the file key or environment variable.
class ConfigError : public std::runtime_error {
 public:
  explicit ConfigError(std::vector<std::string> problems);
  const std::vector<std::string>& problems() const { return problems_; }

 private:
  std::vector<std::string> problems_;
};

using Environment = std::map<std::string, std::string>;

// The process environment (only CONVENE_* variables are read).
Environment process_environment();

inline const std::filesystem::path kDefaultConfigPath = "/etc/convene/convened.toml";

// `file`: nullopt means the default path, which may be absent (defaults apply); an explicit
// file must exist. Throws ConfigError listing every bad value.
Config load_config(const std::optional<std::filesystem::path>& file, const Environment& env);

// Lines "key = value" of the effective configuration, secrets redacted.
std::vector<std::string> describe(const Config& config);

// Setting keys whose values differ and which a SIGHUP cannot change.
std::vector<std::string> restart_required(const Config& running, const Config& reloaded);

std::chrono::milliseconds parse_duration(std::string_view text);  // "250ms", "5s", "2m", "1h"; throws

}  // namespace convene::daemon
