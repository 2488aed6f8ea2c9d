// Digest emails (notifiers/digest_view.hpp, templates/digest.*): grouped by community, times in
// the recipient's zone, a coalesced digest says so, unsafe URLs are dropped, and the composed
// message parses strictly (tests/unit/mime_strict.py) as multipart/alternative.
#include "notifiers/digest_view.hpp"
#include "notifiers/email_message.hpp"
#include "notifiers/templates.hpp"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <cstdio>
#include <filesystem>
#include <fstream>

namespace n = convene::notifiers;
using boost::json::array;
using boost::json::object;

namespace {

const n::Templates& templates() {
  static const n::Templates loaded = n::Templates::load(CONVENE_TEMPLATES_DIR);
  return loaded;
}

n::MessageContext context(std::string zone = "Europe/Berlin") {
  return {"Ada Lovelace", 7, std::move(zone), "https://convene.example.org",
          "https://convene.example.org/preferences/u1.pref.mac", ""};
}

object meeting_item(std::int64_t id, const char* title, const char* start_utc, const char* end_utc) {
  return {{"meeting_id", id}, {"title", title},       {"kind", "meeting"},   {"time_zone", "America/Chicago"},
          {"all_day", false}, {"start_utc", start_utc}, {"end_utc", end_utc}, {"start", "2027-07-12T14:00:00"},
          {"end", "2027-07-12T15:00:00"}};
}

object payload(int periods = 1) {
  object data_science{{"community", "data-science"},
                      {"community_name", "Data Science"},
                      {"topics", array{object{{"topic_id", 3},
                                              {"title", "Feature stores?"},
                                              {"url", "https://example.org/fs"},
                                              {"posted_at", "2027-07-09T10:00:00Z"}},
                                       object{{"topic_id", 4}, {"title", "Bad link"}, {"url", "javascript:alert(1)"},
                                              {"posted_at", "2027-07-09T11:00:00Z"}}}},
                      {"scheduled", array{meeting_item(5, "Weekly sync", "2027-07-12T19:00:00Z", "2027-07-12T20:00:00Z")}},
                      {"changed", array{}},
                      {"cancelled", array{}},
                      {"annual", array{}},
                      {"upcoming", array{meeting_item(5, "Weekly sync", "2027-07-12T19:00:00Z", "2027-07-12T20:00:00Z")}}};
  object ux{{"community", "ux"},
            {"community_name", "UX <Research>"},
            {"topics", array{}},
            {"scheduled", array{}},
            {"changed", array{}},
            {"cancelled", array{meeting_item(9, "Old call", "2027-07-13T19:00:00Z", "2027-07-13T20:00:00Z")}},
            {"annual", array{}},
            {"upcoming", array{}}};
  return {{"cadence", "daily"},
          {"period", "2027-07-10"},
          {"period_end", "2027-07-10T05:00:00Z"},
          {"covered_from", periods > 1 ? "2027-07-07T05:00:00Z" : "2027-07-09T05:00:00Z"},
          {"covered_to", "2027-07-10T05:00:00Z"},
          {"periods_covered", periods},
          {"item_count", 4},
          {"communities", array{data_science, ux}}};
}

bool has(const std::string& haystack, const std::string& needle) { return haystack.find(needle) != std::string::npos; }

}  // namespace

TEST(DigestView, GroupsByCommunityWithTimesInTheRecipientsZone) {
  const auto m = templates().render("digest.daily", payload(), context());
  EXPECT_EQ(m.subject, "Your daily digest, Saturday 10 July 2027: 2 new topics, 1 new meeting and 1 cancellation");
  EXPECT_TRUE(has(m.text, "== Data Science ==")) << m.text;
  EXPECT_TRUE(has(m.text, "New topics:\n  * Feature stores? (Friday 9 July 2027, 12:00 (Europe/Berlin))\n    https://example.org/fs"))
      << m.text;
  EXPECT_TRUE(has(m.text, "  * Weekly sync (meeting): Monday 12 July 2027, 21:00\xE2\x80\x93" "22:00 (Europe/Berlin)")) << m.text;
  EXPECT_TRUE(has(m.text, "In the next 14 days:\n  * Monday 12 July 2027, 21:00")) << m.text;
  EXPECT_TRUE(has(m.text, "== UX <Research> ==\n\nCancelled:\n  * Old call:")) << m.text;
  EXPECT_TRUE(has(m.text, "You receive this digest as a member of Data Science and UX <Research> on Convene.")) << m.text;
  EXPECT_FALSE(has(m.text, "javascript:")) << m.text;
  EXPECT_FALSE(has(m.text, "\n\n\n")) << m.text;
  EXPECT_FALSE(has(m.text, "covers the last")) << m.text;
  EXPECT_TRUE(has(m.html, "<h2 style=\"font-size:18px; margin:24px 0 8px; border-bottom:1px solid #dddddd;\">UX &lt;Research&gt;</h2>"))
      << m.html;
  EXPECT_TRUE(has(m.html, "<li><a href=\"https://example.org/fs\">Feature stores?</a>")) << m.html;
  EXPECT_TRUE(has(m.html, "<li>Bad link")) << m.html;
  EXPECT_FALSE(has(m.html, "javascript:")) << m.html;
}

TEST(DigestView, ACoalescedDigestSaysWhatItCovers) {
  const auto m = templates().render("digest.daily", payload(3), context("America/New_York"));
  EXPECT_TRUE(has(m.text, "It covers the last 3 days (since Wednesday 7 July 2027, 01:00 (America/New_York))")) << m.text;
  EXPECT_TRUE(has(m.html, "It covers the last 3 days")) << m.html;
}

TEST(DigestView, WeeklyAndSingleCommunity) {
  auto p = payload();
  p["cadence"] = "weekly";
  p["community"] = "data-science";
  p["community_name"] = "Data Science";
  p["communities"].as_array().pop_back();
  const auto m = templates().render("digest.weekly", p, context());
  EXPECT_TRUE(m.subject.starts_with("Your weekly digest, the week to Saturday 10 July 2027: 2 new topics")) << m.subject;
  EXPECT_TRUE(has(m.text, "You receive this email as a member of Data Science on Convene.")) << m.text;
}

TEST(DigestView, ComposedDigestParsesStrictly) {
  if (std::system("/usr/bin/python3 -c 'import email.policy' >/dev/null 2>&1") != 0) GTEST_SKIP() << "no python3";
  const auto m = templates().render("digest.daily", payload(3), context());
  n::EmailParts parts;
  parts.from = {"notify@convene.example.org", "Convene"};
  parts.to = {"ada@example.org", "Ada Lovelace"};
  parts.subject = m.subject;
  parts.notification_id = "0b7e6a52-3c1f-4d2e-9a4b-7f1e2d3c4b5a";
  parts.message_id_domain = "convene.example.org";
  parts.date = convene::calendar::Instant{std::chrono::sys_days{std::chrono::year{2027} / 7 / 10}};
  parts.text = m.text;
  parts.html = m.html;
  const auto dir = std::filesystem::temp_directory_path() / ("convene-digest-mime-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  {
    std::ofstream out(dir / "digest.eml", std::ios::binary);
    out << n::compose_email(parts);
  }
  const std::string command = "/usr/bin/python3 '" + std::string(CONVENE_SOURCE_DIR) + "/tests/unit/mime_strict.py' '" +
                              (dir / "digest.eml").string() + "'";
  std::string output;
  FILE* pipe = ::popen(command.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  char buffer[4096];
  while (std::size_t got = std::fread(buffer, 1, sizeof buffer, pipe)) output.append(buffer, got);
  const int status = ::pclose(pipe);
  std::filesystem::remove_all(dir);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << output;
  const auto parsed = boost::json::parse(output).as_object();
  EXPECT_EQ(parsed.at("content_type").as_string(), "multipart/alternative");
  EXPECT_LE(parsed.at("max_line").as_int64(), 78);
}

TEST(DigestView, OnlyDigestKinds) {
  EXPECT_TRUE(n::is_digest_kind("digest.daily"));
  EXPECT_TRUE(n::is_digest_kind("digest.weekly"));
  EXPECT_FALSE(n::is_digest_kind("topic.posted"));
}

// A digest shows each meeting in the recipient's zone only: its items carry no time in the
// meeting's own zone (America/Chicago here), which single-event emails add.
TEST(DigestView, MeetingsAreShownInTheRecipientsZoneOnly) {
  object view;
  n::add_digest_view(view, payload(), "Europe/Berlin");
  const auto& communities = view.at("communities").as_array();
  ASSERT_FALSE(communities.empty());
  const auto& scheduled = communities[0].as_object().at("scheduled").as_array();
  ASSERT_EQ(scheduled.size(), 1u);
  const auto& item = scheduled[0].as_object();
  EXPECT_EQ(item.at("when").as_string(), "Monday 12 July 2027, 21:00\xE2\x80\x93" "22:00 (Europe/Berlin)");
  EXPECT_FALSE(item.contains("when_in_meeting_zone"));
}
