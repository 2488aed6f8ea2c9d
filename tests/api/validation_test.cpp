// Hostile and malformed input on every route that takes a JSON body, on path parameters and
// on query strings. Every refusal must be an RFC 9457 application/problem+json reply with
// type, title and status, naming the offending field where there is one, and must leave the
// database exactly as it was (row counts and contents of every domain table).
//
// Conventions checked (daemon/api/input.hpp): a body that is not a JSON object, a field of the
// wrong type and an unknown field are 400; a value that is unacceptable (CR/LF in a single-line
// text, control characters, too long, unknown zone, bad RRULE, ...) is 422; a body over
// http_max_body (1 MiB) is 413; a path parameter that names nothing is 404, never 500.
#include "support/api_fixture.hpp"

#include "daemon/api/api.hpp"
#include "store/database.hpp"
#include "store/migrations.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <set>

namespace {

using convene::testing::ApiResponse;
using convene::testing::ApiTest;
namespace json = boost::json;

std::string j(const json::value& v) { return json::serialize(v); }

enum class Type { line, text, integer, boolean, strings, array, object };

struct Field {
  std::string name;
  Type type;
  std::string sample;  // a valid value for text fields (used to build bad variants)
};

class Hostile;

struct BodyRoute {
  std::string group;  // routes of a group share one test; their valid bodies are sent last, in order
  std::string method;
  std::string pattern;
  std::function<std::string(Hostile&)> path;
  std::function<json::object(Hostile&)> valid;
  std::vector<Field> fields;
  int ok;  // status of the valid body, sent last
};

const char* kTables[] = {"communities", "members",       "memberships", "meetings",           "room_bookings",
                         "events",      "roles",         "topics",      "rooms",              "tokens",
                         "meeting_exceptions", "community_successors", "notifications", "jobs", "webhook_endpoints"};

class Hostile : public ApiTest {
 public:
  using ApiTest::request;
  std::int64_t alpha_id = 0, beta_id = 0, room_id = 0, member_id = 0, monitor_id = 0, meeting_id = 0;

  ApiResponse send(const std::string& method, const std::string& path, const std::string& body) {
    return request(method, path, admin_token, body);
  }

  // Every table's row count and an md5 of its rows: equal snapshots mean nothing changed.
  std::string snapshot() {
    if (!snap_) {
      snap_ = std::make_unique<pqxx::connection>(db.url());
      snap_->set_variable("TimeZone", "'UTC'");
    }
    std::string sql = "SELECT concat_ws(' '";
    for (const char* t : kTables)
      sql += std::string(", (SELECT '") + t + ":' || count(*) || ':' || coalesce(md5(string_agg(t::text, ',' ORDER BY t::text)), '') FROM " +
             t + " t)";
    sql += ")";
    pqxx::nontransaction tx(*snap_);
    return tx.exec(sql)[0][0].as<std::string>();
  }
  void rebaseline() { baseline_ = snapshot(); }
  void expect_unchanged() {
    const std::string after = snapshot();
    EXPECT_EQ(after, baseline_) << "a refused request changed the database";
    if (after != baseline_) baseline_ = after;
  }
  bool check_each_ = true;  // snapshot after every refused request (else: call expect_unchanged())

  static std::set<std::string> error_fields(const ApiResponse& r) {
    std::set<std::string> out;
    if (!r.json.is_object()) return out;
    const auto* errors = r.json.as_object().if_contains("errors");
    if (errors == nullptr || !errors->is_array()) return out;
    for (const auto& e : errors->as_array())
      if (e.is_object() && e.as_object().contains("field") && e.at("field").is_string())
        out.insert(std::string(e.at("field").as_string()));
    return out;
  }

  static void expect_problem_shape(const ApiResponse& r) {
    EXPECT_EQ(r.content_type, "application/problem+json") << r.describe().substr(0, 400);
    ASSERT_TRUE(r.json.is_object()) << r.describe().substr(0, 400);
    const auto& o = r.json.as_object();
    EXPECT_TRUE(o.contains("type") && o.at("type").is_string()) << r.describe().substr(0, 400);
    EXPECT_TRUE(o.contains("title") && o.at("title").is_string()) << r.describe().substr(0, 400);
    EXPECT_TRUE(o.contains("status") && o.at("status").is_int64() && o.at("status").as_int64() == r.status)
        << r.describe().substr(0, 400);
  }

  // Sends a request that must be refused with `status` (any of `statuses` when given), naming
  // `field` when not empty, and must change nothing.
  ApiResponse refused(const std::string& what, const std::string& method, const std::string& path, const std::string& body,
                      std::set<int> statuses, const std::string& field = "") {
    SCOPED_TRACE(what + ": " + method + " " + path + " " + body.substr(0, 200));
    if (baseline_.empty()) rebaseline();
    const ApiResponse r = send(method, path, body);
    EXPECT_TRUE(statuses.count(r.status)) << "unexpected status: " << r.describe().substr(0, 600);
    EXPECT_LT(r.status, 500) << r.describe().substr(0, 600);
    if (r.status >= 400) expect_problem_shape(r);
    if (!field.empty()) {
      const auto fields = error_fields(r);
      EXPECT_TRUE(fields.count(field)) << "errors[] should name \"" << field << "\": " << r.describe().substr(0, 600);
    }
    if (check_each_) expect_unchanged();
    return r;
  }
  ApiResponse refused(const std::string& what, const std::string& method, const std::string& path, const std::string& body,
                      int status, const std::string& field = "") {
    return refused(what, method, path, body, std::set<int>{status}, field);
  }

  std::int64_t create_meeting(const std::string& slug, const json::object& body) {
    const auto r = send("POST", "/v1/communities/" + slug + "/meetings", j(body));
    if (r.status != 201) throw std::runtime_error("create meeting: " + r.describe());
    return r.json.at("id").as_int64();
  }

  json::object current_plan() {
    const auto plan = send("POST", "/v1/annual-meetings/2027/plan", "{}");
    if (plan.status != 200) throw std::runtime_error("plan: " + plan.describe());
    return plan.json.as_object();
  }

 protected:
  void SetUp() override {
    ApiTest::SetUp();
    alpha_id = make_community("alpha", "Alpha");
    beta_id = make_community("beta", "Beta");
    room_id = make_room("room-1");
    member_id = make_member("member@example.org");
    monitor_id = make_member("monitor@example.org");
    grant(monitor_id, "alpha", "discussion_monitor");
    const auto joined = send("PUT", "/v1/communities/alpha/members/" + std::to_string(member_id), j({{"delivery", "daily"}}));
    if (joined.status != 201) throw std::runtime_error("join: " + joined.describe());
    meeting_id = create_meeting("alpha", {{"title", "Weekly sync"},
                                          {"start", "2026-12-02T10:00"},
                                          {"end", "2026-12-02T11:00"},
                                          {"time_zone", "Europe/London"},
                                          {"rrule", "FREQ=WEEKLY"},
                                          {"room_id", room_id}});
  }
  void TearDown() override {
    snap_.reset();
    ApiTest::TearDown();
  }

 private:
  std::unique_ptr<pqxx::connection> snap_;
  std::string baseline_;

 protected:
  std::string snapshot_before_;
};

std::string id(std::int64_t v) { return std::to_string(v); }

// Every route with a JSON body, a valid body for it and its top-level fields.
std::vector<BodyRoute> body_routes() {
  using T = Type;
  std::vector<BodyRoute> r;
  const std::vector<Field> member_fields = {{"email", T::line, "grace@example.org"},
                                            {"name", T::line, "Grace"},
                                            {"time_zone", T::line, "Europe/London"},
                                            {"digest_hour", T::integer, ""},
                                            {"weekly_day", T::line, "monday"},
                                            {"reminder_offsets", T::strings, ""}};
  r.push_back({"members", "POST", "/v1/members", [](Hostile&) { return std::string("/v1/members"); },
               [](Hostile&) {
                 return json::object{{"email", "grace@example.org"}, {"name", "Grace"},   {"time_zone", "Europe/London"},
                                     {"digest_hour", 7},             {"weekly_day", "monday"}, {"reminder_offsets", json::array{"PT1H"}}};
               },
               member_fields, 201});
  r.push_back({"members", "PATCH", "/v1/members/{id}", [](Hostile& t) { return "/v1/members/" + id(t.member_id); },
               [](Hostile&) { return json::object{{"name", "Ada"}, {"digest_hour", 9}}; }, member_fields, 200});
  r.push_back({"members", "POST", "/v1/members/{id}/tokens", [](Hostile& t) { return "/v1/members/" + id(t.member_id) + "/tokens"; },
               [](Hostile&) { return json::object{{"label", "cli"}}; }, {{"label", T::line, "cli"}}, 201});
  r.push_back({"members", "POST", "/v1/members/{id}/join-all", [](Hostile& t) { return "/v1/members/" + id(t.member_id) + "/join-all"; },
               [](Hostile&) { return json::object{{"delivery", "daily"}}; }, {{"delivery", T::line, "daily"}}, 200});
  const std::vector<Field> community_fields = {{"slug", T::line, "gamma"},
                                               {"name", T::line, "Gamma"},
                                               {"description", T::text, "About gamma"},
                                               {"time_zone", T::line, "Europe/London"},
                                               {"visibility", T::line, "public"}};
  r.push_back({"communities", "POST", "/v1/communities", [](Hostile&) { return std::string("/v1/communities"); },
               [](Hostile&) {
                 return json::object{{"slug", "gamma"}, {"name", "Gamma"}, {"description", "About gamma"},
                                     {"time_zone", "Europe/London"}, {"visibility", "public"}};
               },
               community_fields, 201});
  r.push_back({"communities", "PATCH", "/v1/communities/{slug}", [](Hostile&) { return std::string("/v1/communities/alpha"); },
               [](Hostile&) {
                 return json::object{{"name", "Alpha Two"}, {"description", "Refocused"}, {"time_zone", "Europe/Paris"},
                                     {"visibility", "members"}};
               },
               {{"name", T::line, "Alpha Two"},
                {"description", T::text, "Refocused"},
                {"time_zone", T::line, "Europe/Paris"},
                {"visibility", T::line, "members"}},
               200});
  r.push_back({"communities", "POST", "/v1/communities/{slug}/split", [](Hostile&) { return std::string("/v1/communities/alpha/split"); },
               [](Hostile&) {
                 return json::object{{"into", json::array{json::object{{"slug", "alpha-east"}, {"name", "Alpha East"}}}},
                                     {"members", "copy"}};
               },
               {{"into", T::array, ""}, {"members", T::line, "copy"}}, 201});
  // Last of its group: merging archives alpha and beta.
  r.push_back({"communities", "POST", "/v1/communities/merge", [](Hostile&) { return std::string("/v1/communities/merge"); },
               [](Hostile&) {
                 return json::object{{"from", json::array{"alpha", "beta"}},
                                     {"into", {{"slug", "delta"}, {"name", "Delta"}, {"description", "Merged"}}}};
               },
               {{"from", T::strings, ""}, {"into", T::object, ""}}, 201});
  r.push_back({"memberships_roles_topics", "PUT", "/v1/communities/{slug}/members/{member_id}",
               [](Hostile& t) { return "/v1/communities/beta/members/" + id(t.member_id); },
               [](Hostile&) { return json::object{{"delivery", "weekly"}}; }, {{"delivery", T::line, "weekly"}}, 201});
  r.push_back({"memberships_roles_topics", "PUT", "/v1/communities/{slug}/roles/{member_id}",
               [](Hostile& t) { return "/v1/communities/alpha/roles/" + id(t.member_id); },
               [](Hostile&) {
                 return json::object{{"role", "discussion_monitor"}, {"starts_on", "2026-12-01"}, {"ends_on", "2027-12-01"}};
               },
               {{"role", T::line, "discussion_monitor"}, {"starts_on", T::line, "2026-12-01"}, {"ends_on", T::line, "2027-12-01"}},
               201});
  r.push_back({"memberships_roles_topics", "PUT", "/v1/communities/{slug}/topic-cadence", [](Hostile&) { return std::string("/v1/communities/alpha/topic-cadence"); },
               [](Hostile&) { return json::object{{"every", "P7D"}}; }, {{"every", T::line, "P7D"}}, 200});
  r.push_back({"memberships_roles_topics", "POST", "/v1/communities/{slug}/topics", [](Hostile&) { return std::string("/v1/communities/alpha/topics"); },
               [](Hostile&) {
                 return json::object{{"title", "What are you reading?"}, {"body", "Tell us."}, {"url", "https://example.org/t/1"}};
               },
               {{"title", T::line, "What are you reading?"}, {"body", T::text, "Tell us."}, {"url", T::line, "https://example.org/t/1"}},
               201});
  r.push_back({"webhooks", "POST", "/v1/members/{id}/webhooks",
               [](Hostile& t) { return "/v1/members/" + id(t.member_id) + "/webhooks"; },
               [](Hostile&) {
                 return json::object{{"url", "https://hooks.example.org/a"},
                                     {"event_types", json::array{"meeting.scheduled"}},
                                     {"communities", json::array{"alpha"}}};
               },
               {{"url", T::line, "https://hooks.example.org/a"}}, 201});
  r.push_back({"webhooks", "POST", "/v1/communities/{slug}/webhooks",
               [](Hostile&) { return std::string("/v1/communities/alpha/webhooks"); },
               [](Hostile&) { return json::object{{"url", "https://chat.example.org/a"}, {"event_types", json::array{"topic.posted"}}}; },
               {{"url", T::line, "https://chat.example.org/a"}}, 201});
  r.push_back({"rooms_and_meetings", "POST", "/v1/rooms", [](Hostile&) { return std::string("/v1/rooms"); },
               [](Hostile&) {
                 return json::object{{"name", "room-2"}, {"join_url", "https://meet.example.org/2"}, {"capacity", 5}};
               },
               {{"name", T::line, "room-2"}, {"join_url", T::line, "https://meet.example.org/2"}, {"capacity", T::integer, ""}}, 201});
  const std::vector<Field> meeting_fields = {{"title", T::line, "Kick-off"},
                                             {"description", T::text, "Agenda"},
                                             {"start", T::line, "2027-01-14T18:00"},
                                             {"end", T::line, "2027-01-14T19:00"},
                                             {"time_zone", T::line, "Europe/London"},
                                             {"rrule", T::line, "FREQ=WEEKLY;COUNT=3"},
                                             {"room_id", T::integer, ""}};
  auto create_fields = meeting_fields;
  create_fields.insert(create_fields.begin(), Field{"kind", T::line, "meeting"});
  r.push_back({"rooms_and_meetings", "POST", "/v1/communities/{slug}/meetings", [](Hostile&) { return std::string("/v1/communities/alpha/meetings"); },
               [](Hostile& t) {
                 return json::object{{"kind", "meeting"},       {"title", "Kick-off"},         {"description", "Agenda"},
                                     {"start", "2027-01-14T18:00"}, {"end", "2027-01-14T19:00"}, {"time_zone", "Europe/London"},
                                     {"rrule", "FREQ=WEEKLY;COUNT=3"}, {"room_id", t.room_id}};
               },
               create_fields, 201});
  r.push_back({"rooms_and_meetings", "PATCH", "/v1/meetings/{id}", [](Hostile& t) { return "/v1/meetings/" + id(t.meeting_id); },
               [](Hostile&) { return json::object{{"title", "Weekly sync (new)"}, {"description", "Agenda"}}; },
               meeting_fields, 200});
  r.push_back({"rooms_and_meetings", "PATCH", "/v1/meetings/{id}/occurrences/{recurrence_id}",
               [](Hostile& t) { return "/v1/meetings/" + id(t.meeting_id) + "/occurrences/2026-12-09T10:00"; },
               [](Hostile&) {
                 return json::object{{"start", "2026-12-09T14:00"}, {"end", "2026-12-09T15:00"}, {"time_zone", "Europe/London"}};
               },
               {{"start", T::line, "2026-12-09T14:00"}, {"end", T::line, "2026-12-09T15:00"}, {"time_zone", T::line, "Europe/London"}},
               200});
  r.push_back({"annual", "PUT", "/v1/communities/{slug}/annual-meeting/{year}",
               [](Hostile&) { return std::string("/v1/communities/alpha/annual-meeting/2027"); },
               [](Hostile& t) {
                 return json::object{{"start", "2027-07-12T14:00"}, {"end", "2027-07-12T15:30"}, {"time_zone", "Europe/London"},
                                     {"room_id", t.room_id},       {"force", false}};
               },
               {{"start", T::line, "2027-07-12T14:00"},
                {"end", T::line, "2027-07-12T15:30"},
                {"time_zone", T::line, "Europe/London"},
                {"room_id", T::integer, ""},
                {"force", T::boolean, ""}},
               200});
  r.push_back({"annual", "POST", "/v1/annual-meetings/{year}/plan", [](Hostile&) { return std::string("/v1/annual-meetings/2027/plan"); },
               [](Hostile&) {
                 return json::object{{"day_start", "09:00"}, {"day_end", "17:00"}, {"duration", "PT1H"}, {"gap", "PT15M"},
                                     {"weekdays_only", true}};
               },
               {{"day_start", T::line, "09:00"},
                {"day_end", T::line, "17:00"},
                {"duration", T::line, "PT1H"},
                {"gap", T::line, "PT15M"},
                {"weekdays_only", T::boolean, ""}},
               200});
  r.push_back({"annual", "POST", "/v1/annual-meetings/{year}/plan/apply", [](Hostile&) { return std::string("/v1/annual-meetings/2027/plan/apply"); },
               [](Hostile& t) { return json::object{{"proposal", t.current_plan()}}; }, {{"proposal", T::object, ""}}, 200});
  return r;
}

const std::vector<BodyRoute>& bodies() {
  static const std::vector<BodyRoute> all = body_routes();
  return all;
}

// POST/PUT/PATCH routes that take no body at all.
const std::set<std::pair<std::string, std::string>> kNoBody = {
    {"POST", "/v1/members/{id}/feed-token"},
    {"POST", "/v1/communities/{slug}/archive"},
    {"POST", "/v1/meetings/{id}/cancel"},
    {"POST", "/v1/meetings/{id}/occurrences/{recurrence_id}/cancel"},
    {"POST", "/v1/admin/jobs/{id}/retry"},
    {"POST", "/v1/webhooks/{id}/rotate-secret"},
    {"POST", "/v1/admin/notifications/{id}/retry"},
};

// Routes whose body is not JSON, with their own hostile tests below (and in import_test.cpp).
const std::set<std::pair<std::string, std::string>> kCsvBody = {{"POST", "/v1/import/members"}};

std::vector<convene::api::RouteInfo> registered_routes() {
  convene::daemon::Config config;
  convene::calendar::ManualClock clock{convene::calendar::Instant{}};
  convene::store::Database unused(convene::store::PoolOptions{"postgresql://127.0.0.1:1/unused", 1});
  return convene::api::v1_api(convene::api::Services{unused, config, clock}).routes();
}

// Wrong-typed values for a field of a type: each must be a 400 naming the field.
std::vector<json::value> wrong_types(Type type) {
  switch (type) {
    case Type::line:
    case Type::text: return {12345, json::array{"x"}, json::object{{"x", 1}}, true};
    case Type::integer: return {"7", 7.5, json::array{7}, false};
    case Type::boolean: return {"true", 1, json::object{}};
    case Type::strings: return {json::object{{"a", "b"}}, "PT1H", json::array{1, 2}};
    case Type::array: return {json::object{{"slug", "x"}}, "x", 3};
    case Type::object: return {json::array{}, "x", 3};
  }
  return {};
}

bool is_text(Type t) { return t == Type::line || t == Type::text; }

TEST(HostileCoverage, EveryRouteWithABodyHasARow) {
  std::set<std::pair<std::string, std::string>> table;
  for (const auto& b : bodies()) table.insert({b.method, b.pattern});
  for (const auto& r : registered_routes()) {
    if (r.method != "POST" && r.method != "PUT" && r.method != "PATCH") continue;
    EXPECT_TRUE(table.count({r.method, r.pattern}) || kNoBody.count({r.method, r.pattern}) ||
                kCsvBody.count({r.method, r.pattern}))
        << r.method << " " << r.pattern << " has no row in tests/api/validation_test.cpp";
  }
}

// --- the generic hostile battery, per route with a body ----------------------------------

class HostileBody : public Hostile, public ::testing::WithParamInterface<std::string> {
 protected:
  void battery(const BodyRoute& route);
};

void HostileBody::battery(const BodyRoute& route) {
  SCOPED_TRACE(route.method + " " + route.pattern);
  const std::string path = route.path(*this);
  const std::string& m = route.method;
  const json::object valid = route.valid(*this);
  rebaseline();

  // Malformed JSON.
  for (const std::string& body : {std::string("{\"name\": "), std::string("{,}"), std::string("{\"a\":1,}"),
                                 std::string("{'a': 1}"), std::string("nul"), std::string("{\"a\":1}}"),
                                 std::string("{\"a\": NaN}"), std::string("\x01\x02"), std::string(1, '\0'),
                                 std::string(100000, '['), j(valid) + "x", std::string("{\"a\": \"\\uD800\"}")})
    refused("malformed JSON", m, path, body, 400);
  // Deep nesting inside an otherwise valid object.
  refused("deep nesting", m, path, "{\"x\": " + std::string(5000, '[') + std::string(5000, ']') + "}", 400);

  // JSON that is not an object.
  for (const std::string& body : {std::string("[]"), "[" + j(valid) + "]", std::string("\"a string\""), std::string("42"),
                                 std::string("null"), std::string("true")})
    refused("not an object", m, path, body, 400);

  // Unknown fields.
  {
    json::object o = valid;
    o["bogus_field"] = 1;
    refused("unknown field", m, path, j(o), 400, "bogus_field");
    o = valid;
    o["Name"] = "case matters";
    refused("unknown field (case)", m, path, j(o), 400, "Name");
  }

  for (const auto& f : route.fields) {
    // Wrong types.
    for (const auto& v : wrong_types(f.type)) {
      json::object o = valid;
      o[f.name] = v;
      refused("wrong type for " + f.name, m, path, j(o), 400, f.name);
    }
    if (f.type == Type::integer) {
      // Beyond int64 (and beyond uint64): refused, naming the field; never wrapped around.
      for (const std::string big : {"9223372036854775808", "18446744073709551615", "18446744073709551616",
                                    "-9223372036854775809", "99999999999999999999999999999999", "1e400", "-1e400"}) {
        json::object o = valid;
        o[f.name] = "@@BIG@@";
        std::string body = j(o);
        body.replace(body.find("\"@@BIG@@\""), 9, big);
        refused("huge integer " + big + " for " + f.name, m, path, body, {400, 422}, big == "1e400" || big == "-1e400" ? "" : f.name);
      }
      json::object o = valid;
      o[f.name] = -1;
      refused("negative " + f.name, m, path, j(o), 422, f.name);
    }
    if (!is_text(f.type)) continue;
    const std::string sample = f.sample;
    const auto with = [&](const std::string& value) {
      json::object o = valid;
      o[f.name] = value;
      return j(o);
    };
    // Invalid UTF-8 inside the string.
    for (const std::string& bad : {std::string("\xff"), std::string("\xc3\x28"), std::string("\xc0\xaf"),
                                  std::string("\xed\xa0\x80"), std::string("\xf8\x88\x80\x80\x80"), std::string("\xe2\x82")}) {
      std::string body = with("@@UTF8@@");
      body.replace(body.find("@@UTF8@@"), 8, sample.substr(0, 2) + bad + sample.substr(2));
      refused("invalid UTF-8 in " + f.name, m, path, body, 400);
    }
    // CR/LF in single-line fields, and the classic ICS/header injection.
    if (f.type == Type::line) {
      for (const std::string& crlf : {std::string("\r\n"), std::string("\n"), std::string("\r")}) {
        refused("CR/LF in " + f.name, m, path, with(sample.substr(0, 3) + crlf + sample.substr(3)), 422, f.name);
      }
      refused("ICS injection in " + f.name, m, path, with(sample + "\r\nEND:VEVENT\r\nBEGIN:VEVENT"), 422, f.name);
    }
    // Control characters (a TAB is fine in multi-line text only).
    for (const std::string& control : {std::string(1, '\0'), std::string("\x01"), std::string("\x08"), std::string("\x1b"),
                                      std::string("\x7f")})
      refused("control character in " + f.name, m, path, with(sample.substr(0, 2) + control + sample.substr(2)), 422, f.name);
    if (f.type == Type::line) refused("TAB in " + f.name, m, path, with(sample.substr(0, 2) + "\t" + sample.substr(2)), 422, f.name);
    // A 10^6-character value still within 1 MiB: 422, too long.
    refused("10^6 characters in " + f.name, m, path, with(std::string(1000000, 'a')), 422, f.name);
  }

  // Bodies over 1 MiB: 413, whatever is in them.
  {
    json::object o = valid;
    o["padding"] = std::string(2 * 1024 * 1024, 'a');
    refused("2 MB body", m, path, j(o), 413);
    refused("2 MB of garbage", m, path, std::string(2 * 1024 * 1024, '{'), 413);
  }

}

// Every hostile variant for each route of the group (all refused, so the routes cannot disturb
// each other); then each route's valid body is accepted, in table order, so the refusals above
// were about what they changed.
TEST_P(HostileBody, Group) {
  int routes = 0;
  for (const auto& route : bodies())
    if (route.group == GetParam()) battery(route), ++routes;
  EXPECT_GT(routes, 0);
  for (const auto& route : bodies()) {
    if (route.group != GetParam()) continue;
    const auto r = send(route.method, route.path(*this), j(route.valid(*this)));
    EXPECT_EQ(r.status, route.ok) << route.method << " " << route.pattern << " with a valid body: " << r.describe();
  }
}

std::vector<std::string> body_groups() {
  std::vector<std::string> out;
  for (const auto& b : bodies())
    if (std::find(out.begin(), out.end(), b.group) == out.end()) out.push_back(b.group);
  return out;
}

INSTANTIATE_TEST_SUITE_P(Hostile, HostileBody, ::testing::ValuesIn(body_groups()),
                         [](const ::testing::TestParamInfo<std::string>& info) { return info.param; });

// The CSV import: not JSON, but the same envelope rules (415/413/400, problem+json, no change).
TEST_F(Hostile, CsvImportRefusesWhatItCannotRead) {
  const auto csv = [this](const std::string& what, const std::string& body, const std::string& type, int status) {
    SCOPED_TRACE(what);
    rebaseline();
    const auto r = request("POST", "/v1/import/members", admin_token, body, type);
    EXPECT_EQ(r.status, status) << r.describe().substr(0, 600);
    expect_problem_shape(r);
    EXPECT_EQ(snapshot(), snapshot_before_);
  };
  snapshot_before_ = snapshot();
  csv("JSON instead of CSV", "{\"email\": \"a@example.org\"}", "application/json", 415);
  csv("latin-1", "email,name\na@example.org,Ren\xe9\n", "text/csv; charset=iso-8859-1", 415);
  csv("over 20 MiB", "email,name\n" + std::string(21 * 1024 * 1024, 'a'), "text/csv", 413);
  csv("unclosed quote", "email,name\n\"a@example.org,Ann\n", "text/csv", 400);
  csv("invalid UTF-8", "email,name\na@example.org,Ann\xff\n", "text/csv", 400);
  csv("CR in a name", "email,name\na@example.org,\"Ann\rBcc: x\"\n", "text/csv", 422);
  csv("SQL in a community", "email,name,communities\na@example.org,Ann,'; DROP TABLE members; --\n", "text/csv", 422);
}

// --- nested fields -----------------------------------------------------------------------

TEST_F(Hostile, NestedFieldsAreNamedWithTheirPath) {
  const auto split = [](const json::object& item) {
    return j({{"into", json::array{item}}});
  };
  refused("split: wrong type", "POST", "/v1/communities/alpha/split", split({{"slug", 5}, {"name", "X"}}), 400, "into[0].slug");
  refused("split: unknown", "POST", "/v1/communities/alpha/split", split({{"slug", "x"}, {"name", "X"}, {"owner", 1}}), 400,
          "into[0].owner");
  refused("split: CR/LF", "POST", "/v1/communities/alpha/split", split({{"slug", "x"}, {"name", "X\r\nY"}}), 422, "into[0].name");
  refused("split: zone", "POST", "/v1/communities/alpha/split", split({{"slug", "x"}, {"name", "X"}, {"time_zone", "Mars/Base"}}),
          422, "into[0].time_zone");
  refused("split: bad slug", "POST", "/v1/communities/alpha/split", split({{"slug", "'; DROP TABLE members; --"}, {"name", "X"}}),
          422, "into[0].slug");
  refused("split: items not objects", "POST", "/v1/communities/alpha/split", j({{"into", json::array{"x"}}}), {400, 422}, "into");
  refused("split: empty", "POST", "/v1/communities/alpha/split", j({{"into", json::array{}}}), 422, "into");
  refused("split: members", "POST", "/v1/communities/alpha/split",
          j({{"into", json::array{json::object{{"slug", "x"}, {"name", "X"}}}}, {"members", "all"}}), 422, "members");
  const auto merge = [](const json::object& into) { return j({{"from", json::array{"alpha", "beta"}}, {"into", into}}); };
  refused("merge: wrong type", "POST", "/v1/communities/merge", merge({{"slug", "g"}, {"name", 5}}), 400, "into.name");
  refused("merge: CR/LF", "POST", "/v1/communities/merge", merge({{"slug", "g"}, {"name", "G\nH"}}), 422, "into.name");
  refused("merge: zone", "POST", "/v1/communities/merge", merge({{"slug", "g"}, {"name", "G"}, {"time_zone", "Nowhere/City"}}), 422,
          "into.time_zone");
  refused("merge: from CR/LF", "POST", "/v1/communities/merge",
          j({{"from", json::array{"alpha", "beta\r\n"}}, {"into", {{"slug", "g"}, {"name", "G"}}}}), 422, "from");
  refused("merge: from item type", "POST", "/v1/communities/merge",
          j({{"from", json::array{"alpha", 7}}, {"into", {{"slug", "g"}, {"name", "G"}}}}), 400, "from");
  refused("merge: one source", "POST", "/v1/communities/merge", j({{"from", json::array{"alpha"}}, {"into", {{"slug", "g"}, {"name", "G"}}}}),
          422, "from");
  refused("merge: twice", "POST", "/v1/communities/merge", j({{"from", json::array{"alpha", "alpha"}}, {"into", {{"slug", "g"}, {"name", "G"}}}}),
          422, "from");
  refused("members: offsets item", "POST", "/v1/members",
          j({{"email", "g@example.org"}, {"name", "G"}, {"time_zone", "UTC"}, {"reminder_offsets", json::array{"PT1H\r\n"}}}), 422,
          "reminder_offsets");
}

// --- domain values -----------------------------------------------------------------------

TEST_F(Hostile, UnknownTimeZonesAre422) {
  const std::string mp = "/v1/meetings/" + id(meeting_id);
  for (const std::string zone : {"Mars/Olympus_Mons", "../../../etc/passwd", "", "Europe/London ", "+01:00", "Europe/%"}) {
    SCOPED_TRACE(zone);
    refused("member", "POST", "/v1/members", j({{"email", "z@example.org"}, {"name", "Z"}, {"time_zone", zone}}), 422, "time_zone");
    refused("member patch", "PATCH", "/v1/members/" + id(member_id), j({{"time_zone", zone}}), 422, "time_zone");
    refused("community", "POST", "/v1/communities", j({{"slug", "z"}, {"name", "Z"}, {"time_zone", zone}}), 422, "time_zone");
    refused("community patch", "PATCH", "/v1/communities/alpha", j({{"time_zone", zone}}), 422, "time_zone");
    refused("meeting", "POST", "/v1/communities/alpha/meetings",
            j({{"title", "T"}, {"start", "2027-01-14T18:00"}, {"end", "2027-01-14T19:00"}, {"time_zone", zone}}), 422, "time_zone");
    refused("meeting patch", "PATCH", mp, j({{"time_zone", zone}}), 422, "time_zone");
    refused("occurrence", "PATCH", mp + "/occurrences/2026-12-09T10:00",
            j({{"start", "2026-12-09T14:00"}, {"end", "2026-12-09T15:00"}, {"time_zone", zone}}), 422, "time_zone");
    refused("annual", "PUT", "/v1/communities/alpha/annual-meeting/2027",
            j({{"start", "2027-07-12T14:00"}, {"end", "2027-07-12T15:00"}, {"time_zone", zone}}), 422, "time_zone");
  }
}

TEST_F(Hostile, EndBeforeStartIs422) {
  const std::string mp = "/v1/meetings/" + id(meeting_id);
  for (const auto& [start, end] : std::vector<std::pair<std::string, std::string>>{
           {"2027-01-14T18:00", "2027-01-14T17:00"}, {"2027-01-14T18:00", "2027-01-14T18:00"}, {"2027-01-14T18:00", "2026-01-14T19:00"}}) {
    SCOPED_TRACE(start + " .. " + end);
    refused("meeting", "POST", "/v1/communities/alpha/meetings", j({{"title", "T"}, {"start", start}, {"end", end}}), 422, "end");
    refused("occurrence", "PATCH", mp + "/occurrences/2026-12-09T10:00", j({{"start", start}, {"end", end}}), 422, "end");
  }
  refused("meeting patch: end before the stored start", "PATCH", mp, j({{"end", "2026-12-02T09:00"}}), 422, "end");
  refused("meeting patch: start after the stored end", "PATCH", mp, j({{"start", "2026-12-02T12:00"}}), 422, "end");
  refused("meeting: longer than 14 days", "POST", "/v1/communities/alpha/meetings",
          j({{"title", "T"}, {"start", "2027-01-01T10:00"}, {"end", "2027-01-16T10:00"}}), 422, "end");
  refused("annual", "PUT", "/v1/communities/alpha/annual-meeting/2027", j({{"start", "2027-07-12T14:00"}, {"end", "2027-07-12T13:00"}}),
          422, "end");
  refused("annual: longer than 12 hours", "PUT", "/v1/communities/alpha/annual-meeting/2027",
          j({{"start", "2027-07-12T06:00"}, {"end", "2027-07-12T19:00"}}), 422, "end");
  // Unparseable date-times.
  for (const std::string bad : {"2027-02-30T10:00", "2027-01-14 18:00", "2027-01-14T24:00", "tomorrow", "2027-01-14T18:00Z",
                                "2027-01-14T18:00:00+01:00", "+2027-01-14T18:00"})
    refused("bad start " + bad, "POST", "/v1/communities/alpha/meetings", j({{"title", "T"}, {"start", bad}, {"end", "2027-01-14T19:00"}}),
            422, "start");
}

TEST_F(Hostile, AnnualDateOutsideTheWindowNeedsForce) {
  const std::string path = "/v1/communities/alpha/annual-meeting/2027";
  // The window is July 8-14 2027 in Europe/London.
  for (const auto& [start, end] : std::vector<std::pair<std::string, std::string>>{
           {"2027-07-07T14:00", "2027-07-07T15:00"}, {"2027-07-15T09:00", "2027-07-15T10:00"},
           {"2027-12-01T14:00", "2027-12-01T15:00"}, {"2027-07-14T23:30", "2027-07-15T00:30"}})
    refused("outside " + start, "PUT", path, j({{"start", start}, {"end", end}, {"force", false}}), 422, "start");
  // The window is judged in the organisation's zone: 17:00 on July 7 in Chicago is 23:00 on July 7 in London.
  refused("outside in London time", "PUT", path,
          j({{"start", "2027-07-07T17:00"}, {"end", "2027-07-07T17:45"}, {"time_zone", "America/Chicago"}}), 422, "start");
  refused("past year", "PUT", "/v1/communities/alpha/annual-meeting/2025", j({{"start", "2025-07-10T14:00"}, {"end", "2025-07-10T15:00"}}),
          422, "year");
  // Forced, it is accepted.
  const auto forced = send("PUT", path, j({{"start", "2027-07-20T14:00"}, {"end", "2027-07-20T15:00"}, {"force", true}}));
  EXPECT_EQ(forced.status, 200) << forced.describe();
}

TEST_F(Hostile, BadRecurrenceRulesAre422) {
  const std::string mp = "/v1/meetings/" + id(meeting_id);
  for (const std::string rule : {"FREQ=SECONDLY", "FREQ=MINUTELY", "FREQ=HOURLY", "hello world", "garbage", "FREQ=", "=WEEKLY",
                                 "FREQ=WEEKLY;;", "FREQ=WEEKLY\r\nBEGIN:VEVENT", "FREQ=WEEKLY\nX", "RRULE:FREQ=DAILY",
                                 "FREQ=DAILY;COUNT=0", "FREQ=DAILY;COUNT=-1", "FREQ=DAILY;INTERVAL=0",
                                 "FREQ=DAILY;COUNT=3;UNTIL=20271231", "FREQ=DAILY;UNTIL=tomorrow", "FREQ=FORTNIGHTLY",
                                 "FREQ=WEEKLY;FREQ=DAILY", "FREQ=WEEKLY;X-NAME=1", "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30",
                                 "FREQ=WEEKLY;BYDAY=XX", "FREQ=WEEKLY;BYDAY=2TU", "FREQ=DAILY;COUNT=99999999999999999999",
                                 "FREQ=MONTHLY;BYMONTHDAY=32", "FREQ=DAILY;BYHOUR=25", "FREQ=WEEKLY;BYDAY=MO;",
                                 "FREQ=WEEKLY'; DROP TABLE meetings; --", ""}) {
    SCOPED_TRACE(rule);
    refused("create", "POST", "/v1/communities/alpha/meetings",
            j({{"title", "T"}, {"start", "2027-01-14T18:00"}, {"end", "2027-01-14T19:00"}, {"rrule", rule}}), 422, "rrule");
    refused("update", "PATCH", mp, j({{"rrule", rule}}), 422, "rrule");
  }
}

TEST_F(Hostile, UnknownDeliveryModesAre422) {
  for (const std::string mode : {"hourly", "", "realtime ", "REALTIME!", "none;", "daily\r\n", "'; DROP TABLE memberships; --"}) {
    SCOPED_TRACE(mode);
    refused("join-all", "POST", "/v1/members/" + id(member_id) + "/join-all", j({{"delivery", mode}}), 422, "delivery");
    refused("join", "PUT", "/v1/communities/beta/members/" + id(member_id), j({{"delivery", mode}}), 422, "delivery");
    refused("change", "PUT", "/v1/communities/alpha/members/" + id(member_id), j({{"delivery", mode}}), 422, "delivery");
  }
  refused("missing", "PUT", "/v1/communities/alpha/members/" + id(member_id), "{}", 400, "delivery");
}

TEST_F(Hostile, OtherDomainValuesAre422) {
  const std::string me = "/v1/members/" + id(member_id);
  refused("email", "PATCH", me, j({{"email", "not-an-email"}}), 422, "email");
  refused("email with display name", "PATCH", me, j({{"email", "Ada <ada@example.org>"}}), 422, "email");
  refused("email header injection", "PATCH", me, j({{"email", "ada@example.org\r\nBcc: all@example.org"}}), 422, "email");
  refused("digest hour", "PATCH", me, j({{"digest_hour", 24}}), 422, "digest_hour");
  refused("weekly day", "PATCH", me, j({{"weekly_day", "funday"}}), 422, "weekly_day");
  refused("offsets", "PATCH", me, j({{"reminder_offsets", json::array{"P1000D"}}}), 422, "reminder_offsets");
  refused("offsets overflow", "PATCH", me, j({{"reminder_offsets", json::array{"P999999999999W"}}}), 422, "reminder_offsets");
  refused("offsets negative", "PATCH", me, j({{"reminder_offsets", json::array{"-PT1H"}}}), 422, "reminder_offsets");
  refused("empty name", "PATCH", me, j({{"name", ""}}), 422, "name");
  refused("slug", "POST", "/v1/communities", j({{"slug", "Has Spaces"}, {"name", "X"}}), 422, "slug");
  refused("slug unicode", "POST", "/v1/communities", j({{"slug", "caf\u00e9"}, {"name", "X"}}), 422, "slug");
  refused("slug traversal", "POST", "/v1/communities", j({{"slug", "../alpha"}, {"name", "X"}}), 422, "slug");
  refused("visibility", "POST", "/v1/communities", j({{"slug", "v"}, {"name", "X"}, {"visibility", "secret"}}), 422, "visibility");
  refused("cadence", "PUT", "/v1/communities/alpha/topic-cadence", j({{"every", "PT1H"}}), 422, "every");
  refused("cadence overflow", "PUT", "/v1/communities/alpha/topic-cadence", j({{"every", "P999999999999D"}}), 422, "every");
  refused("url", "POST", "/v1/communities/alpha/topics", j({{"title", "T"}, {"url", "javascript:alert(1)"}}), 422, "url");
  refused("join url", "POST", "/v1/rooms", j({{"name", "r"}, {"join_url", "ftp://x.example.org/"}, {"capacity", 2}}), 422, "join_url");
  refused("capacity", "POST", "/v1/rooms", j({{"name", "r"}, {"join_url", "https://x.example.org/"}, {"capacity", 0}}), 422, "capacity");
  refused("room", "POST", "/v1/communities/alpha/meetings",
          j({{"title", "T"}, {"start", "2027-01-14T18:00"}, {"end", "2027-01-14T19:00"}, {"room_id", 999999}}), 422, "room_id");
  refused("kind", "POST", "/v1/communities/alpha/meetings",
          j({{"kind", "party"}, {"title", "T"}, {"start", "2027-01-14T18:00"}, {"end", "2027-01-14T19:00"}}), 422, "kind");
  refused("role", "PUT", "/v1/communities/alpha/roles/" + id(member_id), j({{"role", "admin"}}), 422, "role");
  refused("role dates", "PUT", "/v1/communities/alpha/roles/" + id(member_id),
          j({{"role", "discussion_monitor"}, {"starts_on", "2027-01-01"}, {"ends_on", "2026-12-01"}}), 422, "ends_on");
  refused("role date", "PUT", "/v1/communities/alpha/roles/" + id(member_id), j({{"role", "discussion_monitor"}, {"starts_on", "2027-02-30"}}),
          422, "starts_on");
  refused("plan hours", "POST", "/v1/annual-meetings/2027/plan", j({{"day_start", "17:00"}, {"day_end", "09:00"}}), 422, "day_end");
  refused("plan time", "POST", "/v1/annual-meetings/2027/plan", j({{"day_start", "25:00"}}), 422, "day_start");
  refused("plan duration", "POST", "/v1/annual-meetings/2027/plan", j({{"duration", "PT999999999999H"}}), 422, "duration");
  refused("plan gap", "POST", "/v1/annual-meetings/2027/plan", j({{"gap", "P1D"}}), 422, "gap");
}

// Dates at the edges of the calendar must be refused (or handled), never crash the request.
TEST_F(Hostile, DatesAtTheEdgesOfTimeAreNever500) {
  const std::string mp = "/v1/meetings/" + id(meeting_id);
  refused("year 0 role start", "PUT", "/v1/communities/alpha/roles/" + id(member_id),
          j({{"role", "discussion_monitor"}, {"starts_on", "0000-01-01"}}), 422, "starts_on");
  refused("year 0 role end", "PUT", "/v1/communities/alpha/roles/" + id(member_id),
          j({{"role", "discussion_monitor"}, {"starts_on", "2026-12-01"}, {"ends_on", "0000-01-01"}}), 422, "ends_on");
  refused("year 0 meeting", "POST", "/v1/communities/alpha/meetings",
          j({{"title", "T"}, {"start", "0000-01-01T10:00"}, {"end", "0000-01-01T11:00"}}), 422, "start");
  refused("year 0 move", "PATCH", mp + "/occurrences/2026-12-09T10:00",
          j({{"start", "0000-01-01T10:00"}, {"end", "0000-01-01T11:00"}}), 422, "start");
  refused("year 0 annual (forced)", "PUT", "/v1/communities/alpha/annual-meeting/2027",
          j({{"start", "0000-07-12T10:00"}, {"end", "0000-07-12T11:00"}, {"force", true}}), 422, "start");
  // Far in the future: either refused as a value (422) or accepted; never a server error.
  const auto far = send("POST", "/v1/communities/alpha/meetings",
                        j({{"title", "Far"}, {"start", "9999-12-31T10:00"}, {"end", "9999-12-31T11:00"}, {"rrule", "FREQ=DAILY"}}));
  EXPECT_TRUE(far.status == 201 || far.status == 422) << far.describe();
  const auto last = send("POST", "/v1/communities/alpha/meetings",
                         j({{"title", "Last minute"}, {"start", "9999-12-31T23:00"}, {"end", "9999-12-31T23:59"}, {"time_zone", "Pacific/Pago_Pago"}}));
  EXPECT_TRUE(last.status == 201 || last.status == 422) << last.describe();
}

// A room never holds two overlapping bookings, even of the same series: refused, not a crash.
TEST_F(Hostile, ASeriesThatOverlapsItselfInARoomIsRefused) {
  const auto empty_room = make_room("room-2");
  rebaseline();
  refused("daily series lasting three days", "POST", "/v1/communities/alpha/meetings",
          j({{"title", "Marathon"}, {"start", "2027-01-04T10:00"}, {"end", "2027-01-07T10:00"}, {"rrule", "FREQ=DAILY;COUNT=5"},
             {"room_id", empty_room}}),
          {409, 422});
  // Moving one occurrence of the weekly meeting onto the next one, in the same room.
  refused("occurrence moved onto its sibling", "PATCH", "/v1/meetings/" + id(meeting_id) + "/occurrences/2026-12-09T10:00",
          j({{"start", "2026-12-16T10:30"}, {"end", "2026-12-16T11:30"}}), {409, 422});
  // Stretching the weekly meeting to 8 days makes every occurrence overlap the next.
  refused("series stretched over its own next occurrence", "PATCH", "/v1/meetings/" + id(meeting_id),
          j({{"end", "2026-12-10T11:00"}}), {409, 422});
}

// --- SQL metacharacters are data ---------------------------------------------------------

TEST_F(Hostile, SqlMetacharactersAreStoredAndSearchedLiterally) {
  const std::string evil = "'; DROP TABLE members; --";
  const std::string percent = "100% \"pure\" \\ backslash";
  const std::string under = "snake_case & O'Brien";
  const std::string desc = "LIKE '%' OR 1=1; -- _ \\ $1 $$ E'\\x00' \u00e9\u4e2d\U0001F600";
  struct Made { std::string slug, name; };
  const std::vector<Made> made = {{"evil", evil}, {"percent", percent}, {"under", under}};
  for (const auto& c : made) {
    const auto r = send("POST", "/v1/communities", j({{"slug", c.slug}, {"name", c.name}, {"description", desc}}));
    ASSERT_EQ(r.status, 201) << r.describe();
    const auto back = send("GET", "/v1/communities/" + c.slug, "");
    ASSERT_EQ(back.status, 200) << back.describe();
    EXPECT_EQ(back.json.at("name").as_string(), c.name);
    EXPECT_EQ(back.json.at("description").as_string(), desc);
  }
  EXPECT_EQ(count("SELECT count(*) FROM members"), 3);  // admin, member, monitor: the table is still there
  // Member names and meeting titles too.
  ASSERT_EQ(send("PATCH", "/v1/members/" + id(member_id), j({{"name", evil}})).status, 200);
  EXPECT_EQ(send("GET", "/v1/members/" + id(member_id), "").json.at("name").as_string(), evil);
  const auto mt = send("PATCH", "/v1/meetings/" + id(meeting_id), j({{"title", percent}, {"description", desc}}));
  ASSERT_EQ(mt.status, 200) << mt.describe();
  EXPECT_EQ(mt.json.at("title").as_string(), percent);
  const auto topic = send("POST", "/v1/communities/alpha/topics", j({{"title", under}, {"body", desc}}));
  ASSERT_EQ(topic.status, 201) << topic.describe();
  EXPECT_EQ(topic.json.at("title").as_string(), under);
  EXPECT_EQ(count("SELECT count(*) FROM topics WHERE body = " + std::string("'") + "LIKE ''%'' OR 1=1; -- _ \\ $1 $$ E''\\x00'' " +
                  "\u00e9\u4e2d\U0001F600'"),
            1);

  // Search: wildcards are literal. The descriptions all contain % and _, so search names only
  // through distinctive strings.
  const auto total = [&](const std::string& q) {
    const auto r = send("GET", "/v1/communities?status=all&q=" + q, "");
    EXPECT_EQ(r.status, 200) << q << ": " << r.describe();
    return r.status == 200 ? r.json.at("total").as_int64() : -1;
  };
  EXPECT_EQ(total("100%25"), 1) << "\"100%\" names one community";
  EXPECT_EQ(total("%25%25"), 0) << "\"%%\" occurs nowhere";
  EXPECT_EQ(total("e_c"), 1) << "\"e_c\" (snake_case) must not match 'e' + any character + 'c'";
  EXPECT_EQ(total("a_e"), 0) << "_ is not a wildcard";
  EXPECT_EQ(total("O%27Brien"), 1);
  EXPECT_EQ(total("%27%3B%20DROP"), 1);
  EXPECT_EQ(total("%5C%20backslash"), 1) << "a backslash is literal";
  EXPECT_EQ(total("%5C%5C"), 0);
  EXPECT_EQ(total("%22pure%22"), 1);
  // "%" alone matches only what contains a percent sign: every description here does, so
  // alpha and beta (no % anywhere) must be left out.
  EXPECT_EQ(total("%25"), 3) << "\"%\" must not match every community";
  EXPECT_EQ(total("_"), 3) << "\"_\" must not match every community";
  EXPECT_EQ(total("%5C"), 3);
  EXPECT_EQ(total(""), 5);
}

TEST_F(Hostile, QueryStringsAreValidated) {
  refused("q with CR/LF", "GET", "/v1/communities?q=a%0D%0Ab", "", 422, "q");
  refused("q with NUL", "GET", "/v1/communities?q=a%00b", "", 422, "q");
  refused("q too long", "GET", "/v1/communities?q=" + std::string(201, 'a'), "", 422, "q");
  // Query strings bypass the JSON parser's UTF-8 check; PostgreSQL must not be the one to notice.
  refused("q with invalid UTF-8", "GET", "/v1/communities?q=%FF", "", {400, 422}, "q");
  refused("q with a truncated sequence", "GET", "/v1/communities?q=caf%C3", "", {400, 422}, "q");
  refused("q with a surrogate", "GET", "/v1/communities?q=%ED%A0%80", "", {400, 422}, "q");
  refused("status", "GET", "/v1/communities?status=deleted", "", 422, "status");
  for (const std::string v : {"0", "-1", "abc", "201", "1e3", "1000000000000000000000000000000", "", "%20", "1.5"}) {
    refused("per_page=" + v, "GET", "/v1/communities?per_page=" + v, "", 422, "per_page");
    refused("rooms per_page=" + v, "GET", "/v1/rooms?per_page=" + v, "", 422, "per_page");
    refused("members per_page=" + v, "GET", "/v1/communities/alpha/members?per_page=" + v, "", 422, "per_page");
  }
  refused("page=0", "GET", "/v1/communities?page=0", "", 422, "page");
  const auto far = send("GET", "/v1/communities?page=1000000&per_page=200", "");
  EXPECT_EQ(far.status, 200) << far.describe();
  EXPECT_TRUE(far.json.at("items").as_array().empty());
  const std::string b = "/v1/rooms/" + id(room_id) + "/bookings";
  refused("from garbage", "GET", b + "?from=yesterday", "", 422, "from");
  refused("to garbage", "GET", b + "?to=2027-13-01", "", 422, "to");
  refused("to before from", "GET", b + "?from=2027-02-01&to=2027-01-01", "", 422, "to");
  refused("range too long", "GET", b + "?from=2027-01-01&to=2030-01-01", "", 422, "to");
  refused("SQL in from", "GET", b + "?from=2027-01-01%27%3B--", "", 422, "from");
  // Year 0 does not exist in PostgreSQL: a 422, not a server error.
  refused("year 0", "GET", b + "?from=0000-01-01&to=0000-02-01", "", 422, "from");
  const auto ok = send("GET", b + "?from=9999-12-01&to=9999-12-31", "");
  EXPECT_TRUE(ok.status == 200 || ok.status == 422) << ok.describe();
  // What a member will receive: the same kind of range, in the member's zone.
  const std::string u = "/v1/members/" + id(member_id) + "/upcoming";
  refused("upcoming from garbage", "GET", u + "?from=yesterday", "", 422, "from");
  refused("upcoming to garbage", "GET", u + "?to=2027-02-30", "", 422, "to");
  refused("upcoming to before from", "GET", u + "?from=2027-02-01&to=2027-01-01", "", 422, "to");
  refused("upcoming range too long", "GET", u + "?from=2027-01-01&to=2028-01-03", "", 422, "to");
  refused("upcoming offset out of range", "GET", u + "?from=2027-01-01T00:00:00%2B24:00", "", 422, "from");
  refused("upcoming year 0", "GET", u + "?from=0000-01-01&to=0000-02-01", "", 422, "from");
  refused("upcoming CR/LF", "GET", u + "?from=2027-01-01%0D%0A", "", 422, "from");
  refused("upcoming invalid UTF-8", "GET", u + "?to=%FF", "", 422, "to");
  refused("digest-preview cadence", "GET", "/v1/members/" + id(member_id) + "/digest-preview?cadence=monthly", "", 422,
          "cadence");
  const auto late = send("GET", u + "?from=2199-06-01&to=2199-12-31", "");
  EXPECT_TRUE(late.status == 200 || late.status == 422) << late.describe();
}

// --- path parameters ---------------------------------------------------------------------

TEST_F(Hostile, PathParametersThatNameNothingAre404) {
  const std::map<std::string, std::string> good = {{"id", ""},
                                                   {"member_id", id(member_id)},
                                                   {"slug", "alpha"},
                                                   {"year", "2027"},
                                                   {"recurrence_id", "2026-12-09T10:00"},
                                                   {"role", "discussion_monitor"}};
  const std::vector<std::string> common = {"abc", "-1", "0", "1000000000000000000000000000000", "9223372036854775808",
                                           "..%2F", "..%2F..%2F..%2Fetc%2Fpasswd", "%2e%2e", "%2F", "1%00", "%00",
                                           "1%20", "%20", "%27%3B%20DROP%20TABLE%20members%3B--", "1.5", "%EF%BC%91",
                                           "%FF", "%0D%0A", "1e3", "0x1", "%2B1", std::string(300, '9')};
  const std::map<std::string, std::vector<std::string>> specific = {
      {"slug", {"ALPHA", "no-such", "alpha-", "%25", "_", "alpha%0A"}},
      {"year", {"1999", "2201", "99999999999999999999", "2027.0", "+2027"}},
      {"role", {"admin", "committee", "DISCUSSION_MONITOR", "discussion_monitor%0A"}},
      {"recurrence_id", {"2026-12-09T10:01", "2026-12-09", "0000-01-01T00:00", "9999-12-31T23:59", "2026-02-30T10:00",
                         "2026-12-09T10:00%0A", "2026-12-08T10:00"}},
  };
  std::map<std::pair<std::string, std::string>, std::string> body;
  for (const auto& b : bodies()) body[{b.method, b.pattern}] = j(b.valid(*this));
  int checked = 0;
  check_each_ = false;  // ~1000 requests: the database is compared once per route instead
  rebaseline();          // (after the valid bodies above: making a plan creates placeholders)
  for (const auto& route : registered_routes()) {
    SCOPED_TRACE(route.method + " " + route.pattern);
    std::vector<std::string> names;
    for (std::size_t i = route.pattern.find('{'); i != std::string::npos; i = route.pattern.find('{', i + 1))
      names.push_back(route.pattern.substr(i + 1, route.pattern.find('}', i) - i - 1));
    for (const auto& name : names) {
      std::vector<std::string> values = common;
      if (specific.count(name)) values.insert(values.end(), specific.at(name).begin(), specific.at(name).end());
      for (const auto& value : values) {
        std::string path = route.pattern;
        for (const auto& other : names) {
          std::string v = other == name ? value : good.at(other);
          if (other == "id" && other != name)
            v = route.pattern.rfind("/v1/meetings", 0) == 0 ? id(meeting_id)
                : route.pattern.rfind("/v1/rooms", 0) == 0  ? id(room_id)
                                                            : id(member_id);
          path.replace(path.find("{" + other + "}"), other.size() + 2, v);
        }
        const auto it = body.find({route.method, route.pattern});
        refused(route.method + " " + route.pattern + " with " + name + "=" + value, route.method, path,
                it == body.end() ? "" : it->second, 404);
        ++checked;
      }
    }
    expect_unchanged();
  }
  EXPECT_GT(checked, 300);
}

// --- the plan proposal is client-supplied: apply must not trust it -------------------------

class HostilePlan : public Hostile {
 protected:
  // The fingerprint the server computes (daemon/api/annual.cpp plan_fingerprint): it is not
  // keyed, so any committee member can compute it for a proposal they wrote themselves.
  std::string forge(const json::array& slots) {
    pqxx::connection c(db.url());
    c.set_variable("TimeZone", "'UTC'");
    pqxx::nontransaction tx(c);
    std::string state = "2027|";
    for (const auto& r : tx.exec("SELECT m.id, m.community_id, m.status, m.sequence FROM meetings m JOIN communities c ON "
                                 "c.id = m.community_id WHERE m.kind = 'annual' AND m.annual_year = 2027 AND c.status = "
                                 "'active' ORDER BY m.id"))
      state += r[0].c_str() + std::string(",") + r[1].c_str() + "," + r[2].c_str() + "," + r[3].c_str() + ";";
    state += "|";
    for (const auto& r : tx.exec("SELECT meeting_id, recurrence_id, room_id, lower(during), upper(during) FROM room_bookings "
                                 "WHERE during && tstzrange('2027-07-06T23:00:00Z', '2027-07-15T23:00:00Z') "
                                 "ORDER BY room_id, lower(during), meeting_id"))
      state += std::string(r[0].c_str()) + "," + r[2].c_str() + "," + r[3].c_str() + "," + r[4].c_str() + ";";
    state += "|" + json::serialize(slots);
    return convene::store::sha256_hex(state);
  }
  json::object slot(const std::string& community, const std::string& start, const std::string& end,
                    const std::string& zone = "Europe/London") {
    return {{"community", community}, {"start", start}, {"end", end}, {"time_zone", zone}, {"room_id", nullptr}};
  }
  ApiResponse apply(const json::object& proposal) {
    return send("POST", "/v1/annual-meetings/2027/plan/apply", j({{"proposal", proposal}}));
  }
  static constexpr const char* kApply = "/v1/annual-meetings/2027/plan/apply";
  void run_forged_proposals_and_exit();
  static std::string forged_marker(int parent_pid) {
    return ::testing::TempDir() + "convene_forged_db_" + std::to_string(parent_pid);
  }
};

TEST_F(HostilePlan, EditedOrMalformedProposalsAreRefused) {
  const json::object plan = current_plan();
  ASSERT_EQ(plan.at("slots").as_array().size(), 2u) << j(plan);
  refused("no proposal", "POST", kApply, "{}", 400, "proposal");
  refused("proposal not an object", "POST", kApply, j({{"proposal", json::array{}}}), 400, "proposal");
  refused("proposal without slots", "POST", kApply, j({{"proposal", {{"fingerprint", plan.at("fingerprint")}}}}), 400);
  refused("slots not an array", "POST", kApply, j({{"proposal", {{"slots", "x"}, {"fingerprint", plan.at("fingerprint")}}}}), 400);
  json::object edited = plan;
  edited["slots"].as_array()[0].as_object()["start"] = "2027-07-20T09:00";
  refused("edited slot", "POST", kApply, j({{"proposal", edited}}), 409);
  json::object stale = plan;
  stale["fingerprint"] = "0000";
  refused("wrong fingerprint", "POST", kApply, j({{"proposal", stale}}), 409);
  const auto applied = apply(plan);
  EXPECT_EQ(applied.status, 200) << applied.describe();
}

// Each forged proposal carries a correctly recomputed fingerprint (or, once the server keys its
// fingerprint, a wrong one: then 409 is the right answer). Apply must validate every slot like
// PUT .../annual-meeting/{year} does: a 4xx, nothing applied; never a server error. Some of these
// crash convened today, so they run in a child process (a threadsafe death test) that exits 0
// only when every one was refused properly: a crash fails this test, not the whole run.
TEST_F(HostilePlan, AForgedProposalIsValidatedLikeAnyOtherInput) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(run_forged_proposals_and_exit(), ::testing::ExitedWithCode(0), "");
  // A child that crashed could not drop its database: it left the name behind for us.
  const std::string marker = forged_marker(::getpid());
  std::ifstream in(marker);
  std::string name;
  if (in >> name && name.rfind("convene_test_", 0) == 0) {
    pqxx::connection admin(convene::testing::admin_database_url());
    pqxx::nontransaction tx(admin);
    tx.exec("DROP DATABASE IF EXISTS " + tx.quote_name(name) + " WITH (FORCE)");
  }
  std::remove(marker.c_str());
}

void HostilePlan::run_forged_proposals_and_exit() {
  const std::vector<std::pair<std::string, json::array>> forged = {
      {"outside the window", json::array{slot("alpha", "2027-12-25T10:00", "2027-12-25T11:00")}},
      {"end before start", json::array{slot("alpha", "2027-07-12T10:00", "2027-07-12T09:00")}},
      {"longer than 12 hours", json::array{slot("alpha", "2027-07-12T06:00", "2027-07-12T23:00")}},
      {"two slots overlapping", json::array{slot("alpha", "2027-07-12T10:00", "2027-07-12T11:00"),
                                            slot("beta", "2027-07-12T10:30", "2027-07-12T11:30")}},
      {"unknown zone", json::array{slot("alpha", "2027-07-12T10:00", "2027-07-12T11:00", "Mars/Base")}},
      {"unknown room", json::array{json::object{{"community", "alpha"}, {"start", "2027-07-12T10:00"},
                                                {"end", "2027-07-12T11:00"}, {"time_zone", "Europe/London"},
                                                {"room_id", 999999}}}},
      {"garbage start", json::array{slot("alpha", "soon", "2027-07-12T11:00")}},
      {"missing fields", json::array{json::object{{"community", "alpha"}}}},
      {"slot not an object", json::array{"alpha"}},
      {"community not a string", json::array{json::object{{"community", 7}, {"start", "2027-07-12T10:00"},
                                                          {"end", "2027-07-12T11:00"}, {"time_zone", "Europe/London"},
                                                          {"room_id", nullptr}}}},
      {"unknown community", json::array{slot("no-such", "2027-07-12T10:00", "2027-07-12T11:00")}},
  };
  // A genuine plan first (it also creates 2027's placeholders, as apply would): the forging
  // helper reproduces its fingerprint, unless the server has started keying it.
  std::ofstream(forged_marker(::getppid())) << db.name() << "\n";
  const json::object plan = current_plan();
  const bool keyed = forge(plan.at("slots").as_array()) != std::string(plan.at("fingerprint").as_string());
  std::cerr << (keyed ? "the fingerprint is keyed: forged proposals must be 409\n" : "the fingerprint can be forged\n");
  int failures = 0;
  const std::string before = snapshot();
  for (const auto& [what, slots] : forged) {
    std::cerr << "forged proposal (" << what << "): " << std::flush;
    const auto r = apply({{"slots", slots}, {"fingerprint", forge(slots)}});
    const bool refused = keyed ? r.status == 409 : (r.status == 400 || r.status == 409 || r.status == 422);
    const bool problem = r.content_type == "application/problem+json";
    const bool unchanged = snapshot() == before;
    std::cerr << r.describe().substr(0, 300) << (refused && problem && unchanged ? "" : "   <-- WRONG") << "\n";
    if (!refused || !problem || !unchanged) ++failures;
  }
  TearDown();
  {
    pqxx::connection admin(convene::testing::admin_database_url());
    pqxx::nontransaction tx(admin);
    tx.exec("DROP DATABASE IF EXISTS " + tx.quote_name(db.name()) + " WITH (FORCE)");
  }
  std::cerr << std::flush;
  std::_Exit(failures == 0 ? 0 : 1);
}

}  // namespace
