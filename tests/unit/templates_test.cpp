// Email templates (DESIGN §4): every kind renders from templates/, HTML is escaped and text is
// not, data cannot act as a template, unsafe URLs are dropped, times are in the recipient's
// zone with real DST rules, and a broken template directory is refused at load.
#include "notifiers/templates.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "notifiers/display_time.hpp"
#include "notifiers/message_view.hpp"

namespace n = convene::notifiers;
namespace fs = std::filesystem;
using boost::json::object;

namespace {

const n::Templates& templates() {
  static const n::Templates loaded = n::Templates::load(CONVENE_TEMPLATES_DIR);
  return loaded;
}

n::MessageContext context(std::string zone = "Europe/Berlin", std::optional<std::int64_t> member = 7) {
  return {"Ada Lovelace", member, std::move(zone), "https://convene.example.org",
          "https://convene.example.org/preferences/u1.pref.mac", "https://convene.example.org/u/u1.unsub.mac"};
}

// A one-hour meeting at 14:00 in Chicago (19:00 UTC) on Monday 12 July 2027.
object meeting() {
  return {{"meeting_id", 5},
          {"uid", "m5@convene.example.org"},
          {"community", "data-science"},
          {"community_name", "Data Science"},
          {"kind", "meeting"},
          {"title", "Weekly sync"},
          {"description", "Agenda:\n1. news"},
          {"all_day", false},
          {"status", "confirmed"},
          {"sequence", 0},
          {"start", "2027-07-12T14:00:00"},
          {"end", "2027-07-12T15:00:00"},
          {"time_zone", "America/Chicago"},
          {"start_utc", "2027-07-12T19:00:00Z"},
          {"end_utc", "2027-07-12T20:00:00Z"},
          {"rrule", nullptr},
          {"room_id", nullptr},
          {"event_id", 11},
          {"occurred_at", "2027-07-01T08:00:00Z"},
          {"member_name", "Ada Lovelace"}};
}

bool has(const std::string& haystack, const std::string& needle) { return haystack.find(needle) != std::string::npos; }

struct TempDir {
  fs::path path = fs::temp_directory_path() / ("convene-templates-test-" + std::to_string(::getpid()));
  TempDir() {
    fs::remove_all(path);
    fs::copy(CONVENE_TEMPLATES_DIR, path, fs::copy_options::recursive);
  }
  ~TempDir() { fs::remove_all(path); }
  void write(const std::string& name, const std::string& content) const { std::ofstream(path / name) << content; }
};

}  // namespace

TEST(Templates, EveryKindRendersWithTheFooterLinks) {
  for (const auto kind : n::email_event_kinds()) {
    SCOPED_TRACE(std::string(kind));
    const auto m = templates().render(kind, meeting(), context());
    EXPECT_FALSE(m.subject.empty());
    EXPECT_EQ(m.subject.find_first_of("\r\n"), std::string::npos);
    EXPECT_TRUE(has(m.text, "Hello Ada Lovelace,")) << m.text;
    EXPECT_TRUE(has(m.text, "https://convene.example.org/preferences/u1.pref.mac")) << m.text;
    EXPECT_TRUE(has(m.text, "https://convene.example.org/u/u1.unsub.mac")) << m.text;
    EXPECT_TRUE(has(m.html, "<a href=\"https://convene.example.org/preferences/u1.pref.mac\"")) << m.html;
    EXPECT_TRUE(has(m.html, "<a href=\"https://convene.example.org/u/u1.unsub.mac\"")) << m.html;
    EXPECT_TRUE(m.html.starts_with("<!DOCTYPE html>"));
    EXPECT_TRUE(has(m.html, "<title>" + m.subject + "</title>")) << m.html;
  }
}

TEST(Templates, SkippedSectionsLeaveNoBlankLines) {
  // kainjow keeps the line of a skipped section; the loader joins such lines (templates.cpp).
  for (const auto kind : n::email_event_kinds()) {
    SCOPED_TRACE(std::string(kind));
    for (const auto& ctx : {context("America/Chicago"), n::MessageContext{}}) {
      const auto m = templates().render(kind, meeting(), ctx);
      EXPECT_FALSE(has(m.text, "\n\n\n")) << m.text;
      EXPECT_FALSE(has(m.text, "\n\n-- \n\n")) << m.text;
    }
  }
  const auto m = templates().render("meeting.scheduled", meeting(), context("America/Chicago"));
  EXPECT_TRUE(has(m.text, "(America/Chicago)\n\nAgenda:\n1. news\n\nThe attached invitation")) << m.text;
  EXPECT_TRUE(has(m.text, "your calendar.\n\n-- \nYou receive this email as a member of Data Science on Convene.\n"
                          "Change what you receive")) << m.text;
}

TEST(Templates, EveryKindRendersFromAnEmptyPayload) {
  n::MessageContext empty;
  for (const auto kind : n::email_event_kinds()) {
    SCOPED_TRACE(std::string(kind));
    const auto m = templates().render(kind, object{}, empty);
    EXPECT_TRUE(has(m.text, "Hello,"));
    EXPECT_FALSE(has(m.html, "href=\"\""));  // no link without a URL
  }
}

TEST(Templates, UnknownKindsAreRefused) {
  EXPECT_THROW(templates().render("member.joined", meeting(), context()), std::invalid_argument);
  EXPECT_THROW(templates().render("nope", meeting(), context()), std::invalid_argument);
}

TEST(Templates, HtmlIsEscapedAndTextIsNot) {
  auto payload = meeting();
  payload["title"] = "<script>alert(1)</script> & \"q\" 'x'";
  payload["community_name"] = "R&D <Lab>";
  const auto m = templates().render("meeting.scheduled", payload, context());
  EXPECT_FALSE(has(m.html, "<script>"));
  EXPECT_TRUE(has(m.html, "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;q&quot; &apos;x&apos;")) << m.html;
  EXPECT_TRUE(has(m.html, "R&amp;D &lt;Lab&gt;"));
  EXPECT_TRUE(has(m.text, "<script>alert(1)</script> & \"q\" 'x'")) << m.text;
  EXPECT_FALSE(has(m.text, "&lt;"));
  EXPECT_EQ(m.subject, "New meeting in R&D <Lab>: <script>alert(1)</script> & \"q\" 'x'");
}

TEST(Templates, DataIsNeverRenderedAsATemplate) {
  auto payload = meeting();
  payload["title"] = "{{preferences_url}} {{{unsubscribe_url}}} {{#for_you}}x{{/for_you}} {{=<% %>=}}";
  const auto m = templates().render("meeting.scheduled", payload, context());
  EXPECT_TRUE(has(m.text, "{{preferences_url}} {{{unsubscribe_url}}} {{#for_you}}x{{/for_you}} {{=<% %>=}}")) << m.text;
  EXPECT_TRUE(has(m.subject, "{{preferences_url}}"));
  EXPECT_TRUE(has(m.html, "{{preferences_url}}"));
}

TEST(Templates, ControlCharactersAndNewlinesInDataAreTamed) {
  auto payload = meeting();
  payload["title"] = "Sync\r\nBcc: evil@example.org\x01\x7F";
  const auto m = templates().render("meeting.scheduled", payload, context());
  EXPECT_EQ(m.subject, "New meeting in Data Science: Sync Bcc: evil@example.org");
  EXPECT_FALSE(has(m.text, "\x01"));
  EXPECT_FALSE(has(m.text, "\r"));
}

TEST(Templates, UnsafeUrlsAreDropped) {
  object topic{{"community", "data-science"}, {"community_name", "Data Science"}, {"title", "T"},
               {"body", "B"},                 {"url", "javascript:alert(1)"},      {"posted_at", "2027-07-12T10:00:00Z"}};
  auto m = templates().render("topic.posted", topic, context());
  EXPECT_FALSE(has(m.html, "javascript:"));
  EXPECT_FALSE(has(m.text, "Read more"));
  topic["url"] = "https://example.org/x\" onmouseover=\"alert(1)";
  m = templates().render("topic.posted", topic, context());
  EXPECT_FALSE(has(m.html, "onmouseover"));
  topic["url"] = "https://example.org/topics/1?a=1&b=2";
  m = templates().render("topic.posted", topic, context());
  EXPECT_TRUE(has(m.html, "<a href=\"https://example.org/topics/1?a=1&amp;b=2\">Read more</a>")) << m.html;
  EXPECT_TRUE(has(m.text, "Read more: https://example.org/topics/1?a=1&b=2"));
  EXPECT_TRUE(has(m.text, "posted Monday 12 July 2027, 12:00 (Europe/Berlin)")) << m.text;

  auto ctx = context();
  ctx.unsubscribe_url = "javascript:alert(1)";
  m = templates().render("topic.posted", topic, ctx);
  EXPECT_FALSE(has(m.html, "javascript:"));
  EXPECT_FALSE(has(m.text, "Unsubscribe"));
}

TEST(Templates, TimesAreInTheRecipientsZone) {
  auto m = templates().render("meeting.scheduled", meeting(), context("Europe/Berlin"));
  EXPECT_TRUE(has(m.text, "When: Monday 12 July 2027, 21:00\xE2\x80\x93" "22:00 (Europe/Berlin)")) << m.text;
  EXPECT_TRUE(has(m.text, "In the meeting's time zone: Monday 12 July 2027, 14:00\xE2\x80\x93" "15:00 (America/Chicago)"));
  m = templates().render("meeting.scheduled", meeting(), context("America/Chicago"));
  EXPECT_TRUE(has(m.text, "When: Monday 12 July 2027, 14:00\xE2\x80\x93" "15:00 (America/Chicago)")) << m.text;
  EXPECT_FALSE(has(m.text, "In the meeting's time zone"));
  // A zone that does not exist falls back to UTC, and says so.
  m = templates().render("meeting.scheduled", meeting(), context("Mars/Olympus_Mons"));
  EXPECT_TRUE(has(m.text, "When: Monday 12 July 2027, 19:00\xE2\x80\x93" "20:00 (UTC)")) << m.text;
  EXPECT_TRUE(has(m.text, "Times are shown in UTC."));
  // Late in Chicago is the next day in Tokyo.
  auto late = meeting();
  late["start_utc"] = "2027-07-13T03:30:00Z";
  late["end_utc"] = "2027-07-13T04:30:00Z";
  m = templates().render("meeting.scheduled", late, context("Asia/Tokyo"));
  EXPECT_TRUE(has(m.text, "Tuesday 13 July 2027, 12:30\xE2\x80\x93" "13:30 (Asia/Tokyo)")) << m.text;
  // Across midnight: both dates.
  m = templates().render("meeting.scheduled", late, context("Europe/Berlin"));
  EXPECT_TRUE(has(m.text, "Tuesday 13 July 2027, 05:30\xE2\x80\x93" "06:30 (Europe/Berlin)")) << m.text;
  late["end_utc"] = "2027-07-13T23:30:00Z";
  m = templates().render("meeting.scheduled", late, context("Europe/Berlin"));
  EXPECT_TRUE(has(m.text, "Tuesday 13 July 2027, 05:30 \xE2\x80\x93 Wednesday 14 July 2027, 01:30 (Europe/Berlin)"))
      << m.text;
}

TEST(Templates, TimesFollowEachZonesOwnDstRules) {
  // 15 March 2027: New York is on EDT (UTC-4) since the 14th, Berlin still on CET (UTC+1).
  auto p = meeting();
  p["time_zone"] = "America/New_York";
  p["start_utc"] = "2027-03-15T14:00:00Z";
  p["end_utc"] = "2027-03-15T15:00:00Z";
  auto m = templates().render("meeting.scheduled", p, context("Europe/Berlin"));
  EXPECT_TRUE(has(m.text, "Monday 15 March 2027, 15:00\xE2\x80\x93" "16:00 (Europe/Berlin)")) << m.text;
  EXPECT_TRUE(has(m.text, "Monday 15 March 2027, 10:00\xE2\x80\x93" "11:00 (America/New_York)")) << m.text;
  // Two weeks later Berlin is on CEST (UTC+2).
  p["start_utc"] = "2027-03-29T14:00:00Z";
  p["end_utc"] = "2027-03-29T15:00:00Z";
  m = templates().render("meeting.scheduled", p, context("Europe/Berlin"));
  EXPECT_TRUE(has(m.text, "Monday 29 March 2027, 16:00\xE2\x80\x93" "17:00 (Europe/Berlin)")) << m.text;
}

TEST(Templates, AllDayEventsShowDatesWithTheExclusiveEndRemoved) {
  auto p = meeting();
  p["kind"] = "annual";
  p["all_day"] = true;
  p["start"] = "2027-07-08";
  p["end"] = "2027-07-15";
  p["annual_year"] = 2027;
  const auto m = templates().render("annual_meeting.scheduled", p, context("Asia/Tokyo"));
  EXPECT_TRUE(has(m.text, "When: Thursday 8 July 2027 \xE2\x80\x93 Wednesday 14 July 2027\n")) << m.text;
  EXPECT_TRUE(has(m.text, "The 2027 annual meeting of Data Science")) << m.text;
  p["end"] = "2027-07-09";
  EXPECT_TRUE(has(templates().render("meeting.scheduled", p, context()).text, "When: Thursday 8 July 2027\n"));
}

TEST(Templates, RecurrenceIsSaidInWords) {
  auto p = meeting();
  p["rrule"] = "FREQ=WEEKLY;BYDAY=MO";
  EXPECT_TRUE(has(templates().render("meeting.scheduled", p, context()).text, "Repeats every week on Monday"));
  EXPECT_EQ(n::rrule_text("FREQ=MONTHLY;INTERVAL=2;BYDAY=2TU;COUNT=10"), "every 2 months on the second Tuesday, 10 times");
  EXPECT_EQ(n::rrule_text("FREQ=MONTHLY;BYDAY=-1FR"), "every month on the last Friday");
  EXPECT_EQ(n::rrule_text("FREQ=WEEKLY;BYDAY=MO,WE,FR"), "every week on Monday, Wednesday and Friday");
  EXPECT_EQ(n::rrule_text("FREQ=DAILY;UNTIL=20271231T235959Z"), "every day, until Friday 31 December 2027");
  EXPECT_EQ(n::rrule_text("FREQ=YEARLY"), "every year");
  EXPECT_EQ(n::rrule_text("FREQ=SECONDLY"), "on a repeating schedule");
  EXPECT_EQ(n::rrule_text("FREQ=WEEKLY;BYDAY=XX"), "on a repeating schedule");
  EXPECT_EQ(n::rrule_text("FREQ=WEEKLY;INTERVAL=0"), "on a repeating schedule");
  EXPECT_EQ(n::rrule_text("FREQ=WEEKLY;BYDAY=99999999999MO"), "on a repeating schedule");
  EXPECT_EQ(n::rrule_text(""), "on a repeating schedule");
}

TEST(Templates, MovedAndCancelledOccurrences) {
  auto p = meeting();
  p["rrule"] = "FREQ=WEEKLY;BYDAY=MO";
  p["occurrence"] = object{{"recurrence_id", "2027-07-19T19:00:00Z"}, {"cancelled", false},
                           {"start_utc", "2027-07-20T19:00:00Z"}, {"end_utc", "2027-07-20T20:00:00Z"}};
  auto m = templates().render("meeting.updated", p, context("America/Chicago"));
  EXPECT_TRUE(has(m.text, "One occurrence of a meeting of Data Science has moved.\nIt was on Monday 19 July 2027, "
                          "14:00\xE2\x80\x93" "15:00 (America/Chicago) and is now on Tuesday 20 July 2027, 14:00"))
      << m.text;
  p["occurrence"] = object{{"recurrence_id", "2027-07-19T19:00:00Z"}, {"cancelled", true}};
  m = templates().render("meeting.cancelled", p, context("America/Chicago"));
  EXPECT_TRUE(has(m.text, "The occurrence on Monday 19 July 2027, 14:00\xE2\x80\x93" "15:00 (America/Chicago) of this "
                          "meeting of Data Science has been cancelled; the others take place as planned"))
      << m.text;
  EXPECT_EQ(m.subject, "Cancelled: Weekly sync (Data Science)");
  p.erase("occurrence");
  m = templates().render("meeting.cancelled", p, context());
  EXPECT_TRUE(has(m.text, "This meeting of Data Science has been cancelled, with all its occurrences:")) << m.text;
}

TEST(Templates, ReminderSaysWhenAndLinksTheRoom) {
  object p{{"meeting_id", 5},          {"uid", "m5"},           {"title", "Weekly sync"},
           {"kind", "meeting"},        {"recurrence_id", "2027-07-12T19:00:00Z"},
           {"start_utc", "2027-07-12T19:00:00Z"}, {"end_utc", "2027-07-12T20:00:00Z"},
           {"start", "2027-07-12T14:00:00"}, {"end", "2027-07-12T15:00:00"}, {"time_zone", "America/Chicago"},
           {"all_day", false},         {"offset_seconds", 3600}, {"community", "data-science"},
           {"community_name", "Data Science"}, {"join_url", "https://meet.example.org/room-a"}};
  auto m = templates().render("meeting.reminder", p, context());
  EXPECT_EQ(m.subject, "Reminder: Weekly sync in 1 hour");
  EXPECT_TRUE(has(m.text, "Join: https://meet.example.org/room-a"));
  EXPECT_TRUE(has(m.html, "<a href=\"https://meet.example.org/room-a\""));
  p["offset_seconds"] = 86400;
  p["kind"] = "deadline";
  p["join_url"] = nullptr;
  m = templates().render("meeting.reminder", p, context());
  EXPECT_EQ(m.subject, "Reminder: Weekly sync in 1 day");
  EXPECT_TRUE(has(m.text, "This deadline of Data Science is due in 1 day:")) << m.text;
  EXPECT_TRUE(has(m.text, "Due: Monday 12 July 2027")) << m.text;
  EXPECT_FALSE(has(m.text, "Join:"));
}

TEST(Templates, RoleMailSaysWhoseRoleItIs) {
  object p{{"role_id", 3},   {"member_id", 7},        {"member_name", "Grace Hopper"},   {"role", "discussion_monitor"},
           {"community", "data-science"}, {"community_name", "Data Science"}, {"ends_on", "2027-07-31"}};
  auto m = templates().render("role.ending", p, context("UTC", 7));
  EXPECT_TRUE(has(m.text, "Your role as Discussion Monitor of Data Science ends on Saturday 31 July 2027.")) << m.text;
  m = templates().render("role.ending", p, context("UTC", 8));
  EXPECT_TRUE(has(m.text, "The role of Grace Hopper as Discussion Monitor of Data Science ends on Saturday 31 July 2027."))
      << m.text;
  object assigned{{"id", 3}, {"member_id", 7}, {"community", "data-science"}, {"community_name", "Data Science"},
                  {"role", "meeting_coordinator"}, {"starts_on", "2027-01-04"}, {"ends_on", nullptr}};
  m = templates().render("role.assigned", assigned, context("UTC", 7));
  EXPECT_EQ(m.subject, "You are Meeting Coordinator of Data Science");
  EXPECT_TRUE(has(m.text, "You are Meeting Coordinator of Data Science from Monday 4 January 2027.")) << m.text;
}

TEST(Templates, CommunityChanges) {
  object updated{{"community", "ds"}, {"community_name", "Data Science"}, {"name", "Data Science"},
                 {"previous_name", "Data"}, {"description", "New"}, {"previous_description", "Old"}};
  auto m = templates().render("community.updated", updated, context());
  EXPECT_EQ(m.subject, "Data Science: now called Data Science");
  EXPECT_TRUE(has(m.text, "The community Data is now called Data Science."));
  EXPECT_TRUE(has(m.text, "has a new description:\n\nNew"));
  object split{{"community", "ds"}, {"community_name", "Data Science"}, {"name", "Data Science"},
               {"into", boost::json::array{"ml", "stats", "viz"}}, {"members", "move"}};
  m = templates().render("community.split", split, context());
  EXPECT_EQ(m.subject, "Data Science has been split into ml, stats and viz");
  EXPECT_TRUE(has(m.text, "have been moved to the new communities"));
  object merged{{"community", "ds"}, {"community_name", "Data Science"}, {"name", "Data Science"},
                {"from", boost::json::array{"ml", "stats"}}};
  EXPECT_EQ(templates().render("community.merged", merged, context()).subject, "ml and stats merged into Data Science");
}

TEST(Templates, CommitteeAndMonitorMail) {
  object tbd{{"year", 2027},
             {"communities", boost::json::array{object{{"slug", "ds"}, {"name", "Data Science"}},
                                                 object{{"slug", "ml"}, {"name", "Machine <Learning>"}}}}};
  auto m = templates().render("annual_meeting.tbd", tbd, context());
  EXPECT_EQ(m.subject, "2027 annual meetings: 2 still without a date");
  EXPECT_TRUE(has(m.text, "  - Data Science (ds)\n  - Machine <Learning> (ml)\n")) << m.text;
  EXPECT_TRUE(has(m.html, "<li>Machine &lt;Learning&gt;"));
  EXPECT_TRUE(has(m.text, "You receive this email because of your role")) << m.text;

  object overdue{{"community", "ds"}, {"community_name", "Data Science"}, {"last_topic_at", nullptr},
                 {"cadence", "P7D"}, {"cadence_seconds", 604800}, {"overdue_since", "2027-07-10T07:00:00Z"}};
  m = templates().render("topic.overdue", overdue, context());
  EXPECT_TRUE(has(m.text, "every week, and one has been due since Saturday 10 July 2027, 09:00 (Europe/Berlin)"))
      << m.text;
  EXPECT_TRUE(has(m.text, "No topic has been posted yet."));

  object review{{"year", 2027}, {"community", "ds"}, {"community_name", "Data Science"},
                {"period_start", "2026-08-01T07:00:00Z"}, {"period_end", "2027-08-01T07:00:00Z"},
                {"member_count", 42}, {"joins", 10}, {"leaves", 3}, {"meetings_held", 24}, {"topics_posted", 50}};
  m = templates().render("review.due", review, context());
  EXPECT_EQ(m.subject, "2027 review of Data Science");
  EXPECT_TRUE(has(m.text, "From Saturday 1 August 2026 to Sunday 1 August 2027")) << m.text;
  EXPECT_TRUE(has(m.text, "Members now:      42"));
}

TEST(DisplayTime, DurationsInWords) {
  using std::chrono::seconds;
  EXPECT_EQ(n::duration_text(seconds{3600}), "1 hour");
  EXPECT_EQ(n::duration_text(seconds{86400}), "1 day");
  EXPECT_EQ(n::duration_text(seconds{604800}), "1 week");
  EXPECT_EQ(n::duration_text(seconds{1209600}), "2 weeks");
  EXPECT_EQ(n::duration_text(seconds{90000}), "1 day 1 hour");
  EXPECT_EQ(n::duration_text(seconds{86400 + 1800}), "1 day 30 minutes");
  EXPECT_EQ(n::duration_text(seconds{900}), "15 minutes");
  EXPECT_EQ(n::duration_text(seconds{45}), "45 seconds");
  EXPECT_EQ(n::duration_text(seconds{0}), "0 minutes");
}

TEST(DisplayTime, ParsesTheUtcTimesOfPayloads) {
  using namespace std::chrono;
  EXPECT_EQ(n::parse_utc("2027-07-12T19:00:00Z"), convene::calendar::Instant{sys_days{2027y / July / 12} + 19h});
  EXPECT_EQ(n::parse_utc("2027-07-12T19:00:00.25Z"), convene::calendar::Instant{sys_days{2027y / July / 12} + 19h});
  for (const char* bad : {"", "2027-07-12T19:00:00", "2027-07-12 19:00:00Z", "2027-02-30T19:00:00Z",
                          "2027-07-12T19:00:00.Z", "2027-07-12T19:00:00+01:00", "2027-07-12T19:00:00.12345678Z"})
    EXPECT_FALSE(n::parse_utc(bad)) << bad;
}

TEST(TemplatesLoad, RefusesADirectoryWithAMissingFile) {
  TempDir dir;
  fs::remove(dir.path / "topic.posted.html.mustache");
  fs::remove(dir.path / "layout.text.mustache");
  try {
    n::Templates::load(dir.path);
    FAIL() << "loaded";
  } catch (const n::TemplateError& e) {
    EXPECT_TRUE(has(e.what(), "topic.posted.html.mustache")) << e.what();
    EXPECT_TRUE(has(e.what(), "layout.text.mustache")) << e.what();
  }
  EXPECT_THROW(n::Templates::load(dir.path / "nowhere"), n::TemplateError);
}

TEST(TemplatesLoad, RefusesATemplateThatDoesNotParse) {
  TempDir dir;
  dir.write("review.due.text.mustache", "{{#year}} unclosed section");
  try {
    n::Templates::load(dir.path);
    FAIL() << "loaded";
  } catch (const n::TemplateError& e) {
    EXPECT_TRUE(has(e.what(), "review.due.text.mustache")) << e.what();
    EXPECT_TRUE(has(e.what(), "Unclosed section")) << e.what();
  }
}

TEST(TemplatesLoad, RefusesPartialsWhichWouldRunDataAsATemplate) {
  TempDir dir;
  dir.write("topic.posted.text.mustache", "{{> body}}");
  EXPECT_THROW(n::Templates::load(dir.path), n::TemplateError);
}

TEST(TemplatesLoad, RefusesALayoutWithoutContent) {
  TempDir dir;
  dir.write("layout.html.mustache", "<html>{{content}}</html>");  // escaped: would show the markup
  EXPECT_THROW(n::Templates::load(dir.path), n::TemplateError);
}

TEST(TemplatesLoad, RendersFromTheLoadedCopyNotTheDisk) {
  TempDir dir;
  dir.write("review.due.subject.mustache", "Custom {{year}}");
  const auto loaded = n::Templates::load(dir.path);
  fs::remove_all(dir.path);
  EXPECT_EQ(loaded.render("review.due", object{{"year", 2027}}, context()).subject, "Custom 2027");
}

// Parsed templates are cached per thread: templates loaded again, from another directory into
// the same place, must render their own text, and renders on other threads must agree.
TEST(TemplatesLoad, ReloadedTemplatesRenderTheirOwnTextAndThreadsAgree) {
  TempDir dir;
  dir.write("topic.posted.subject.mustache", "First {{title}}");
  std::optional<n::Templates> loaded(n::Templates::load(dir.path));
  object topic{{"title", "Books"}, {"community_name", "Data Science"}};
  EXPECT_EQ(loaded->render("topic.posted", topic, context()).subject, "First Books");

  dir.write("topic.posted.subject.mustache", "Second {{title}}");
  loaded.reset();
  loaded.emplace(n::Templates::load(dir.path));  // likely at the same address as before
  EXPECT_EQ(loaded->render("topic.posted", topic, context()).subject, "Second Books");

  const auto here = loaded->render("topic.posted", topic, context());
  std::vector<std::string> texts(4);
  std::vector<std::thread> threads;
  for (auto& text : texts) threads.emplace_back([&] { text = loaded->render("topic.posted", topic, context()).text; });
  for (auto& t : threads) t.join();
  for (const auto& text : texts) EXPECT_EQ(text, here.text);
}
