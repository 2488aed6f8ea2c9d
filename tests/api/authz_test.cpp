// Authorisation matrix (DESIGN §2): every route registered by api::v1_api, for seven personas.
//
//   anonymous    no token                                  -> 401 everywhere (with WWW-Authenticate)
//   member       plain member of community A (alpha)
//   monitor      discussion_monitor of A
//   other_coord  meeting_coordinator + event_coordinator of B (beta) only
//   coord        meeting_coordinator + event_coordinator of A
//   committee    global committee role
//   admin        global admin role
//
// The table has one row per route: who may call it and its exact success status; everyone else
// gets 403 (problem+json) and anonymous callers 401 with WWW-Authenticate. Rows are grouped by
// resource, one parameterised TEST per group (a fresh database and scene each). Within a row
// the personas run in the order above: every refused call is rolled back, so the allowed
// personas (always the last ones) find the scene intact; where an allowed call consumes its
// target the row builds a fresh one, and rows that spoil the scene come last in their group.
// AuthzCoverage fails when a registered route has no row, so new routes must be added here.
//
// Assumptions where DESIGN §2 leaves room:
//   - GET /v1/members/{id}: the member themselves, the committee (it assigns roles, so it
//     must be able to look people up) and admins.
//   - GET /v1/members/{id}/upcoming and /digest-preview: the member themselves and admins
//     (what someone will receive is theirs; the committee does not need it).
//   - GET /v1/communities/{slug}/members: the community's own leaders (any of the three
//     roles), the committee and admins.
//   - GET /v1/rooms/{id}/bookings: coordinators of any community, the committee and admins
//     (same audience as /feeds/rooms/{id}.ics in §5).
//   - PUT topic-cadence: the community's discussion monitors, the committee and admins.
//   - POST topics: the community's discussion monitors and admins (not the committee).
//   - Directory reads (GET communities, community, rooms, meetings, annual-meetings, /v1/me)
//     are open to every authenticated member.
#include "support/api_fixture.hpp"
#include "support/route_patterns.hpp"

#include "daemon/api/api.hpp"
#include "daemon/http_server.hpp"
#include "store/database.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include <algorithm>
#include <array>
#include <functional>
#include <map>
#include <set>

namespace {

using convene::testing::ApiTest;
namespace json = boost::json;

enum Persona { anonymous, member, monitor, other_coord, coord, committee, admin, kPersonas };
constexpr std::array<const char*, kPersonas> kPersonaNames = {"anonymous",   "member",    "monitor", "other_coord",
                                                             "coord",       "committee", "admin"};

struct Response {
  int status = 0;
  std::string body;
  std::string content_type;
  httplib::Headers headers;
  json::value json;
  std::string describe() const { return std::to_string(status) + " " + body.substr(0, 600); }
  std::string header(const std::string& name) const {
    const auto it = headers.find(name);
    return it == headers.end() ? std::string() : it->second;
  }
};

struct Req {
  std::string method;
  std::string path;
  std::string body;  // empty: no body
  std::string content_type = "application/json";
};

class AuthzBase;
using MakeRequest = std::function<Req(AuthzBase&, Persona)>;

struct Row {
  std::string group;  // rows of a group run in one test, in table order (destructive rows last)
  std::string method;
  std::string pattern;  // as registered: "/v1/communities/{slug}"
  int ok;               // the exact success status for allowed personas
  std::set<Persona> allowed;
  MakeRequest make;
};

std::string j(const json::value& v) { return json::serialize(v); }

// The scene of every test: communities alpha (A) and beta (B), a room, a weekly meeting in A
// with the room, and one member per persona. Requests go through a second HttpServer on the
// same database and clock so that response headers can be inspected.
class AuthzBase : public ApiTest {
 public:
  using ApiTest::make_community;
  using ApiTest::make_member;
  using ApiTest::make_room;
  using ApiTest::token_for;

  std::array<std::string, kPersonas> tokens;
  std::int64_t member_id = 0, monitor_id = 0, other_id = 0, coord_id = 0, committee_id = 0;
  std::int64_t alpha_id = 0, beta_id = 0, room_id = 0, meeting_id = 0;
  int serial = 0;

  std::string next(const std::string& prefix) { return prefix + std::to_string(++serial); }

  // An endpoint of the plain member's, made by an admin.
  std::int64_t member_webhook() {
    const auto r = admin_call("POST", "/v1/members/" + std::to_string(member_id) + "/webhooks",
                              j({{"url", "https://hooks.example.org/" + next("h")}}));
    if (r.status != 201) throw std::runtime_error("webhook: " + r.describe());
    return r.json.at("id").as_int64();
  }

  // A notification that failed for good, for the retry route.
  std::string dead_notification() {
    pqxx::connection c(db.url());
    pqxx::work tx(c);
    const auto id = tx.exec_params(
                          "INSERT INTO notifications (id, dedupe_key, member_id, channel, kind, recipient, state, attempts, "
                          "due_at, created_at) VALUES (notification_id($1), $1, $2, 'email', 'topic.posted', "
                          "'member@example.org', 'dead', 12, now(), now()) "
                          "RETURNING id",
                          next("dead-n-"), member_id)[0][0]
                        .as<std::string>();
    tx.commit();
    return id;
  }

  // A suppressed address, for the route that removes it.
  std::string suppressed_address() {
    const std::string address = next("bounced-") + "@example.org";
    suppress(address);
    return address;
  }

  // A job that failed for good, for the retry route.
  std::int64_t dead_job() {
    pqxx::connection c(db.url());
    pqxx::work tx(c);
    const auto id = tx.exec_params(
                          "INSERT INTO jobs (kind, unique_key, due_at, state, attempts, last_error, created_at, updated_at) "
                          "VALUES ('noop', $1, now(), 'dead', 5, 'boom', now(), now()) RETURNING id",
                          next("dead-"))[0][0]
                        .as<std::int64_t>();
    tx.commit();
    return id;
  }

  Response call(const std::string& method, const std::string& path, const std::string& token,
                const std::string& body = "", const std::string& authorization = "",
                const std::string& content_type = "application/json") {
    httplib::Headers headers;
    if (!authorization.empty()) headers.emplace("Authorization", authorization);
    else if (!token.empty()) headers.emplace("Authorization", "Bearer " + token);
    httplib::Result result{nullptr, httplib::Error::Unknown};
    const char* type = content_type.c_str();
    if (method == "GET") result = client_->Get(path.c_str(), headers);
    else if (method == "POST") result = client_->Post(path.c_str(), headers, body, type);
    else if (method == "PUT") result = client_->Put(path.c_str(), headers, body, type);
    else if (method == "PATCH") result = client_->Patch(path.c_str(), headers, body, type);
    else if (method == "DELETE") result = client_->Delete(path.c_str(), headers, body, type);
    Response r;
    if (!result) return r;
    r.status = result->status;
    r.body = result->body;
    r.headers = result->headers;
    r.content_type = result->get_header_value("Content-Type");
    if (r.content_type.find("json") != std::string::npos && !r.body.empty()) {
      boost::system::error_code ec;
      r.json = json::parse(r.body, ec);
    }
    return r;
  }
  Response as(Persona p, const Req& req) {
    return call(req.method, req.path, tokens[p], req.body, "", req.content_type);
  }
  Response admin_call(const std::string& method, const std::string& path, const std::string& body = "") {
    return call(method, path, tokens[admin], body);
  }

  void sql(const std::string& statement) {
    pqxx::connection c(db.url());
    pqxx::work tx(c);
    tx.exec(statement);
    tx.commit();
  }

  // A fresh community (through the API, as admin) with the plain member in it.
  std::string fresh_community() {
    const std::string slug = next("fresh-");
    make_community(slug, "Fresh " + slug);
    join(slug, member_id);
    return slug;
  }
  void join(const std::string& slug, std::int64_t who) {
    const auto r = admin_call("PUT", "/v1/communities/" + slug + "/members/" + std::to_string(who),
                              j({{"delivery", "realtime"}}));
    if (r.status != 201 && r.status != 200) throw std::runtime_error("join: " + r.describe());
  }
  std::int64_t create_meeting(const std::string& slug, const json::object& body) {
    const auto r = admin_call("POST", "/v1/communities/" + slug + "/meetings", j(body));
    if (r.status != 201) throw std::runtime_error("create meeting: " + r.describe());
    return r.json.at("id").as_int64();
  }

 protected:
  void SetUp() override {
    ApiTest::SetUp();
    // Every allowed persona makes the member (and community alpha) an endpoint; the caps have
    // tests of their own (webhooks_test.cpp).
    config.webhook_max_endpoints_per_member = 1000;
    config.webhook_max_endpoints_per_community = 1000;
    database_ = std::make_unique<convene::store::Database>(convene::store::PoolOptions{db.url(), 4});
    api_ = std::make_unique<convene::api::Api>(
        convene::api::v1_api(convene::api::Services{*database_, config, clock, nullptr, [] {}, templates()}));
    metrics_ = std::make_unique<convene::daemon::HttpMetrics>();
    readiness_ = std::make_unique<convene::daemon::Readiness>(*database_, convene::testing::project_migrations());
    server_ = std::make_unique<convene::daemon::HttpServer>(
        loop(), config, convene::daemon::HttpServer::Services{
                    *readiness_, *metrics_, [] { return std::string(); },
                    [this](convene::daemon::http::Router& router) { api_->install(router); }});
    server_->start();
    client_ = std::make_unique<httplib::Client>("127.0.0.1", server_->port());
    client_->set_read_timeout(30, 0);

    tokens[admin] = admin_token;
    alpha_id = make_community("alpha", "Alpha");
    beta_id = make_community("beta", "Beta");
    room_id = make_room("room-1");
    member_id = make_member("member@example.org");
    monitor_id = make_member("monitor@example.org");
    other_id = make_member("other@example.org");
    coord_id = make_member("coord@example.org");
    committee_id = make_member("committee@example.org");
    tokens[member] = token_for(member_id);
    tokens[monitor] = token_for(monitor_id);
    tokens[other_coord] = token_for(other_id);
    tokens[coord] = token_for(coord_id);
    tokens[committee] = token_for(committee_id);
    grant(monitor_id, "alpha", "discussion_monitor");
    grant(coord_id, "alpha", "meeting_coordinator");
    grant(coord_id, "alpha", "event_coordinator");
    grant(other_id, "beta", "meeting_coordinator");
    grant(other_id, "beta", "event_coordinator");
    grant_global(committee_id, "committee");
    join("alpha", member_id);
    join("alpha", monitor_id);
    join("alpha", coord_id);
    join("beta", other_id);
    // Weekly on Wednesdays 10:00-11:00 London from 2026-12-02, in room-1.
    meeting_id = create_meeting("alpha", {{"title", "Weekly sync"},
                                          {"start", "2026-12-02T10:00"},
                                          {"end", "2026-12-02T11:00"},
                                          {"time_zone", "Europe/London"},
                                          {"rrule", "FREQ=WEEKLY"},
                                          {"room_id", room_id}});
  }

  void TearDown() override {
    client_.reset();
    if (server_) stop_server(*server_);
    server_.reset();
    readiness_.reset();
    metrics_.reset();
    api_.reset();
    database_.reset();
    ApiTest::TearDown();
  }

 private:
  std::unique_ptr<convene::store::Database> database_;
  std::unique_ptr<convene::api::Api> api_;
  std::unique_ptr<convene::daemon::HttpMetrics> metrics_;
  std::unique_ptr<convene::daemon::Readiness> readiness_;
  std::unique_ptr<convene::daemon::HttpServer> server_;
  std::unique_ptr<httplib::Client> client_;
};

const std::set<Persona> kEveryone = {member, monitor, other_coord, coord, committee, admin};

std::string id(std::int64_t v) { return std::to_string(v); }

// One row per registered route.
std::vector<Row> matrix() {
  using P = Persona;
  std::vector<Row> rows;
  std::string group;
  auto add = [&](std::string method, std::string pattern, int ok, std::set<P> allowed, MakeRequest make) {
    rows.push_back(Row{group, std::move(method), std::move(pattern), ok, std::move(allowed), std::move(make)});
  };

  // --- members -------------------------------------------------------------------------
  group = "members";
  add("GET", "/v1/me", 200, kEveryone, [](AuthzBase&, P) { return Req{"GET", "/v1/me", ""}; });
  add("POST", "/v1/members", 201, {admin}, [](AuthzBase& t, P) {
    return Req{"POST", "/v1/members",
               j({{"email", t.next("new") + "@example.org"}, {"name", "New Person"}, {"time_zone", "Europe/Paris"}})};
  });
  // Someone else's profile: the member themselves, the committee and admins.
  add("GET", "/v1/members/{id}", 200, {member, committee, admin},
      [](AuthzBase& t, P) { return Req{"GET", "/v1/members/" + id(t.member_id), ""}; });
  add("PATCH", "/v1/members/{id}", 200, {member, admin},
      [](AuthzBase& t, P) { return Req{"PATCH", "/v1/members/" + id(t.member_id), j({{"digest_hour", 8}})}; });
  add("POST", "/v1/members/{id}/tokens", 201, {admin}, [](AuthzBase& t, P) {
    return Req{"POST", "/v1/members/" + id(t.member_id) + "/tokens", j({{"label", "laptop"}})};
  });
  add("POST", "/v1/members/{id}/feed-token", 201, {member, admin},
      [](AuthzBase& t, P) { return Req{"POST", "/v1/members/" + id(t.member_id) + "/feed-token", ""}; });
  add("POST", "/v1/members/{id}/join-all", 200, {member, admin}, [](AuthzBase& t, P) {
    return Req{"POST", "/v1/members/" + id(t.member_id) + "/join-all", j({{"delivery", "daily"}})};
  });
  // What a member will receive: the member themselves and admins.
  add("GET", "/v1/members/{id}/upcoming", 200, {member, admin}, [](AuthzBase& t, P) {
    return Req{"GET", "/v1/members/" + id(t.member_id) + "/upcoming?from=2026-12-01&to=2026-12-31", ""};
  });
  add("GET", "/v1/members/{id}/digest-preview", 200, {member, admin},
      [](AuthzBase& t, P) { return Req{"GET", "/v1/members/" + id(t.member_id) + "/digest-preview", ""}; });

  // --- communities ---------------------------------------------------------------------
  group = "communities";
  add("GET", "/v1/communities", 200, kEveryone, [](AuthzBase&, P) { return Req{"GET", "/v1/communities?q=alp", ""}; });
  add("POST", "/v1/communities", 201, {committee, admin}, [](AuthzBase& t, P) {
    return Req{"POST", "/v1/communities", j({{"slug", t.next("new-")}, {"name", "New community"}})};
  });
  // Refused personas try to merge their own A with B; allowed ones merge fresh communities.
  add("POST", "/v1/communities/merge", 201, {committee, admin}, [](AuthzBase& t, P p) {
    const bool allowed = p == committee || p == admin;
    const std::string a = allowed ? t.fresh_community() : "alpha", b = allowed ? t.fresh_community() : "beta";
    return Req{"POST", "/v1/communities/merge",
               j({{"from", json::array{a, b}}, {"into", {{"slug", t.next("merged-")}, {"name", "Merged"}}}})};
  });
  add("GET", "/v1/communities/{slug}", 200, kEveryone,
      [](AuthzBase&, P) { return Req{"GET", "/v1/communities/alpha", ""}; });
  add("PATCH", "/v1/communities/{slug}", 200, {committee, admin}, [](AuthzBase& t, P) {
    return Req{"PATCH", "/v1/communities/alpha", j({{"description", "Refocused " + t.next("")}})};
  });
  add("POST", "/v1/communities/{slug}/split", 201, {committee, admin}, [](AuthzBase& t, P) {
    return Req{"POST", "/v1/communities/alpha/split",
               j({{"into", json::array{json::object{{"slug", t.next("part-")}, {"name", "Part one"}},
                                       json::object{{"slug", t.next("part-")}, {"name", "Part two"}}}},
                  {"members", "copy"}})};
  });
  add("GET", "/v1/communities/{slug}/members", 200, {monitor, coord, committee, admin},
      [](AuthzBase&, P) { return Req{"GET", "/v1/communities/alpha/members", ""}; });
  // Last in its group. Archiving is idempotent: committee archives alpha, admin archives it again.
  add("POST", "/v1/communities/{slug}/archive", 200, {committee, admin},
      [](AuthzBase&, P) { return Req{"POST", "/v1/communities/alpha/archive", ""}; });

  // --- memberships and roles -------------------------------------------------------------
  group = "memberships_and_roles";
  add("PUT", "/v1/communities/{slug}/members/{member_id}", 200, {member, admin}, [](AuthzBase& t, P) {
    return Req{"PUT", "/v1/communities/alpha/members/" + id(t.member_id), j({{"delivery", "weekly"}})};
  });

  // Roles: the committee.
  add("PUT", "/v1/communities/{slug}/roles/{member_id}", 201, {committee, admin}, [](AuthzBase& t, P) {
    const auto target = t.make_member(t.next("volunteer") + "@example.org");
    return Req{"PUT", "/v1/communities/alpha/roles/" + id(target),
               j({{"role", "discussion_monitor"}, {"starts_on", "2026-11-28"}})};
  });
  add("DELETE", "/v1/communities/{slug}/roles/{member_id}/{role}", 204, {committee, admin}, [](AuthzBase& t, P) {
    return Req{"DELETE", "/v1/communities/alpha/roles/" + id(t.monitor_id) + "/discussion_monitor", ""};
  });
  // Members act on themselves: leaving last.
  add("DELETE", "/v1/communities/{slug}/members/{member_id}", 204, {member, admin},
      [](AuthzBase& t, P) { return Req{"DELETE", "/v1/communities/alpha/members/" + id(t.member_id), ""}; });

  // --- topics and rooms ------------------------------------------------------------------
  group = "topics_and_rooms";
  add("PUT", "/v1/communities/{slug}/topic-cadence", 200, {monitor, committee, admin},
      [](AuthzBase&, P) { return Req{"PUT", "/v1/communities/alpha/topic-cadence", j({{"every", "P7D"}})}; });
  add("POST", "/v1/communities/{slug}/topics", 201, {monitor, admin}, [](AuthzBase&, P) {
    return Req{"POST", "/v1/communities/alpha/topics",
               j({{"title", "What are you reading?"}, {"body", "Share it."}, {"url", "https://example.org/t/1"}})};
  });

  add("POST", "/v1/rooms", 201, {admin}, [](AuthzBase& t, P) {
    return Req{"POST", "/v1/rooms",
               j({{"name", t.next("room-x")}, {"join_url", "https://meet.example.org/x"}, {"capacity", 10}})};
  });
  add("GET", "/v1/rooms", 200, kEveryone, [](AuthzBase&, P) { return Req{"GET", "/v1/rooms", ""}; });
  add("GET", "/v1/rooms/{id}/bookings", 200, {other_coord, coord, committee, admin}, [](AuthzBase& t, P) {
    return Req{"GET", "/v1/rooms/" + id(t.room_id) + "/bookings?from=2026-12-01&to=2027-01-01", ""};
  });

  // --- meetings: the community's coordinators (cancelling the meeting last) --------------
  group = "meetings";
  add("POST", "/v1/communities/{slug}/meetings", 201, {coord, admin}, [](AuthzBase&, P) {
    return Req{"POST", "/v1/communities/alpha/meetings",
               j({{"kind", "meeting"},
                  {"title", "Kick-off"},
                  {"start", "2027-01-14T18:00"},
                  {"end", "2027-01-14T19:00"},
                  {"time_zone", "Europe/London"}})};
  });
  add("GET", "/v1/meetings/{id}", 200, kEveryone,
      [](AuthzBase& t, P) { return Req{"GET", "/v1/meetings/" + id(t.meeting_id), ""}; });
  add("PATCH", "/v1/meetings/{id}", 200, {coord, admin}, [](AuthzBase& t, P) {
    return Req{"PATCH", "/v1/meetings/" + id(t.meeting_id), j({{"description", "Agenda " + t.next("")}})};
  });
  add("PATCH", "/v1/meetings/{id}/occurrences/{recurrence_id}", 200, {coord, admin}, [](AuthzBase& t, P) {
    return Req{"PATCH", "/v1/meetings/" + id(t.meeting_id) + "/occurrences/2026-12-09T10:00",
               j({{"start", "2026-12-09T14:00"}, {"end", "2026-12-09T15:00"}})};
  });
  add("POST", "/v1/meetings/{id}/occurrences/{recurrence_id}/cancel", 200, {coord, admin}, [](AuthzBase& t, P) {
    return Req{"POST", "/v1/meetings/" + id(t.meeting_id) + "/occurrences/2026-12-16T10:00/cancel", ""};
  });
  add("POST", "/v1/meetings/{id}/cancel", 200, {coord, admin},
      [](AuthzBase& t, P) { return Req{"POST", "/v1/meetings/" + id(t.meeting_id) + "/cancel", ""}; });

  // --- annual meetings: the committee; bulk import: admins ----------------------------------
  group = "annual_and_import";
  add("GET", "/v1/annual-meetings/{year}", 200, kEveryone,
      [](AuthzBase&, P) { return Req{"GET", "/v1/annual-meetings/2027", ""}; });
  add("PUT", "/v1/communities/{slug}/annual-meeting/{year}", 200, {committee, admin}, [](AuthzBase&, P) {
    return Req{"PUT", "/v1/communities/alpha/annual-meeting/2027",
               j({{"start", "2027-07-12T14:00"}, {"end", "2027-07-12T15:30"}, {"time_zone", "Europe/London"}})};
  });
  add("POST", "/v1/annual-meetings/{year}/plan", 200, {committee, admin}, [](AuthzBase&, P) {
    return Req{"POST", "/v1/annual-meetings/2027/plan", j({{"duration", "PT1H"}, {"day_start", "10:00"}})};
  });
  // A genuine, current proposal (made by an admin just before each call).
  add("POST", "/v1/annual-meetings/{year}/plan/apply", 200, {committee, admin}, [](AuthzBase& t, P) {
    const auto plan = t.admin_call("POST", "/v1/annual-meetings/2027/plan", "{}");
    if (plan.status != 200) throw std::runtime_error("plan: " + plan.describe());
    return Req{"POST", "/v1/annual-meetings/2027/plan/apply", j({{"proposal", plan.json}})};
  });

  // --- webhooks: members' own; communities' by their coordinators ------------------------
  group = "webhooks";
  add("POST", "/v1/members/{id}/webhooks", 201, {member, admin}, [](AuthzBase& t, P) {
    return Req{"POST", "/v1/members/" + id(t.member_id) + "/webhooks", j({{"url", "https://hooks.example.org/m"}})};
  });
  add("GET", "/v1/members/{id}/webhooks", 200, {member, admin},
      [](AuthzBase& t, P) { return Req{"GET", "/v1/members/" + id(t.member_id) + "/webhooks", ""}; });
  add("POST", "/v1/communities/{slug}/webhooks", 201, {coord, admin}, [](AuthzBase&, P) {
    return Req{"POST", "/v1/communities/alpha/webhooks", j({{"url", "https://chat.example.org/alpha"}})};
  });
  add("GET", "/v1/communities/{slug}/webhooks", 200, {coord, admin},
      [](AuthzBase&, P) { return Req{"GET", "/v1/communities/alpha/webhooks", ""}; });
  add("POST", "/v1/webhooks/{id}/rotate-secret", 200, {member, admin}, [](AuthzBase& t, P) {
    return Req{"POST", "/v1/webhooks/" + id(t.member_webhook()) + "/rotate-secret", ""};
  });
  add("DELETE", "/v1/webhooks/{id}", 204, {member, admin},
      [](AuthzBase& t, P) { return Req{"DELETE", "/v1/webhooks/" + id(t.member_webhook()), ""}; });

  // --- operators ---------------------------------------------------------------------------
  add("GET", "/v1/admin/notifications", 200, {admin},
      [](AuthzBase&, P) { return Req{"GET", "/v1/admin/notifications?state=dead", ""}; });
  add("POST", "/v1/admin/notifications/{id}/retry", 200, {admin}, [](AuthzBase& t, P) {
    return Req{"POST", "/v1/admin/notifications/" + t.dead_notification() + "/retry", ""};
  });
  add("GET", "/v1/admin/suppressions", 200, {admin}, [](AuthzBase&, P) { return Req{"GET", "/v1/admin/suppressions", ""}; });
  add("DELETE", "/v1/admin/suppressions/{address}", 204, {admin}, [](AuthzBase& t, P) {
    return Req{"DELETE", "/v1/admin/suppressions/" + t.suppressed_address(), ""};
  });
  add("GET", "/v1/admin/jobs", 200, {admin}, [](AuthzBase&, P) { return Req{"GET", "/v1/admin/jobs?state=dead", ""}; });
  add("POST", "/v1/admin/jobs/{id}/retry", 200, {admin}, [](AuthzBase& t, P) {
    const auto job = t.dead_job();
    return Req{"POST", "/v1/admin/jobs/" + id(job) + "/retry", ""};
  });

  add("POST", "/v1/import/members", 200, {admin}, [](AuthzBase& t, P) {
    return Req{"POST", "/v1/import/members",
               "email,name,communities\n" + t.next("imported") + "@example.org,Imported Person,alpha:daily\n", "text/csv"};
  });
  return rows;
}

const std::vector<Row>& rows() {
  static const std::vector<Row> all = matrix();
  return all;
}

// --- every registered route has a row ----------------------------------------------------

TEST(AuthzCoverage, EveryRegisteredRouteHasARow) {
  convene::daemon::Config config;
  convene::calendar::ManualClock clock{convene::calendar::Instant{}};
  convene::store::Database unused(convene::store::PoolOptions{"postgresql://127.0.0.1:1/unused", 1});
  const auto api = convene::api::v1_api(convene::api::Services{unused, config, clock});
  std::set<std::pair<std::string, std::string>> table, registered;
  for (const auto& r : rows()) EXPECT_TRUE(table.insert({r.method, r.pattern}).second) << "duplicate row " << r.method << " " << r.pattern;
  for (const auto& r : api.routes()) registered.insert({r.method, r.pattern});
  ASSERT_FALSE(registered.empty());
  for (const auto& r : registered)
    EXPECT_TRUE(table.count(r)) << "route " << r.first << " " << r.second
                                << " is registered but has no row in the authorisation matrix (tests/api/authz_test.cpp)";
  for (const auto& r : table)
    EXPECT_TRUE(registered.count(r)) << "the matrix has a row for " << r.first << " " << r.second
                                     << ", which is not registered";
}

// Every API route, the test clock's too, is attacked by the long-path test (tests/e2e/
// hostile_http_test.cpp), which takes its routes from support/route_patterns.hpp.
TEST(AuthzCoverage, EveryApiRouteIsInRoutePatterns) {
  convene::daemon::Config config;
  convene::calendar::ManualClock clock{convene::calendar::Instant{}};
  convene::store::Database unused(convene::store::PoolOptions{"postgresql://127.0.0.1:1/unused", 1});
  const auto api = convene::api::v1_api(convene::api::Services{unused, config, clock, &clock});
  std::set<std::pair<std::string, std::string>> patterns, registered;
  for (const auto& r : convene::testing::kRoutes)
    EXPECT_TRUE(patterns.insert({r.method, r.pattern}).second) << "duplicate route pattern " << r.method << " " << r.pattern;
  for (const auto& r : api.routes()) registered.insert({r.method, r.pattern});
  ASSERT_TRUE(registered.count({"POST", "/v1/admin/clock"})) << "the test clock's route is not registered";
  for (const auto& r : registered)
    EXPECT_TRUE(patterns.count(r)) << "route " << r.first << " " << r.second
                                   << " is registered but missing from kRoutes (tests/support/route_patterns.hpp)";
  for (const auto& r : patterns) {
    if (r.second.rfind("/v1/", 0) != 0) continue;  // the feeds, pages and probes are not the API's
    EXPECT_TRUE(registered.count(r)) << "kRoutes has " << r.first << " " << r.second << ", which is not registered";
  }
}

// --- the matrix --------------------------------------------------------------------------

std::vector<std::string> groups() {
  std::vector<std::string> out;
  for (const auto& r : rows())
    if (std::find(out.begin(), out.end(), r.group) == out.end()) out.push_back(r.group);
  return out;
}

class AuthzMatrix : public AuthzBase, public ::testing::WithParamInterface<std::string> {};

// Every persona in turn (refused ones first, so a row's allowed personas find the scene intact).
void check_row(AuthzBase& t, const Row& row) {
  SCOPED_TRACE(row.method + " " + row.pattern);
  for (int i = 0; i < kPersonas; ++i) {
    const auto p = static_cast<Persona>(i);
    const Req req = row.make(t, p);
    ASSERT_EQ(req.method, row.method);
    const Response r = t.as(p, req);
    SCOPED_TRACE(std::string(kPersonaNames[p]) + ": " + req.method + " " + req.path + " " + req.body.substr(0, 300));
    ASSERT_NE(r.status, 0) << "no response";
    if (p == anonymous) {
      EXPECT_EQ(r.status, 401) << r.describe();
      EXPECT_EQ(r.header("WWW-Authenticate"), "Bearer realm=\"convene\"");
      EXPECT_EQ(r.content_type, "application/problem+json");
    } else if (row.allowed.count(p)) {
      EXPECT_EQ(r.status, row.ok) << r.describe();
    } else {
      EXPECT_EQ(r.status, 403) << r.describe();
      EXPECT_EQ(r.content_type, "application/problem+json");
      if (r.json.is_object()) {
        EXPECT_EQ(r.json.as_object().at("status").as_int64(), 403);
      }
    }
  }
}

TEST_P(AuthzMatrix, Group) {
  int checked = 0;
  for (const Row& row : rows())
    if (row.group == GetParam()) check_row(*this, row), ++checked;
  EXPECT_GT(checked, 0);
}

INSTANTIATE_TEST_SUITE_P(Authz, AuthzMatrix, ::testing::ValuesIn(groups()),
                         [](const ::testing::TestParamInfo<std::string>& info) { return info.param; });

// --- refused calls change nothing, and permissions follow the meeting's kind ---------------

class Authz : public AuthzBase {
 protected:
  json::object meeting_body(const std::string& kind, const std::string& day) {
    return {{"kind", kind}, {"title", kind + " " + day}, {"start", day + "T18:00"}, {"end", day + "T19:00"}};
  }
};

TEST_F(Authz, EveryPersonaActsOnThemselves) {
  const std::map<Persona, std::int64_t> self = {
      {member, member_id}, {monitor, monitor_id}, {other_coord, other_id}, {coord, coord_id}, {committee, committee_id}};
  for (const auto& [p, who] : self) {
    SCOPED_TRACE(kPersonaNames[p]);
    const std::string me = "/v1/members/" + id(who);
    EXPECT_EQ(as(p, {"GET", me, ""}).status, 200);
    EXPECT_EQ(as(p, {"PATCH", me, j({{"name", "Renamed"}})}).status, 200);
    EXPECT_EQ(as(p, {"POST", me + "/feed-token", ""}).status, 201);
    const auto joined = as(p, {"PUT", "/v1/communities/beta/members/" + id(who), j({{"delivery", "none"}})});
    EXPECT_TRUE(joined.status == 200 || joined.status == 201) << joined.describe();
    EXPECT_EQ(as(p, {"DELETE", "/v1/communities/beta/members/" + id(who), ""}).status, 204);
    EXPECT_EQ(as(p, {"POST", me + "/join-all", j({{"delivery", "weekly"}})}).status, 200);
    // ...but never on somebody else.
    EXPECT_EQ(as(p, {"PATCH", "/v1/members/" + id(p == member ? coord_id : member_id), j({{"name", "X"}})}).status, 403);
    EXPECT_EQ(as(p, {"POST", me + "/tokens", "{}"}).status, 403) << "only admins issue API tokens";
  }
}

TEST_F(Authz, MeetingCoordinatorsAndEventCoordinatorsEachManageTheirOwnKinds) {
  const auto meetings_only = make_member("mc@example.org"), events_only = make_member("ec@example.org");
  grant(meetings_only, "alpha", "meeting_coordinator");
  grant(events_only, "alpha", "event_coordinator");
  const auto mc = token_for(meetings_only), ec = token_for(events_only);
  const std::string path = "/v1/communities/alpha/meetings";
  EXPECT_EQ(call("POST", path, mc, j(meeting_body("meeting", "2027-02-01"))).status, 201);
  EXPECT_EQ(call("POST", path, mc, j(meeting_body("special_event", "2027-02-02"))).status, 403);
  EXPECT_EQ(call("POST", path, mc, j(meeting_body("deadline", "2027-02-03"))).status, 403);
  EXPECT_EQ(call("POST", path, ec, j(meeting_body("meeting", "2027-02-04"))).status, 403);
  EXPECT_EQ(call("POST", path, ec, j(meeting_body("special_event", "2027-02-05"))).status, 201);
  EXPECT_EQ(call("POST", path, ec, j(meeting_body("deadline", "2027-02-06"))).status, 201);
  // The committee (global) is not a coordinator of meetings and events.
  EXPECT_EQ(call("POST", path, tokens[committee], j(meeting_body("special_event", "2027-02-07"))).status, 403);
  // Changing and cancelling follow the stored kind.
  const auto event = create_meeting("alpha", meeting_body("special_event", "2027-02-08"));
  const std::string e = "/v1/meetings/" + id(event);
  EXPECT_EQ(call("PATCH", e, mc, j({{"title", "Taken over"}})).status, 403);
  EXPECT_EQ(call("POST", e + "/cancel", mc, "").status, 403);
  EXPECT_EQ(call("PATCH", e, ec, j({{"title", "Book club"}})).status, 200);
  EXPECT_EQ(call("PATCH", "/v1/meetings/" + id(meeting_id), ec, j({{"title", "Taken over"}})).status, 403);
  // Coordinators of B have no say over A's events, whatever the kind.
  EXPECT_EQ(call("POST", e + "/cancel", tokens[other_coord], "").status, 403);
  EXPECT_EQ(call("GET", e, tokens[other_coord]).json.at("status").as_string(), "confirmed");
}

TEST_F(Authz, AnnualMeetingsAreTheCommitteesNotTheCoordinators) {
  const auto list = call("GET", "/v1/annual-meetings/2027", tokens[coord]);
  ASSERT_EQ(list.status, 200) << list.describe();
  std::int64_t annual = 0;
  for (const auto& item : list.json.at("items").as_array())
    if (item.at("community").as_string() == "alpha") annual = item.at("id").as_int64();
  ASSERT_NE(annual, 0);
  const std::string path = "/v1/meetings/" + id(annual);
  EXPECT_EQ(call("PATCH", path, tokens[coord], j({{"title", "Ours now"}})).status, 403);
  EXPECT_EQ(call("POST", path + "/cancel", tokens[coord], "").status, 403);
  EXPECT_EQ(call("PUT", "/v1/communities/alpha/annual-meeting/2027", tokens[coord],
                 j({{"start", "2027-07-12T14:00"}, {"end", "2027-07-12T15:00"}}))
                .status,
            403);
  // A coordinator cannot create an annual meeting through the meetings route either.
  const auto r = call("POST", "/v1/communities/alpha/meetings", tokens[coord],
                      j({{"kind", "annual"}, {"title", "Annual"}, {"start", "2027-07-12T10:00"}, {"end", "2027-07-12T11:00"}}));
  EXPECT_TRUE(r.status == 403 || r.status == 422) << r.describe();
  EXPECT_EQ(count("SELECT count(*) FROM meetings WHERE kind = 'annual' AND status = 'confirmed'"), 0);
}

TEST_F(Authz, RefusedCallsChangeNothing) {
  const auto snapshot = [this] {
    std::vector<long long> counts;
    for (const char* sql : {"SELECT count(*) FROM communities WHERE status = 'active'", "SELECT count(*) FROM memberships",
                            "SELECT count(*) FROM roles WHERE ends_on IS NULL", "SELECT count(*) FROM events",
                            "SELECT count(*) FROM room_bookings", "SELECT count(*) FROM meetings WHERE status = 'cancelled'"})
      counts.push_back(count(sql));
    return counts;
  };
  const auto before = snapshot();
  const auto before_meeting = call("GET", "/v1/meetings/" + id(meeting_id), tokens[member]).body;
  EXPECT_EQ(call("POST", "/v1/communities/alpha/archive", tokens[coord], "").status, 403);
  EXPECT_EQ(call("POST", "/v1/meetings/" + id(meeting_id) + "/cancel", tokens[monitor], "").status, 403);
  EXPECT_EQ(call("PUT", "/v1/communities/alpha/roles/" + id(member_id), tokens[coord], j({{"role", "meeting_coordinator"}})).status, 403);
  EXPECT_EQ(call("DELETE", "/v1/communities/alpha/members/" + id(member_id), tokens[committee], "").status, 403);
  EXPECT_EQ(snapshot(), before);
  EXPECT_EQ(call("GET", "/v1/meetings/" + id(meeting_id), tokens[member]).body, before_meeting);
}

// --- dated roles -------------------------------------------------------------------------

TEST_F(Authz, ARoleThatHasEndedGrantsNothingButItsLastDayStillCounts) {
  // Today is 2026-11-28 in Europe/London.
  const auto was_coord = make_member("was-coord@example.org"), was_monitor = make_member("was-monitor@example.org");
  grant(was_coord, "alpha", "meeting_coordinator", "2025-01-01", "2026-11-27");
  grant(was_monitor, "alpha", "discussion_monitor", "2025-01-01", "2026-11-27");
  const auto c = token_for(was_coord), m = token_for(was_monitor);
  EXPECT_EQ(call("POST", "/v1/communities/alpha/meetings", c, j(meeting_body("meeting", "2027-03-01"))).status, 403);
  EXPECT_EQ(call("PATCH", "/v1/meetings/" + id(meeting_id), c, j({{"title", "Mine"}})).status, 403);
  EXPECT_EQ(call("GET", "/v1/rooms/" + id(room_id) + "/bookings", c).status, 403);
  EXPECT_EQ(call("GET", "/v1/communities/alpha/members", c).status, 403);
  EXPECT_EQ(call("POST", "/v1/communities/alpha/topics", m, j({{"title", "Late topic"}})).status, 403);
  EXPECT_EQ(call("PUT", "/v1/communities/alpha/topic-cadence", m, j({{"every", "P7D"}})).status, 403);
  const auto me = call("GET", "/v1/me", c);
  ASSERT_EQ(me.status, 200);
  EXPECT_TRUE(me.json.at("roles").as_array().empty()) << me.describe();

  // Global roles too.
  const auto was_committee = make_member("was-committee@example.org"), was_admin = make_member("was-admin@example.org");
  sql("INSERT INTO roles (member_id, role, starts_on, ends_on, created_at) VALUES (" + id(was_committee) +
      ", 'committee', '2025-01-01', '2026-11-27', now()), (" + id(was_admin) + ", 'admin', '2025-01-01', '2026-11-27', now())");
  EXPECT_EQ(call("POST", "/v1/communities", token_for(was_committee), j({{"slug", "nope"}, {"name", "Nope"}})).status, 403);
  EXPECT_EQ(call("POST", "/v1/rooms", token_for(was_admin),
                 j({{"name", "nope"}, {"join_url", "https://meet.example.org/n"}, {"capacity", 2}}))
                .status,
            403);

  // A role is held through its end date, inclusive.
  const auto last_day = make_member("last-day@example.org");
  grant(last_day, "alpha", "meeting_coordinator", "2025-01-01", "2026-11-28");
  EXPECT_EQ(call("POST", "/v1/communities/alpha/meetings", token_for(last_day), j(meeting_body("meeting", "2027-03-02"))).status,
            201);
}

TEST_F(Authz, ARoleStartingInTheFutureGrantsNothingYet) {
  const auto soon = make_member("soon@example.org"), soon_monitor = make_member("soon-monitor@example.org");
  grant(soon, "alpha", "meeting_coordinator", "2026-11-29");
  grant(soon_monitor, "alpha", "discussion_monitor", "2026-12-01", "2027-12-01");
  const auto t = token_for(soon), tm = token_for(soon_monitor);
  EXPECT_EQ(call("POST", "/v1/communities/alpha/meetings", t, j(meeting_body("meeting", "2027-03-03"))).status, 403);
  EXPECT_EQ(call("POST", "/v1/communities/alpha/topics", tm, j({{"title", "Early"}})).status, 403);
  const auto future_committee = make_member("future-committee@example.org");
  sql("INSERT INTO roles (member_id, role, starts_on, created_at) VALUES (" + id(future_committee) +
      ", 'committee', '2026-11-29', now())");
  EXPECT_EQ(call("POST", "/v1/communities", token_for(future_committee), j({{"slug", "early"}, {"name", "Early"}})).status, 403);

  // The day it starts (in the organisation's zone), it grants.
  clock.set(clock.now() + std::chrono::hours(12));  // 2026-11-29T00:00Z = 00:00 in London
  EXPECT_EQ(call("POST", "/v1/communities/alpha/meetings", t, j(meeting_body("meeting", "2027-03-04"))).status, 201);
  EXPECT_EQ(call("POST", "/v1/communities", token_for(future_committee), j({{"slug", "early"}, {"name", "Early"}})).status, 201);
}

TEST_F(Authz, EndingARoleTakesEffectAtOnceAndARoleIsScopedToItsCommunity) {
  ASSERT_EQ(call("POST", "/v1/communities/alpha/meetings", tokens[coord], j(meeting_body("meeting", "2027-03-05"))).status, 201);
  ASSERT_EQ(call("DELETE", "/v1/communities/alpha/roles/" + id(coord_id) + "/meeting_coordinator", tokens[committee]).status, 204);
  EXPECT_EQ(call("POST", "/v1/communities/alpha/meetings", tokens[coord], j(meeting_body("meeting", "2027-03-06"))).status, 403);
  // The other role is untouched.
  EXPECT_EQ(call("POST", "/v1/communities/alpha/meetings", tokens[coord], j(meeting_body("special_event", "2027-03-07"))).status,
            201);

  // Splitting A copies members, not roles: A's coordinator is no coordinator of the parts.
  const auto split = call("POST", "/v1/communities/alpha/split", tokens[committee],
                          j({{"into", json::array{json::object{{"slug", "alpha-east"}, {"name", "Alpha East"}}}}}));
  ASSERT_EQ(split.status, 201) << split.describe();
  EXPECT_EQ(call("POST", "/v1/communities/alpha-east/meetings", tokens[coord], j(meeting_body("meeting", "2027-03-08"))).status,
            403);
  EXPECT_EQ(call("POST", "/v1/communities/beta/meetings", tokens[coord], j(meeting_body("meeting", "2027-03-09"))).status, 403);
  EXPECT_EQ(call("POST", "/v1/communities/beta/topics", tokens[monitor], j({{"title", "Elsewhere"}})).status, 403);
}

// --- tokens ------------------------------------------------------------------------------

class AuthzTokens : public AuthzBase {
 protected:
  void expect_unauthorized(const Response& r, const std::string& what) {
    SCOPED_TRACE(what);
    EXPECT_EQ(r.status, 401) << r.describe();
    EXPECT_EQ(r.header("WWW-Authenticate"), "Bearer realm=\"convene\"");
    EXPECT_EQ(r.content_type, "application/problem+json");
    ASSERT_TRUE(r.json.is_object()) << r.describe();
    EXPECT_EQ(r.json.at("status").as_int64(), 401);
    EXPECT_TRUE(r.json.as_object().contains("type"));
    EXPECT_TRUE(r.json.as_object().contains("title"));
  }
};

TEST_F(AuthzTokens, UnknownAndMalformedCredentialsAre401WithWwwAuthenticate) {
  const std::string real = tokens[member];
  expect_unauthorized(call("GET", "/v1/me", "cvn_not-a-real-token-at-all"), "unknown token");
  expect_unauthorized(call("GET", "/v1/me", real.substr(0, real.size() - 1)), "truncated token");
  expect_unauthorized(call("GET", "/v1/me", real + "x"), "extended token");
  expect_unauthorized(call("GET", "/v1/me", "", "", "Basic " + real), "Basic scheme");
  expect_unauthorized(call("GET", "/v1/me", "", "", "Bearer"), "scheme only");
  expect_unauthorized(call("GET", "/v1/me", "", "", "Bearer "), "empty token");
  expect_unauthorized(call("GET", "/v1/me", "", "", "Bearer " + real + " " + real), "two tokens");
  expect_unauthorized(call("GET", "/v1/me", "", "", "Bearer " + std::string(5000, 'a')), "huge token");
  expect_unauthorized(call("GET", "/v1/me", "", "", "Bearer ' OR 1=1 --"), "SQL in a token");
  expect_unauthorized(call("GET", "/v1/me", "", "", real), "no scheme");
  EXPECT_EQ(call("GET", "/v1/me", real).status, 200);
}

TEST_F(AuthzTokens, RevokedExpiredAndFeedTokensAre401) {
  ASSERT_EQ(call("GET", "/v1/me", tokens[coord]).status, 200);
  sql("UPDATE tokens SET revoked_at = now() WHERE member_id = " + id(coord_id));
  expect_unauthorized(call("GET", "/v1/me", tokens[coord]), "revoked");
  expect_unauthorized(call("POST", "/v1/communities/alpha/meetings", tokens[coord], j({{"title", "Nope"}, {"start", "2027-03-10T10:00"}, {"end", "2027-03-10T11:00"}})), "revoked, write");

  sql("UPDATE tokens SET expires_at = '2026-11-28T11:59:59Z' WHERE member_id = " + id(monitor_id));
  expect_unauthorized(call("GET", "/v1/me", tokens[monitor]), "expired");
  sql("UPDATE tokens SET expires_at = '2026-11-28T12:00:01Z' WHERE member_id = " + id(monitor_id));
  EXPECT_EQ(call("GET", "/v1/me", tokens[monitor]).status, 200);
  clock.set(clock.now() + std::chrono::seconds(2));
  expect_unauthorized(call("GET", "/v1/me", tokens[monitor]), "expired by the clock");

  const auto feed = call("POST", "/v1/members/" + id(member_id) + "/feed-token", tokens[member]);
  ASSERT_EQ(feed.status, 201) << feed.describe();
  std::string url(feed.json.at("feed_url").as_string());
  const auto slash = url.rfind('/');
  const std::string token = url.substr(slash + 1, url.size() - slash - 1 - 4);  // strip ".ics"
  ASSERT_FALSE(token.empty());
  expect_unauthorized(call("GET", "/v1/me", token), "feed token as bearer");
  // Rotating the feed leaves the API token working.
  EXPECT_EQ(call("GET", "/v1/me", tokens[member]).status, 200);
}

TEST_F(AuthzTokens, AnAdminIssuedTokenWorksAndActsAsItsMember) {
  const auto issued = call("POST", "/v1/members/" + id(member_id) + "/tokens", tokens[admin], j({{"label", "cli"}}));
  ASSERT_EQ(issued.status, 201) << issued.describe();
  const std::string token(issued.json.at("token").as_string());
  const auto me = call("GET", "/v1/me", token);
  ASSERT_EQ(me.status, 200) << me.describe();
  EXPECT_EQ(me.json.at("id").as_int64(), member_id);
  EXPECT_TRUE(me.json.at("global_roles").as_array().empty());
  EXPECT_EQ(call("POST", "/v1/rooms", token, j({{"name", "x"}, {"join_url", "https://x.example.org/"}, {"capacity", 1}})).status,
            403);
}

}  // namespace
