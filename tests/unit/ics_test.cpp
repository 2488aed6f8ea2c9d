// ICS rendering (DESIGN §5): folding, escaping, injection, DST, EXDATE/RECURRENCE-ID TZIDs,
// all-day placeholders, VTIMEZONE shape and correctness, and parsing back by libical and by an
// independent parser (python3-icalendar).
#include "calendar/ics.hpp"

#include <gtest/gtest.h>
#include <libical/ical.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <ctime>
#include <optional>
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "calendar/libical_lock.hpp"
#include "calendar/local_time.hpp"
#include "calendar/recurrence.hpp"
#include "calendar/vtimezone.hpp"
#include "calendar/zones.hpp"
#include "jobs/meeting_attachment.hpp"
#include "tests/support/ics_client.hpp"

using namespace std::chrono;
using namespace std::chrono_literals;
namespace cal = convene::calendar;
using cal::Instant;
using cal::LocalDateTime;

namespace {

LocalDateTime local(int y, unsigned mo, unsigned d, int h = 0, int mi = 0) {
  return LocalDateTime{local_days{year{y} / month{mo} / day{d}}} + hours{h} + minutes{mi};
}

Instant utc(int y, unsigned mo, unsigned d, int h = 0, int mi = 0) {
  return Instant{sys_days{year{y} / month{mo} / day{d}}} + hours{h} + minutes{mi};
}

std::size_t count(const std::string& haystack, const std::string& needle) {
  std::size_t n = 0;
  for (std::size_t pos = haystack.find(needle); pos != std::string::npos; pos = haystack.find(needle, pos + 1)) ++n;
  return n;
}

// The physical lines (without their CRLF).
std::vector<std::string> physical_lines(const std::string& text) {
  std::vector<std::string> out;
  std::size_t pos = 0;
  while (pos < text.size()) {
    const std::size_t end = text.find("\r\n", pos);
    if (end == std::string::npos) {
      out.push_back(text.substr(pos));
      break;
    }
    out.push_back(text.substr(pos, end - pos));
    pos = end + 2;
  }
  return out;
}

std::string unfold(std::string text) {
  for (std::size_t pos = text.find("\r\n "); pos != std::string::npos; pos = text.find("\r\n ", pos))
    text.erase(pos, 3);
  return text;
}

bool valid_utf8(const std::string& s) {
  for (std::size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    std::size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
    if (len == 0 || i + len > s.size()) return false;
    for (std::size_t k = 1; k < len; ++k)
      if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return false;
    i += len;
  }
  return true;
}

// The lines of the first BEGIN:<name> ... END:<name> block.
std::string block(const std::string& text, const std::string& name, std::size_t from = 0) {
  const std::size_t begin = text.find("BEGIN:" + name + "\r\n", from);
  if (begin == std::string::npos) return {};
  const std::string end_line = "END:" + name + "\r\n";
  const std::size_t end = text.find(end_line, begin);
  return text.substr(begin, end + end_line.size() - begin);
}

cal::IcsEvent weekly_meeting() {
  cal::IcsEvent e;
  e.uid = "meeting-1@convene.example";
  e.sequence = 2;
  e.summary = "Weekly sync";
  e.description = "Agenda:\r\n1. news\n2. questions";
  e.location = "Room A";
  e.url = "https://meet.example.org/room-a?x=1";
  e.start = local(2027, 3, 1, 10);
  e.end = local(2027, 3, 1, 11);
  e.zone = "America/New_York";
  e.rrule = "FREQ=WEEKLY;BYDAY=MO";
  e.exdates = {local(2027, 3, 15, 10)};
  e.overrides = {{local(2027, 3, 22, 10), local(2027, 3, 23, 14), local(2027, 3, 23, 15), 3}};
  e.created = utc(2026, 1, 2, 9);
  e.last_modified = utc(2026, 2, 3, 10, 30);
  e.dtstamp = utc(2026, 2, 3, 10, 30);
  e.alarms = {1h, 24h};
  e.organizer_email = "lead@example.org";
  e.organizer_name = "Lead, Jane";
  e.categories = {{"CATEGORIES", "Meeting"}};
  return e;
}

cal::IcsEvent annual_placeholder() {
  cal::IcsEvent e;
  e.uid = "annual-2027-data-science@convene.example";
  e.status = "TENTATIVE";
  e.transparent = true;
  e.all_day = true;
  e.summary = "Data Science CoP annual meeting (date and time TBD)";
  e.start = local(2027, 7, 8);
  e.end = local(2027, 7, 15);
  e.created = e.last_modified = e.dtstamp = utc(2026, 6, 1, 9);
  return e;
}

cal::IcsCalendar sample_calendar() {
  cal::IcsCalendar c;
  c.name = "Data Science, Analytics; CoP";
  c.description = "Meetings of the CoP\nand its annual meeting";
  c.events = {weekly_meeting(), annual_placeholder()};
  return c;
}

// libical, under the lock calendar/ uses for it.
struct ComponentFree {
  void operator()(icalcomponent* c) const { icalcomponent_free(c); }
};
using Component = std::unique_ptr<icalcomponent, ComponentFree>;

struct ZoneFree {
  void operator()(icaltimezone* z) const { icaltimezone_free(z, 1); }
};
using Zone = std::unique_ptr<icaltimezone, ZoneFree>;

struct IteratorFree {
  void operator()(icalrecur_iterator* i) const { icalrecur_iterator_free(i); }
};

Component parse(const std::string& text) {
  Component c(icalparser_parse_string(text.c_str()));
  EXPECT_NE(c, nullptr);
  if (c) {
    EXPECT_EQ(icalcomponent_isa(c.get()), ICAL_VCALENDAR_COMPONENT);
    EXPECT_EQ(icalcomponent_count_errors(c.get()), 0) << "libical found X-LIC-ERRORs";
  }
  return c;
}

std::vector<icalcomponent*> children(icalcomponent* parent, icalcomponent_kind kind) {
  std::vector<icalcomponent*> out;
  for (icalcomponent* c = icalcomponent_get_first_component(parent, kind); c != nullptr;
       c = icalcomponent_get_next_component(parent, kind))
    out.push_back(c);
  return out;
}

std::string text_of(icalcomponent* c, icalproperty_kind kind) {
  icalproperty* p = icalcomponent_get_first_property(c, kind);
  if (p == nullptr) return "<missing>";
  const char* s = icalvalue_get_text(icalproperty_get_value(p));
  return s == nullptr ? "<null>" : s;
}

std::string tzid_param(icalproperty* p) {
  if (p == nullptr) return "<no property>";
  icalparameter* param = icalproperty_get_first_parameter(p, ICAL_TZID_PARAMETER);
  return param == nullptr ? "<no TZID>" : icalparameter_get_tzid(param);
}

// The VTIMEZONE of `zone` in `text` as a libical zone of its own (not libical's builtin one).
Zone zone_from(const std::string& text, const std::string& tzid) {
  Component root = parse(text);
  if (!root) return nullptr;
  for (icalcomponent* vtz : children(root.get(), ICAL_VTIMEZONE_COMPONENT)) {
    if (text_of(vtz, ICAL_TZID_PROPERTY) != tzid) continue;
    Zone zone(icaltimezone_new());
    if (icaltimezone_set_component(zone.get(), icalcomponent_new_clone(vtz)) == 0) return nullptr;
    return zone;
  }
  return nullptr;
}

seconds offset_in(icaltimezone* zone, sys_seconds t) {
  icaltimetype tt = icaltime_from_timet_with_zone(static_cast<time_t>(t.time_since_epoch().count()), 0,
                                                  icaltimezone_get_utc_timezone());
  int is_daylight = 0;
  return seconds{icaltimezone_get_utc_offset_of_utc_time(zone, &tt, &is_daylight)};
}

cal::IcsCalendar one_event_in(const std::string& zone, LocalDateTime start) {
  cal::IcsEvent e = weekly_meeting();
  e.zone = zone;
  e.start = start;
  e.end = start + 1h;
  e.exdates.clear();
  e.overrides.clear();
  cal::IcsCalendar c;
  c.events = {e};
  return c;
}

}  // namespace

// --- folding ---------------------------------------------------------------------------------

TEST(IcsFold, ShortLinesOnlyGetCrlf) {
  EXPECT_EQ(cal::fold_line("SUMMARY:hi"), "SUMMARY:hi\r\n");
  EXPECT_EQ(cal::fold_line(""), "\r\n");
  const std::string exactly75(75, 'x');
  EXPECT_EQ(cal::fold_line(exactly75), exactly75 + "\r\n");
  const std::string seventy6(76, 'x');
  EXPECT_EQ(cal::fold_line(seventy6), std::string(75, 'x') + "\r\n x\r\n");
}

TEST(IcsFold, AtMost75OctetsNeverInsideUtf8AndUnfoldsToTheOriginal) {
  for (const std::string glyph : {"a", "\xC3\xA9" /* é */, "\xE2\x82\xAC" /* € */, "\xF0\x9F\x98\x80" /* 😀 */}) {
    for (int pad = 0; pad < 8; ++pad) {
      std::string content = "SUMMARY:" + std::string(pad, 'x');
      for (int i = 0; i < 90; ++i) content += glyph;
      const std::string folded = cal::fold_line(content);
      SCOPED_TRACE(content);
      ASSERT_GE(folded.size(), 2u);
      EXPECT_EQ(folded.substr(folded.size() - 2), "\r\n");
      const auto lines = physical_lines(folded);
      ASSERT_GT(lines.size(), 1u);
      for (std::size_t i = 0; i < lines.size(); ++i) {
        EXPECT_LE(lines[i].size(), 75u) << "line " << i;
        std::string payload = lines[i];
        if (i > 0) {
          ASSERT_EQ(payload.front(), ' ') << "continuation line " << i;
          payload.erase(0, 1);
        }
        EXPECT_TRUE(valid_utf8(payload)) << "line " << i << " splits a UTF-8 sequence";
        EXPECT_EQ(payload.find('\r'), std::string::npos);
        if (i + 1 < lines.size()) {
          EXPECT_GE(lines[i].size(), 72u) << "folded earlier than needed";
        }
      }
      std::string unfolded = unfold(folded);
      unfolded.resize(unfolded.size() - 2);
      EXPECT_EQ(unfolded, content);
    }
  }
}

// --- escaping --------------------------------------------------------------------------------

TEST(IcsEscape, EscapesBackslashSemicolonCommaAndNewlines) {
  EXPECT_EQ(cal::escape_text("a\\b;c,d"), "a\\\\b\\;c\\,d");
  EXPECT_EQ(cal::escape_text("1\r\n2\r3\n4"), "1\\n2\\n3\\n4");
  EXPECT_EQ(cal::escape_text("\r\n\r\n"), "\\n\\n");
  EXPECT_EQ(cal::escape_text("\n\r"), "\\n\\n");
  EXPECT_EQ(cal::escape_text("plain: text \"quoted\""), "plain: text \"quoted\"");
  EXPECT_EQ(cal::escape_text("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80"), "caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80");
}

TEST(IcsEscape, StripsControlCharacters) {
  EXPECT_EQ(cal::escape_text(std::string("a\x01\x07" "b\x1b[1mc\x7f", 10)), "ab[1mc");
  EXPECT_EQ(cal::escape_text(std::string("nul\0byte", 8)), "nulbyte");
  EXPECT_EQ(cal::escape_text("tab\there"), "tab here");
  EXPECT_EQ(cal::escape_text("c1\xC2\x85x\xC2\x9F" "y"), "c1xy");  // U+0085, U+009F
  EXPECT_EQ(cal::escape_text("bad\xFFutf8"), "bad\xEF\xBF\xBDutf8");
  EXPECT_TRUE(valid_utf8(cal::escape_text("\xE2\x82 \xC0\xAF \xED\xA0\x80 \xF4\x90\x80\x80")));
}

// --- the calendar ----------------------------------------------------------------------------

TEST(IcsRender, EveryLineEndsWithCrlfAndFitsIn75Octets) {
  cal::IcsCalendar c = sample_calendar();
  c.events[0].description = std::string(300, 'x') + " \xE2\x82\xAC\xF0\x9F\x98\x80 " + std::string(200, 'y');
  const std::string text = cal::render_ics(c);
  ASSERT_GE(text.size(), 2u);
  EXPECT_EQ(text.substr(text.size() - 2), "\r\n");
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\n') {
      EXPECT_TRUE(i > 0 && text[i - 1] == '\r') << "bare LF at " << i;
    }
    if (text[i] == '\r') {
      EXPECT_TRUE(i + 1 < text.size() && text[i + 1] == '\n') << "bare CR at " << i;
    }
  }
  for (const std::string& l : physical_lines(text)) {
    EXPECT_LE(l.size(), 75u) << l;
    EXPECT_TRUE(valid_utf8(l)) << l;
  }
  EXPECT_EQ(text.rfind("BEGIN:VCALENDAR\r\n", 0), 0u);
  EXPECT_EQ(text.substr(text.size() - 15), "END:VCALENDAR\r\n");
}

TEST(IcsRender, IsDeterministic) {
  const cal::IcsCalendar c = sample_calendar();
  const std::string first = cal::render_ics(c);
  EXPECT_EQ(cal::render_ics(c), first);
  const cal::IcsCalendar copy = c;
  EXPECT_EQ(cal::render_ics(copy), first);
}

TEST(IcsRender, CalendarProperties) {
  cal::IcsCalendar c = sample_calendar();
  std::string text = cal::render_ics(c);
  for (const char* l :
       {"VERSION:2.0\r\n", "PRODID:-//Convene//convened//EN\r\n", "CALSCALE:GREGORIAN\r\n",
        "NAME:Data Science\\, Analytics\\; CoP\r\n", "X-WR-CALNAME:Data Science\\, Analytics\\; CoP\r\n",
        "DESCRIPTION:Meetings of the CoP\\nand its annual meeting\r\n",
        "X-WR-CALDESC:Meetings of the CoP\\nand its annual meeting\r\n", "REFRESH-INTERVAL;VALUE=DURATION:PT1H\r\n",
        "X-PUBLISHED-TTL:PT1H\r\n"})
    EXPECT_NE(text.find(l), std::string::npos) << l;
  EXPECT_EQ(text.find("METHOD"), std::string::npos) << "feeds carry no METHOD";

  c.method = "PUBLISH";
  c.description.clear();
  c.refresh = 6h;
  text = cal::render_ics(c);
  EXPECT_NE(text.find("\r\nMETHOD:PUBLISH\r\n"), std::string::npos);
  EXPECT_EQ(text.find("X-WR-CALDESC"), std::string::npos);
  EXPECT_NE(text.find("\r\nREFRESH-INTERVAL;VALUE=DURATION:PT6H\r\nX-PUBLISHED-TTL:PT6H\r\n"), std::string::npos);
}

TEST(IcsRender, TitleCannotInjectAnEvent) {
  cal::IcsEvent e = weekly_meeting();
  e.rrule.reset();
  e.summary = "Hello\r\nEND:VEVENT\r\nBEGIN:VEVENT\r\nUID:evil\r\nSUMMARY:injected";
  e.description = "x\nEND:VEVENT\nBEGIN:VEVENT";
  e.location = "y\rEND:VCALENDAR";
  e.organizer_name = "Jane\r\nEND:VEVENT\r\nBEGIN:VEVENT";
  e.categories = {{"CATEGORIES", "a\r\nBEGIN:VEVENT"}};
  cal::IcsCalendar c;
  c.name = "n\r\nBEGIN:VEVENT";
  c.events = {e};
  const std::string text = cal::render_ics(c);
  EXPECT_EQ(count(text, "\r\nBEGIN:VEVENT\r\n"), 1u);
  EXPECT_EQ(count(text, "\r\nEND:VEVENT\r\n"), 1u);
  EXPECT_EQ(count(text, "\r\nEND:VCALENDAR\r\n"), 1u);
  EXPECT_EQ(count(text, "\r\nUID:"), 1u);

  std::lock_guard lock(cal::libical_mutex());
  Component root = parse(text);
  ASSERT_TRUE(root);
  const auto events = children(root.get(), ICAL_VEVENT_COMPONENT);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(text_of(events[0], ICAL_UID_PROPERTY), "meeting-1@convene.example");
  EXPECT_EQ(text_of(events[0], ICAL_SUMMARY_PROPERTY), "Hello\nEND:VEVENT\nBEGIN:VEVENT\nUID:evil\nSUMMARY:injected");
  EXPECT_EQ(text_of(events[0], ICAL_DESCRIPTION_PROPERTY), "x\nEND:VEVENT\nBEGIN:VEVENT");
}

TEST(IcsRender, PropertiesSurviveLibicalParsing) {
  cal::IcsCalendar c = sample_calendar();
  c.events[0].summary = "Sync \xE2\x80\x94 caf\xC3\xA9, tea; and \\ more";
  const std::string text = cal::render_ics(c);

  std::lock_guard lock(cal::libical_mutex());
  Component root = parse(text);
  ASSERT_TRUE(root);
  const auto events = children(root.get(), ICAL_VEVENT_COMPONENT);
  ASSERT_EQ(events.size(), 3u);  // the series, its moved occurrence, the placeholder
  icalcomponent* master = events[0];
  EXPECT_EQ(text_of(master, ICAL_UID_PROPERTY), "meeting-1@convene.example");
  EXPECT_EQ(icalcomponent_get_sequence(master), 2);
  EXPECT_EQ(icalcomponent_get_status(master), ICAL_STATUS_CONFIRMED);
  EXPECT_EQ(icalproperty_get_transp(icalcomponent_get_first_property(master, ICAL_TRANSP_PROPERTY)),
            ICAL_TRANSP_OPAQUE);
  EXPECT_EQ(text_of(master, ICAL_SUMMARY_PROPERTY), "Sync \xE2\x80\x94 caf\xC3\xA9, tea; and \\ more");
  EXPECT_EQ(text_of(master, ICAL_DESCRIPTION_PROPERTY), "Agenda:\n1. news\n2. questions");
  EXPECT_EQ(text_of(master, ICAL_LOCATION_PROPERTY), "Room A");
  EXPECT_EQ(std::string(icalproperty_get_url(icalcomponent_get_first_property(master, ICAL_URL_PROPERTY))),
            "https://meet.example.org/room-a?x=1");
  icalproperty* categories = icalcomponent_get_first_property(master, ICAL_CATEGORIES_PROPERTY);
  ASSERT_NE(categories, nullptr);
  EXPECT_EQ(std::string(icalproperty_get_categories(categories)), "Meeting");

  icalproperty* organizer = icalcomponent_get_first_property(master, ICAL_ORGANIZER_PROPERTY);
  ASSERT_NE(organizer, nullptr);
  EXPECT_EQ(std::string(icalproperty_get_organizer(organizer)), "mailto:lead@example.org");
  icalparameter* cn = icalproperty_get_first_parameter(organizer, ICAL_CN_PARAMETER);
  ASSERT_NE(cn, nullptr);
  EXPECT_EQ(std::string(icalparameter_get_cn(cn)), "Lead, Jane");

  const auto utc_of = [&](icalproperty_kind kind) {
    icalproperty* p = icalcomponent_get_first_property(master, kind);
    if (p == nullptr) return std::string("<missing>");
    const icaltimetype t = icalvalue_get_datetime(icalproperty_get_value(p));
    return std::string(icaltime_as_ical_string(t)) + (icaltime_is_utc(t) ? "" : " (not UTC)");
  };
  EXPECT_EQ(utc_of(ICAL_DTSTAMP_PROPERTY), "20260203T103000Z");
  EXPECT_EQ(utc_of(ICAL_CREATED_PROPERTY), "20260102T090000Z");
  EXPECT_EQ(utc_of(ICAL_LASTMODIFIED_PROPERTY), "20260203T103000Z");

  std::vector<int> triggers;
  for (icalcomponent* alarm : children(master, ICAL_VALARM_COMPONENT)) {
    EXPECT_EQ(icalproperty_get_action(icalcomponent_get_first_property(alarm, ICAL_ACTION_PROPERTY)),
              ICAL_ACTION_DISPLAY);
    EXPECT_NE(icalcomponent_get_first_property(alarm, ICAL_DESCRIPTION_PROPERTY), nullptr);
    const icaltriggertype trigger =
        icalproperty_get_trigger(icalcomponent_get_first_property(alarm, ICAL_TRIGGER_PROPERTY));
    triggers.push_back(icaldurationtype_as_int(trigger.duration));
  }
  EXPECT_EQ(triggers, (std::vector<int>{-3600, -86400}));
}

TEST(IcsRender, WeeklyMeetingKeepsItsLocalTimeAcrossDst) {
  const std::string text = cal::render_ics(sample_calendar());
  EXPECT_NE(text.find("\r\nDTSTART;TZID=America/New_York:20270301T100000\r\n"), std::string::npos);
  EXPECT_NE(text.find("\r\nRRULE:FREQ=WEEKLY;BYDAY=MO\r\n"), std::string::npos);

  std::lock_guard lock(cal::libical_mutex());
  Component root = parse(text);
  ASSERT_TRUE(root);
  icalcomponent* master = children(root.get(), ICAL_VEVENT_COMPONENT).at(0);
  const icaltimetype dtstart = icalcomponent_get_dtstart(master);
  ASSERT_NE(dtstart.zone, nullptr);
  // Resolved through the feed's own VTIMEZONE (libical's builtin zone has a prefixed TZID).
  EXPECT_STREQ(icaltimezone_get_tzid(const_cast<icaltimezone*>(dtstart.zone)), "America/New_York");

  const icalrecurrencetype rule = icalproperty_get_rrule(icalcomponent_get_first_property(master, ICAL_RRULE_PROPERTY));
  std::unique_ptr<icalrecur_iterator, IteratorFree> it(icalrecur_iterator_new(rule, dtstart));
  ASSERT_TRUE(it);
  // Mondays 1 and 8 March are EST (UTC-5), 15 and 22 March EDT (UTC-4): DST starts 2027-03-14.
  const std::vector<std::string> expected_utc = {"20270301T150000Z", "20270308T150000Z", "20270315T140000Z",
                                                 "20270322T140000Z", "20270329T140000Z"};
  for (const std::string& want : expected_utc) {
    const icaltimetype occurrence = icalrecur_iterator_next(it.get());
    ASSERT_FALSE(icaltime_is_null_time(occurrence));
    EXPECT_EQ(occurrence.hour, 10);
    EXPECT_EQ(occurrence.minute, 0);
    const icaltimetype in_utc = icaltime_convert_to_zone(occurrence, icaltimezone_get_utc_timezone());
    EXPECT_EQ(std::string(icaltime_as_ical_string(in_utc)), want);
  }
}

TEST(IcsRender, ExdateAndRecurrenceIdCarryTheTzidOfDtstart) {
  const std::string text = cal::render_ics(sample_calendar());
  EXPECT_NE(text.find("\r\nEXDATE;TZID=America/New_York:20270315T100000\r\n"), std::string::npos);
  EXPECT_NE(text.find("\r\nRECURRENCE-ID;TZID=America/New_York:20270322T100000\r\n"), std::string::npos);
  EXPECT_NE(text.find("\r\nDTSTART;TZID=America/New_York:20270323T140000\r\n"), std::string::npos);

  std::lock_guard lock(cal::libical_mutex());
  Component root = parse(text);
  ASSERT_TRUE(root);
  const auto events = children(root.get(), ICAL_VEVENT_COMPONENT);
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(tzid_param(icalcomponent_get_first_property(events[0], ICAL_EXDATE_PROPERTY)), "America/New_York");
  EXPECT_EQ(tzid_param(icalcomponent_get_first_property(events[1], ICAL_RECURRENCEID_PROPERTY)), "America/New_York");
  EXPECT_EQ(text_of(events[1], ICAL_UID_PROPERTY), "meeting-1@convene.example");
  EXPECT_EQ(icalcomponent_get_sequence(events[1]), 3);
  EXPECT_EQ(icalcomponent_get_first_property(events[1], ICAL_RRULE_PROPERTY), nullptr);
  EXPECT_EQ(children(events[1], ICAL_VALARM_COMPONENT).size(), 2u);
}

TEST(IcsRender, AllDayExdateAndRecurrenceIdAreDates) {
  cal::IcsEvent e = annual_placeholder();
  e.rrule = "FREQ=YEARLY";
  e.exdates = {local(2028, 7, 8)};
  e.overrides = {{local(2029, 7, 8), local(2029, 7, 9), local(2029, 7, 16), 1}};
  cal::IcsCalendar c;
  c.events = {e};
  const std::string text = cal::render_ics(c);
  EXPECT_NE(text.find("\r\nEXDATE;VALUE=DATE:20280708\r\n"), std::string::npos);
  EXPECT_NE(text.find("\r\nRECURRENCE-ID;VALUE=DATE:20290708\r\n"), std::string::npos);
  EXPECT_NE(text.find("\r\nDTSTART;VALUE=DATE:20290709\r\nDTEND;VALUE=DATE:20290716\r\n"), std::string::npos);
  EXPECT_EQ(text.find("TZID"), std::string::npos);
}

TEST(IcsRender, AllDayPlaceholderJuly8To15Exclusive) {
  cal::IcsCalendar c;
  c.events = {annual_placeholder()};
  const std::string text = cal::render_ics(c);
  EXPECT_NE(text.find("\r\nDTSTART;VALUE=DATE:20270708\r\n"), std::string::npos);
  EXPECT_NE(text.find("\r\nDTEND;VALUE=DATE:20270715\r\n"), std::string::npos);
  EXPECT_NE(text.find("\r\nSTATUS:TENTATIVE\r\n"), std::string::npos);
  EXPECT_NE(text.find("\r\nTRANSP:TRANSPARENT\r\n"), std::string::npos);
  EXPECT_EQ(text.find("VTIMEZONE"), std::string::npos) << "all-day events need no zone";

  std::lock_guard lock(cal::libical_mutex());
  Component root = parse(text);
  ASSERT_TRUE(root);
  icalcomponent* event = children(root.get(), ICAL_VEVENT_COMPONENT).at(0);
  const icaltimetype start = icalcomponent_get_dtstart(event), end = icalcomponent_get_dtend(event);
  EXPECT_TRUE(icaltime_is_date(start));
  EXPECT_TRUE(icaltime_is_date(end));
  EXPECT_EQ(std::string(icaltime_as_ical_string(start)), "20270708");
  EXPECT_EQ(std::string(icaltime_as_ical_string(end)), "20270715");
}

TEST(IcsRender, EndNeverBeforeStart) {
  cal::IcsEvent timed = weekly_meeting();
  timed.rrule.reset();
  timed.end = timed.start - 1h;
  cal::IcsEvent day = annual_placeholder();
  day.end = day.start;
  cal::IcsCalendar c;
  c.events = {timed, day};
  const std::string text = cal::render_ics(c);
  EXPECT_NE(text.find("DTEND;TZID=America/New_York:20270301T100000\r\n"), std::string::npos);
  EXPECT_NE(text.find("DTEND;VALUE=DATE:20270709\r\n"), std::string::npos);
}

TEST(IcsRender, UrlOnlyHttpOrHttps) {
  const auto url_line = [](std::optional<std::string> url) {
    cal::IcsEvent e = annual_placeholder();
    e.url = std::move(url);
    cal::IcsCalendar c;
    c.events = {e};
    const std::string text = cal::render_ics(c);
    const std::size_t at = text.find("\r\nURL:");
    return at == std::string::npos ? std::string("<none>") : text.substr(at + 2, text.find("\r\n", at + 2) - at - 2);
  };
  EXPECT_EQ(url_line("https://example.org/a,b;c?d=1"), "URL:https://example.org/a,b;c?d=1");
  EXPECT_EQ(url_line("HTTP://EXAMPLE.ORG/"), "URL:HTTP://EXAMPLE.ORG/");
  for (const char* bad : {"javascript:alert(1)", "ftp://example.org/", "https://", "https:///path",
                          "https://exa mple.org", "https://example.org/\r\nBEGIN:VEVENT", "data:text/html,x",
                          "https://example.org/\"x\""})
    EXPECT_EQ(url_line(std::string(bad)), "<none>") << bad;
  EXPECT_EQ(url_line(std::nullopt), "<none>");
}

TEST(IcsRender, OrganizerNeedsAPlausibleEmail) {
  const auto organizer_line = [](std::string email, std::optional<std::string> name) {
    cal::IcsEvent e = annual_placeholder();
    e.organizer_email = std::move(email);
    e.organizer_name = std::move(name);
    cal::IcsCalendar c;
    c.method = "PUBLISH";
    c.events = {e};
    const std::string text = unfold(cal::render_ics(c));
    const std::size_t at = text.find("\r\nORGANIZER");
    return at == std::string::npos ? std::string("<none>") : text.substr(at + 2, text.find("\r\n", at + 2) - at - 2);
  };
  EXPECT_EQ(organizer_line("lead@example.org", "Jane Doe"), "ORGANIZER;CN=Jane Doe:mailto:lead@example.org");
  EXPECT_EQ(organizer_line("lead@example.org", std::nullopt), "ORGANIZER:mailto:lead@example.org");
  EXPECT_EQ(organizer_line("lead@example.org", "Doe; \"JD\"\r\nX"),
            "ORGANIZER;CN=\"Doe; 'JD' X\":mailto:lead@example.org");
  for (const char* bad : {"", "no-at", "a@b@c", "a b@c", "a@b\r\nX:y", "a@b;x", "@b", "a@"})
    EXPECT_EQ(organizer_line(bad, "N"), "<none>") << bad;
}

TEST(IcsRender, AlarmsAreDistinctDisplayAlarmsBeforeStart) {
  cal::IcsEvent e = annual_placeholder();
  e.alarms = {15min, 1h, 15min, 0s};
  cal::IcsCalendar c;
  c.events = {e};
  const std::string text = cal::render_ics(c);
  EXPECT_EQ(count(text, "BEGIN:VALARM\r\nACTION:DISPLAY\r\n"), 3u);
  EXPECT_NE(text.find("TRIGGER:-PT15M\r\n"), std::string::npos);
  EXPECT_NE(text.find("TRIGGER:-PT1H\r\n"), std::string::npos);
  EXPECT_NE(text.find("TRIGGER:PT0S\r\n"), std::string::npos);
}

TEST(IcsRender, ExdatesAndOverridesOnlyForSeries) {
  cal::IcsEvent e = weekly_meeting();
  e.rrule.reset();
  cal::IcsCalendar c;
  c.events = {e};
  const std::string text = cal::render_ics(c);
  EXPECT_EQ(text.find("EXDATE"), std::string::npos);
  EXPECT_EQ(text.find("RECURRENCE-ID"), std::string::npos);
  EXPECT_EQ(count(text, "BEGIN:VEVENT"), 1u);
}

TEST(IcsRender, OverrideOfACancelledOccurrenceIsDropped) {
  cal::IcsEvent e = weekly_meeting();
  e.exdates.push_back(local(2027, 3, 22, 10));
  e.exdates.push_back(local(2027, 3, 15, 10));  // duplicate
  e.overrides.push_back({local(2027, 3, 29, 10), local(2027, 3, 30, 10), local(2027, 3, 30, 11), 0});
  cal::IcsCalendar c;
  c.events = {e};
  const std::string text = cal::render_ics(c);
  EXPECT_EQ(count(text, "EXDATE;"), 2u);
  EXPECT_EQ(count(text, "RECURRENCE-ID;"), 1u);
  EXPECT_NE(text.find("RECURRENCE-ID;TZID=America/New_York:20270329T100000\r\n"), std::string::npos);
  // A moved occurrence is never less revised than its series.
  EXPECT_NE(text.find("RECURRENCE-ID;TZID=America/New_York:20270329T100000\r\nDTSTAMP:20260203T103000Z\r\n"
                      "CREATED:20260102T090000Z\r\nLAST-MODIFIED:20260203T103000Z\r\nSEQUENCE:2\r\n"),
            std::string::npos);
}

TEST(IcsRender, RefusesProgrammingErrors) {
  const auto with = [](auto change) {
    cal::IcsCalendar c = sample_calendar();
    change(c);
    return c;
  };
  EXPECT_THROW(cal::render_ics(with([](cal::IcsCalendar& c) { c.events[0].zone = "Mars/Olympus_Mons"; })),
               cal::UnknownZone);
  EXPECT_THROW(cal::render_ics(with([](cal::IcsCalendar& c) { c.events[0].zone = "../etc/passwd"; })),
               cal::UnknownZone);
  EXPECT_THROW(cal::render_ics(with([](cal::IcsCalendar& c) { c.events[0].status = "MAYBE"; })),
               std::invalid_argument);
  EXPECT_THROW(cal::render_ics(with([](cal::IcsCalendar& c) { c.events[0].rrule = "FREQ=WEEKLY\r\nBEGIN:VEVENT"; })),
               std::invalid_argument);
  EXPECT_THROW(cal::render_ics(with([](cal::IcsCalendar& c) { c.events[0].categories = {{"UID", "x"}}; })),
               std::invalid_argument);
  EXPECT_THROW(cal::render_ics(with([](cal::IcsCalendar& c) { c.events[0].categories = {{"X-A:B", "x"}}; })),
               std::invalid_argument);
  EXPECT_THROW(cal::render_ics(with([](cal::IcsCalendar& c) { c.method = "PUBLISH\r\nX"; })), std::invalid_argument);
  EXPECT_THROW(cal::render_ics(with([](cal::IcsCalendar& c) { c.refresh = 0s; })), std::invalid_argument);
  // A zone is not needed for all-day events.
  cal::IcsCalendar c;
  c.events = {annual_placeholder()};
  c.events[0].zone = "Mars/Olympus_Mons";
  EXPECT_NO_THROW(cal::render_ics(c));
}

// --- VTIMEZONE -------------------------------------------------------------------------------

TEST(IcsVtimezone, PlainIanaTzidRuleBasedAndSmall) {
  const std::string text = cal::render_ics(sample_calendar());
  EXPECT_EQ(count(text, "BEGIN:VTIMEZONE\r\n"), 1u);
  const std::string vtz = block(text, "VTIMEZONE");
  EXPECT_LT(vtz.size(), 1024u) << vtz;
  EXPECT_NE(vtz.find("\r\nTZID:America/New_York\r\n"), std::string::npos);
  EXPECT_EQ(text.find("freeassociation"), std::string::npos);
  EXPECT_EQ(text.find("TZID=/"), std::string::npos);
  EXPECT_EQ(text.find("TZID:/"), std::string::npos);
  EXPECT_EQ(count(vtz, "BEGIN:STANDARD"), 1u) << vtz;
  EXPECT_EQ(count(vtz, "BEGIN:DAYLIGHT"), 1u) << vtz;
  EXPECT_EQ(vtz.find("UNTIL"), std::string::npos) << vtz;
  EXPECT_EQ(vtz.find("RDATE"), std::string::npos) << vtz;
  const std::string daylight = block(vtz, "DAYLIGHT"), standard = block(vtz, "STANDARD");
  EXPECT_NE(daylight.find("RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=2SU\r\n"), std::string::npos) << daylight;
  EXPECT_NE(daylight.find("TZOFFSETFROM:-0500\r\nTZOFFSETTO:-0400\r\n"), std::string::npos) << daylight;
  EXPECT_NE(daylight.find("TZNAME:EDT\r\n"), std::string::npos) << daylight;
  EXPECT_NE(standard.find("RRULE:FREQ=YEARLY;BYMONTH=11;BYDAY=1SU\r\n"), std::string::npos) << standard;
  EXPECT_NE(standard.find("TZOFFSETFROM:-0400\r\nTZOFFSETTO:-0500\r\n"), std::string::npos) << standard;
  // Starts no later than the events need: DST of 2026 and the return to standard time that
  // covers January 2027.
  EXPECT_NE(daylight.find("DTSTART:20260308T020000\r\n"), std::string::npos) << daylight;
  EXPECT_NE(standard.find("DTSTART:20261101T020000\r\n"), std::string::npos) << standard;
}

TEST(IcsVtimezone, ZoneWithoutDstGetsASingleStandard) {
  const std::string text = cal::render_ics(one_event_in("Asia/Tokyo", local(2027, 5, 1, 9)));
  const std::string vtz = block(text, "VTIMEZONE");
  EXPECT_NE(vtz.find("\r\nTZID:Asia/Tokyo\r\n"), std::string::npos);
  EXPECT_EQ(count(vtz, "BEGIN:STANDARD"), 1u) << vtz;
  EXPECT_EQ(count(vtz, "BEGIN:DAYLIGHT"), 0u) << vtz;
  EXPECT_EQ(vtz.find("RRULE"), std::string::npos) << vtz;
  EXPECT_NE(vtz.find("TZOFFSETFROM:+0900\r\nTZOFFSETTO:+0900\r\n"), std::string::npos) << vtz;
}

// tzdata marks Irish winter time as "DST" (negative save); clients expect summer to be DAYLIGHT.
TEST(IcsVtimezone, IrishSummerTimeIsDaylight) {
  const std::string vtz = cal::render_vtimezone("Europe/Dublin", 2027, 2027);
  const std::string daylight = block(vtz, "DAYLIGHT"), standard = block(vtz, "STANDARD");
  EXPECT_EQ(count(vtz, "BEGIN:DAYLIGHT"), 1u) << vtz;
  EXPECT_EQ(count(vtz, "BEGIN:STANDARD"), 1u) << vtz;
  EXPECT_NE(daylight.find("TZOFFSETFROM:+0000\r\nTZOFFSETTO:+0100\r\n"), std::string::npos) << vtz;
  EXPECT_NE(daylight.find("RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU\r\n"), std::string::npos) << vtz;
  EXPECT_NE(standard.find("TZOFFSETFROM:+0100\r\nTZOFFSETTO:+0000\r\n"), std::string::npos) << vtz;
  EXPECT_NE(standard.find("RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU\r\n"), std::string::npos) << vtz;
}

TEST(IcsVtimezone, OnePerZoneUsedInTzidOrder) {
  cal::IcsCalendar c = sample_calendar();
  c.events.push_back(one_event_in("Europe/Berlin", local(2028, 1, 5, 18)).events[0]);
  c.events.push_back(one_event_in("America/New_York", local(2029, 1, 5, 18)).events[0]);
  const std::string text = cal::render_ics(c);
  EXPECT_EQ(count(text, "BEGIN:VTIMEZONE\r\n"), 2u);
  const std::size_t ny = text.find("TZID:America/New_York\r\n"), berlin = text.find("TZID:Europe/Berlin\r\n");
  ASSERT_NE(ny, std::string::npos);
  ASSERT_NE(berlin, std::string::npos);
  EXPECT_LT(ny, berlin);
  EXPECT_LT(berlin, text.find("BEGIN:VEVENT"));
  const std::string eu = block(text, "VTIMEZONE", berlin - 40);
  EXPECT_NE(eu.find("RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU\r\n"), std::string::npos) << eu;
  EXPECT_NE(eu.find("RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU\r\n"), std::string::npos) << eu;
}

// The system's own reading of its zone rules: glibc's localtime over /usr/share/zoneinfo,
// independent of libical. One at a time (it sets TZ for the process).
class SystemZone {
 public:
  explicit SystemZone(const std::string& name) {
    if (const char* old = std::getenv("TZ")) saved_ = old;
    ::setenv("TZ", (":" + name).c_str(), 1);
    ::tzset();
  }
  ~SystemZone() {
    if (saved_) ::setenv("TZ", saved_->c_str(), 1);
    else ::unsetenv("TZ");
    ::tzset();
  }
  SystemZone(const SystemZone&) = delete;
  SystemZone& operator=(const SystemZone&) = delete;

  seconds offset(sys_seconds t) const {
    const time_t tt = static_cast<time_t>(t.time_since_epoch().count());
    struct tm fields {};
    ::localtime_r(&tt, &fields);
    return seconds{fields.tm_gmtoff};
  }

 private:
  std::optional<std::string> saved_;
};

// The promise of DESIGN §5 for every zone the daemon accepts, whatever the machine's tzdata:
// the VTIMEZONE a feed carries gives the system's UTC offset at every instant of every
// occurrence up to the feed's horizon. The feed holds a daily series of 24-hour occurrences
// without an end, so every instant from its start to the horizon is in one; the offsets are
// compared daily and on both sides of each of the system's transitions, found to the second.
TEST(IcsVtimezone, AgreesWithTheSystemsZoneRulesAtEveryInstantOfEveryOccurrence) {
  struct Window {
    int first_year, horizon_year;
  };
  // The years of feeds now: a year of the past they keep and the five years of their horizon.
  // (libical 3.0.16 reads some zones' older years differently from the system: Gaza, Hebron,
  // Tehran, Easter and Fiji in 2017-2023, Damascus in 2004; from 2024 on all agree.)
  for (const Window w : {Window{2024, 2031}}) {
    for (const std::string& zone : cal::zone_names()) {
      SCOPED_TRACE(zone + " from " + std::to_string(w.first_year));
      cal::IcsEvent e;
      e.uid = "every-day@convene.example";
      e.summary = "All day, every day";
      e.zone = zone;
      e.start = local(w.first_year, 1, 1);
      e.end = e.start + 24h;
      e.rrule = "FREQ=DAILY";
      e.created = e.last_modified = e.dtstamp = utc(2020, 1, 1);
      cal::IcsCalendar c;
      c.events = {e};
      c.horizon = utc(w.horizon_year, 1, 1);
      const std::string text = cal::render_ics(c);

      const SystemZone system(zone);
      std::lock_guard lock(cal::libical_mutex());
      const Zone feed_zone = zone_from(text, zone);
      ASSERT_TRUE(feed_zone);
      const sys_seconds from = floor<seconds>(utc(w.first_year, 1, 1) - 14h);  // the first occurrence's start
      const sys_seconds to = floor<seconds>(c.horizon);
      int mismatches = 0;
      const auto check = [&](sys_seconds t) {
        if (offset_in(feed_zone.get(), t) == system.offset(t) || ++mismatches > 3) return;
        ADD_FAILURE() << "at " << t.time_since_epoch().count() << "s since 1970: feed "
                      << offset_in(feed_zone.get(), t).count() << "s, system " << system.offset(t).count() << "s\n"
                      << block(text, "VTIMEZONE");
      };
      seconds previous = system.offset(from);
      for (sys_seconds t = from; t < to; t += 24h) {
        if (const seconds now = system.offset(t); now != previous) {
          sys_seconds lo = t - 24h, hi = t;  // a transition in (lo, hi]
          while (hi - lo > 1s) {
            const sys_seconds mid = lo + (hi - lo) / 2;
            (system.offset(mid) == previous ? lo : hi) = mid;
          }
          check(lo);
          check(hi);
          previous = now;
        }
        check(t);
      }
    }
  }
}

TEST(IcsVtimezone, RuleChangeWithinTheYearsEndsTheOldRule) {
  const std::string vtz = cal::render_vtimezone("America/New_York", 2005, 2005);
  // 2004-2006: first Sunday of April / last Sunday of October; from 2007: 2SU March / 1SU Nov.
  EXPECT_NE(vtz.find("RRULE:FREQ=YEARLY;UNTIL=20060402T070000Z;BYMONTH=4;BYDAY=1SU\r\n"), std::string::npos) << vtz;
  EXPECT_NE(vtz.find("RRULE:FREQ=YEARLY;UNTIL=20061029T060000Z;BYMONTH=10;BYDAY=-1SU\r\n"), std::string::npos) << vtz;
  EXPECT_NE(vtz.find("RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=2SU\r\n"), std::string::npos) << vtz;
  EXPECT_NE(vtz.find("RRULE:FREQ=YEARLY;BYMONTH=11;BYDAY=1SU\r\n"), std::string::npos) << vtz;
}

// --- one instant per occurrence (DESIGN §3) ----------------------------------------------------

cal::IcsEvent at_night(const std::string& uid, const std::string& zone, LocalDateTime start,
                       std::optional<std::string> rrule) {
  cal::IcsEvent e;
  e.uid = uid;
  e.summary = "Night shift";
  e.zone = zone;
  e.start = start;
  e.end = start + 1h;
  e.rrule = std::move(rrule);
  e.created = e.last_modified = e.dtstamp = utc(2026, 1, 2, 9);
  return e;
}

// The VEVENT of `text` with this RECURRENCE-ID line, or empty.
std::string override_with(const std::string& text, const std::string& recurrence_id_line) {
  const std::size_t at = text.find(recurrence_id_line + "\r\n");
  if (at == std::string::npos) return {};
  return block(text, "VEVENT", text.rfind("BEGIN:VEVENT", at));
}

TEST(IcsDst, AOneOffInAGapStartsAtTheWallTimeItBecomesAndOneAtARepeatedTimeInUtc) {
  cal::IcsCalendar c;
  c.events = {at_night("gap@x", "America/New_York", local(2027, 3, 14, 2, 30), std::nullopt),
              at_night("repeat@x", "America/New_York", local(2027, 11, 7, 1, 30), std::nullopt),
              at_night("plain@x", "America/New_York", local(2027, 11, 8, 1, 30), std::nullopt)};
  c.events[0].end = local(2027, 3, 14, 4, 30);  // 02:30 to 03:30 would last no time at all that day
  const std::string text = cal::render_ics(c);
  // 02:30 does not exist: 02:30 EST is 03:30 EDT, which exists once.
  EXPECT_NE(text.find("DTSTART;TZID=America/New_York:20270314T033000\r\nDTEND;TZID=America/New_York:20270314T043000\r\n"),
            std::string::npos) << text;
  // 01:30 happens twice: the first, 05:30Z; its end (02:30 EST) exists once.
  EXPECT_NE(text.find("DTSTART:20271107T053000Z\r\nDTEND;TZID=America/New_York:20271107T023000\r\n"), std::string::npos)
      << text;
  EXPECT_NE(text.find("DTSTART;TZID=America/New_York:20271108T013000\r\n"), std::string::npos) << text;
  EXPECT_EQ(text.find("20270314T023000"), std::string::npos) << text;
}

TEST(IcsDst, SeriesOccurrencesInAGapOrARepeatGetTheirOwnVeventUpToTheHorizon) {
  cal::IcsCalendar c;
  c.horizon = utc(2029, 1, 1);
  c.events = {at_night("ny@x", "America/New_York", local(2027, 1, 3, 2, 30), "FREQ=WEEKLY;BYDAY=SU"),
              at_night("london@x", "Europe/London", local(2027, 1, 3, 1, 30), "FREQ=WEEKLY;BYDAY=SU")};
  c.events[0].exdates = {local(2028, 3, 12, 2, 30)};  // cancelled: no VEVENT of its own
  const std::string text = cal::render_ics(c);
  // The series keep their nominal times.
  EXPECT_NE(text.find("DTSTART;TZID=America/New_York:20270103T023000\r\n"), std::string::npos);
  EXPECT_NE(text.find("EXDATE;TZID=America/New_York:20280312T023000\r\n"), std::string::npos);

  const std::string ny = override_with(text, "RECURRENCE-ID;TZID=America/New_York:20270314T023000");
  EXPECT_NE(ny.find("UID:ny@x\r\n"), std::string::npos) << ny;
  EXPECT_NE(ny.find("DTSTART;TZID=America/New_York:20270314T033000\r\n"), std::string::npos) << ny;
  EXPECT_NE(ny.find("DTEND;TZID=America/New_York:20270314T043000\r\n"), std::string::npos) << ny;
  EXPECT_TRUE(override_with(text, "RECURRENCE-ID;TZID=America/New_York:20280312T023000").empty()) << text;
  // 02:30 in New York repeats on no day (the fall-back hour is 01:00-02:00).
  EXPECT_EQ(count(text, "RECURRENCE-ID;TZID=America/New_York:"), 1u) << text;

  // London: 01:30 is in the gap in March and repeats in October.
  const std::string spring = override_with(text, "RECURRENCE-ID;TZID=Europe/London:20270328T013000");
  EXPECT_NE(spring.find("DTSTART;TZID=Europe/London:20270328T023000\r\n"), std::string::npos) << spring;
  const std::string autumn = override_with(text, "RECURRENCE-ID;TZID=Europe/London:20271031T013000");
  EXPECT_NE(autumn.find("DTSTART:20271031T003000Z\r\n"), std::string::npos) << autumn;
  EXPECT_NE(autumn.find("DTEND:20271031T013000Z\r\n"), std::string::npos) << autumn;  // 01:30 again, GMT
  EXPECT_FALSE(override_with(text, "RECURRENCE-ID;TZID=Europe/London:20281029T013000").empty()) << text;
  EXPECT_EQ(count(text, "RECURRENCE-ID;TZID=Europe/London:"), 4u) << text;  // two springs, two autumns
  // Nothing past the horizon.
  EXPECT_EQ(text.find("RECURRENCE-ID;TZID=Europe/London:2029"), std::string::npos) << text;
}

TEST(IcsDst, AMovedOccurrenceKeepsItsOwnTimesAndAMoveIntoAGapIsWrittenAsItHappens) {
  cal::IcsCalendar c;
  c.horizon = utc(2028, 1, 1);
  cal::IcsEvent e = at_night("ny@x", "America/New_York", local(2027, 1, 3, 2, 30), "FREQ=WEEKLY;BYDAY=SU");
  e.overrides = {{local(2027, 3, 14, 2, 30), local(2027, 3, 14, 9, 0), local(2027, 3, 14, 10, 0), 1},
                 {local(2027, 3, 21, 2, 30), local(2027, 3, 14, 2, 15), local(2027, 3, 14, 2, 45), 1}};
  c.events = {e};
  const std::string text = cal::render_ics(c);
  EXPECT_EQ(count(text, "RECURRENCE-ID;"), 2u) << text;
  const std::string moved = override_with(text, "RECURRENCE-ID;TZID=America/New_York:20270314T023000");
  EXPECT_NE(moved.find("DTSTART;TZID=America/New_York:20270314T090000\r\n"), std::string::npos) << moved;
  const std::string into_gap = override_with(text, "RECURRENCE-ID;TZID=America/New_York:20270321T023000");
  EXPECT_NE(into_gap.find("DTSTART;TZID=America/New_York:20270314T031500\r\n"), std::string::npos) << into_gap;
  EXPECT_NE(into_gap.find("DTEND;TZID=America/New_York:20270314T034500\r\n"), std::string::npos) << into_gap;
}

// The .ics attached to a meeting email is read to the same horizon as the feeds.
TEST(IcsDst, TheEmailAttachmentOfASeriesGivesItsOccurrenceInAGapItsOwnVevent) {
  const boost::json::object payload{{"uid", "night@x"},          {"title", "Night watch"},
                                    {"start", "2027-01-03T02:30"}, {"end", "2027-01-03T03:30"},
                                    {"time_zone", "America/New_York"}, {"rrule", "FREQ=WEEKLY;BYDAY=SU"}};
  const auto ics = convene::jobs::meeting_attachment("meeting.scheduled", payload, "owls@example.org", utc(2026, 12, 1));
  ASSERT_TRUE(ics);
  const std::string moved = override_with(*ics, "RECURRENCE-ID;TZID=America/New_York:20270314T023000");
  EXPECT_NE(moved.find("DTSTART;TZID=America/New_York:20270314T033000\r\n"), std::string::npos) << *ics;
  EXPECT_FALSE(override_with(*ics, "RECURRENCE-ID;TZID=America/New_York:20310309T023000").empty()) << "five years on";
}

// What the daemon itself computes for the same events (calendar::expand, DESIGN §3), in the
// script's format.
std::vector<std::string> daemon_instants(const cal::IcsCalendar& c, Instant from, Instant to) {
  std::vector<std::string> lines;
  for (const cal::IcsEvent& e : c.events) {
    cal::Series s{e.start, duration_cast<seconds>(cal::to_instant(e.end, e.zone) - cal::to_instant(e.start, e.zone)),
                  e.zone, e.rrule, e.exdates};
    for (const auto& o : cal::expand(s, from, to, 10000).occurrences)
      if (o.start >= from)
        lines.push_back(e.uid + " " + (e.rrule ? cal::detail::ical_local(o.local_start) : std::string("-")) + " " +
                        cal::format_rfc3339_utc(o.start) + " " + cal::format_rfc3339_utc(o.end));
  }
  std::sort(lines.begin(), lines.end());
  return lines;
}

TEST(IcsDst, EveryClientReadsTheDaemonsInstantsFromTheFeed) {
  cal::IcsCalendar c;
  c.horizon = utc(2029, 1, 1);
  c.events = {at_night("a-ny-gap@x", "America/New_York", local(2027, 1, 3, 2, 30), "FREQ=WEEKLY;BYDAY=SU"),
              at_night("b-london@x", "Europe/London", local(2027, 1, 3, 1, 30), "FREQ=WEEKLY;BYDAY=SU"),
              at_night("c-lord-howe@x", "Australia/Lord_Howe", local(2027, 1, 3, 1, 45), "FREQ=DAILY"),
              at_night("d-one-off-gap@x", "America/New_York", local(2027, 3, 14, 2, 30), std::nullopt),
              at_night("e-one-off-repeat@x", "Europe/London", local(2027, 10, 31, 1, 30), std::nullopt)};
  c.events[2].start = local(2027, 1, 3, 2, 15);  // Lord Howe: 02:00-02:30 is the gap in October
  c.events[2].end = c.events[2].start + 1h;
  c.events[0].exdates = {local(2027, 1, 10, 2, 30)};
  const Instant from = utc(2027, 1, 1), to = utc(2029, 1, 1);
  const std::vector<std::string> daemon = daemon_instants(c, from, to);
  ASSERT_GT(daemon.size(), 800u);
  const std::string text = cal::render_ics(c);
  EXPECT_EQ(convene::testing::ics_client_instants(text, 0, from, to), daemon) << "an RFC 5545 client";
  EXPECT_EQ(convene::testing::ics_client_instants(text, 1, from, to), daemon) << "a client that reads gaps and repeats as ical.js does";

  // Without the VEVENTs of their own (no horizon), the two clients disagree with each other on
  // exactly those occurrences: what the test above would catch.
  c.horizon = Instant{};
  const std::string bare = cal::render_ics(c);
  EXPECT_EQ(convene::testing::ics_client_instants(bare, 0, from, to), daemon) << "the RFC's reading is the daemon's";
  const auto ical_js = convene::testing::ics_client_instants(bare, 1, from, to);
  std::vector<std::string> differing;
  std::set_symmetric_difference(ical_js.begin(), ical_js.end(), daemon.begin(), daemon.end(), std::back_inserter(differing));
  // Each of the 8 irregular occurrences (New York: 2 gaps; London: 2 gaps, 2 repeats; Lord
  // Howe: 2 gaps), once as the daemon has it and once as ical.js reads it.
  EXPECT_EQ(differing.size(), 2u * 8u);
}

// --- an independent parser ---------------------------------------------------------------------

TEST(IcsPython, Python3IcalendarReadsTheFeed) {
  std::string python;
  for (const char* candidate : {"/usr/bin/python3", "python3"}) {
    const std::string probe = std::string(candidate) + " -c 'import icalendar' >/dev/null 2>&1";
    if (std::system(probe.c_str()) == 0) {
      python = candidate;
      break;
    }
  }
  if (python.empty()) GTEST_SKIP() << "python3 with icalendar (Debian python3-icalendar) is not installed";

  cal::IcsCalendar c = sample_calendar();
  c.events.push_back(one_event_in("Europe/Berlin", local(2027, 9, 1, 18)).events[0]);
  c.events.back().uid = "berlin@convene.example";
  c.events.back().summary = "\xC3\x9C" "bung: Stra\xC3\x9F" "e, Caf\xC3\xA9; \\ " + std::string(80, 'x');
  const std::string text = cal::render_ics(c);

  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("convene-ics-test-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::filesystem::path file = dir / "feed.ics";
  {
    std::ofstream out(file, std::ios::binary);
    out << text;
  }
  const std::string script = std::string(CONVENE_SOURCE_DIR) + "/tests/unit/ics_roundtrip.py";
  const auto run = [&](int expected_events) {
    const std::string command = python + " '" + script + "' '" + file.string() + "' " + std::to_string(expected_events);
    const int status = std::system(command.c_str());
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  };
  EXPECT_EQ(run(4), 0);  // the series, its moved occurrence, the placeholder, the Berlin meeting
  EXPECT_EQ(run(5), 1);  // and the script does notice a wrong count
  std::filesystem::remove_all(dir);
}
