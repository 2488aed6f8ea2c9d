// The preferences form's pure half (daemon/pages/preferences_form): decoding, the CSRF field, and
// reading a submitted form into a checked edit against the stored state.
#include "daemon/pages/preferences_form.hpp"

#include <gtest/gtest.h>

using namespace convene::daemon;
using namespace std::chrono_literals;

namespace {

const std::string kKey(32, 'k');

bool known_zone(std::string_view zone) { return zone == "Europe/London" || zone == "America/New_York"; }

PreferencesState ada() {
  PreferencesState s;
  s.member_id = 42;
  s.time_zone = "Europe/London";
  s.digest_hour = 7;
  s.weekly_day = 1;
  s.reminder_offsets = {86400s, 3600s};
  s.memberships = {{1, "data-science", "Data Science", "realtime"}, {2, "go", "Go", "daily"}};
  s.joinable = {{3, "rust", "Rust", ""}};
  return s;
}

EditResult read(const std::string& body) { return read_edit(*parse_form(body), ada(), known_zone); }

}  // namespace

TEST(PreferencesForm, DecodesUrlEncodedBodies) {
  const auto form = parse_form("a=1&b=x+y%21&a=2&&empty=&flag&t=Europe%2FLondon");
  ASSERT_TRUE(form);
  EXPECT_EQ(form->count("a"), 2u);
  EXPECT_EQ(form->find("b")->second, "x y!");
  EXPECT_EQ(form->find("empty")->second, "");
  EXPECT_EQ(form->find("flag")->second, "");
  EXPECT_EQ(form->find("t")->second, "Europe/London");
  for (const char* bad : {"a=%", "a=%4", "a=%zz", "%g1=x"}) EXPECT_FALSE(parse_form(bad)) << bad;
  EXPECT_FALSE(parse_form("a=1&b=2&c=3", 2)) << "too many fields";
  EXPECT_TRUE(parse_form(""));
}

TEST(PreferencesForm, CsrfFieldIsBoundToMemberVersionAndTime) {
  const auto value = csrf_value(kKey, 42, 0, 1000);
  FormFields form{{"csrf", value}, {"issued", "1000"}};
  EXPECT_EQ(check_csrf(form, kKey, 42, 0, 1000), CsrfCheck::ok);
  EXPECT_EQ(check_csrf(form, kKey, 42, 0, 1000 + 24 * 3600), CsrfCheck::ok);
  EXPECT_EQ(check_csrf(form, kKey, 42, 0, 1000 + 24 * 3600 + 1), CsrfCheck::expired);
  EXPECT_EQ(check_csrf(form, kKey, 42, 0, 1000 - 301), CsrfCheck::expired) << "issued in the future";
  EXPECT_EQ(check_csrf(form, kKey, 43, 0, 1000), CsrfCheck::wrong) << "another member";
  EXPECT_EQ(check_csrf(form, kKey, 42, 1, 1000), CsrfCheck::wrong) << "a rotated link";
  EXPECT_EQ(check_csrf(form, std::string(32, 'x'), 42, 0, 1000), CsrfCheck::wrong) << "another key";
  EXPECT_EQ(check_csrf({{"csrf", value}, {"issued", "1001"}}, kKey, 42, 0, 1000), CsrfCheck::wrong);
  EXPECT_EQ(check_csrf({{"csrf", value}, {"issued", "01000"}}, kKey, 42, 0, 1000), CsrfCheck::wrong);
  EXPECT_EQ(check_csrf({{"csrf", value}}, kKey, 42, 0, 1000), CsrfCheck::missing);
  EXPECT_EQ(check_csrf({{"issued", "1000"}}, kKey, 42, 0, 1000), CsrfCheck::missing);
  EXPECT_EQ(check_csrf({{"csrf", value}, {"csrf", value}, {"issued", "1000"}}, kKey, 42, 0, 1000), CsrfCheck::missing);
  EXPECT_NE(csrf_value(kKey, 42, 0, 1000), csrf_value(kKey, 42, 1, 1000));
}

TEST(PreferencesForm, KeepsOnlyRealChanges) {
  const auto r = read("time_zone=Europe%2FLondon&digest_hour=7&weekly_day=monday&delivery_1=realtime&delivery_2=weekly"
                      "&reminders_shown=1&reminder=PT1H&reminder=P1D");
  ASSERT_TRUE(r.errors.empty());
  EXPECT_FALSE(r.edit.time_zone);
  EXPECT_FALSE(r.edit.digest_hour);
  EXPECT_FALSE(r.edit.weekly_day);
  EXPECT_FALSE(r.edit.reminder_offsets) << "the same set, in another order";
  ASSERT_EQ(r.edit.deliveries.size(), 1u);
  EXPECT_EQ(r.edit.deliveries[0].community_id, 2);
  EXPECT_EQ(r.edit.deliveries[0].delivery, "weekly");
  EXPECT_TRUE(read("").edit.empty()) << "absent fields change nothing";
  EXPECT_TRUE(read("delivery_99=none&leave_99=1").edit.empty()) << "not a member of 99 (any more)";
}

TEST(PreferencesForm, ReadsJoinsLeavesAndSettings) {
  const auto r = read("leave_2=1&delivery_2=none&join=3&join=3&join=1&join_delivery=daily&time_zone=America%2FNew_York"
                      "&digest_hour=0&weekly_day=sunday&reminders_shown=1&reminder=PT15M&reminder=PT15M");
  ASSERT_TRUE(r.errors.empty()) << r.errors[0];
  EXPECT_EQ(r.edit.leave, std::vector<std::int64_t>{2});
  EXPECT_TRUE(r.edit.deliveries.empty()) << "leaving wins";
  EXPECT_EQ(r.edit.join, std::vector<std::int64_t>{3}) << "once; 1 is joined already";
  EXPECT_EQ(r.edit.join_delivery, "daily");
  EXPECT_EQ(r.edit.time_zone, "America/New_York");
  EXPECT_EQ(r.edit.digest_hour, 0);
  EXPECT_EQ(r.edit.weekly_day, 7);
  EXPECT_EQ(r.edit.reminder_offsets, (std::vector<std::chrono::seconds>{900s}));
  EXPECT_EQ(read("reminders_shown=1").edit.reminder_offsets, std::vector<std::chrono::seconds>{}) << "none ticked";
  const auto lines = describe_edit(r.edit, ada());
  ASSERT_EQ(lines.size(), 6u);
  EXPECT_EQ(lines[0], "Left Go");
  EXPECT_EQ(lines[1], "Joined Rust: a daily digest");
  EXPECT_EQ(lines[5], "Meeting reminders: 15 minutes before (was: 1 day, 1 hour before)");
}

TEST(PreferencesForm, BadValuesAreAllReportedAndNothingIsKept) {
  const auto r = read("time_zone=Mars%2FOlympus&digest_hour=24&weekly_day=Monday&delivery_1=often&reminder=P1D"
                      "&reminders_shown=1&reminder=P61D&join=7&join_delivery=sometimes&digest_hour=3");
  EXPECT_EQ(r.errors.size(), 7u);
  EXPECT_TRUE(r.edit.empty());
  for (const char* hour : {"24", "-1", "007", "1e1", "", " 7", "99999999999999999999"})
    EXPECT_EQ(read(std::string("digest_hour=") + hour).errors.size(), 1u) << hour;
  EXPECT_EQ(read("reminders_shown=1&reminder=PT1M&reminder=P60D").errors.size(), 0u) << "the limits themselves";
  std::string eleven = "reminders_shown=1";
  for (int i = 1; i <= 11; ++i) eleven += "&reminder=PT" + std::to_string(i) + "H";
  EXPECT_EQ(read(eleven).errors.size(), 1u);
}

TEST(PreferencesForm, SaysSettingsInWords) {
  EXPECT_EQ(reminder_label(900s), "15 minutes");
  EXPECT_EQ(reminder_label(3600s), "1 hour");
  EXPECT_EQ(reminder_label(86400s + 7200s), "1 day 2 hours");
  EXPECT_EQ(reminder_label(std::chrono::days(7)), "1 week");
  EXPECT_EQ(reminder_label(std::chrono::days(14)), "2 weeks");
  EXPECT_EQ(reminder_label(std::chrono::days(8)), "8 days");
  EXPECT_EQ(hour_label(0), "00:00");
  EXPECT_EQ(hour_label(23), "23:00");
  EXPECT_EQ(weekday_label(7), "Sunday");
  EXPECT_EQ(delivery_label("none"), "no email");
}
