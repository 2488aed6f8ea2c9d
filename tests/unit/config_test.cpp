#include "daemon/api/common.hpp"
#include "daemon/config.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <unistd.h>

using namespace convene::daemon;
using namespace std::chrono_literals;

namespace {

class ConfigFile {
 public:
  explicit ConfigFile(const std::string& text) {
    char name[] = "/tmp/convened-config-XXXXXX";
    const int fd = ::mkstemp(name);
    ::close(fd);
    path_ = name;
    std::ofstream(path_) << text;
  }
  ~ConfigFile() { std::filesystem::remove(path_); }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

std::vector<std::string> problems_of(const std::optional<std::filesystem::path>& file, const Environment& env) {
  try {
    load_config(file, env);
  } catch (const ConfigError& e) {
    return e.problems();
  }
  return {};
}

bool mentions(const std::vector<std::string>& problems, const std::string& text) {
  for (const auto& p : problems)
    if (p.find(text) != std::string::npos) return true;
  return false;
}

}  // namespace

TEST(Config, DefaultsWhenTheDefaultFileIsAbsent) {
  // The default path (/etc/convene/convened.toml) is optional; nothing is there on test machines.
  if (std::filesystem::exists(kDefaultConfigPath)) GTEST_SKIP() << "a real configuration is installed";
  const Config c = load_config(std::nullopt, {});
  EXPECT_EQ(c.http_listen.host, "127.0.0.1");
  EXPECT_EQ(c.http_listen.port, 8080);
  EXPECT_EQ(c.database_pool_size, 8u);
  EXPECT_EQ(c.shutdown_timeout, 20s);
  EXPECT_EQ(c.organisation_time_zone, "UTC");
  EXPECT_FALSE(c.schema_dir.empty());
}

TEST(Config, ReadsEveryKeyFromTheFile) {
  ConfigFile file(R"(
database_url = "postgresql://convene@db.internal/convene"
database_pool_size = 16
database_connect_timeout = "3s"
http_listen = "[::1]:9090"
http_threads = 4
http_max_body = 65536
state_directory = "/srv/convene"
schema_dir = "/usr/share/convene/schema"
public_url = "https://convene.example.org/"
organisation_time_zone = "America/Chicago"
log_level = "debug"
log_format = "json"
shutdown_timeout = "45s"
)");
  const Config c = load_config(file.path(), {});
  EXPECT_EQ(c.database_url, "postgresql://convene@db.internal/convene");
  EXPECT_EQ(c.database_pool_size, 16u);
  EXPECT_EQ(c.database_connect_timeout, 3s);
  EXPECT_EQ(c.http_listen.host, "::1");
  EXPECT_EQ(c.http_listen.port, 9090);
  EXPECT_EQ(c.http_listen.to_string(), "[::1]:9090");
  EXPECT_EQ(c.http_threads, 4);
  EXPECT_EQ(c.http_max_body, 65536u);
  EXPECT_EQ(c.state_directory, "/srv/convene");
  EXPECT_EQ(c.schema_dir, "/usr/share/convene/schema");
  EXPECT_EQ(c.public_url, "https://convene.example.org");  // trailing slash dropped
  EXPECT_EQ(c.organisation_time_zone, "America/Chicago");
  EXPECT_EQ(c.log_level, convene::log::Level::debug);
  EXPECT_EQ(c.log_format, convene::log::Format::json);
  EXPECT_EQ(c.shutdown_timeout, 45s);
}

TEST(Config, EnvironmentOverridesTheFile) {
  ConfigFile file("database_pool_size = 16\nhttp_listen = \"127.0.0.1:9000\"\n");
  const Config c = load_config(file.path(), {{"CONVENE_DATABASE_POOL_SIZE", "4"},
                                             {"CONVENE_HTTP_LISTEN", "0.0.0.0:8081"},
                                             {"CONVENE_UNRELATED", "ignored"}});
  EXPECT_EQ(c.database_pool_size, 4u);
  EXPECT_EQ(c.http_listen.host, "0.0.0.0");
  EXPECT_EQ(c.http_listen.port, 8081);
}

TEST(Config, ReportsEveryBadValueWithWhereItCameFrom) {
  ConfigFile file("database_pool_size = 0\nlog_level = \"loud\"\nhttp_listen = \"8080\"\n");
  const auto problems = problems_of(file.path(), {{"CONVENE_SHUTDOWN_TIMEOUT", "soon"},
                                                  {"CONVENE_ORGANISATION_TIME_ZONE", "Mars/Olympus"}});
  ASSERT_EQ(problems.size(), 5u);
  EXPECT_TRUE(mentions(problems, "database_pool_size must be a whole number from 1 to 256"));
  EXPECT_TRUE(mentions(problems, "log_level must be one of"));
  EXPECT_TRUE(mentions(problems, "http_listen must be host:port"));
  EXPECT_TRUE(mentions(problems, "CONVENE_SHUTDOWN_TIMEOUT must be a duration"));
  EXPECT_TRUE(mentions(problems, "CONVENE_ORGANISATION_TIME_ZONE must be an IANA time zone"));
  EXPECT_TRUE(mentions(problems, file.path().string()));
}

TEST(Config, RejectsUnknownKeysSoTyposAreNoticed) {
  ConfigFile file("databse_url = \"postgresql:///x\"\n");
  EXPECT_TRUE(mentions(problems_of(file.path(), {}), "unknown setting 'databse_url'"));
}

TEST(Config, RejectsTomlSyntaxErrorsWithTheirPosition) {
  ConfigFile file("log_level = \"info\"\nhttp_threads = = 3\n");
  const auto problems = problems_of(file.path(), {});
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_TRUE(mentions(problems, file.path().string() + ":2:"));
}

TEST(Config, AnExplicitFileMustExist) {
  EXPECT_TRUE(mentions(problems_of(std::filesystem::path("/nonexistent/convened.toml"), {}), "does not exist"));
}

TEST(Config, ValidatesShapes) {
  EXPECT_FALSE(problems_of(std::nullopt, {{"CONVENE_PUBLIC_URL", "ftp://x"}}).empty());
  EXPECT_FALSE(problems_of(std::nullopt, {{"CONVENE_PUBLIC_URL", "not a url"}}).empty());
  EXPECT_FALSE(problems_of(std::nullopt, {{"CONVENE_STATE_DIRECTORY", "relative/dir"}}).empty());
  EXPECT_FALSE(problems_of(std::nullopt, {{"CONVENE_HTTP_LISTEN", "127.0.0.1:70000"}}).empty());
  EXPECT_FALSE(problems_of(std::nullopt, {{"CONVENE_HTTP_LISTEN", "[::1:80"}}).empty());
  EXPECT_FALSE(problems_of(std::nullopt, {{"CONVENE_DATABASE_URL", ""}}).empty());
  EXPECT_FALSE(problems_of(std::nullopt, {{"CONVENE_DATABASE_CONNECT_TIMEOUT", "10ms"}}).empty());
  EXPECT_FALSE(problems_of(std::nullopt, {{"CONVENE_HTTP_MAX_BODY", "12"}}).empty());
  EXPECT_TRUE(problems_of(std::nullopt, {{"CONVENE_HTTP_LISTEN", "127.0.0.1:0"}}).empty());
}

TEST(Config, SmtpCaFileMustBeAnAbsolutePath) {
  // A relative path would depend on the daemon's working directory (/ under systemd).
  EXPECT_TRUE(mentions(problems_of(std::nullopt, {{"CONVENE_SMTP_CA_FILE", "certs/relay-ca.pem"}}),
                       "CONVENE_SMTP_CA_FILE must be an absolute path"));
  ConfigFile file("smtp_ca_file = \"relay-ca.pem\"\n");
  EXPECT_TRUE(mentions(problems_of(file.path(), {}), "smtp_ca_file must be an absolute path"));
  ConfigFile absolute("smtp_url = \"smtps://relay.example.org:465\"\nsmtp_ca_file = \"/etc/convene/relay-ca.pem\"\n");
  EXPECT_EQ(load_config(absolute.path(), {}).smtp_ca_file, "/etc/convene/relay-ca.pem");
}

TEST(Config, TheListUnsubscribeMailtoIsEmptyUnlessConfigured) {
  EXPECT_EQ(load_config(std::nullopt, {}).list_unsubscribe_mailto, "");
  ConfigFile file("list_unsubscribe_mailto = \"unsubscribe@example.org\"\n");
  EXPECT_EQ(load_config(file.path(), {}).list_unsubscribe_mailto, "unsubscribe@example.org");
  EXPECT_TRUE(mentions(problems_of(std::nullopt, {{"CONVENE_LIST_UNSUBSCRIBE_MAILTO", "unsubscribe"}}),
                       "CONVENE_LIST_UNSUBSCRIBE_MAILTO"));
  EXPECT_TRUE(mentions(problems_of(std::nullopt, {{"CONVENE_LIST_UNSUBSCRIBE_MAILTO", "u@example.org?subject=x"}}),
                       "CONVENE_LIST_UNSUBSCRIBE_MAILTO"));
}

TEST(Config, WebhookConnectionsPerReceiverAreBounded) {
  EXPECT_EQ(load_config(std::nullopt, {}).webhook_max_host_connections, 32);
  EXPECT_EQ(load_config(std::nullopt, {{"CONVENE_WEBHOOK_MAX_HOST_CONNECTIONS", "4"}}).webhook_max_host_connections, 4);
  EXPECT_TRUE(mentions(problems_of(std::nullopt, {{"CONVENE_WEBHOOK_MAX_HOST_CONNECTIONS", "0"}}),
                       "CONVENE_WEBHOOK_MAX_HOST_CONNECTIONS"));
  ConfigFile file("webhook_max_host_connections = 1000\n");
  EXPECT_TRUE(mentions(problems_of(file.path(), {}), "webhook_max_host_connections"));
}

TEST(Config, WebhookEndpointCapsAreConfigurableWithinBounds) {
  const Config defaults = load_config(std::nullopt, {});
  EXPECT_EQ(defaults.webhook_max_endpoints_per_member, 10);
  EXPECT_EQ(defaults.webhook_max_endpoints_per_community, 10);
  ConfigFile file("webhook_max_endpoints_per_member = 3\nwebhook_max_endpoints_per_community = 1000\n");
  const Config c = load_config(file.path(), {});
  EXPECT_EQ(c.webhook_max_endpoints_per_member, 3);
  EXPECT_EQ(c.webhook_max_endpoints_per_community, 1000);
  EXPECT_EQ(load_config(std::nullopt, {{"CONVENE_WEBHOOK_MAX_ENDPOINTS_PER_MEMBER", "1"}}).webhook_max_endpoints_per_member, 1);
  EXPECT_EQ(problems_of(std::nullopt, {{"CONVENE_WEBHOOK_MAX_ENDPOINTS_PER_MEMBER", "0"}}),
            (std::vector<std::string>{"CONVENE_WEBHOOK_MAX_ENDPOINTS_PER_MEMBER must be a whole number from 1 to 1000"}));
  ConfigFile bad("webhook_max_endpoints_per_community = 1001\n");
  EXPECT_TRUE(mentions(problems_of(bad.path(), {}), "webhook_max_endpoints_per_community must be a whole number from 1 to 1000"));
}

TEST(Config, DeliveryLeaseAndPerReceiverInFlightAreConfigurableWithinBounds) {
  const Config defaults = load_config(std::nullopt, {});
  EXPECT_EQ(defaults.delivery_lease, 2min);
  EXPECT_EQ(defaults.delivery_receiver_in_flight, 100);
  ConfigFile file("delivery_lease = \"30s\"\ndelivery_receiver_in_flight = 5000\n");
  const Config c = load_config(file.path(), {});
  EXPECT_EQ(c.delivery_lease, 30s);
  EXPECT_EQ(c.delivery_receiver_in_flight, 5000);
  EXPECT_EQ(load_config(std::nullopt, {{"CONVENE_DELIVERY_LEASE", "1h"}}).delivery_lease, 1h);
  EXPECT_EQ(problems_of(std::nullopt, {{"CONVENE_DELIVERY_LEASE", "500ms"}}),
            (std::vector<std::string>{"CONVENE_DELIVERY_LEASE must be between 1s and 1h"}));
  EXPECT_TRUE(mentions(problems_of(std::nullopt, {{"CONVENE_DELIVERY_LEASE", "61m"}}), "CONVENE_DELIVERY_LEASE must be between 1s and 1h"));
  EXPECT_TRUE(mentions(problems_of(std::nullopt, {{"CONVENE_DELIVERY_LEASE", "soon"}}), "CONVENE_DELIVERY_LEASE must be a duration"));
  EXPECT_EQ(problems_of(std::nullopt, {{"CONVENE_DELIVERY_RECEIVER_IN_FLIGHT", "0"}}),
            (std::vector<std::string>{"CONVENE_DELIVERY_RECEIVER_IN_FLIGHT must be a whole number from 1 to 5000"}));
  ConfigFile bad("delivery_receiver_in_flight = 5001\n");
  EXPECT_TRUE(mentions(problems_of(bad.path(), {}), "delivery_receiver_in_flight must be a whole number from 1 to 5000"));
  std::string all;
  for (const auto& line : describe(defaults)) all += line + "\n";
  for (const char* line : {"webhook_max_endpoints_per_member = 10\n", "webhook_max_endpoints_per_community = 10\n",
                           "delivery_lease = 120000ms\n", "delivery_receiver_in_flight = 100\n"})
    EXPECT_NE(all.find(line), std::string::npos) << line << "missing from\n" << all;
}

TEST(Config, DigestBatchesAreConfigurableWithinBounds) {
  ConfigFile file("digest_batch = 500\ndigest_chains = 4\n");
  const auto config = load_config(file.path(), {});
  EXPECT_EQ(config.digest_batch, 500);
  EXPECT_EQ(config.digest_chains, 4);
  const auto settings = convene::api::kind_settings(config);
  EXPECT_EQ(settings.digest_batch, 500);
  EXPECT_EQ(settings.digest_chains, 4);
  EXPECT_TRUE(mentions(problems_of(std::nullopt, {{"CONVENE_DIGEST_BATCH", "0"}}), "CONVENE_DIGEST_BATCH"));
  EXPECT_TRUE(mentions(problems_of(std::nullopt, {{"CONVENE_DIGEST_CHAINS", "17"}}), "CONVENE_DIGEST_CHAINS"));
}

TEST(Durations, ParseOperatorUnits) {
  EXPECT_EQ(parse_duration("250ms"), 250ms);
  EXPECT_EQ(parse_duration("5s"), 5s);
  EXPECT_EQ(parse_duration("2m"), 2min);
  EXPECT_EQ(parse_duration("1h"), 1h);
  for (const char* bad : {"", "5", "s", "-5s", "5 s", "5d", "1.5s", "9999999999s"})
    EXPECT_THROW(parse_duration(bad), std::invalid_argument) << bad;
}

TEST(Config, DescribeRedactsTheDatabasePassword) {
  const Config c = load_config(std::nullopt, {{"CONVENE_DATABASE_URL", "postgresql://convene:hunter2@db/convene"}});
  std::string all;
  for (const auto& line : describe(c)) all += line + "\n";
  EXPECT_EQ(all.find("hunter2"), std::string::npos);
  EXPECT_NE(all.find("database_url = postgresql://convene:***@db/convene"), std::string::npos);
  EXPECT_NE(all.find("log_level = info"), std::string::npos);
}

TEST(Config, OnlyLoggingIsReloadable) {
  const Config running = load_config(std::nullopt, {});
  Config reloaded = load_config(std::nullopt, {{"CONVENE_LOG_LEVEL", "debug"}, {"CONVENE_LOG_FORMAT", "json"}});
  EXPECT_TRUE(restart_required(running, reloaded).empty());
  reloaded = load_config(std::nullopt, {{"CONVENE_HTTP_THREADS", "2"}, {"CONVENE_DATABASE_URL", "postgresql://u:other@h/d"}});
  const auto keys = restart_required(running, reloaded);
  EXPECT_EQ(keys, (std::vector<std::string>{"database_url", "http_threads"}));
  // A changed password alone, hidden by the redaction, still counts.
  const Config a = load_config(std::nullopt, {{"CONVENE_DATABASE_URL", "postgresql://u:one@h/d"}});
  const Config b = load_config(std::nullopt, {{"CONVENE_DATABASE_URL", "postgresql://u:two@h/d"}});
  EXPECT_EQ(restart_required(a, b), (std::vector<std::string>{"database_url"}));
}

TEST(Config, TheAnnualWindowRuleIsConfigurable) {
  const Config c = load_config(std::nullopt, {{"CONVENE_ANNUAL_WINDOW_START", "09-01"}, {"CONVENE_ANNUAL_WINDOW_DAYS", "5"}});
  EXPECT_EQ(c.annual_window_month, 9u);
  EXPECT_EQ(c.annual_window_first_day, 1u);
  EXPECT_EQ(c.annual_window_days, 5u);
  const Config d = load_config(std::nullopt, {});
  EXPECT_EQ(d.annual_window_month, 7u);
  EXPECT_EQ(d.annual_window_first_day, 8u);
  EXPECT_EQ(d.annual_window_days, 7u);
  for (const char* bad : {"02-29", "13-01", "7-8", "07/08", "04-31"})
    EXPECT_FALSE(problems_of(std::nullopt, {{"CONVENE_ANNUAL_WINDOW_START", bad}}).empty()) << bad;
  EXPECT_FALSE(problems_of(std::nullopt, {{"CONVENE_ANNUAL_WINDOW_DAYS", "0"}}).empty());
}

TEST(Config, HttpLimitsDefaults) {
  const Config c = load_config(std::nullopt, {});
  EXPECT_EQ(c.http_threads, 16);
  EXPECT_EQ(c.http_max_queued, 256);
  EXPECT_EQ(c.http_max_connections, 20000);
  EXPECT_EQ(c.http_header_timeout, 10s);
  EXPECT_EQ(c.http_body_timeout, 60s);
  EXPECT_EQ(c.http_idle_timeout, 60s);
  EXPECT_EQ(c.http_write_timeout, 30s);
  EXPECT_EQ(c.trusted_proxies, "127.0.0.0/8, ::1/128");
  EXPECT_EQ(c.rate_limit_api.per_second, 100);
  EXPECT_EQ(c.rate_limit_api.burst, 400);
  EXPECT_EQ(c.rate_limit_token.per_second, 50);
  EXPECT_EQ(c.rate_limit_token.burst, 200);
  EXPECT_EQ(c.rate_limit_auth_failures.per_second, 0.5);
  EXPECT_EQ(c.rate_limit_auth_failures.burst, 30);
  EXPECT_EQ(c.rate_limit_links.per_second, 10);
  EXPECT_EQ(c.rate_limit_links.burst, 100);
  EXPECT_EQ(c.rate_limit_feeds.per_second, 200);
  EXPECT_EQ(c.rate_limit_feeds.burst, 2000);
}

TEST(Config, HttpLimitsFromTheFileAndTheEnvironment) {
  ConfigFile file(R"(
http_max_queued = 64
http_max_connections = 500
http_header_timeout = "5s"
http_body_timeout = "2m"
http_idle_timeout = "15s"
http_write_timeout = "45s"
trusted_proxies = "10.0.0.0/8 fd00::/8"
rate_limit_api_per_second = 2.5
rate_limit_api_burst = 10
rate_limit_token_per_second = "0.25"
rate_limit_token_burst = 3
rate_limit_feeds_per_second = 0
rate_limit_feeds_burst = 0
)");
  const Config c = load_config(file.path(), {{"CONVENE_RATE_LIMIT_API_BURST", "20"},
                                             {"CONVENE_RATE_LIMIT_LINKS_PER_SECOND", "0.1"},
                                             {"CONVENE_HTTP_IDLE_TIMEOUT", "5s"},
                                             {"CONVENE_TRUSTED_PROXIES", ""}});
  EXPECT_EQ(c.http_max_queued, 64);
  EXPECT_EQ(c.http_max_connections, 500);
  EXPECT_EQ(c.http_header_timeout, 5s);
  EXPECT_EQ(c.http_body_timeout, 2min);
  EXPECT_EQ(c.http_idle_timeout, 5s);  // the environment wins
  EXPECT_EQ(c.http_write_timeout, 45s);
  EXPECT_EQ(c.trusted_proxies, "");    // trust no proxy
  EXPECT_EQ(c.rate_limit_api.per_second, 2.5);
  EXPECT_EQ(c.rate_limit_api.burst, 20);
  EXPECT_EQ(c.rate_limit_token.per_second, 0.25);
  EXPECT_EQ(c.rate_limit_token.burst, 3);
  EXPECT_EQ(c.rate_limit_links.per_second, 0.1);
  EXPECT_EQ(c.rate_limit_links.burst, 100);
  EXPECT_EQ(c.rate_limit_feeds.per_second, 0);  // off, so a burst of 0 is fine
  EXPECT_EQ(load_config(file.path(), {}).trusted_proxies, "10.0.0.0/8 fd00::/8");
}

TEST(Config, HttpLimitsRejectBadValuesSayingWhy) {
  EXPECT_TRUE(mentions(problems_of(std::nullopt, {{"CONVENE_RATE_LIMIT_API_PER_SECOND", "-1"}}),
                       "CONVENE_RATE_LIMIT_API_PER_SECOND must be a number from 0 to 1000000"));
  for (const char* bad : {"fast", "1e3", "", "nan", "inf", "+3", "2000000"})
    EXPECT_FALSE(problems_of(std::nullopt, {{"CONVENE_RATE_LIMIT_TOKEN_BURST", bad}}).empty()) << bad;
  // A limit that is on needs a whole token to ever let a request through.
  EXPECT_EQ(problems_of(std::nullopt, {{"CONVENE_RATE_LIMIT_AUTH_FAILURES_BURST", "0.5"}}),
            (std::vector<std::string>{"rate_limit_auth_failures_burst must be at least 1 while "
                                      "rate_limit_auth_failures_per_second is above 0 (a per_second of 0 turns the limit off)"}));
  EXPECT_TRUE(problems_of(std::nullopt, {{"CONVENE_RATE_LIMIT_AUTH_FAILURES_BURST", "0"},
                                         {"CONVENE_RATE_LIMIT_AUTH_FAILURES_PER_SECOND", "0"}})
                  .empty());
  EXPECT_TRUE(mentions(problems_of(std::nullopt, {{"CONVENE_TRUSTED_PROXIES", "10.0.0.1/8"}}),
                       "CONVENE_TRUSTED_PROXIES must be addresses or CIDR blocks"));
  EXPECT_TRUE(mentions(problems_of(std::nullopt, {{"CONVENE_TRUSTED_PROXIES", "127.0.0.1, proxy.internal"}}),
                       "proxy.internal"));
  ConfigFile file("http_max_queued = 0\nhttp_max_connections = 2000000\nhttp_header_timeout = \"0s\"\n"
                  "http_write_timeout = \"2h\"\nrate_limit_feeds_burst = true\n");
  const auto problems = problems_of(file.path(), {});
  EXPECT_EQ(problems.size(), 5u);
  EXPECT_TRUE(mentions(problems, "http_max_queued must be a whole number from 1 to 100000"));
  EXPECT_TRUE(mentions(problems, "http_max_connections must be a whole number from 1 to 1000000"));
  EXPECT_TRUE(mentions(problems, "http_header_timeout must be between 1s and 10m"));
  EXPECT_TRUE(mentions(problems, "http_write_timeout must be between 1s and 1h"));
  EXPECT_TRUE(mentions(problems, "rate_limit_feeds_burst must be a number"));
}

TEST(Config, CheckConfigShowsTheHttpLimitsWhichNeedARestart) {
  const Config c = load_config(std::nullopt, {});
  std::string all;
  for (const auto& line : describe(c)) all += line + "\n";
  for (const char* line : {"http_threads = 16\n", "http_max_queued = 256\n", "http_max_connections = 20000\n",
                           "http_header_timeout = 10000ms\n", "http_body_timeout = 60000ms\n",
                           "http_idle_timeout = 60000ms\n", "http_write_timeout = 30000ms\n",
                           "trusted_proxies = 127.0.0.0/8, ::1/128\n", "rate_limit_api_per_second = 100\n",
                           "rate_limit_api_burst = 400\n", "rate_limit_token_per_second = 50\n",
                           "rate_limit_token_burst = 200\n", "rate_limit_auth_failures_per_second = 0.5\n",
                           "rate_limit_auth_failures_burst = 30\n", "rate_limit_links_per_second = 10\n",
                           "rate_limit_links_burst = 100\n", "rate_limit_feeds_per_second = 200\n",
                           "rate_limit_feeds_burst = 2000\n"})
    EXPECT_NE(all.find(line), std::string::npos) << line << "missing from\n" << all;
  const Config reloaded = load_config(std::nullopt, {{"CONVENE_RATE_LIMIT_FEEDS_PER_SECOND", "20"},
                                                     {"CONVENE_HTTP_IDLE_TIMEOUT", "10s"},
                                                     {"CONVENE_TRUSTED_PROXIES", ""}});
  EXPECT_EQ(restart_required(c, reloaded),
            (std::vector<std::string>{"http_idle_timeout", "trusted_proxies", "rate_limit_feeds_per_second"}));
}
