// ICS feeds over real HTTP (DESIGN §5, docs/api.md "Calendar feeds"): the community, member and
// room feeds read back by libical and by python3-icalendar; the TBD annual placeholder and its
// confirmation; ETag / Last-Modified / conditional requests / HEAD / Cache-Control; who may read
// which feed; join URLs only in token feeds; VALARMs at the member's reminder offsets; feed-token
// rotation; cancelled one-offs leaving after 30 days; text that tries to inject a VEVENT.
//
// The fixture's in-process server answers the API. The feeds are fetched from a second
// in-process HttpServer running the production FeedService on the fixture's clock, config and
// feed cache, over raw sockets: the fixture's client hides response headers, and cpp-httplib's
// client always adds an Accept header. There is no LISTEN here: after a change a test
// invalidates the cache with the key the NOTIFY trigger would send (tests/e2e/feeds_e2e_test.cpp
// covers the NOTIFY path itself).
#include "support/api_fixture.hpp"

#include <zlib.h>

#include "calendar/libical_lock.hpp"
#include "daemon/feeds/feed_routes.hpp"
#include "daemon/http_server.hpp"
#include "daemon/metrics.hpp"
#include "daemon/readiness.hpp"
#include "store/database.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <libical/ical.h>
#include <pqxx/pqxx>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

using convene::testing::ApiResponse;
using convene::testing::ApiTest;
namespace json = boost::json;
namespace feeds = convene::feeds;
using namespace std::chrono;

namespace {

std::string body(const json::object& o) { return json::serialize(o); }
std::string str(const json::value& v) { return std::string(v.as_string()); }
std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}
bool contains(const std::string& haystack, const std::string& needle) { return haystack.find(needle) != std::string::npos; }
bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

convene::calendar::Instant at(int y, unsigned mo, unsigned d, int h = 0, int mi = 0, int s = 0) {
  return convene::calendar::Instant{sys_days{year{y} / month{mo} / day{d}}.time_since_epoch() + hours{h} + minutes{mi} +
                                    seconds{s}};
}

// ---- a raw HTTP/1.1 client: exactly the headers given, the bytes as sent ----------------------

struct Http {
  int status = 0;  // 0: no (parsable) response
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased
  std::string body;                                          // everything after the header block
  std::string header(const std::string& name) const {
    for (const auto& [n, v] : headers)
      if (n == lower(name)) return v;
    return "";
  }
  int count(const std::string& name) const {
    return static_cast<int>(std::count_if(headers.begin(), headers.end(), [&](const auto& h) { return h.first == lower(name); }));
  }
  std::string describe() const { return std::to_string(status) + " " + body.substr(0, 2000); }
};

Http raw_request(int port, const std::string& method, const std::string& target,
                 const std::vector<std::pair<std::string, std::string>>& extra = {}) {
  Http out;
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return out;
  timeval tv{30, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return out;
  }
  std::string request = method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port) +
                        "\r\nConnection: close\r\n";
  for (const auto& [n, v] : extra) request += n + ": " + v + "\r\n";
  request += "\r\n";
  for (std::size_t sent = 0; sent < request.size();) {
    const auto n = ::send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) {
      ::close(fd);
      return out;
    }
    sent += static_cast<std::size_t>(n);
  }
  std::string response;
  char buffer[65536];
  for (;;) {
    const auto n = ::recv(fd, buffer, sizeof buffer, 0);
    if (n <= 0) break;
    response.append(buffer, static_cast<std::size_t>(n));
  }
  ::close(fd);
  const auto end = response.find("\r\n\r\n");
  if (end == std::string::npos || response.rfind("HTTP/1.1 ", 0) != 0) return out;
  out.status = std::atoi(response.c_str() + 9);
  std::size_t pos = response.find("\r\n") + 2;
  while (pos < end) {
    const auto eol = response.find("\r\n", pos);
    const std::string line = response.substr(pos, eol - pos);
    const auto colon = line.find(':');
    if (colon != std::string::npos) {
      std::string value = line.substr(colon + 1);
      while (!value.empty() && value.front() == ' ') value.erase(0, 1);
      out.headers.emplace_back(lower(line.substr(0, colon)), value);
    }
    pos = eol + 2;
  }
  out.body = response.substr(end + 4);
  return out;
}

// ---- the text of a feed ------------------------------------------------------------------------

// Content lines: physical lines joined again (RFC 5545 §3.1), CRLFs removed.
std::vector<std::string> content_lines(const std::string& ics) {
  std::string unfolded;
  for (std::size_t i = 0; i < ics.size(); ++i) {
    if (ics.compare(i, 3, "\r\n ") == 0 || ics.compare(i, 3, "\r\n\t") == 0) {
      i += 2;
      continue;
    }
    unfolded += ics[i];
  }
  std::vector<std::string> lines;
  for (std::size_t pos = 0; pos < unfolded.size();) {
    auto eol = unfolded.find("\r\n", pos);
    if (eol == std::string::npos) eol = unfolded.size();
    lines.push_back(unfolded.substr(pos, eol - pos));
    pos = eol + 2;
  }
  return lines;
}

// The content lines of each VEVENT (nested VALARMs included).
std::vector<std::vector<std::string>> vevent_blocks(const std::string& ics) {
  std::vector<std::vector<std::string>> blocks;
  bool inside = false;
  for (const auto& l : content_lines(ics)) {
    if (l == "BEGIN:VEVENT") {
      inside = true;
      blocks.emplace_back();
    }
    if (inside) blocks.back().push_back(l);
    if (l == "END:VEVENT") inside = false;
  }
  return blocks;
}

// The content lines of the VCALENDAR itself, before its first component.
std::vector<std::string> calendar_header(const std::string& ics) {
  std::vector<std::string> out;
  for (const auto& l : content_lines(ics)) {
    if (l.rfind("BEGIN:", 0) == 0 && l != "BEGIN:VCALENDAR") break;
    out.push_back(l);
  }
  return out;
}

bool has_line(const std::vector<std::string>& lines, const std::string& line) {
  return std::find(lines.begin(), lines.end(), line) != lines.end();
}
// The first content line whose name (up to ':' or ';') is `name`; "" if none.
std::string property(const std::vector<std::string>& lines, const std::string& name) {
  for (const auto& l : lines)
    if (l.rfind(name, 0) == 0 && l.size() > name.size() && (l[name.size()] == ':' || l[name.size()] == ';')) return l;
  return "";
}
std::string value_of(const std::string& content_line) {
  // The value follows the first ':' outside a quoted parameter value.
  bool quoted = false;
  for (std::size_t i = 0; i < content_line.size(); ++i) {
    if (content_line[i] == '"') quoted = !quoted;
    if (content_line[i] == ':' && !quoted) return content_line.substr(i + 1);
  }
  return "";
}

// RFC 5545 §3.1: CRLF line ends only, no physical line longer than 75 octets.
void expect_wire_format(const std::string& ics) {
  ASSERT_FALSE(ics.empty());
  EXPECT_TRUE(ends_with(ics, "\r\n")) << "the last line must end with CRLF";
  EXPECT_EQ(ics.rfind("BEGIN:VCALENDAR\r\n", 0), 0u);
  std::size_t pos = 0;
  int number = 0;
  while (pos < ics.size()) {
    ++number;
    auto eol = ics.find("\r\n", pos);
    if (eol == std::string::npos) eol = ics.size();
    const std::string physical = ics.substr(pos, eol - pos);
    EXPECT_EQ(physical.find('\n'), std::string::npos) << "line " << number << " has a bare LF: " << physical;
    EXPECT_EQ(physical.find('\r'), std::string::npos) << "line " << number << " has a bare CR: " << physical;
    EXPECT_LE(physical.size(), 75u) << "line " << number << ": " << physical;
    pos = eol + 2;
  }
}

// ---- libical's reading of a feed ---------------------------------------------------------------

struct IcalProp {
  bool present = false;
  std::string value;  // as libical writes the value back
  std::string tzid;   // TZID parameter
  bool is_date = false;
};

struct IcalEvent {
  std::string uid, status, summary, description, rrule, transp, url, location;
  int sequence = -1;
  bool has_dtstamp = false, has_last_modified = false, has_sequence = false, has_status = false;
  IcalProp dtstart, dtend, recurrence_id;
  std::vector<IcalProp> exdates;
  std::vector<int> alarm_seconds;  // TRIGGER durations, in seconds (negative: before)
};

struct IcalFeed {
  bool parsed = false;
  int errors = -1;  // X-LIC-ERROR properties libical added while parsing
  bool has_method = false;
  std::string name;  // NAME
  std::vector<std::string> tzids;
  std::vector<IcalEvent> events;
  int count(const std::string& uid) const {
    return static_cast<int>(std::count_if(events.begin(), events.end(), [&](const auto& e) { return e.uid == uid; }));
  }
  const IcalEvent* master(const std::string& uid) const {
    for (const auto& e : events)
      if (e.uid == uid && !e.recurrence_id.present) return &e;
    return nullptr;
  }
  const IcalEvent* override_of(const std::string& uid) const {
    for (const auto& e : events)
      if (e.uid == uid && e.recurrence_id.present) return &e;
    return nullptr;
  }
};

std::string copy(const char* s) { return s ? std::string(s) : std::string(); }

IcalProp read_time_property(icalproperty* p) {
  IcalProp out;
  if (!p) return out;
  out.present = true;
  out.value = copy(icalproperty_get_value_as_string(p));
  if (icalparameter* tz = icalproperty_get_first_parameter(p, ICAL_TZID_PARAMETER)) out.tzid = copy(icalparameter_get_tzid(tz));
  if (icalparameter* v = icalproperty_get_first_parameter(p, ICAL_VALUE_PARAMETER))
    out.is_date = icalparameter_get_value(v) == ICAL_VALUE_DATE;
  return out;
}

IcalFeed parse_with_libical(const std::string& ics) {
  IcalFeed out;
  std::lock_guard lock(convene::calendar::libical_mutex());  // the server renders with libical too
  icalcomponent* root = icalparser_parse_string(ics.c_str());
  if (!root) return out;
  std::unique_ptr<icalcomponent, void (*)(icalcomponent*)> guard(root, icalcomponent_free);
  if (icalcomponent_isa(root) != ICAL_VCALENDAR_COMPONENT) return out;
  out.parsed = true;
  out.errors = icalcomponent_count_errors(root);
  out.has_method = icalcomponent_get_first_property(root, ICAL_METHOD_PROPERTY) != nullptr;
  if (icalproperty* n = icalcomponent_get_first_property(root, ICAL_NAME_PROPERTY)) out.name = copy(icalproperty_get_value_as_string(n));
  for (icalcomponent* z = icalcomponent_get_first_component(root, ICAL_VTIMEZONE_COMPONENT); z;
       z = icalcomponent_get_next_component(root, ICAL_VTIMEZONE_COMPONENT))
    if (icalproperty* p = icalcomponent_get_first_property(z, ICAL_TZID_PROPERTY)) out.tzids.push_back(copy(icalproperty_get_tzid(p)));
  for (icalcomponent* ev = icalcomponent_get_first_component(root, ICAL_VEVENT_COMPONENT); ev;
       ev = icalcomponent_get_next_component(root, ICAL_VEVENT_COMPONENT)) {
    IcalEvent e;
    if (icalproperty* p = icalcomponent_get_first_property(ev, ICAL_UID_PROPERTY)) e.uid = copy(icalproperty_get_uid(p));
    if (icalproperty* p = icalcomponent_get_first_property(ev, ICAL_SEQUENCE_PROPERTY)) {
      e.has_sequence = true;
      e.sequence = icalproperty_get_sequence(p);
    }
    if (icalproperty* p = icalcomponent_get_first_property(ev, ICAL_STATUS_PROPERTY)) {
      e.has_status = true;
      e.status = copy(icalproperty_get_value_as_string(p));
    }
    e.has_dtstamp = icalcomponent_get_first_property(ev, ICAL_DTSTAMP_PROPERTY) != nullptr;
    e.has_last_modified = icalcomponent_get_first_property(ev, ICAL_LASTMODIFIED_PROPERTY) != nullptr;
    if (icalproperty* p = icalcomponent_get_first_property(ev, ICAL_SUMMARY_PROPERTY)) e.summary = copy(icalproperty_get_summary(p));
    if (icalproperty* p = icalcomponent_get_first_property(ev, ICAL_DESCRIPTION_PROPERTY))
      e.description = copy(icalproperty_get_description(p));
    if (icalproperty* p = icalcomponent_get_first_property(ev, ICAL_RRULE_PROPERTY)) e.rrule = copy(icalproperty_get_value_as_string(p));
    if (icalproperty* p = icalcomponent_get_first_property(ev, ICAL_TRANSP_PROPERTY)) e.transp = copy(icalproperty_get_value_as_string(p));
    if (icalproperty* p = icalcomponent_get_first_property(ev, ICAL_URL_PROPERTY)) e.url = copy(icalproperty_get_value_as_string(p));
    if (icalproperty* p = icalcomponent_get_first_property(ev, ICAL_LOCATION_PROPERTY)) e.location = copy(icalproperty_get_location(p));
    e.dtstart = read_time_property(icalcomponent_get_first_property(ev, ICAL_DTSTART_PROPERTY));
    e.dtend = read_time_property(icalcomponent_get_first_property(ev, ICAL_DTEND_PROPERTY));
    e.recurrence_id = read_time_property(icalcomponent_get_first_property(ev, ICAL_RECURRENCEID_PROPERTY));
    for (icalproperty* p = icalcomponent_get_first_property(ev, ICAL_EXDATE_PROPERTY); p;
         p = icalcomponent_get_next_property(ev, ICAL_EXDATE_PROPERTY))
      e.exdates.push_back(read_time_property(p));
    for (icalcomponent* a = icalcomponent_get_first_component(ev, ICAL_VALARM_COMPONENT); a;
         a = icalcomponent_get_next_component(ev, ICAL_VALARM_COMPONENT))
      if (icalproperty* t = icalcomponent_get_first_property(a, ICAL_TRIGGER_PROPERTY))
        e.alarm_seconds.push_back(icaldurationtype_as_int(icalproperty_get_trigger(t).duration));
    std::sort(e.alarm_seconds.begin(), e.alarm_seconds.end());
    out.events.push_back(std::move(e));
  }
  return out;
}

// ---- python3-icalendar -------------------------------------------------------------------------

// Runs tests/unit/ics_roundtrip.py with Debian's python3 (the first python3 on PATH may be a
// pyenv one without icalendar). Returns its exit status; 3 when python3-icalendar is missing.
int python_roundtrip(const std::string& ics, int expected_events, std::string* output) {
  const char* python = "/usr/bin/python3";
  if (::access(python, X_OK) != 0) return 3;
  const auto dir = std::filesystem::temp_directory_path() / ("convene-feeds-test-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const auto file = dir / "feed.ics";
  const auto log = dir / "roundtrip.log";
  {
    std::ofstream out(file, std::ios::binary);
    out << ics;
  }
  const std::string command = std::string(python) + " '" CONVENE_SOURCE_DIR "/tests/unit/ics_roundtrip.py' '" +
                              file.string() + "' " + std::to_string(expected_events) + " >'" + log.string() + "' 2>&1";
  const int status = std::system(command.c_str());
  if (output) {
    std::ifstream in(log);
    *output = std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  std::filesystem::remove_all(dir);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

bool python_icalendar_available() {
  return ::access("/usr/bin/python3", X_OK) == 0 &&
         std::system("/usr/bin/python3 -c 'import icalendar' >/dev/null 2>&1") == 0;
}

}  // namespace

// ---- the fixture ---------------------------------------------------------------------------------

class FeedsTest : public ApiTest {
 protected:
  void SetUp() override {
    ApiTest::SetUp();
    if (HasFatalFailure()) return;
    convene::store::PoolOptions pool;
    pool.conninfo = db.url();
    pool.max_size = 4;
    feed_db_ = std::make_unique<convene::store::Database>(pool);
    // The production feed routes on the fixture's clock, config and (shared) feed cache.
    feed_service_ = std::make_unique<feeds::FeedService>(*feed_db_, config, clock, feed_cache());
    feed_metrics_ = std::make_unique<convene::daemon::HttpMetrics>();
    feed_readiness_ = std::make_unique<convene::daemon::Readiness>(*feed_db_, convene::testing::project_migrations());
    feed_server_ = std::make_unique<convene::daemon::HttpServer>(
        loop(), config, convene::daemon::HttpServer::Services{
                    *feed_readiness_, *feed_metrics_, [] { return std::string(); },
                    [this](convene::daemon::http::Router& router) { feed_service_->install(router); }});
    feed_server_->start();
  }
  void TearDown() override {
    if (feed_server_) stop_server(*feed_server_);
    feed_server_.reset();
    feed_service_.reset();
    feed_readiness_.reset();
    feed_db_.reset();
    ApiTest::TearDown();
  }

  // A feed request with exactly these headers (none by default: no Accept header either).
  Http feed(const std::string& target, const std::vector<std::pair<std::string, std::string>>& headers = {},
            const std::string& method = "GET") {
    return raw_request(feed_server_->port(), method, target, headers);
  }
  // A feed that must answer 200 with an iCalendar body.
  std::string ics(const std::string& target) {
    const auto r = feed(target);
    EXPECT_EQ(r.status, 200) << target << ": " << r.describe();
    return r.body;
  }

  std::string scalar(const std::string& sql) {
    pqxx::connection c(db.url());
    pqxx::nontransaction tx(c);
    const auto rows = tx.exec(sql);
    if (rows.empty() || rows[0][0].is_null()) return "";
    return rows[0][0].as<std::string>();
  }
  std::int64_t community_id(const std::string& slug) {
    return std::stoll(scalar("SELECT id FROM communities WHERE slug = '" + slug + "'"));
  }
  void invalidate_community(const std::string& slug) { feed_cache().invalidate("c:" + std::to_string(community_id(slug))); }

  std::int64_t make_community_with(const json::object& o) {
    const auto r = post("/v1/communities", admin_token, body(o));
    if (r.status != 201) throw std::runtime_error("community: " + r.describe());
    return r.json.at("id").as_int64();
  }
  // A meeting (as admin) that must be created; the answer's JSON.
  json::object must_create(const std::string& slug, const json::object& o) {
    const auto r = post("/v1/communities/" + slug + "/meetings", admin_token, body(o));
    if (r.status != 201) throw std::runtime_error("meeting not created: " + r.describe());
    return r.json.as_object();
  }
  json::object meeting(std::int64_t id) {
    const auto r = get("/v1/meetings/" + std::to_string(id), admin_token);
    if (r.status != 200) throw std::runtime_error("meeting: " + r.describe());
    return r.json.as_object();
  }
  void join(std::int64_t member, const std::string& slug) {
    const auto r = request("PUT", "/v1/communities/" + slug + "/members/" + std::to_string(member), admin_token,
                           body({{"delivery", "realtime"}}));
    if (r.status != 201 && r.status != 200) throw std::runtime_error("join: " + r.describe());
  }
  // The member's feed path ("/feeds/members/cvf_....ics"), made (or rotated) through the API.
  std::string feed_path(std::int64_t member, const std::string& token = "") {
    const auto r = post("/v1/members/" + std::to_string(member) + "/feed-token", token.empty() ? admin_token : token);
    if (r.status != 201) throw std::runtime_error("feed-token: " + r.describe());
    const std::string url = str(r.json.at("feed_url"));
    const std::string prefix = config.public_url;
    if (url.rfind(prefix + "/feeds/members/", 0) != 0 || !ends_with(url, ".ics"))
      throw std::runtime_error("unexpected feed_url " + url);
    return url.substr(prefix.size());
  }
  static std::string token_of(const std::string& member_feed_path) {
    const auto slash = member_feed_path.rfind('/');
    return member_feed_path.substr(slash + 1, member_feed_path.size() - slash - 1 - 4);
  }
  std::string annual_uid(const std::string& slug, int year) {
    return scalar("SELECT m.uid FROM meetings m JOIN communities c ON c.id = m.community_id WHERE m.kind = 'annual' "
                  "AND m.annual_year = " + std::to_string(year) + " AND c.slug = '" + slug + "'");
  }

  // The scene of the main feed tests, in the public community "data-science":
  // - a one-off meeting in a room (Europe/London) with a long multi-byte description,
  // - a weekly series in America/New_York across the 2027 DST change, one occurrence cancelled
  //   and one moved,
  // - the 2027 annual meeting placeholder (made with the community).
  struct Scene {
    std::int64_t community = 0, room = 0;
    std::string one_off_uid, series_uid, annual_uid;
    std::int64_t one_off = 0, series = 0;
    int series_sequence = 0;
  };
  Scene make_scene() {
    Scene s;
    s.community = make_community_with({{"slug", "data-science"}, {"name", "Data Science"}});
    s.room = make_room("room-a");
    std::string description = "We read one paper.\nBring questions; and notes, please \\ thanks.\n";
    for (int i = 0; i < 8; ++i) description += "\xC3\x9C" "bung f\xC3\xBCr Stra\xC3\x9F" "e \xE2\x82\xAC\xF0\x9F\x93\x85 ";
    const auto one_off = must_create("data-science", {{"title", "Kick-off: planning, 2027; ideas"},
                                                      {"description", description},
                                                      {"start", "2027-01-12T18:00"},
                                                      {"end", "2027-01-12T19:00"},
                                                      {"time_zone", "Europe/London"},
                                                      {"room_id", s.room}});
    s.one_off = one_off.at("id").as_int64();
    s.one_off_uid = str(one_off.at("uid"));
    const auto series = must_create("data-science", {{"title", "Weekly sync (New York)"},
                                                     {"start", "2027-03-01T10:00"},
                                                     {"end", "2027-03-01T11:00"},
                                                     {"time_zone", "America/New_York"},
                                                     {"rrule", "FREQ=WEEKLY;BYDAY=MO;COUNT=10"}});
    s.series = series.at("id").as_int64();
    s.series_uid = str(series.at("uid"));
    const std::string base = "/v1/meetings/" + std::to_string(s.series);
    auto r = post(base + "/occurrences/2027-03-08T10:00/cancel", admin_token);
    if (r.status != 200) throw std::runtime_error("cancel occurrence: " + r.describe());
    r = request("PATCH", base + "/occurrences/2027-03-15T10:00", admin_token,
                body({{"start", "2027-03-16T11:00"}, {"end", "2027-03-16T12:00"}}));
    if (r.status != 200) throw std::runtime_error("move occurrence: " + r.describe());
    s.series_sequence = static_cast<int>(r.json.at("sequence").as_int64());
    s.annual_uid = annual_uid("data-science", 2027);
    if (s.annual_uid.empty()) throw std::runtime_error("no 2027 annual placeholder");
    return s;
  }

 private:
  std::unique_ptr<convene::store::Database> feed_db_;
  std::unique_ptr<feeds::FeedService> feed_service_;
  std::unique_ptr<convene::daemon::HttpMetrics> feed_metrics_;
  std::unique_ptr<convene::daemon::Readiness> feed_readiness_;
  std::unique_ptr<convene::daemon::HttpServer> feed_server_;
};

// ---- contents, read back by two parsers ------------------------------------------------------------

TEST_F(FeedsTest, PublicCommunityFeedIsValidICalendarThatLibicalReadsBack) {
  const Scene s = make_scene();
  const auto r = feed("/feeds/communities/data-science.ics");
  ASSERT_EQ(r.status, 200) << r.describe();
  EXPECT_EQ(r.header("Content-Type"), "text/calendar; charset=utf-8");
  const std::string& text = r.body;
  expect_wire_format(text);

  const IcalFeed cal = parse_with_libical(text);
  ASSERT_TRUE(cal.parsed) << text;
  EXPECT_EQ(cal.errors, 0) << "libical reported X-LIC-ERRORs:\n" << text;
  EXPECT_FALSE(cal.has_method) << "feeds carry no METHOD";
  EXPECT_EQ(property(content_lines(text), "METHOD"), "");
  EXPECT_EQ(cal.name, "Data Science");
  // One-off, series, the series' moved occurrence, the annual placeholder.
  ASSERT_EQ(cal.events.size(), 4u) << text;
  EXPECT_EQ(cal.count(s.one_off_uid), 1);
  EXPECT_EQ(cal.count(s.series_uid), 2);
  EXPECT_EQ(cal.count(s.annual_uid), 1);

  // VTIMEZONEs: one per zone used by a timed event, with plain IANA TZIDs.
  std::set<std::string> tzids(cal.tzids.begin(), cal.tzids.end());
  EXPECT_EQ(tzids, (std::set<std::string>{"America/New_York", "Europe/London"})) << text;
  EXPECT_EQ(tzids.size(), cal.tzids.size()) << "one VTIMEZONE per zone";
  EXPECT_FALSE(contains(text, "freeassociation")) << text;
  for (const auto& line : content_lines(text))
    if (line.rfind("TZID:", 0) == 0 || contains(line, ";TZID=")) {
      EXPECT_FALSE(contains(line, "=/") || contains(line, ":/")) << "prefixed TZID: " << line;
    }

  // The one-off.
  const IcalEvent* one_off = cal.master(s.one_off_uid);
  ASSERT_NE(one_off, nullptr);
  EXPECT_EQ(one_off->status, "CONFIRMED");
  EXPECT_EQ(one_off->sequence, 0);
  EXPECT_EQ(one_off->dtstart.tzid, "Europe/London");
  EXPECT_EQ(one_off->dtstart.value, "20270112T180000");
  EXPECT_EQ(one_off->dtend.value, "20270112T190000");
  EXPECT_EQ(one_off->summary, "Kick-off: planning, 2027; ideas") << "escaped text must read back unchanged";
  EXPECT_TRUE(contains(one_off->description, "Bring questions; and notes, please \\ thanks.\n")) << one_off->description;
  EXPECT_TRUE(contains(one_off->description, "\xC3\x9C" "bung f\xC3\xBCr Stra\xC3\x9F" "e \xE2\x82\xAC\xF0\x9F\x93\x85"));
  EXPECT_TRUE(one_off->rrule.empty());

  // The series: RRULE, EXDATE and RECURRENCE-ID with the TZID and value type of DTSTART.
  const IcalEvent* series = cal.master(s.series_uid);
  ASSERT_NE(series, nullptr);
  EXPECT_EQ(series->status, "CONFIRMED");
  EXPECT_EQ(series->sequence, s.series_sequence);
  EXPECT_EQ(s.series_sequence, 2) << "a cancelled and a moved occurrence each raise the series' SEQUENCE";
  EXPECT_EQ(series->dtstart.tzid, "America/New_York");
  EXPECT_EQ(series->dtstart.value, "20270301T100000");
  EXPECT_FALSE(series->dtstart.is_date);
  EXPECT_TRUE(contains(series->rrule, "FREQ=WEEKLY")) << series->rrule;
  EXPECT_TRUE(contains(series->rrule, "COUNT=10")) << series->rrule;
  ASSERT_EQ(series->exdates.size(), 1u);
  EXPECT_EQ(series->exdates[0].tzid, "America/New_York");
  EXPECT_EQ(series->exdates[0].value, "20270308T100000");
  EXPECT_FALSE(series->exdates[0].is_date);
  const IcalEvent* moved = cal.override_of(s.series_uid);
  ASSERT_NE(moved, nullptr);
  EXPECT_EQ(moved->recurrence_id.tzid, "America/New_York");
  EXPECT_EQ(moved->recurrence_id.value, "20270315T100000") << "the original start, after the DST change (EDT)";
  EXPECT_EQ(moved->dtstart.tzid, "America/New_York");
  EXPECT_EQ(moved->dtstart.value, "20270316T110000");
  EXPECT_EQ(moved->dtend.value, "20270316T120000");
  EXPECT_GE(moved->sequence, 1);
  EXPECT_TRUE(moved->rrule.empty()) << "an override carries no RRULE";
  EXPECT_EQ(moved->summary, "Weekly sync (New York)");
  // The same, literally on the wire.
  const auto blocks = vevent_blocks(text);
  bool saw_exdate = false, saw_rid = false;
  for (const auto& b : blocks) {
    saw_exdate |= has_line(b, "EXDATE;TZID=America/New_York:20270308T100000");
    saw_rid |= has_line(b, "RECURRENCE-ID;TZID=America/New_York:20270315T100000");
  }
  EXPECT_TRUE(saw_exdate) << text;
  EXPECT_TRUE(saw_rid) << text;

  // Every property DESIGN §5 lists.
  const auto header = calendar_header(text);
  for (const char* name : {"PRODID", "VERSION", "CALSCALE", "NAME", "X-WR-CALNAME", "REFRESH-INTERVAL", "X-PUBLISHED-TTL"})
    EXPECT_NE(property(header, name), "") << name << " missing from the VCALENDAR:\n" << text;
  EXPECT_TRUE(has_line(header, "VERSION:2.0"));
  EXPECT_TRUE(has_line(header, "CALSCALE:GREGORIAN"));
  EXPECT_TRUE(has_line(header, "NAME:Data Science"));
  EXPECT_TRUE(has_line(header, "X-WR-CALNAME:Data Science"));
  EXPECT_TRUE(has_line(header, "REFRESH-INTERVAL;VALUE=DURATION:PT1H")) << text;
  EXPECT_TRUE(has_line(header, "X-PUBLISHED-TTL:PT1H")) << text;
  for (const auto& b : blocks)
    for (const char* name : {"UID", "DTSTAMP", "LAST-MODIFIED", "SEQUENCE", "STATUS", "DTSTART"})
      EXPECT_NE(property(b, name), "") << name << " missing from a VEVENT:\n" << text;
  for (const auto& e : cal.events) {
    EXPECT_TRUE(e.has_dtstamp && e.has_last_modified && e.has_sequence && e.has_status) << e.uid;
    EXPECT_FALSE(e.uid.empty());
  }
  // A public feed: the room's name may show, its join URL never.
  EXPECT_FALSE(contains(text, "meet.example.org")) << text;
  EXPECT_EQ(one_off->url, "");
}

TEST_F(FeedsTest, PublicCommunityFeedIsReadByPython3Icalendar) {
  if (!python_icalendar_available()) GTEST_SKIP() << "Debian's python3-icalendar (/usr/bin/python3) is not installed";
  make_scene();
  const std::string text = ics("/feeds/communities/data-science.ics");
  std::string output;
  EXPECT_EQ(python_roundtrip(text, 4, &output), 0) << output << "\n" << text;
  // The script does notice a wrong count (so a pass above means something).
  EXPECT_EQ(python_roundtrip(text, 5, &output), 1) << output;
}

// ---- the annual meeting --------------------------------------------------------------------------

TEST_F(FeedsTest, AnnualPlaceholderIsAllDayTentativeTransparentThenConfirmedUnderTheSameUid) {
  make_community_with({{"slug", "rust"}, {"name", "Rust"}});
  const std::string uid = annual_uid("rust", 2027);
  ASSERT_FALSE(uid.empty());
  const std::string before = ics("/feeds/communities/rust.ics");
  const auto blocks = vevent_blocks(before);
  ASSERT_EQ(blocks.size(), 1u) << before;
  const auto& tbd = blocks[0];
  EXPECT_TRUE(has_line(tbd, "UID:" + uid)) << before;
  EXPECT_TRUE(has_line(tbd, "DTSTART;VALUE=DATE:20270708")) << before;
  EXPECT_TRUE(has_line(tbd, "DTEND;VALUE=DATE:20270715")) << before;
  EXPECT_TRUE(has_line(tbd, "STATUS:TENTATIVE")) << before;
  EXPECT_TRUE(has_line(tbd, "TRANSP:TRANSPARENT")) << before;
  EXPECT_TRUE(ends_with(value_of(property(tbd, "SUMMARY")), "(date and time TBD)")) << property(tbd, "SUMMARY");
  EXPECT_EQ(property(tbd, "VTIMEZONE"), "");
  EXPECT_FALSE(contains(before, "BEGIN:VTIMEZONE")) << "an all-day event needs no zone";
  const IcalFeed cal_before = parse_with_libical(before);
  ASSERT_EQ(cal_before.events.size(), 1u);
  EXPECT_EQ(cal_before.errors, 0) << before;
  EXPECT_TRUE(cal_before.events[0].dtstart.is_date);
  EXPECT_TRUE(cal_before.events[0].dtend.is_date);
  const int sequence_before = cal_before.events[0].sequence;

  const auto set = request("PUT", "/v1/communities/rust/annual-meeting/2027", admin_token,
                           body({{"start", "2027-07-12T14:00"}, {"end", "2027-07-12T15:30"}, {"time_zone", "America/Chicago"}}));
  ASSERT_EQ(set.status, 200) << set.describe();
  // Cached: the same bytes until the change notification arrives...
  EXPECT_EQ(ics("/feeds/communities/rust.ics"), before) << "feeds are served from the cache, not rebuilt per request";
  invalidate_community("rust");  // ...which says "c:<community id>"
  const std::string after = ics("/feeds/communities/rust.ics");
  expect_wire_format(after);
  const auto after_blocks = vevent_blocks(after);
  ASSERT_EQ(after_blocks.size(), 1u) << after;
  const auto& confirmed = after_blocks[0];
  EXPECT_TRUE(has_line(confirmed, "UID:" + uid)) << "the same UID, so calendars update the event in place:\n" << after;
  EXPECT_TRUE(has_line(confirmed, "DTSTART;TZID=America/Chicago:20270712T140000")) << after;
  EXPECT_TRUE(has_line(confirmed, "DTEND;TZID=America/Chicago:20270712T153000")) << after;
  EXPECT_TRUE(has_line(confirmed, "STATUS:CONFIRMED")) << after;
  EXPECT_FALSE(has_line(confirmed, "TRANSP:TRANSPARENT")) << after;
  EXPECT_FALSE(contains(value_of(property(confirmed, "SUMMARY")), "TBD")) << property(confirmed, "SUMMARY");
  const IcalFeed cal_after = parse_with_libical(after);
  ASSERT_EQ(cal_after.events.size(), 1u);
  EXPECT_EQ(cal_after.errors, 0) << after;
  EXPECT_EQ(cal_after.events[0].uid, uid);
  EXPECT_EQ(cal_after.events[0].sequence, sequence_before + 1);
  EXPECT_FALSE(cal_after.events[0].dtstart.is_date);
  EXPECT_EQ(cal_after.tzids, std::vector<std::string>{"America/Chicago"});
}

// ---- HTTP behaviour ----------------------------------------------------------------------------------

TEST_F(FeedsTest, EtagLastModifiedConditionalRequestsHeadAndCacheControl) {
  const Scene s = make_scene();
  // The newest change happens at a known moment.
  clock.set(at(2026, 11, 28, 12, 34, 56));
  auto r0 = request("PATCH", "/v1/meetings/" + std::to_string(s.one_off), admin_token, body({{"title", "Kick-off (hybrid)"}}));
  ASSERT_EQ(r0.status, 200) << r0.describe();
  clock.set(at(2026, 11, 28, 13, 0, 0));
  const std::string path = "/feeds/communities/data-science.ics";

  // No Accept header at all (the raw client sends none).
  const auto first = feed(path);
  ASSERT_EQ(first.status, 200) << first.describe();
  EXPECT_EQ(first.header("Content-Type"), "text/calendar; charset=utf-8");
  const std::string etag = first.header("ETag");
  const std::string last_modified = first.header("Last-Modified");
  ASSERT_FALSE(etag.empty());
  EXPECT_EQ(first.count("ETag"), 1);
  EXPECT_EQ(etag.front(), '"') << "a strong ETag: " << etag;
  EXPECT_EQ(etag.back(), '"') << etag;
  EXPECT_EQ(etag.rfind("W/", 0), std::string::npos) << etag;
  EXPECT_EQ(etag, feeds::strong_etag(first.body)) << "the ETag is the hash of the bytes";
  // Last-Modified is the newest updated_at behind the feed, not the time of the request.
  EXPECT_EQ(last_modified, "Sat, 28 Nov 2026 12:34:56 GMT");
  const std::string newest = scalar(
      "SELECT to_char(greatest((SELECT updated_at FROM communities WHERE slug = 'data-science'), "
      "(SELECT max(updated_at) FROM meetings WHERE community_id = " + std::to_string(s.community) + "), "
      "(SELECT max(x.updated_at) FROM meeting_exceptions x JOIN meetings m ON m.id = x.meeting_id WHERE m.community_id = " +
      std::to_string(s.community) + ")) AT TIME ZONE 'UTC', 'Dy, DD Mon YYYY HH24:MI:SS \"GMT\"')");
  EXPECT_EQ(last_modified, newest);
  // Cache-Control: public (one header; the API's no-store must not leak in).
  EXPECT_EQ(first.count("Cache-Control"), 1) << first.header("Cache-Control");
  EXPECT_TRUE(contains(first.header("Cache-Control"), "public")) << first.header("Cache-Control");
  EXPECT_TRUE(contains(first.header("Cache-Control"), "max-age=300")) << first.header("Cache-Control");
  EXPECT_FALSE(contains(first.header("Cache-Control"), "no-store")) << first.header("Cache-Control");

  // The same content gives the same ETag: from the cache, and rebuilt later (time moved on).
  EXPECT_EQ(feed(path).header("ETag"), etag);
  clock.set(at(2026, 12, 3, 9, 0, 0));
  feed_cache().invalidate("*");
  const auto rebuilt = feed(path);
  ASSERT_EQ(rebuilt.status, 200);
  EXPECT_EQ(rebuilt.header("ETag"), etag) << "a rebuild of unchanged data must give the same bytes";
  EXPECT_EQ(rebuilt.body, first.body);
  EXPECT_EQ(rebuilt.header("Last-Modified"), last_modified) << "Last-Modified must not follow the clock";

  // With an Accept header that calendar clients send, too.
  EXPECT_EQ(feed(path, {{"Accept", "text/calendar"}}).status, 200);
  EXPECT_EQ(feed(path, {{"Accept", "*/*"}}).header("ETag"), etag);

  // If-None-Match.
  auto nm = feed(path, {{"If-None-Match", etag}});
  EXPECT_EQ(nm.status, 304) << nm.describe();
  EXPECT_EQ(nm.body, "") << "a 304 has no body";
  EXPECT_EQ(nm.header("ETag"), etag);
  EXPECT_EQ(feed(path, {{"If-None-Match", "\"something-else\", " + etag}}).status, 304);
  EXPECT_EQ(feed(path, {{"If-None-Match", "\"something-else\""}}).status, 200);
  EXPECT_EQ(feed(path, {{"If-None-Match", "\"something-else\""}}).body, first.body);

  // If-Modified-Since: at or after Last-Modified → 304; before → 200.
  auto ims = feed(path, {{"If-Modified-Since", last_modified}});
  EXPECT_EQ(ims.status, 304) << ims.describe();
  EXPECT_EQ(ims.body, "");
  EXPECT_EQ(feed(path, {{"If-Modified-Since", "Sat, 28 Nov 2026 12:34:57 GMT"}}).status, 304);
  EXPECT_EQ(feed(path, {{"If-Modified-Since", "Sun, 29 Nov 2026 00:00:00 GMT"}}).status, 304);
  const auto older = feed(path, {{"If-Modified-Since", "Sat, 28 Nov 2026 12:34:55 GMT"}});
  EXPECT_EQ(older.status, 200);
  EXPECT_EQ(older.body, first.body);
  EXPECT_EQ(feed(path, {{"If-Modified-Since", "not a date"}}).status, 200);
  // If-None-Match decides when both are sent (RFC 9110 §13.2.2).
  EXPECT_EQ(feed(path, {{"If-None-Match", "\"something-else\""}, {"If-Modified-Since", last_modified}}).status, 200);
  EXPECT_EQ(feed(path, {{"If-None-Match", etag}, {"If-Modified-Since", "Sat, 28 Nov 2026 12:34:55 GMT"}}).status, 304);

  // HEAD: the headers of GET, no body.
  const auto head = feed(path, {}, "HEAD");
  EXPECT_EQ(head.status, 200) << head.describe();
  EXPECT_EQ(head.body, "") << "HEAD must not send a body";
  EXPECT_EQ(head.header("ETag"), etag);
  EXPECT_EQ(head.header("Last-Modified"), last_modified);
  EXPECT_EQ(head.header("Content-Type"), "text/calendar; charset=utf-8");
  EXPECT_TRUE(contains(head.header("Cache-Control"), "public"));
  if (!head.header("Content-Length").empty()) {
    EXPECT_EQ(head.header("Content-Length"), std::to_string(first.body.size()));
  }
  EXPECT_EQ(feed(path, {{"If-None-Match", etag}}, "HEAD").status, 304);

  // A change (once the notification arrives) gives new bytes, a new ETag and a later Last-Modified.
  clock.set(at(2026, 12, 3, 9, 30, 0));
  auto r1 = request("PATCH", "/v1/meetings/" + std::to_string(s.one_off), admin_token, body({{"title", "Kick-off (online)"}}));
  ASSERT_EQ(r1.status, 200) << r1.describe();
  invalidate_community("data-science");
  const auto changed = feed(path, {{"If-None-Match", etag}});
  EXPECT_EQ(changed.status, 200) << "the old ETag no longer matches";
  EXPECT_NE(changed.header("ETag"), etag);
  EXPECT_EQ(changed.header("ETag"), feeds::strong_etag(changed.body));
  EXPECT_EQ(changed.header("Last-Modified"), "Thu, 03 Dec 2026 09:30:00 GMT");
  EXPECT_TRUE(contains(changed.body, "SUMMARY:Kick-off (online)")) << changed.body;
  EXPECT_EQ(feed(path, {{"If-Modified-Since", last_modified}}).status, 200);
}

TEST_F(FeedsTest, TokenFeedsArePrivateAndUnknownFeedsAre404) {
  make_community_with({{"slug", "pub"}, {"name", "Pub"}});
  const auto m = make_member("m@example.org");
  join(m, "pub");
  const std::string member_path = feed_path(m);
  const auto member = feed(member_path);
  ASSERT_EQ(member.status, 200) << member.describe();
  EXPECT_EQ(member.count("Cache-Control"), 1);
  EXPECT_TRUE(contains(member.header("Cache-Control"), "private")) << member.header("Cache-Control");
  EXPECT_FALSE(contains(member.header("Cache-Control"), "public")) << member.header("Cache-Control");
  const auto with_token = feed("/feeds/communities/pub.ics?token=" + token_of(member_path));
  ASSERT_EQ(with_token.status, 200) << with_token.describe();
  EXPECT_TRUE(contains(with_token.header("Cache-Control"), "private")) << with_token.header("Cache-Control");

  EXPECT_EQ(feed("/feeds/communities/no-such-community.ics").status, 404);
  EXPECT_EQ(feed("/feeds/members/cvf_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA.ics").status, 404);
}

// ---- who may read what -------------------------------------------------------------------------------

TEST_F(FeedsTest, MembersOnlyCommunityFeedNeedsTheFeedTokenOfAMemberAndCarriesJoinUrls) {
  make_community_with({{"slug", "inner-circle"}, {"name", "Inner circle"}, {"visibility", "members"}});
  make_community_with({{"slug", "open-house"}, {"name", "Open house"}});
  const auto room = make_room("room-secret");
  const auto secret = must_create("inner-circle", {{"title", "Closed meeting"},
                                                   {"start", "2027-02-01T18:00"},
                                                   {"end", "2027-02-01T19:00"},
                                                   {"room_id", room}});
  const auto open = must_create("open-house", {{"title", "Open meeting"},
                                               {"start", "2027-02-02T18:00"},
                                               {"end", "2027-02-02T19:00"},
                                               {"room_id", room}});
  const std::string join_url = "https://meet.example.org/room-secret";
  const auto insider = make_member("insider@example.org");
  const auto outsider = make_member("outsider@example.org");
  join(insider, "inner-circle");
  join(insider, "open-house");
  join(outsider, "open-house");
  const std::string insider_token = token_of(feed_path(insider));
  const std::string outsider_token = token_of(feed_path(outsider));
  const std::string path = "/feeds/communities/inner-circle.ics";

  // Without a token a members-only feed does not exist.
  const auto anonymous = feed(path);
  EXPECT_EQ(anonymous.status, 404) << anonymous.describe();
  EXPECT_FALSE(contains(anonymous.body, "Closed meeting"));
  EXPECT_EQ(feed(path, {}, "HEAD").status, 404);
  // A member's feed token: the feed, with the join URL (LOCATION and URL).
  const auto inside = feed(path + "?token=" + insider_token);
  ASSERT_EQ(inside.status, 200) << inside.describe();
  EXPECT_TRUE(contains(inside.body, str(secret.at("uid")))) << inside.body;
  const IcalFeed cal = parse_with_libical(inside.body);
  const IcalEvent* e = cal.master(str(secret.at("uid")));
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->url, join_url);
  EXPECT_TRUE(contains(e->location, join_url)) << e->location;
  EXPECT_TRUE(contains(inside.header("Cache-Control"), "private"));
  // Now that the members' version is cached: a non-member's feed token, an API token (not a
  // feed token), an unknown token and still no token are all 404.
  EXPECT_EQ(feed(path + "?token=" + outsider_token).status, 404);
  EXPECT_EQ(feed(path + "?token=" + token_for(insider)).status, 404) << "an API token is not a feed token";
  EXPECT_EQ(feed(path + "?token=cvf_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA").status, 404);
  EXPECT_EQ(feed(path + "?token=").status, 404);
  EXPECT_EQ(feed(path).status, 404);
  // After leaving, the insider's token no longer opens it.
  const auto left = request("DELETE", "/v1/communities/inner-circle/members/" + std::to_string(insider), admin_token);
  ASSERT_EQ(left.status, 204) << left.describe();
  EXPECT_EQ(feed(path + "?token=" + insider_token).status, 404);

  // Public feeds never carry join URLs, even after the token version of the same feed was cached.
  const auto open_with_token = feed("/feeds/communities/open-house.ics?token=" + outsider_token);
  ASSERT_EQ(open_with_token.status, 200) << open_with_token.describe();
  EXPECT_TRUE(contains(open_with_token.body, join_url)) << "a feed that needed a token shows the join URL";
  const auto open_public = feed("/feeds/communities/open-house.ics");
  ASSERT_EQ(open_public.status, 200) << open_public.describe();
  EXPECT_TRUE(contains(open_public.body, str(open.at("uid"))));
  EXPECT_FALSE(contains(open_public.body, "meet.example.org")) << open_public.body;
  EXPECT_EQ(property(vevent_blocks(open_public.body).at(0), "URL"), "");
  EXPECT_TRUE(contains(open_public.header("Cache-Control"), "public"));
}

TEST_F(FeedsTest, MemberFeedHasAllTheirCommunitiesWithAlarmsAtTheirReminderOffsets) {
  make_community_with({{"slug", "alpha"}, {"name", "Alpha"}});
  make_community_with({{"slug", "beta"}, {"name", "Beta"}, {"visibility", "members"}});
  make_community_with({{"slug", "gamma"}, {"name", "Gamma"}});
  const auto room = make_room("room-m");
  const auto a = must_create("alpha", {{"title", "Alpha meeting"}, {"start", "2027-02-01T18:00"}, {"end", "2027-02-01T19:00"},
                                       {"room_id", room}});
  const auto b = must_create("beta", {{"title", "Beta meeting"}, {"start", "2027-02-02T18:00"}, {"end", "2027-02-02T19:00"},
                                      {"rrule", "FREQ=WEEKLY;COUNT=4"}});
  const auto c = must_create("gamma", {{"title", "Gamma meeting"}, {"start", "2027-02-03T18:00"}, {"end", "2027-02-03T19:00"}});
  const auto m = make_member("member@example.org", "America/Chicago");
  const std::string m_token = token_for(m);
  join(m, "alpha");
  join(m, "beta");
  const std::string path = feed_path(m, m_token);  // the member makes their own feed URL

  const auto r = feed(path);
  ASSERT_EQ(r.status, 200) << r.describe();
  EXPECT_EQ(r.header("Content-Type"), "text/calendar; charset=utf-8");
  expect_wire_format(r.body);
  const IcalFeed cal = parse_with_libical(r.body);
  ASSERT_TRUE(cal.parsed);
  EXPECT_EQ(cal.errors, 0) << r.body;
  EXPECT_FALSE(cal.has_method);
  EXPECT_EQ(cal.count(str(a.at("uid"))), 1);
  EXPECT_EQ(cal.count(str(b.at("uid"))), 1);
  EXPECT_EQ(cal.count(str(c.at("uid"))), 0) << "not a community of the member";
  EXPECT_EQ(cal.count(annual_uid("alpha", 2027)), 1);
  EXPECT_EQ(cal.count(annual_uid("beta", 2027)), 1);
  EXPECT_EQ(cal.count(annual_uid("gamma", 2027)), 0);
  EXPECT_EQ(cal.events.size(), 4u) << r.body;
  EXPECT_FALSE(contains(r.body, "Gamma meeting"));
  EXPECT_TRUE(contains(r.body, "https://meet.example.org/room-m")) << "a token feed carries join URLs";
  // VALARMs at the default reminder offsets (1 day, 1 hour) on the timed events.
  for (const std::string& uid : {str(a.at("uid")), str(b.at("uid"))}) {
    const IcalEvent* e = cal.master(uid);
    ASSERT_NE(e, nullptr);
    EXPECT_EQ(e->alarm_seconds, (std::vector<int>{-86400, -3600})) << uid << "\n" << r.body;
  }
  for (const auto& blk : vevent_blocks(r.body))
    if (has_line(blk, "BEGIN:VALARM")) {
      EXPECT_NE(property(blk, "ACTION"), "") << "a VALARM needs an ACTION";
    }

  // PATCH reminder_offsets: once the member's notification arrives, the alarms follow.
  auto patched = request("PATCH", "/v1/members/" + std::to_string(m), m_token, body({{"reminder_offsets", json::array{"PT30M", "P2D"}}}));
  ASSERT_EQ(patched.status, 200) << patched.describe();
  feed_cache().invalidate("m:" + std::to_string(m));
  const IcalFeed cal2 = parse_with_libical(ics(path));
  ASSERT_NE(cal2.master(str(a.at("uid"))), nullptr);
  EXPECT_EQ(cal2.master(str(a.at("uid")))->alarm_seconds, (std::vector<int>{-172800, -1800}));
  EXPECT_EQ(cal2.master(str(b.at("uid")))->alarm_seconds, (std::vector<int>{-172800, -1800}));
  patched = request("PATCH", "/v1/members/" + std::to_string(m), m_token, body({{"reminder_offsets", json::array{}}}));
  ASSERT_EQ(patched.status, 200) << patched.describe();
  feed_cache().invalidate("m:" + std::to_string(m));
  const std::string no_alarms = ics(path);
  EXPECT_FALSE(contains(no_alarms, "BEGIN:VALARM")) << no_alarms;

  // Joining gamma (after the notification) brings its meetings in.
  join(m, "gamma");
  feed_cache().invalidate("m:" + std::to_string(m));
  EXPECT_EQ(parse_with_libical(ics(path)).count(str(c.at("uid"))), 1);
}

TEST_F(FeedsTest, RotatingTheFeedTokenMakesTheOldUrl404AtOnce) {
  make_community_with({{"slug", "alpha"}, {"name", "Alpha"}});
  const auto m = make_member("rotator@example.org");
  const std::string m_token = token_for(m);
  join(m, "alpha");
  const std::string old_path = feed_path(m, m_token);
  ASSERT_EQ(feed(old_path).status, 200);
  ASSERT_EQ(feed(old_path).status, 200);  // now cached
  EXPECT_GE(feed_cache().size(), 1u);
  const std::string new_path = feed_path(m, m_token);
  ASSERT_NE(new_path, old_path);
  // No invalidation here: the old URL must stop working even while the feed is cached.
  const auto old_again = feed(old_path);
  EXPECT_EQ(old_again.status, 404) << old_again.describe();
  EXPECT_FALSE(contains(old_again.body, "BEGIN:VCALENDAR"));
  EXPECT_EQ(feed(old_path, {}, "HEAD").status, 404);
  EXPECT_EQ(feed(old_path, {{"If-None-Match", "*"}}).status, 404);
  const auto fresh = feed(new_path);
  EXPECT_EQ(fresh.status, 200) << fresh.describe();
  EXPECT_TRUE(contains(fresh.body, "BEGIN:VCALENDAR"));
  // The old token no longer opens a members-only community feed either.
  make_community_with({{"slug", "private-club"}, {"name", "Private club"}, {"visibility", "members"}});
  join(m, "private-club");
  EXPECT_EQ(feed("/feeds/communities/private-club.ics?token=" + token_of(old_path)).status, 404);
  EXPECT_EQ(feed("/feeds/communities/private-club.ics?token=" + token_of(new_path)).status, 200);
  // An admin rotating it works the same way.
  const std::string admin_path = feed_path(m);
  EXPECT_EQ(feed(new_path).status, 404);
  EXPECT_EQ(feed(admin_path).status, 200);
}

TEST_F(FeedsTest, RoomFeedIsForCoordinatorsCommitteeAndAdmins) {
  make_community_with({{"slug", "alpha"}, {"name", "Alpha"}});
  make_community_with({{"slug", "beta"}, {"name", "Beta"}, {"visibility", "members"}});
  const auto room = make_room("room-r");
  const auto other_room = make_room("room-other");
  const auto in_room = must_create("alpha", {{"title", "In the room"}, {"start", "2027-02-01T18:00"}, {"end", "2027-02-01T19:00"},
                                             {"room_id", room}});
  const auto members_only = must_create("beta", {{"title", "Beta in the room"}, {"start", "2027-02-01T20:00"},
                                                 {"end", "2027-02-01T21:00"}, {"room_id", room}});
  const auto elsewhere = must_create("alpha", {{"title", "Elsewhere"}, {"start", "2027-02-01T18:00"}, {"end", "2027-02-01T19:00"},
                                               {"room_id", other_room}});
  const auto no_room = must_create("alpha", {{"title", "No room"}, {"start", "2027-02-05T18:00"}, {"end", "2027-02-05T19:00"}});

  const auto coordinator = make_member("coord@example.org");
  grant(coordinator, "alpha", "meeting_coordinator");
  const auto event_coordinator = make_member("events@example.org");
  grant(event_coordinator, "beta", "event_coordinator");
  const auto committee = make_member("committee@example.org");
  grant_global(committee, "committee");
  const auto plain = make_member("plain@example.org");
  join(plain, "alpha");
  const auto former = make_member("former@example.org");
  grant(former, "alpha", "meeting_coordinator", "2026-01-01", "2026-06-30");

  const std::string path = "/feeds/rooms/" + std::to_string(room) + ".ics";
  const auto ok = [&](const std::string& token, const std::string& who) {
    const auto r = feed(path + "?token=" + token);
    EXPECT_EQ(r.status, 200) << who << ": " << r.describe();
    if (r.status != 200) return;
    EXPECT_EQ(r.header("Content-Type"), "text/calendar; charset=utf-8");
    EXPECT_TRUE(contains(r.header("Cache-Control"), "private")) << r.header("Cache-Control");
    const IcalFeed cal = parse_with_libical(r.body);
    EXPECT_EQ(cal.errors, 0) << r.body;
    EXPECT_EQ(cal.count(str(in_room.at("uid"))), 1) << who;
    EXPECT_EQ(cal.count(str(members_only.at("uid"))), 1) << who;
    EXPECT_EQ(cal.count(str(elsewhere.at("uid"))), 0) << who;
    EXPECT_EQ(cal.count(str(no_room.at("uid"))), 0) << who;
    EXPECT_EQ(cal.events.size(), 2u) << who << "\n" << r.body;
    EXPECT_TRUE(contains(r.body, "https://meet.example.org/room-r")) << who;
  };
  ok(token_for(coordinator), "a meeting coordinator's API token");
  ok(token_of(feed_path(coordinator)), "a meeting coordinator's feed token");
  ok(token_for(event_coordinator), "an event coordinator (of another community)");
  ok(token_for(committee), "the committee");
  ok(admin_token, "an admin");

  const auto refused = [&](const std::string& query, const std::string& who) {
    const auto r = feed(path + query);
    EXPECT_EQ(r.status, 403) << who << ": " << r.describe();
    EXPECT_FALSE(contains(r.body, "BEGIN:VCALENDAR")) << who;
  };
  refused("?token=" + token_for(plain), "a plain member's API token");
  refused("?token=" + token_of(feed_path(plain)), "a plain member's feed token");
  refused("?token=" + token_for(former), "a coordinator whose role ended");
  refused("", "no token");
  refused("?token=", "an empty token");
  refused("?token=cvn_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "an unknown token");
  EXPECT_EQ(feed("/feeds/rooms/999999.ics?token=" + admin_token).status, 404);
}

// ---- cancelled events, injection ----------------------------------------------------------------------

TEST_F(FeedsTest, CancelledOneOffStaysCancelledFor30DaysThenLeaves) {
  make_community_with({{"slug", "alpha"}, {"name", "Alpha"}});
  const auto keep = must_create("alpha", {{"title", "Still on"}, {"start", "2027-03-01T18:00"}, {"end", "2027-03-01T19:00"}});
  const auto gone = must_create("alpha", {{"title", "Called off"}, {"start", "2027-03-02T18:00"}, {"end", "2027-03-02T19:00"}});
  const std::string path = "/feeds/communities/alpha.ics";
  const std::string uid = str(gone.at("uid"));
  // Cancelled at the fixture's 2026-11-28T12:00Z.
  const auto cancelled = post("/v1/meetings/" + std::to_string(gone.at("id").as_int64()) + "/cancel", admin_token);
  ASSERT_EQ(cancelled.status, 200) << cancelled.describe();
  const int sequence = static_cast<int>(cancelled.json.at("sequence").as_int64());
  EXPECT_GE(sequence, 1);
  feed_cache().invalidate("*");

  const auto still_there = [&](int days_later) {
    clock.set(at(2026, 11, 28, 12) + days{days_later});
    feed_cache().invalidate("*");  // what a feed holds depends on the time; the cache also expires
    return parse_with_libical(ics(path));
  };
  for (const int d : {0, 29}) {
    const IcalFeed cal = still_there(d);
    const IcalEvent* e = cal.master(uid);
    ASSERT_NE(e, nullptr) << d << " days after cancelling, the event must still be in the feed";
    EXPECT_EQ(e->status, "CANCELLED") << d;
    EXPECT_EQ(e->sequence, sequence) << d;
    EXPECT_EQ(cal.count(str(keep.at("uid"))), 1);
  }
  const IcalFeed later = still_there(31);
  EXPECT_EQ(later.count(uid), 0) << "31 days after cancelling, the event leaves the feed";
  EXPECT_EQ(later.count(str(keep.at("uid"))), 1);
}

// Last-Modified must move forward whenever the bytes change, also when something LEAVES a feed:
// a client revalidating with If-Modified-Since (and no If-None-Match) would otherwise get 304
// and keep showing what is gone. Three ways for an event to leave a feed, each checked on its own.
TEST_F(FeedsTest, LastModifiedAdvancesWhenAnEventLeavesAFeed) {
  make_community_with({{"slug", "alpha"}, {"name", "Alpha"}});
  make_community_with({{"slug", "beta"}, {"name", "Beta"}});
  const auto room = make_room("room-lm");
  must_create("alpha", {{"title", "Still on"}, {"start", "2027-03-01T18:00"}, {"end", "2027-03-01T19:00"}});
  const auto gone = must_create("alpha", {{"title", "Called off"}, {"start", "2027-03-02T18:00"}, {"end", "2027-03-02T19:00"}});
  const auto booked = must_create("alpha", {{"title", "Booked"}, {"start", "2027-03-03T18:00"}, {"end", "2027-03-03T19:00"},
                                            {"room_id", room}});
  must_create("beta", {{"title", "Beta meeting"}, {"start", "2027-03-04T18:00"}, {"end", "2027-03-04T19:00"}});
  // A member made through the API, so every updated_at behind their feed comes from the clock.
  const auto made = post("/v1/members", admin_token, body({{"email", "lm@example.org"}, {"name", "LM"}}));
  ASSERT_EQ(made.status, 201) << made.describe();
  const auto m = made.json.at("id").as_int64();
  join(m, "alpha");
  join(m, "beta");
  const std::string member_path = feed_path(m);
  const std::string room_path = "/feeds/rooms/" + std::to_string(room) + ".ics?token=" + admin_token;

  // Something at 15:00 (the cancellation), everything cached.
  clock.set(at(2026, 11, 28, 15));
  ASSERT_EQ(post("/v1/meetings/" + std::to_string(gone.at("id").as_int64()) + "/cancel", admin_token).status, 200);
  feed_cache().invalidate("*");
  const auto community_before = feed("/feeds/communities/alpha.ics");
  const auto room_before = feed(room_path);
  const auto member_before = feed(member_path);
  ASSERT_EQ(community_before.status, 200);
  ASSERT_EQ(room_before.status, 200);
  ASSERT_EQ(member_before.status, 200);
  ASSERT_TRUE(contains(community_before.body, "STATUS:CANCELLED"));
  ASSERT_TRUE(contains(room_before.body, str(booked.at("uid"))));
  ASSERT_TRUE(contains(member_before.body, "Beta meeting"));

  const auto revalidate = [&](const std::string& path, const Http& before, const std::string& what) {
    const auto after = feed(path, {{"If-Modified-Since", before.header("Last-Modified")}});
    EXPECT_EQ(after.status, 200) << what << ": the bytes changed since " << before.header("Last-Modified")
                                 << ", yet the answer is " << after.status << " with Last-Modified "
                                 << after.header("Last-Modified");
    const auto plain = feed(path);
    EXPECT_NE(plain.header("ETag"), before.header("ETag")) << what;
    EXPECT_NE(plain.body, before.body) << what;
    return plain;
  };
  // 1. The cancelled one-off leaves the community feed 30 days later.
  clock.set(at(2026, 11, 28, 15) + days{31});
  feed_cache().invalidate("*");
  EXPECT_FALSE(contains(revalidate("/feeds/communities/alpha.ics", community_before, "cancelled one-off leaving").body,
                        "STATUS:CANCELLED"));
  // 2. The member leaves beta: its meetings leave the member feed.
  const auto left = request("DELETE", "/v1/communities/beta/members/" + std::to_string(m), admin_token);
  ASSERT_EQ(left.status, 204) << left.describe();
  feed_cache().invalidate("m:" + std::to_string(m));
  EXPECT_FALSE(contains(revalidate(member_path, member_before, "member leaving a community").body, "Beta meeting"));
  // 3. A meeting gives up its room: it leaves the room feed.
  const auto released = request("PATCH", "/v1/meetings/" + std::to_string(booked.at("id").as_int64()), admin_token,
                                body({{"room_id", nullptr}}));
  ASSERT_EQ(released.status, 200) << released.describe();
  feed_cache().invalidate("c:" + std::to_string(community_id("alpha")));
  EXPECT_FALSE(contains(revalidate(room_path, room_before, "meeting leaving the room").body, str(booked.at("uid"))));
}

TEST_F(FeedsTest, TextCannotInjectAnEvent) {
  make_community_with({{"slug", "alpha"}, {"name", "Alpha"}});
  const auto meetings_before = count("SELECT count(*) FROM meetings");
  // A single-line title with CR/LF is refused.
  auto r = post("/v1/communities/alpha/meetings", admin_token,
                body({{"title", "Evil\r\nEND:VEVENT\r\nBEGIN:VEVENT\r\nSUMMARY:injected"},
                      {"start", "2027-03-01T18:00"},
                      {"end", "2027-03-01T19:00"}}));
  EXPECT_EQ(r.status, 422) << r.describe();
  r = post("/v1/communities/alpha/meetings", admin_token,
           body({{"title", "Evil\nEND:VEVENT"}, {"start", "2027-03-01T18:00"}, {"end", "2027-03-01T19:00"}}));
  EXPECT_EQ(r.status, 422) << r.describe();
  EXPECT_EQ(count("SELECT count(*) FROM meetings"), meetings_before);

  // A multi-line description may hold the same text: accepted, and harmless in the feed.
  const std::string description = "Agenda\nEND:VEVENT\nBEGIN:VEVENT\nUID:injected@evil.example\nSUMMARY:injected\r\n"
                                  "END:VEVENT\r\nBEGIN:VEVENT\rDTSTART:20270101T000000Z";
  const auto made = post("/v1/communities/alpha/meetings", admin_token,
                         body({{"title", "Honest meeting"}, {"description", description}, {"start", "2027-03-01T18:00"},
                               {"end", "2027-03-01T19:00"}}));
  ASSERT_EQ(made.status, 201) << made.describe();
  const std::string uid = str(made.json.at("uid"));
  const auto id = made.json.at("id").as_int64();
  // A title change with a newline is refused too.
  r = request("PATCH", "/v1/meetings/" + std::to_string(id), admin_token, body({{"title", "Patched\r\nBEGIN:VEVENT"}}));
  EXPECT_EQ(r.status, 422) << r.describe();

  const std::string text = ics("/feeds/communities/alpha.ics");
  expect_wire_format(text);
  const IcalFeed cal = parse_with_libical(text);
  ASSERT_TRUE(cal.parsed);
  EXPECT_EQ(cal.errors, 0) << text;
  EXPECT_EQ(cal.count(uid), 1) << text;
  EXPECT_EQ(cal.count("injected@evil.example"), 0) << text;
  EXPECT_EQ(cal.events.size(), 2u) << "the meeting and the annual placeholder, nothing injected:\n" << text;
  const auto lines = content_lines(text);
  EXPECT_EQ(std::count(lines.begin(), lines.end(), "BEGIN:VEVENT"), 2) << text;
  EXPECT_EQ(std::count(lines.begin(), lines.end(), "END:VEVENT"), 2) << text;
  const IcalEvent* e = cal.master(uid);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->summary, "Honest meeting");
  EXPECT_TRUE(contains(e->description, "Agenda\nEND:VEVENT\nBEGIN:VEVENT\nUID:injected@evil.example")) << e->description;
  if (python_icalendar_available()) {
    std::string output;
    EXPECT_EQ(python_roundtrip(text, 2, &output), 0) << output;
  }
}

namespace {

std::string gunzip(const std::string& data) {
  z_stream stream{};
  if (inflateInit2(&stream, 15 + 16) != Z_OK) return "";
  std::string out;
  char buffer[65536];
  stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  stream.avail_in = static_cast<uInt>(data.size());
  int result = Z_OK;
  while (result == Z_OK) {
    stream.next_out = reinterpret_cast<Bytef*>(buffer);
    stream.avail_out = sizeof buffer;
    result = inflate(&stream, Z_NO_FLUSH);
    out.append(buffer, sizeof buffer - stream.avail_out);
  }
  inflateEnd(&stream);
  return result == Z_STREAM_END ? out : "";
}

}  // namespace

TEST_F(FeedsTest, GzipClientsGetThePrecompressedCopyWithItsOwnEtag) {
  make_community("gz", "Gzip");
  const auto plain = feed("/feeds/communities/gz.ics");
  ASSERT_EQ(plain.status, 200) << plain.describe();
  EXPECT_EQ(plain.header("Content-Encoding"), "");
  EXPECT_EQ(plain.header("Vary"), "Accept-Encoding");

  const auto zipped = feed("/feeds/communities/gz.ics", {{"Accept-Encoding", "gzip, deflate, br"}});
  ASSERT_EQ(zipped.status, 200) << zipped.describe();
  EXPECT_EQ(zipped.header("Content-Encoding"), "gzip");
  EXPECT_EQ(zipped.header("Vary"), "Accept-Encoding");
  EXPECT_EQ(gunzip(zipped.body), plain.body) << "compressed once, not twice";
  EXPECT_NE(zipped.header("ETag"), plain.header("ETag")) << "two representations, two strong ETags";

  // Each ETag validates its own representation only.
  EXPECT_EQ(feed("/feeds/communities/gz.ics", {{"Accept-Encoding", "gzip"}, {"If-None-Match", zipped.header("ETag")}}).status,
            304);
  EXPECT_EQ(feed("/feeds/communities/gz.ics", {{"If-None-Match", zipped.header("ETag")}}).status, 200);
  // q=0 refuses gzip.
  EXPECT_EQ(feed("/feeds/communities/gz.ics", {{"Accept-Encoding", "gzip;q=0"}}).header("Content-Encoding"), "");
}
