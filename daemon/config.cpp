#include "daemon/config.hpp"

#include "calendar/zones.hpp"
#include "daemon/http/client_address.hpp"
#include "notifiers/address_policy.hpp"
#include "store/conninfo.hpp"

#include <toml++/toml.h>

#include <boost/url/parse.hpp>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <functional>
#include <set>

extern char** environ;

#ifndef CONVENE_SCHEMA_DIR
#error "CONVENE_SCHEMA_DIR must be defined by the build"
#endif

namespace convene::daemon {
namespace {

std::string join_lines(const std::vector<std::string>& lines) {
  std::string out = "invalid configuration:";
  for (const auto& l : lines) out += "\n  " + l;
  return out;
}

// The shortest decimal text that reads back as the same number: 0.5, 100, 1000000.
std::string format_number(double value) {
  char buf[512];
  const auto [ptr, ec] = std::to_chars(buf, buf + sizeof buf, value, std::chars_format::fixed);
  return ec == std::errc() ? std::string(buf, ptr) : std::to_string(value);
}

long long parse_integer(std::string_view text, long long min, long long max) {
  long long value = 0;
  const auto* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (ec != std::errc() || ptr != end || value < min || value > max)
    throw std::invalid_argument("must be a whole number from " + std::to_string(min) + " to " + std::to_string(max));
  return value;
}

// A non-negative decimal number such as 0.5 or 100 (no exponent, no sign).
double parse_number(std::string_view text, double max) {
  double value = 0;
  const auto* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, value, std::chars_format::fixed);
  if (text.empty() || ec != std::errc() || ptr != end || !std::isfinite(value) || value < 0 || value > max)
    throw std::invalid_argument("must be a number from 0 to " + format_number(max) + ", such as 0.5 or 100");
  return value;
}

ListenAddress parse_listen(std::string_view text) {
  // "host:port" or "[ipv6]:port"
  const auto colon = text.rfind(':');
  if (colon == std::string_view::npos || colon == 0)
    throw std::invalid_argument("must be host:port, such as 127.0.0.1:8080 or [::1]:8080");
  std::string_view host = text.substr(0, colon);
  if (host.front() == '[') {
    if (host.back() != ']' || host.size() < 3) throw std::invalid_argument("IPv6 hosts go in brackets: [::1]:8080");
    host = host.substr(1, host.size() - 2);
  }
  ListenAddress address;
  address.host = std::string(host);
  address.port = static_cast<std::uint16_t>(parse_integer(text.substr(colon + 1), 0, 65535));
  return address;
}

std::string parse_http_url(std::string_view text) {
  auto url = boost::urls::parse_absolute_uri(text);
  if (!url || (url->scheme() != "http" && url->scheme() != "https") || url->host().empty())
    throw std::invalid_argument("must be an absolute http(s) URL such as https://convene.example.org");
  std::string out(text);
  while (!out.empty() && out.back() == '/') out.pop_back();  // links are built as public_url + "/path"
  return out;
}

struct Setting {
  std::string key;
  bool reloadable;
  std::function<void(Config&, const std::string&)> apply;  // throws std::invalid_argument
  std::function<std::string(const Config&)> show;
};

// "HH:MM", 00:00 to 23:59.
std::chrono::minutes parse_time_of_day(std::string_view text) {
  if (text.size() != 5 || text[2] != ':') throw std::invalid_argument("must be a time of day such as 09:00");
  return std::chrono::hours(parse_integer(text.substr(0, 2), 0, 23)) + std::chrono::minutes(parse_integer(text.substr(3, 2), 0, 59));
}

std::string format_time_of_day(std::chrono::minutes t) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%02d:%02d", static_cast<int>(t.count() / 60), static_cast<int>(t.count() % 60));
  return buf;
}

// "MM-DDTHH:MM", on a day that exists every year (so not February 29).
MonthDayTime parse_month_day_time(std::string_view text) {
  if (text.size() != 11 || text[2] != '-' || text[5] != 'T')
    throw std::invalid_argument("must be a month, day and time such as 06-01T09:00");
  const auto month = static_cast<unsigned>(parse_integer(text.substr(0, 2), 1, 12));
  const auto day = static_cast<unsigned>(parse_integer(text.substr(3, 2), 1, 31));
  if (!std::chrono::year_month_day{std::chrono::year{2023}, std::chrono::month{month}, std::chrono::day{day}}.ok())
    throw std::invalid_argument("must be on a day that exists every year, such as 06-01T09:00");
  return MonthDayTime{month, day, parse_time_of_day(text.substr(6))};
}

std::string format_month_day_time(const MonthDayTime& t) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%02u-%02u", t.month, t.day);
  return std::string(buf) + "T" + format_time_of_day(t.time);
}

Setting month_day_time_setting(std::string key, MonthDayTime Config::*field) {
  return {std::move(key), false, [field](Config& c, const std::string& v) { c.*field = parse_month_day_time(v); },
          [field](const Config& c) { return format_month_day_time(c.*field); }};
}

// A duration from `min` to `max`, shown in milliseconds.
Setting duration_setting(std::string key, std::chrono::milliseconds Config::*field, std::chrono::milliseconds min,
                         std::chrono::milliseconds max, std::string range) {
  return {std::move(key), false,
          [field, min, max, range](Config& c, const std::string& v) {
            const auto d = parse_duration(v);
            if (d < min || d > max) throw std::invalid_argument("must be between " + range);
            c.*field = d;
          },
          [field](const Config& c) { return std::to_string((c.*field).count()) + "ms"; }};
}

// A whole number from `min` to `max`.
template <class T>
Setting integer_setting(std::string key, T Config::*field, long long min, long long max) {
  return {std::move(key), false,
          [field, min, max](Config& c, const std::string& v) { c.*field = static_cast<T>(parse_integer(v, min, max)); },
          [field](const Config& c) { return std::to_string(c.*field); }};
}

Setting rate_limit_setting(std::string key, RateLimit Config::*field, double RateLimit::*part) {
  return {std::move(key), false, [field, part](Config& c, const std::string& v) { (c.*field).*part = parse_number(v, 1000000); },
          [field, part](const Config& c) { return format_number((c.*field).*part); }};
}

// A burst below one token would refuse every request: checked once every source has been read,
// as per_second and burst may come from different ones.
std::vector<std::string> rate_limit_problems(const Config& c) {
  static const std::pair<const char*, RateLimit Config::*> limits[] = {
      {"rate_limit_api", &Config::rate_limit_api},
      {"rate_limit_token", &Config::rate_limit_token},
      {"rate_limit_auth_failures", &Config::rate_limit_auth_failures},
      {"rate_limit_links", &Config::rate_limit_links},
      {"rate_limit_feeds", &Config::rate_limit_feeds},
  };
  std::vector<std::string> problems;
  for (const auto& [name, field] : limits) {
    const RateLimit& r = c.*field;
    if (r.per_second > 0 && r.burst < 1)
      problems.push_back(std::string(name) + "_burst must be at least 1 while " + name +
                         "_per_second is above 0 (a per_second of 0 turns the limit off)");
  }
  return problems;
}

const std::vector<Setting>& settings() {
  static const std::vector<Setting> all = {
      {"database_url", false,
       [](Config& c, const std::string& v) {
         if (v.empty()) throw std::invalid_argument("must not be empty");
         c.database_url = v;
       },
       [](const Config& c) { return store::redact_conninfo(c.database_url); }},
      integer_setting("database_pool_size", &Config::database_pool_size, 1, 256),
      duration_setting("database_connect_timeout", &Config::database_connect_timeout, std::chrono::seconds(1),
                       std::chrono::minutes(5), "1s and 5m"),
      {"http_listen", false, [](Config& c, const std::string& v) { c.http_listen = parse_listen(v); },
       [](const Config& c) { return c.http_listen.to_string(); }},
      integer_setting("http_threads", &Config::http_threads, 1, 256),
      integer_setting("http_max_body", &Config::http_max_body, 1024, 64LL * 1024 * 1024),
      integer_setting("http_max_queued", &Config::http_max_queued, 1, 100000),
      integer_setting("http_max_connections", &Config::http_max_connections, 1, 1000000),
      duration_setting("http_header_timeout", &Config::http_header_timeout, std::chrono::seconds(1),
                       std::chrono::minutes(10), "1s and 10m"),
      duration_setting("http_body_timeout", &Config::http_body_timeout, std::chrono::seconds(1), std::chrono::hours(1),
                       "1s and 1h"),
      duration_setting("http_idle_timeout", &Config::http_idle_timeout, std::chrono::seconds(1), std::chrono::hours(1),
                       "1s and 1h"),
      duration_setting("http_write_timeout", &Config::http_write_timeout, std::chrono::seconds(1), std::chrono::hours(1),
                       "1s and 1h"),
      {"trusted_proxies", false,
       [](Config& c, const std::string& v) {
         try {
           http::TrustedProxies::parse(v);
         } catch (const std::invalid_argument& e) {
           throw std::invalid_argument("must be addresses or CIDR blocks such as \"127.0.0.0/8, ::1/128\" (" +
                                       std::string(e.what()) + ")");
         }
         c.trusted_proxies = v;
       },
       [](const Config& c) { return c.trusted_proxies.empty() ? std::string("(none)") : c.trusted_proxies; }},
      rate_limit_setting("rate_limit_api_per_second", &Config::rate_limit_api, &RateLimit::per_second),
      rate_limit_setting("rate_limit_api_burst", &Config::rate_limit_api, &RateLimit::burst),
      rate_limit_setting("rate_limit_token_per_second", &Config::rate_limit_token, &RateLimit::per_second),
      rate_limit_setting("rate_limit_token_burst", &Config::rate_limit_token, &RateLimit::burst),
      rate_limit_setting("rate_limit_auth_failures_per_second", &Config::rate_limit_auth_failures, &RateLimit::per_second),
      rate_limit_setting("rate_limit_auth_failures_burst", &Config::rate_limit_auth_failures, &RateLimit::burst),
      rate_limit_setting("rate_limit_links_per_second", &Config::rate_limit_links, &RateLimit::per_second),
      rate_limit_setting("rate_limit_links_burst", &Config::rate_limit_links, &RateLimit::burst),
      rate_limit_setting("rate_limit_feeds_per_second", &Config::rate_limit_feeds, &RateLimit::per_second),
      rate_limit_setting("rate_limit_feeds_burst", &Config::rate_limit_feeds, &RateLimit::burst),
      {"state_directory", false,
       [](Config& c, const std::string& v) {
         if (v.empty() || v.front() != '/') throw std::invalid_argument("must be an absolute path");
         c.state_directory = v;
       },
       [](const Config& c) { return c.state_directory.string(); }},
      {"feeds_directory", false,
       [](Config& c, const std::string& v) {
         if (v.empty() || v.front() != '/') throw std::invalid_argument("must be an absolute path");
         c.feeds_directory = v;
       },
       [](const Config& c) { return feeds_directory_of(c).string(); }},
      {"schema_dir", false,
       [](Config& c, const std::string& v) {
         if (v.empty()) throw std::invalid_argument("must not be empty");
         c.schema_dir = v;
       },
       [](const Config& c) { return c.schema_dir.string(); }},
      {"public_url", false, [](Config& c, const std::string& v) { c.public_url = parse_http_url(v); },
       [](const Config& c) { return c.public_url; }},
      {"organisation_time_zone", false,
       [](Config& c, const std::string& v) {
         if (!calendar::is_known_zone(v))
           throw std::invalid_argument("must be an IANA time zone of this system's zone database, such as "
                                       "Europe/London or America/Chicago");
         c.organisation_time_zone = v;
       },
       [](const Config& c) { return c.organisation_time_zone; }},
      {"log_level", true,
       [](Config& c, const std::string& v) {
         const auto level = log::parse_level(v);
         if (!level) throw std::invalid_argument("must be one of trace, debug, info, warn, error");
         c.log_level = *level;
       },
       [](const Config& c) {
         static const char* names[] = {"trace", "debug", "info", "warn", "error"};
         return std::string(names[static_cast<int>(c.log_level)]);
       }},
      {"log_format", true,
       [](Config& c, const std::string& v) {
         const auto format = log::parse_format(v);
         if (!format) throw std::invalid_argument("must be text or json");
         c.log_format = *format;
       },
       [](const Config& c) { return std::string(c.log_format == log::Format::json ? "json" : "text"); }},
      {"shutdown_timeout", false,
       [](Config& c, const std::string& v) {
         c.shutdown_timeout = parse_duration(v);
         if (c.shutdown_timeout > std::chrono::minutes(10)) throw std::invalid_argument("must be at most 10m");
       },
       [](const Config& c) { return std::to_string(c.shutdown_timeout.count()) + "ms"; }},
      {"annual_window_start", false,
       [](Config& c, const std::string& v) {
         // "MM-DD", a day that exists in every year (so not February 29).
         if (v.size() != 5 || v[2] != '-') throw std::invalid_argument("must be a month and day such as 07-08");
         const auto month = static_cast<unsigned>(parse_integer(v.substr(0, 2), 1, 12));
         const auto day = static_cast<unsigned>(parse_integer(v.substr(3, 2), 1, 31));
         if (!std::chrono::year_month_day{std::chrono::year{2023}, std::chrono::month{month}, std::chrono::day{day}}.ok())
           throw std::invalid_argument("must be a day that exists every year, such as 07-08");
         c.annual_window_month = month;
         c.annual_window_first_day = day;
       },
       [](const Config& c) {
         char buf[8];
         std::snprintf(buf, sizeof buf, "%02u-%02u", c.annual_window_month, c.annual_window_first_day);
         return std::string(buf);
       }},
      integer_setting("annual_window_days", &Config::annual_window_days, 1, 31),
      integer_setting("booking_horizon_months", &Config::booking_horizon_months, 1, 60),
      integer_setting("max_occurrences", &Config::max_occurrences, 1, 10000),
      integer_setting("job_concurrency", &Config::job_concurrency, 1, 256),
      duration_setting("job_lease", &Config::job_lease, std::chrono::seconds(1), std::chrono::hours(1), "1s and 1h"),
      duration_setting("job_poll_interval", &Config::job_poll_interval, std::chrono::milliseconds(100),
                       std::chrono::hours(1), "100ms and 1h"),
      month_day_time_setting("placeholders_at", &Config::placeholders_at),
      month_day_time_setting("tbd_reminder_at", &Config::tbd_reminder_at),
      month_day_time_setting("annual_review_at", &Config::annual_review_at),
      {"daily_checks_at", false, [](Config& c, const std::string& v) { c.daily_checks_at = parse_time_of_day(v); },
       [](const Config& c) { return format_time_of_day(c.daily_checks_at); }},
      {"smtp_url", false,
       [](Config& c, const std::string& v) {
         if (!v.empty() && v.rfind("smtp://", 0) != 0 && v.rfind("smtps://", 0) != 0)
           throw std::invalid_argument("must be empty (write .eml files) or an smtp:// or smtps:// URL such as smtp://relay.example.org:587");
         if (v.find_first_of(" \r\n\t") != std::string::npos) throw std::invalid_argument("must not contain spaces");
         c.smtp_url = v;
       },
       [](const Config& c) { return c.smtp_url.empty() ? std::string("(none: .eml files)") : store::redact_conninfo(c.smtp_url); }},
      {"smtp_require_tls", false,
       [](Config& c, const std::string& v) {
         if (v != "true" && v != "false") throw std::invalid_argument("must be true or false");
         c.smtp_require_tls = v == "true";
       },
       [](const Config& c) { return std::string(c.smtp_require_tls ? "true" : "false"); }},
      integer_setting("smtp_max_connections", &Config::smtp_max_connections, 1, 64),
      integer_setting("webhook_max_host_connections", &Config::webhook_max_host_connections, 1, 256),
      integer_setting("webhook_max_endpoints_per_member", &Config::webhook_max_endpoints_per_member, 1, 1000),
      integer_setting("webhook_max_endpoints_per_community", &Config::webhook_max_endpoints_per_community, 1, 1000),
      {"smtp_ca_file", false,
       [](Config& c, const std::string& v) {
         if (!v.empty() && v.front() != '/') throw std::invalid_argument("must be an absolute path to a PEM file of CA certificates");
         c.smtp_ca_file = v;
       },
       [](const Config& c) { return c.smtp_ca_file.empty() ? std::string("(the system's CAs)") : c.smtp_ca_file; }},
      {"smtp_user", false, [](Config& c, const std::string& v) { c.smtp_user = v; },
       [](const Config& c) { return c.smtp_user; }},
      {"smtp_password", false, [](Config& c, const std::string& v) { c.smtp_password = v; },
       [](const Config& c) { return std::string(c.smtp_password.empty() ? "" : "(set)"); }},
      {"mail_from", false,
       [](Config& c, const std::string& v) {
         const auto at = v.find('@');
         if (v.size() > 254 || at == std::string::npos || at == 0 || at + 1 == v.size() ||
             v.find_first_of(" <>\"\r\n\t,;:") != std::string::npos)
           throw std::invalid_argument("must be a plain address such as convene@example.org");
         c.mail_from = v;
       },
       [](const Config& c) { return c.mail_from; }},
      {"list_unsubscribe_mailto", false,
       [](Config& c, const std::string& v) {
         const auto at = v.find('@');
         if (!v.empty() && (v.size() > 254 || at == std::string::npos || at == 0 || at + 1 == v.size() ||
                            v.find_first_of(" <>\"\r\n\t,;:?&%") != std::string::npos))
           throw std::invalid_argument("must be empty or a plain address such as unsubscribe@example.org");
         c.list_unsubscribe_mailto = v;
       },
       [](const Config& c) { return c.list_unsubscribe_mailto.empty() ? std::string("(none)") : c.list_unsubscribe_mailto; }},
      {"webhook_allowlist", false,
       [](Config& c, const std::string& v) {
         notifiers::parse_cidr_list(v);  // throws on a bad entry
         c.webhook_allowlist = v;
       },
       [](const Config& c) { return c.webhook_allowlist; }},
      integer_setting("delivery_concurrency", &Config::delivery_concurrency, 1, 5000),
      duration_setting("delivery_lease", &Config::delivery_lease, std::chrono::seconds(1), std::chrono::hours(1),
                       "1s and 1h"),
      integer_setting("delivery_receiver_in_flight", &Config::delivery_receiver_in_flight, 1, 5000),
      {"templates_dir", false,
       [](Config& c, const std::string& v) {
         if (v.empty()) throw std::invalid_argument("must not be empty");
         c.templates_dir = v;
       },
       [](const Config& c) { return c.templates_dir.string(); }},
      integer_setting("role_ending_notice_days", &Config::role_ending_notice_days, 1, 365),
      integer_setting("digest_batch", &Config::digest_batch, 1, 5000),
      integer_setting("digest_chains", &Config::digest_chains, 1, 16),
  };
  return all;
}

std::string env_name(const std::string& key) {
  std::string name = "CONVENE_";
  for (char c : key) name += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return name;
}

// TOML values are accepted as strings, numbers or booleans; each setting parses the text.
std::optional<std::string> scalar_text(const toml::node& node) {
  if (const auto* s = node.as_string()) return s->get();
  if (const auto* i = node.as_integer()) return std::to_string(i->get());
  if (const auto* f = node.as_floating_point()) return format_number(f->get());
  if (const auto* b = node.as_boolean()) return std::string(b->get() ? "true" : "false");
  return std::nullopt;
}

}  // namespace

std::filesystem::path feeds_directory_of(const Config& config) {
  return config.feeds_directory.empty() ? config.state_directory / "feeds" : config.feeds_directory;
}

std::string ListenAddress::to_string() const {
  const bool v6 = host.find(':') != std::string::npos;
  return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

ConfigError::ConfigError(std::vector<std::string> problems)
    : std::runtime_error(join_lines(problems)), problems_(std::move(problems)) {}

Environment process_environment() {
  Environment env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    std::string_view entry(*e);
    if (entry.rfind("CONVENE_", 0) != 0) continue;
    const auto eq = entry.find('=');
    if (eq == std::string_view::npos) continue;
    env.emplace(std::string(entry.substr(0, eq)), std::string(entry.substr(eq + 1)));
  }
  return env;
}

std::chrono::milliseconds parse_duration(std::string_view text) {
  std::size_t digits = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
  const std::string_view unit = text.substr(digits);
  if (digits == 0 || digits > 9) throw std::invalid_argument("must be a duration such as 250ms, 5s, 2m or 1h");
  const long long n = parse_integer(text.substr(0, digits), 0, 999999999);
  if (unit == "ms") return std::chrono::milliseconds(n);
  if (unit == "s") return std::chrono::seconds(n);
  if (unit == "m") return std::chrono::minutes(n);
  if (unit == "h") return std::chrono::hours(n);
  throw std::invalid_argument("must be a duration such as 250ms, 5s, 2m or 1h");
}

Config load_config(const std::optional<std::filesystem::path>& file, const Environment& env) {
  Config config;
  config.schema_dir = CONVENE_SCHEMA_DIR;
  config.templates_dir = CONVENE_TEMPLATES_DIR;
  std::vector<std::string> problems;
  const std::filesystem::path path = file.value_or(kDefaultConfigPath);

  std::error_code ec;
  const bool exists = std::filesystem::exists(path, ec);
  if (exists) {
    try {
      const toml::table table = toml::parse_file(path.string());
      std::set<std::string> known;
      for (const auto& s : settings()) known.insert(s.key);
      for (const auto& [key, node] : table) {
        const std::string k(key.str());
        if (known.count(k) == 0) {
          problems.push_back(path.string() + ": unknown setting '" + k + "'");
        }
      }
      for (const auto& s : settings()) {
        const toml::node* node = table.get(s.key);
        if (node == nullptr) continue;
        const auto text = scalar_text(*node);
        try {
          if (!text) throw std::invalid_argument("must be a string or a number");
          s.apply(config, *text);
        } catch (const std::invalid_argument& e) {
          problems.push_back(path.string() + ": " + s.key + " " + e.what());
        }
      }
    } catch (const toml::parse_error& e) {
      problems.push_back(path.string() + ":" + std::to_string(e.source().begin.line) + ":" +
                         std::to_string(e.source().begin.column) + ": " + std::string(e.description()));
    }
  } else if (file) {
    problems.push_back("configuration file " + path.string() + " does not exist");
  }

  for (const auto& s : settings()) {
    const auto it = env.find(env_name(s.key));
    if (it == env.end()) continue;
    try {
      s.apply(config, it->second);
    } catch (const std::invalid_argument& e) {
      problems.push_back(it->first + " " + e.what());
    }
  }
  for (auto& p : rate_limit_problems(config)) problems.push_back(std::move(p));
  if (!problems.empty()) throw ConfigError(std::move(problems));
  return config;
}

std::vector<std::string> describe(const Config& config) {
  std::vector<std::string> lines;
  for (const auto& s : settings()) lines.push_back(s.key + " = " + s.show(config));
  return lines;
}

std::vector<std::string> restart_required(const Config& running, const Config& reloaded) {
  std::vector<std::string> keys;
  for (const auto& s : settings())
    if (!s.reloadable && s.show(running) != s.show(reloaded)) keys.push_back(s.key);
  // A password change hides behind the redaction; compare the real value too.
  if (running.database_url != reloaded.database_url &&
      std::find(keys.begin(), keys.end(), "database_url") == keys.end())
    keys.push_back("database_url");
  return keys;
}

}  // namespace convene::daemon
