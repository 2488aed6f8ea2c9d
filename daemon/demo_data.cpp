#include "daemon/demo_data.hpp"

#include "calendar/annual.hpp"
#include "calendar/local_time.hpp"
#include "daemon/api/api.hpp"
#include "store/conninfo.hpp"
#include "store/sql_time.hpp"
#include "store/tokens.hpp"

#include <boost/json/array.hpp>
#include <boost/json/serialize.hpp>

#include "daemon/http/message.hpp"
#include <pqxx/pqxx>

#include <map>
#include <stdexcept>
#include <tuple>

namespace convene::daemon {
namespace {

using namespace std::chrono;

// Held (on a session of its own) while loading, so two runs cannot both find the database empty.
constexpr std::int64_t kDemoLockKey = 0x636f6e76656e6544;  // "conveneD"

// Calls v1 routes in-process, each in its own transaction, as an HTTP client would.
class Client {
 public:
  explicit Client(api::Api& api) : api_(api) {}

  boost::json::value call(const std::string& method, const std::string& pattern,
                          const std::map<std::string, std::string>& params, const std::string& token,
                          const boost::json::object* body = nullptr) {
    http::Request request;
    request.method = method;
    request.path = pattern;
    for (const auto& [name, value] : params) {
      const auto at = request.path.find("{" + name + "}");
      if (at != std::string::npos) request.path.replace(at, name.size() + 2, value);
    }
    request.headers.emplace("Authorization", "Bearer " + token);
    if (body != nullptr) {
      request.body = boost::json::serialize(*body);
      request.headers.emplace("Content-Type", "application/json");
    }
    const api::Reply reply = api_.run(pattern, request, params);
    if (reply.failed())
      throw std::runtime_error(method + " " + request.path + " answered " + std::to_string(reply.status) + ": " +
                               boost::json::serialize(reply.body));
    return reply.body;
  }
  boost::json::value post(const std::string& pattern, const std::map<std::string, std::string>& params,
                          const std::string& token, const boost::json::object& body) {
    return call("POST", pattern, params, token, &body);
  }
  boost::json::value put(const std::string& pattern, const std::map<std::string, std::string>& params,
                         const std::string& token, const boost::json::object& body) {
    return call("PUT", pattern, params, token, &body);
  }

 private:
  api::Api& api_;
};

struct Person {
  const char* email;
  const char* name;
  const char* zone;
  int digest_hour;
  const char* weekly_day;
  std::vector<const char*> reminders;
};

// The association's people: leaders first, then members.
const std::vector<Person>& people() {
  static const std::vector<Person> list = {
      {"margaret.okafor@example.org", "Margaret Okafor", "Europe/London", 8, "monday", {"P1D", "PT1H"}},
      {"ada.fernandez@example.org", "Ada Fernández", "America/New_York", 7, "monday", {"P1D", "PT1H"}},
      {"kenji.watanabe@example.org", "Kenji Watanabe", "Asia/Tokyo", 7, "sunday", {"PT2H"}},
      {"lena.schmidt@example.org", "Lena Schmidt", "Europe/Berlin", 9, "friday", {"P1D", "PT30M"}},
      {"priya.raman@example.org", "Priya Raman", "Asia/Kolkata", 9, "friday", {"P1D"}},
      {"tom.becker@example.org", "Tom Becker", "Europe/London", 18, "wednesday", {"PT1H"}},
      {"amara.nwosu@example.org", "Amara Nwosu", "Africa/Lagos", 7, "monday", {"P1D", "PT1H"}},
      {"diego.alvarez@example.org", "Diego Álvarez", "America/Mexico_City", 8, "tuesday", {"P2D", "PT1H"}},
      {"sofia.rossi@example.org", "Sofia Rossi", "Europe/Rome", 7, "monday", {"P1D", "PT1H"}},
      {"noah.williams@example.org", "Noah Williams", "America/Los_Angeles", 6, "thursday", {"PT15M"}},
      {"mei.chen@example.org", "Mei Chen", "Australia/Sydney", 20, "saturday", {"P1D"}},
      {"olga.petrova@example.org", "Olga Petrova", "Europe/Helsinki", 7, "monday", {}},
      {"samir.haddad@example.org", "Samir Haddad", "America/Toronto", 12, "wednesday", {"P1D", "PT1H"}},
  };
  return list;
}

local_days today_in(calendar::Instant now, const std::string& zone) {
  return floor<days>(calendar::to_local(now, zone));
}

// The first day on or after `from` that falls on `wd`.
local_days on_or_after(local_days from, weekday wd) { return from + (wd - weekday{from}); }

// `from`, or the Monday after it when it falls on a weekend.
local_days weekday_on_or_after(local_days from) {
  const weekday wd{from};
  if (wd == Saturday) return from + days(2);
  if (wd == Sunday) return from + days(1);
  return from;
}

std::string at(local_days day, hours h, minutes m = minutes(0)) {
  return calendar::format_local_datetime(calendar::LocalDateTime{day + h + m});
}

std::string json_string(const boost::json::value& v, const char* key) { return std::string(v.at(key).as_string()); }

}  // namespace

DemoDataOutcome load_demo_data(store::Database& database, const Config& config, const calendar::Clock& clock) {
  DemoDataOutcome outcome;
  pqxx::connection lock(store::with_session_defaults(config.database_url,
                                                     duration_cast<seconds>(config.database_connect_timeout),
                                                     "convened-demo-data"));
  pqxx::nontransaction(lock).exec_params("SELECT pg_advisory_lock($1)", kDemoLockKey);

  const auto communities_before = database.transact([](pqxx::work& tx) {
    return tx.exec("SELECT count(*) FROM communities")[0][0].as<std::int64_t>();
  });
  if (communities_before > 0) {
    outcome.report.push_back("demo data skipped: the database already has " + std::to_string(communities_before) +
                             (communities_before == 1 ? " community" : " communities"));
    return outcome;
  }

  const calendar::Instant now = clock.now();
  const std::string now_sql = store::sql_instant(now);
  const std::string& org_zone = config.organisation_time_zone;
  const year_month_day org_today{today_in(now, org_zone)};

  // The demo admin, made directly (as `convened token create --role admin` would): the API
  // needs an admin to begin with.
  const std::string admin_email = "demo-admin@example.org";
  const std::string admin_token = store::generate_token(store::TokenPurpose::api);
  database.transact([&](pqxx::work& tx) {
    auto rows = tx.exec_params("SELECT id FROM members WHERE lower(email) = lower($1)", admin_email);
    const auto id = rows.empty() ? tx.exec_params("INSERT INTO members (email, name, time_zone, created_at, updated_at) "
                                                  "VALUES ($1, 'Demo Admin', $2, $3, $3) RETURNING id",
                                                  admin_email, org_zone, now_sql)[0][0]
                                       .as<std::int64_t>()
                                 : rows[0][0].as<std::int64_t>();
    tx.exec_params(
        "INSERT INTO roles (member_id, role, starts_on, created_at) SELECT $1, 'admin', $2::date, $3 "
        "WHERE NOT EXISTS (SELECT 1 FROM roles WHERE member_id = $1 AND role = 'admin' AND community_id IS NULL "
        "AND starts_on <= $2::date AND (ends_on IS NULL OR ends_on >= $2::date))",
        id, calendar::format_date(org_today), now_sql);
    store::insert_token(tx, id, store::TokenPurpose::api, admin_token, "demo data", now_sql);
  });

  api::Api api = api::v1_api(api::Services{database, config, clock});
  Client client(api);
  const std::string& admin = admin_token;

  // Rooms.
  std::map<std::string, std::int64_t> room;
  for (const auto& [key, name, capacity] : std::vector<std::tuple<std::string, std::string, int>>{
           {"lovelace", "Lovelace Room", 100}, {"hopper", "Hopper Room", 50}, {"turing", "Turing Room", 25}})
    room[key] = client.post("/v1/rooms", {}, admin,
                            {{"name", name}, {"join_url", "https://meet.example.org/" + key}, {"capacity", capacity}})
                    .at("id")
                    .as_int64();

  // Communities (each gets its annual-meeting placeholder for this year).
  struct CommunitySpec {
    const char* slug;
    const char* name;
    const char* description;
    const char* zone;
    const char* visibility;
  };
  const std::vector<CommunitySpec> community_specs = {
      {"data-science", "Data Science",
       "Statistics, machine learning and the everyday craft of working with data: paper readings, show-and-tell "
       "sessions and office hours.",
       "America/New_York", "public"},
      {"rust-users", "Rust Users",
       "Writing, reviewing and shipping Rust: ownership puzzles, async, embedded targets and tooling.", "Europe/Berlin",
       "public"},
      {"ux-research", "UX Research", "Research methods, recruiting participants, synthesis and research operations.",
       "Europe/London", "public"},
      {"open-source-maintainers", "Open Source Maintainers",
       "Sustaining open source projects: triage, governance, funding, security releases and avoiding burnout.", "UTC",
       "members"},
  };
  for (const auto& c : community_specs)
    client.post("/v1/communities", {}, admin,
                {{"slug", c.slug}, {"name", c.name}, {"description", c.description}, {"time_zone", c.zone},
                 {"visibility", c.visibility}});

  // People, through POST /v1/members (or found, when an earlier run made them).
  std::map<std::string, std::int64_t> id;  // by email
  for (const auto& p : people()) {
    const auto existing = database.transact([&](pqxx::work& tx) {
      return tx.exec_params("SELECT id FROM members WHERE lower(email) = lower($1)", std::string(p.email));
    });
    if (!existing.empty()) {
      id[p.email] = existing[0][0].as<std::int64_t>();
      continue;
    }
    boost::json::array reminders;
    for (const auto* r : p.reminders) reminders.emplace_back(r);
    id[p.email] = client
                      .post("/v1/members", {}, admin,
                            {{"email", p.email},
                             {"name", p.name},
                             {"time_zone", p.zone},
                             {"digest_hour", p.digest_hour},
                             {"weekly_day", p.weekly_day},
                             {"reminder_offsets", std::move(reminders)}})
                      .at("id")
                      .as_int64();
  }
  auto member = [&](const char* email) { return std::to_string(id.at(email)); };

  // The committee is a global role; the API has no route for it (convened token create does it).
  const std::string committee_email = "margaret.okafor@example.org";
  database.transact([&](pqxx::work& tx) {
    tx.exec_params(
        "INSERT INTO roles (member_id, role, starts_on, created_at) SELECT $1, 'committee', $2::date, $3 "
        "WHERE NOT EXISTS (SELECT 1 FROM roles WHERE member_id = $1 AND role = 'committee' AND community_id IS NULL)",
        id.at(committee_email), calendar::format_date(org_today), now_sql);
  });

  // Memberships with mixed delivery modes; Samir joins everything.
  const std::vector<std::tuple<const char*, const char*, const char*>> memberships = {
      {"data-science", "ada.fernandez@example.org", "realtime"},
      {"data-science", "diego.alvarez@example.org", "realtime"},
      {"data-science", "sofia.rossi@example.org", "daily"},
      {"data-science", "noah.williams@example.org", "weekly"},
      {"data-science", "mei.chen@example.org", "daily"},
      {"data-science", "priya.raman@example.org", "none"},
      {"rust-users", "kenji.watanabe@example.org", "realtime"},
      {"rust-users", "lena.schmidt@example.org", "realtime"},
      {"rust-users", "noah.williams@example.org", "realtime"},
      {"rust-users", "olga.petrova@example.org", "weekly"},
      {"rust-users", "amara.nwosu@example.org", "daily"},
      {"ux-research", "priya.raman@example.org", "realtime"},
      {"ux-research", "tom.becker@example.org", "realtime"},
      {"ux-research", "sofia.rossi@example.org", "weekly"},
      {"ux-research", "mei.chen@example.org", "none"},
      {"open-source-maintainers", "amara.nwosu@example.org", "realtime"},
      {"open-source-maintainers", "lena.schmidt@example.org", "daily"},
      {"open-source-maintainers", "kenji.watanabe@example.org", "weekly"},
      {"open-source-maintainers", "olga.petrova@example.org", "daily"},
      {"open-source-maintainers", "margaret.okafor@example.org", "weekly"},
  };
  for (const auto& [slug, email, delivery] : memberships)
    client.put("/v1/communities/{slug}/members/{member_id}", {{"slug", slug}, {"member_id", member(email)}}, admin,
               {{"delivery", delivery}});
  client.post("/v1/members/{id}/join-all", {{"id", member("samir.haddad@example.org")}}, admin, {{"delivery", "daily"}});

  // Leaders: volunteer roles from today; one ends in six months.
  const year_month_day in_six_months{sys_days{org_today} + days(183)};
  const std::vector<std::tuple<const char*, const char*, const char*>> roles = {
      {"data-science", "ada.fernandez@example.org", "discussion_monitor"},
      {"data-science", "ada.fernandez@example.org", "meeting_coordinator"},
      {"data-science", "diego.alvarez@example.org", "event_coordinator"},
      {"rust-users", "lena.schmidt@example.org", "discussion_monitor"},
      {"rust-users", "kenji.watanabe@example.org", "meeting_coordinator"},
      {"rust-users", "lena.schmidt@example.org", "event_coordinator"},
      {"ux-research", "priya.raman@example.org", "discussion_monitor"},
      {"ux-research", "priya.raman@example.org", "meeting_coordinator"},
      {"ux-research", "tom.becker@example.org", "event_coordinator"},
      {"open-source-maintainers", "amara.nwosu@example.org", "discussion_monitor"},
      {"open-source-maintainers", "amara.nwosu@example.org", "meeting_coordinator"},
  };
  for (const auto& [slug, email, role] : roles) {
    boost::json::object body{{"role", role}};
    if (std::string_view(email) == "tom.becker@example.org") body["ends_on"] = calendar::format_date(in_six_months);
    client.put("/v1/communities/{slug}/roles/{member_id}", {{"slug", slug}, {"member_id", member(email)}}, admin, body);
  }

  // Leaders act with their own tokens, so topics and meetings show who made them.
  std::map<std::string, std::string> token;
  for (const char* email : {"margaret.okafor@example.org", "ada.fernandez@example.org", "kenji.watanabe@example.org",
                            "lena.schmidt@example.org", "priya.raman@example.org", "tom.becker@example.org",
                            "amara.nwosu@example.org", "diego.alvarez@example.org"})
    token[email] = json_string(client.post("/v1/members/{id}/tokens", {{"id", member(email)}}, admin,
                                           {{"label", "demo data"}}),
                               "token");

  // Topic cadences and the first topics.
  for (const auto& [slug, every] : std::vector<std::pair<const char*, const char*>>{
           {"data-science", "P7D"}, {"rust-users", "P14D"}, {"open-source-maintainers", "P28D"}})
    client.put("/v1/communities/{slug}/topic-cadence", {{"slug", slug}}, admin, {{"every", every}});
  struct TopicSpec {
    const char* slug;
    const char* monitor;
    const char* title;
    const char* body;
    const char* url;
  };
  const std::vector<TopicSpec> topics = {
      {"data-science", "ada.fernandez@example.org", "Paper of the month: Attention Is All You Need",
       "Eight years on, which of its design choices still hold up, and which would you change? Bring one example from "
       "your own work.",
       "https://arxiv.org/abs/1706.03762"},
      {"data-science", "ada.fernandez@example.org", "Share your favourite data-cleaning trick",
       "One trick, one line of explanation. Bonus points for something that saved you a week.", nullptr},
      {"rust-users", "lena.schmidt@example.org", "Async fn in traits: what are you migrating first?",
       "Tell us which crate or service you are moving off async-trait, and what surprised you.",
       "https://blog.rust-lang.org/"},
      {"ux-research", "priya.raman@example.org", "How do you recruit participants for B2B studies?",
       "Panels, customer success, LinkedIn? What response rates do you see?", nullptr},
      {"open-source-maintainers", "amara.nwosu@example.org", "Security release checklists: share yours",
       "Embargoes, CVE requests, backports and the announcement: what is on your list?", "https://openssf.org/"},
  };
  for (const auto& t : topics) {
    boost::json::object body{{"title", t.title}, {"body", t.body}};
    if (t.url != nullptr) body["url"] = t.url;
    client.post("/v1/communities/{slug}/topics", {{"slug", t.slug}}, token.at(t.monitor), body);
  }

  // Meetings in the coming weeks. Each series has a room of its own and every one-off in the
  // Turing Room is on a different day, so nothing can conflict whenever this runs.
  const auto ny_today = today_in(now, "America/New_York");
  const auto berlin_today = today_in(now, "Europe/Berlin");
  const auto london_today = today_in(now, "Europe/London");
  std::size_t meetings = 0;
  auto meeting = [&](const char* slug, const std::string& coordinator, boost::json::object body) {
    client.post("/v1/communities/{slug}/meetings", {{"slug", slug}}, token.at(coordinator), body);
    ++meetings;
  };
  {
    const auto day = on_or_after(ny_today + days(2), Tuesday);
    meeting("data-science", "ada.fernandez@example.org",
            {{"kind", "meeting"},
             {"title", "Data Science office hours"},
             {"description", "Bring a question, a notebook or a half-finished chart. Every Tuesday."},
             {"start", at(day, hours(12))},
             {"end", at(day, hours(13))},
             {"time_zone", "America/New_York"},
             {"rrule", "FREQ=WEEKLY;BYDAY=TU"},
             {"room_id", room.at("lovelace")}});
  }
  {
    const auto day = on_or_after(berlin_today + days(3), Thursday);
    meeting("rust-users", "kenji.watanabe@example.org",
            {{"kind", "meeting"},
             {"title", "Rust study group"},
             {"description", "Every other Thursday we work through a chapter of Rust for Rustaceans."},
             {"start", at(day, hours(18), minutes(30))},
             {"end", at(day, hours(20))},
             {"time_zone", "Europe/Berlin"},
             {"rrule", "FREQ=WEEKLY;INTERVAL=2;BYDAY=TH"},
             {"room_id", room.at("hopper")}});
  }
  // One-offs in the Turing Room, 10:00-11:30 London time on different days.
  const auto ux_day = weekday_on_or_after(london_today + days(9));
  meeting("ux-research", "priya.raman@example.org",
          {{"kind", "meeting"},
           {"title", "Usability testing clinic"},
           {"description", "Watch a live session, then practise note-taking and synthesis together."},
           {"start", at(ux_day, hours(10))},
           {"end", at(ux_day, hours(11), minutes(30))},
           {"time_zone", "Europe/London"},
           {"room_id", room.at("turing")}});
  const auto oss_day = weekday_on_or_after(london_today + days(16));
  meeting("open-source-maintainers", "amara.nwosu@example.org",
          {{"kind", "meeting"},
           {"title", "Issue triage sprint"},
           {"description", "Two focused hours on each other's backlogs: label, close, and find good first issues."},
           {"start", at(oss_day, hours(10))},
           {"end", at(oss_day, hours(11), minutes(30))},
           {"time_zone", "Europe/London"},
           {"room_id", room.at("turing")}});
  const auto paper_day = weekday_on_or_after(london_today + days(23));
  meeting("data-science", "ada.fernandez@example.org",
          {{"kind", "meeting"},
           {"title", "Paper reading: Attention Is All You Need"},
           {"description", "Read the paper beforehand; we discuss sections 3 and 4."},
           {"start", at(paper_day, hours(10))},
           {"end", at(paper_day, hours(11), minutes(30))},
           {"time_zone", "Europe/London"},
           {"room_id", room.at("turing")}});
  // Special events: a guest speaker (Turing Room, evening), a monthly book club (no room) and a
  // submission deadline.
  const auto speaker_day = weekday_on_or_after(london_today + days(30));
  meeting("rust-users", "lena.schmidt@example.org",
          {{"kind", "special_event"},
           {"title", "Guest speaker: fearless concurrency in production"},
           {"description", "A talk and Q&A on running Rust services at scale."},
           {"start", at(speaker_day, hours(18))},
           {"end", at(speaker_day, hours(20))},
           {"time_zone", "Europe/London"},
           {"room_id", room.at("turing")}});
  {
    // The first Wednesday of next month.
    const year_month_day today{london_today};
    const auto day = on_or_after(local_days{(today.year() / today.month() / 1) + months(1)}, Wednesday);
    meeting("ux-research", "tom.becker@example.org",
            {{"kind", "special_event"},
             {"title", "UX book club"},
             {"description", "This season: Just Enough Research, one part a month."},
             {"start", at(day, hours(17), minutes(30))},
             {"end", at(day, hours(18), minutes(30))},
             {"time_zone", "Europe/London"},
             {"rrule", "FREQ=MONTHLY;BYDAY=1WE;COUNT=6"}});
  }
  {
    const auto day = ny_today + days(40);
    meeting("data-science", "diego.alvarez@example.org",
            {{"kind", "deadline"},
             {"title", "Conference session submissions close"},
             {"description", "Submit talk and workshop proposals for the association's annual conference."},
             {"start", at(day, hours(23))},
             {"end", at(day, hours(23), minutes(59))},
             {"time_zone", "America/New_York"}});
  }

  // Annual meetings: placeholders for this year (made with the communities) and next year, and
  // the next window's meeting of data-science confirmed on a Tuesday afternoon.
  const int this_year = static_cast<int>(org_today.year());
  const std::string committee = token.at(committee_email);
  client.call("GET", "/v1/annual-meetings/{year}", {{"year", std::to_string(this_year)}}, committee);
  client.call("GET", "/v1/annual-meetings/{year}", {{"year", std::to_string(this_year + 1)}}, committee);
  const int annual_year = org_today < calendar::annual_window(this_year).first ? this_year : this_year + 1;
  const auto window = calendar::annual_window(annual_year);
  const local_days annual_day = on_or_after(local_days{window.first}, Tuesday);
  client.put("/v1/communities/{slug}/annual-meeting/{year}",
             {{"slug", "data-science"}, {"year", std::to_string(annual_year)}}, committee,
             {{"start", at(annual_day, hours(15))}, {"end", at(annual_day, hours(16), minutes(30))}, {"time_zone", org_zone}});

  // What there is now, for the report.
  const auto counts = database.transact([](pqxx::work& tx) {
    return tx.exec(
        "SELECT (SELECT count(*) FROM communities), (SELECT count(*) FROM rooms), (SELECT count(*) FROM members), "
        "(SELECT count(*) FROM memberships), (SELECT count(*) FROM meetings WHERE kind <> 'annual'), "
        "(SELECT count(*) FROM topics), (SELECT count(*) FROM meetings WHERE kind = 'annual')")[0];
  });
  auto n = [&](int i) { return std::string(counts[i].c_str()); };
  outcome.loaded = true;
  auto& out = outcome.report;
  out.push_back("demo data loaded: " + n(0) + " communities, " + n(1) + " rooms, " + n(2) + " members, " + n(3) +
                " memberships, " + n(4) + " meetings and events, " + n(5) + " topics, " + n(6) +
                " annual meetings (data-science's " + std::to_string(annual_year) + " one confirmed for " +
                at(annual_day, hours(15)).substr(0, 16) + " " + org_zone + ", the others TBD)");
  out.push_back("");
  out.push_back("Try the API with these tokens (they are shown only once):");
  out.push_back("  admin        " + admin_email + "  " + admin_token);
  out.push_back("  committee    " + committee_email + "  " + committee);
  out.push_back("  coordinator  ada.fernandez@example.org (data-science)  " + token.at("ada.fernandez@example.org"));
  out.push_back("for example:");
  out.push_back("  curl -H 'Authorization: Bearer " + admin_token + "' " + config.public_url + "/v1/communities");
  out.push_back("  curl -H 'Authorization: Bearer " + token.at("ada.fernandez@example.org") + "' " + config.public_url +
                "/v1/me");
  out.push_back("");
  out.push_back("Demo members (emails land in the state directory's mail/ folder while no SMTP relay is configured):");
  for (const auto& p : people()) out.push_back("  " + std::string(p.email) + "  " + p.name + "  (" + p.zone + ")");
  return outcome;
}

}  // namespace convene::daemon
