// Email composition (DESIGN §4): structure, encodings, folding and header injection, checked
// by hand and by an independent MIME parser (Python's email package with policy.strict, run
// by tests/unit/mime_strict.py).
#include "notifiers/email_message.hpp"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "notifiers/base64.hpp"
#include "notifiers/mime_encoding.hpp"
#include "notifiers/templates.hpp"

using namespace std::chrono;
namespace n = convene::notifiers;
using convene::calendar::Instant;

namespace {

Instant utc(int y, unsigned mo, unsigned d, int h = 0, int mi = 0) {
  return Instant{sys_days{year{y} / month{mo} / day{d}}} + hours{h} + minutes{mi};
}

n::EmailParts sample() {
  n::EmailParts p;
  p.from = {"notify@convene.example.org", "Convene"};
  p.to = {"ada@example.org", "Ada Lovelace"};
  p.subject = "New meeting in Data Science: Weekly sync";
  p.notification_id = "0b7e6a52-3c1f-4d2e-9a4b-7f1e2d3c4b5a";
  p.message_id_domain = "convene.example.org";
  p.date = utc(2027, 7, 12, 14, 0);
  p.list = n::ListIdentity{"data-science", "convene.example.org", "Data Science"};
  p.unsubscribe_url = "https://convene.example.org/u/u1.abc.def";
  p.unsubscribe_mailto = "mailto:unsubscribe@convene.example.org?subject=u1.abc.def";
  p.text = "Hello Ada,\n\nA new meeting.\n";
  p.html = "<!DOCTYPE html><html><body><p>Hello Ada,</p></body></html>\n";
  return p;
}

std::vector<std::string> lines(const std::string& text) {
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

std::string header_block(const std::string& message) { return message.substr(0, message.find("\r\n\r\n") + 2); }

std::string text_of(const boost::json::value& v) { return v.is_string() ? std::string(v.as_string()) : "<not a string>"; }

std::string without_cr(std::string s) {
  s.erase(std::remove(s.begin(), s.end(), '\r'), s.end());
  return s;
}

// What mime_strict.py found: its JSON, and whether it found no problem.
struct Parsed {
  boost::json::object json;
  int status = -1;

  const boost::json::array& parts() const { return json.at("parts").as_array(); }
  std::string part_field(std::size_t i, const char* key) const {
    const auto& v = parts().at(i).as_object().at(key);
    return v.is_string() ? std::string(v.as_string()) : std::string();
  }
  std::set<std::string> header_names() const {
    std::set<std::string> names;
    for (const auto& h : json.at("headers").as_array()) names.insert(std::string(h.as_array()[0].as_string()));
    return names;
  }
  std::string header(const std::string& name) const {
    for (const auto& h : json.at("headers").as_array())
      if (h.as_array()[0].as_string() == name) return std::string(h.as_array()[1].as_string());
    return {};
  }
  // The header as RFC 2047 §6.2 decodes it (Python's legacy decoder).
  std::string rfc2047(const std::string& name) const {
    const auto* v = json.at("rfc2047").as_object().if_contains(name);
    return v != nullptr && v->is_string() ? std::string(v->as_string()) : std::string();
  }
  std::string problems() const { return boost::json::serialize(json.at("problems")); }
};

bool have_python() { return std::system("/usr/bin/python3 -c 'import email.policy' >/dev/null 2>&1") == 0; }

Parsed parse_with_python(const std::string& message) {
  const auto dir = std::filesystem::temp_directory_path() / ("convene-mime-test-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const auto file = dir / "message.eml";
  {
    std::ofstream out(file, std::ios::binary);
    out << message;
  }
  const std::string command =
      "/usr/bin/python3 '" + std::string(CONVENE_SOURCE_DIR) + "/tests/unit/mime_strict.py' '" + file.string() + "'";
  std::string output;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return {};
  char buffer[4096];
  while (std::size_t n = std::fread(buffer, 1, sizeof buffer, pipe)) output.append(buffer, n);
  const int status = ::pclose(pipe);
  std::filesystem::remove_all(dir);
  Parsed parsed;
  parsed.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  boost::system::error_code ec;
  auto value = boost::json::parse(output, ec);
  if (!ec && value.is_object()) parsed.json = value.as_object();
  return parsed;
}

#define REQUIRE_PYTHON() \
  if (!have_python()) GTEST_SKIP() << "/usr/bin/python3 is not installed"

}  // namespace

// --- by hand --------------------------------------------------------------------------------

TEST(EmailMessage, HasTheHeadersOfDesign4InCrlfLines) {
  const std::string m = n::compose_email(sample());
  const std::string h = header_block(m);
  EXPECT_NE(h.find("From: \"Convene\" <notify@convene.example.org>\r\n"), std::string::npos) << h;
  EXPECT_NE(h.find("To: \"Ada Lovelace\" <ada@example.org>\r\n"), std::string::npos) << h;
  EXPECT_NE(h.find("Subject: New meeting in Data Science: Weekly sync\r\n"), std::string::npos) << h;
  EXPECT_NE(h.find("Date: Mon, 12 Jul 2027 14:00:00 +0000\r\n"), std::string::npos) << h;
  EXPECT_NE(h.find("Message-ID: <0b7e6a52-3c1f-4d2e-9a4b-7f1e2d3c4b5a@convene.example.org>\r\n"), std::string::npos);
  EXPECT_NE(h.find("MIME-Version: 1.0\r\n"), std::string::npos);
  EXPECT_NE(h.find("Auto-Submitted: auto-generated\r\n"), std::string::npos);
  EXPECT_NE(h.find("List-Id: \"Data Science\" <data-science.convene.example.org>\r\n"), std::string::npos) << h;
  EXPECT_NE(h.find("List-Unsubscribe: <https://convene.example.org/u/u1.abc.def>,\r\n "
                   "<mailto:unsubscribe@convene.example.org?subject=u1.abc.def>\r\n"),
            std::string::npos)
      << h;
  EXPECT_NE(h.find("List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"), std::string::npos);
  EXPECT_NE(h.find("Content-Type: multipart/alternative;\r\n boundary=\"=_convene_alternative\"\r\n"),
            std::string::npos);
  // Only CRLF line ends.
  EXPECT_EQ(without_cr(m).size() + std::count(m.begin(), m.end(), '\n'), m.size());
  for (std::size_t i = 0; i < m.size(); ++i)
    if (m[i] == '\n') {
      ASSERT_TRUE(i > 0 && m[i - 1] == '\r') << "bare LF at " << i;
    }
}

TEST(EmailMessage, DateIsRfc5322InUtc) {
  EXPECT_EQ(n::rfc5322_date(utc(2027, 7, 12, 14, 0)), "Mon, 12 Jul 2027 14:00:00 +0000");
  EXPECT_EQ(n::rfc5322_date(utc(2026, 1, 1, 0, 0) + seconds{59} + milliseconds{999}), "Thu, 01 Jan 2026 00:00:59 +0000");
  EXPECT_EQ(n::rfc5322_date(utc(2024, 2, 29, 23, 5)), "Thu, 29 Feb 2024 23:05:00 +0000");
}

TEST(EmailMessage, WithoutListOrUnsubscribeTheHeadersAreLeftOut) {
  auto p = sample();
  p.list.reset();
  p.unsubscribe_url.clear();
  p.unsubscribe_mailto.clear();
  const std::string h = header_block(n::compose_email(p));
  EXPECT_EQ(h.find("List-"), std::string::npos) << h;
}

// The mailto goes only to a configured address (list_unsubscribe_mailto): by default the
// header has the https one-click link alone.
TEST(EmailMessage, TheUnsubscribeMailtoOnlyWhenAnAddressIsConfigured) {
  auto p = sample();
  p.unsubscribe_mailto = n::unsubscribe_mailto("", p.unsubscribe_url);
  EXPECT_EQ(p.unsubscribe_mailto, "");
  std::string h = header_block(n::compose_email(p));
  EXPECT_NE(h.find("List-Unsubscribe: <https://convene.example.org/u/u1.abc.def>\r\n"), std::string::npos) << h;
  EXPECT_NE(h.find("List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"), std::string::npos) << h;
  EXPECT_EQ(h.find("mailto:"), std::string::npos) << h;

  p.unsubscribe_mailto = n::unsubscribe_mailto("unsubscribe@convene.example.org", p.unsubscribe_url);
  EXPECT_EQ(p.unsubscribe_mailto, "mailto:unsubscribe@convene.example.org?subject=unsubscribe%20u1.abc.def");
  h = header_block(n::compose_email(p));
  EXPECT_NE(h.find("List-Unsubscribe: <https://convene.example.org/u/u1.abc.def>,"), std::string::npos) << h;
  EXPECT_NE(h.find("<mailto:unsubscribe@convene.example.org?subject=unsubscribe%20u1.abc.def>"), std::string::npos) << h;
  EXPECT_NE(h.find("List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"), std::string::npos) << h;
  EXPECT_EQ(n::unsubscribe_mailto("unsubscribe@convene.example.org", ""), "") << "no link, no token to name";
}

TEST(EmailMessage, OneClickPostOnlyForAnHttpsUrl) {
  auto p = sample();
  p.unsubscribe_url = "http://127.0.0.1:8080/u/t";
  std::string h = header_block(n::compose_email(p));
  EXPECT_NE(h.find("List-Unsubscribe: <http://127.0.0.1:8080/u/t>,"), std::string::npos) << h;
  EXPECT_EQ(h.find("List-Unsubscribe-Post"), std::string::npos) << h;
  p.unsubscribe_url.clear();
  h = header_block(n::compose_email(p));
  EXPECT_NE(h.find("List-Unsubscribe: <mailto:"), std::string::npos) << h;
  EXPECT_EQ(h.find("List-Unsubscribe-Post"), std::string::npos) << h;
}

TEST(EmailMessage, EmptyNamesAndSubject) {
  auto p = sample();
  p.from.name = "";
  p.to.name = " \r\n\t ";
  p.subject = "\r\n";
  p.list->name = "";
  const std::string h = header_block(n::compose_email(p));
  EXPECT_NE(h.find("From: notify@convene.example.org\r\n"), std::string::npos) << h;
  EXPECT_NE(h.find("To: ada@example.org\r\n"), std::string::npos) << h;
  EXPECT_NE(h.find("Subject: (no subject)\r\n"), std::string::npos) << h;
  EXPECT_NE(h.find("List-Id: <data-science.convene.example.org>\r\n"), std::string::npos) << h;
}

TEST(EmailMessage, RefusesWhatNoEncodingMakesSafe) {
  const auto refuses = [](auto change) {
    auto p = sample();
    change(p);
    EXPECT_THROW(n::compose_email(p), std::invalid_argument);
  };
  for (const char* bad : {"", "ada", "a b@example.org", "ada@exa mple.org", "a@b@example.org", "<ada>@example.org",
                          "ada@example.org\r\nBcc: x@y.z", "\xC3\xA9@example.org", "ada.@example.org", "a..b@example.org",
                          "ada@-.\x01", "\"ada\"@example.org"}) {
    refuses([&](n::EmailParts& p) { p.to.address = bad; });
    refuses([&](n::EmailParts& p) { p.from.address = bad; });
  }
  refuses([](n::EmailParts& p) { p.to.address = std::string(250, 'a') + "@example.org"; });
  refuses([](n::EmailParts& p) { p.notification_id = "abc def"; });
  refuses([](n::EmailParts& p) { p.notification_id = "abc>\r\nBcc: x"; });
  refuses([](n::EmailParts& p) { p.notification_id = ""; });
  refuses([](n::EmailParts& p) { p.message_id_domain = "example.org>"; });
  refuses([](n::EmailParts& p) { p.list->slug = "Data Science"; });
  refuses([](n::EmailParts& p) { p.list->domain = "a b"; });
  refuses([](n::EmailParts& p) { p.unsubscribe_url = "javascript:alert(1)"; });
  refuses([](n::EmailParts& p) { p.unsubscribe_url = "https://x.example/u/a b"; });
  refuses([](n::EmailParts& p) { p.unsubscribe_url = "https://x.example/u/a>\r\nBcc: x@y.z"; });
  refuses([](n::EmailParts& p) { p.unsubscribe_mailto = "unsubscribe@x.example"; });
}

TEST(EmailMessage, NonAsciiSubjectBecomesEncodedWordsOfAtMost75WithinLinesOf78) {
  auto p = sample();
  p.subject = "R\xC3\xA9union \xE2\x80\x94 \xC3\x9C" "bung: Stra\xC3\x9F" "e, Caf\xC3\xA9 \xF0\x9F\x8E\x89 " +
              std::string(40, 'x') + " \xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E\xE3\x81\xAE\xE4\xBC\x9A\xE8\xAD\xB0";
  const std::string h = header_block(n::compose_email(p));
  for (const auto& line : lines(h)) {
    EXPECT_LE(line.size(), 78u) << line;
    for (unsigned char c : line) EXPECT_LT(c, 0x80) << line;
  }
  const std::size_t start = h.find("Subject: ");
  const std::string subject = h.substr(start, h.find("\r\nDate:") - start);
  EXPECT_NE(subject.find("=?UTF-8?B?"), std::string::npos) << subject;
  // Each word decodes to whole UTF-8 characters.
  for (std::size_t pos = subject.find("=?UTF-8?B?"); pos != std::string::npos; pos = subject.find("=?UTF-8?B?", pos + 1)) {
    const std::size_t end = subject.find("?=", pos + 10);
    ASSERT_NE(end, std::string::npos);
    EXPECT_LE(end + 2 - pos, 75u);
    const auto bytes = n::base64_decode(subject.substr(pos + 10, end - pos - 10));
    ASSERT_TRUE(bytes);
    const auto lead = static_cast<unsigned char>(bytes->front());
    EXPECT_NE(lead & 0xC0, 0x80) << "a word starts inside a character";
    const auto last = static_cast<unsigned char>(bytes->back());
    EXPECT_TRUE(last < 0x80 || (last & 0xC0) == 0x80) << "a word ends on a lead byte";
  }
}

TEST(EmailMessage, EncodedWordsNeverSplitACharacter) {
  std::string text;
  for (int i = 0; i < 60; ++i) text += "\xF0\x9F\x8E\x89" "\xC3\xA9" "a";  // 4-, 2- and 1-byte characters
  for (std::size_t first : {1u, 10u, 20u, 69u, 75u, 200u}) {
    const auto words = n::encoded_words(text, first);
    std::string joined;
    for (std::size_t i = 0; i < words.size(); ++i) {
      const auto& w = words[i];
      EXPECT_LE(w.size(), 75u);
      if (i == 0 && first >= 20) {
        EXPECT_LE(w.size(), first);
      }
      ASSERT_TRUE(w.starts_with("=?UTF-8?B?") && w.ends_with("?="));
      const auto bytes = n::base64_decode(w.substr(10, w.size() - 12));
      ASSERT_TRUE(bytes);
      EXPECT_NE(static_cast<unsigned char>(bytes->front()) & 0xC0, 0x80);
      joined += *bytes;
    }
    EXPECT_EQ(joined, text);
  }
}

TEST(EmailMessage, AsciiThatLooksEncodedIsEncoded) {
  // A title that is itself an encoded-word must reach the reader as typed, not decoded.
  const auto tokens = n::unstructured_tokens("=?UTF-8?B?SGk=?= there", 60);
  ASSERT_FALSE(tokens.empty());
  EXPECT_EQ(tokens, std::vector<std::string>{"=?UTF-8?B?PT9VVEYtOD9CP1NHaz0/PSB0aGVyZQ==?="});
  EXPECT_EQ(n::phrase_tokens("Ada =?x?q?y?=", 60)[0].substr(0, 10), "=?UTF-8?B?");
  EXPECT_EQ(n::phrase_tokens("Ada \"the\" \\ L.", 60), std::vector<std::string>{"\"Ada \\\"the\\\" \\\\ L.\""});
}

TEST(EmailMessage, FoldsBetweenTokens) {
  EXPECT_EQ(n::fold_header("Subject", {"a", "b"}), "Subject: a b\r\n");
  const std::string long_word(60, 'w');
  EXPECT_EQ(n::fold_header("Subject", {long_word, long_word, "x"}),
            "Subject: " + long_word + "\r\n " + long_word + " x\r\n");
  EXPECT_EQ(n::fold_header("X", {}), "X:\r\n");
}

TEST(EmailMessage, QuotedPrintableKeepsLinesShortAndEscapesWhatTransportsChange) {
  EXPECT_EQ(n::quoted_printable("a=b"), "a=3Db\r\n");
  EXPECT_EQ(n::quoted_printable("end \nnext\t"), "end=20\r\nnext=09\r\n");
  EXPECT_EQ(n::quoted_printable(".\n.hidden"), "=2E\r\n=2Ehidden\r\n");
  EXPECT_EQ(n::quoted_printable("From here\nFrom"), "=46rom here\r\nFrom\r\n");
  EXPECT_EQ(n::quoted_printable("caf\xC3\xA9"), "caf=C3=A9\r\n");
  const std::string qp = n::quoted_printable(std::string(300, '\xC3') + std::string(200, 'x') + ". ");
  for (const auto& line : lines(qp)) {
    EXPECT_LE(line.size(), 76u);
    // No escape cut by a soft break.
    const std::size_t eq = line.rfind('=');
    if (eq != std::string::npos) {
      EXPECT_TRUE(eq == line.size() - 1 || eq + 3 <= line.size()) << line;
    }
  }
}

// --- read by Python's email package (policy.strict) ------------------------------------------

TEST(EmailMessagePython, ParsesStrictlyWithTheExpectedStructure) {
  REQUIRE_PYTHON();
  const auto p = sample();
  const Parsed parsed = parse_with_python(n::compose_email(p));
  ASSERT_EQ(parsed.status, 0) << parsed.problems();
  EXPECT_EQ(text_of(parsed.json.at("content_type")), "multipart/alternative");
  ASSERT_EQ(parsed.parts().size(), 3u);
  EXPECT_EQ(parsed.part_field(1, "content_type"), "text/plain");
  EXPECT_EQ(parsed.part_field(1, "charset"), "utf-8");
  EXPECT_EQ(parsed.part_field(2, "content_type"), "text/html");
  EXPECT_EQ(without_cr(parsed.part_field(1, "content")), p.text);
  EXPECT_EQ(without_cr(parsed.part_field(2, "content")), p.html);
  EXPECT_EQ(parsed.header("Subject"), p.subject);
  EXPECT_EQ(parsed.header("List-Unsubscribe-Post"), "List-Unsubscribe=One-Click");
  EXPECT_EQ(parsed.header("Date"), "Mon, 12 Jul 2027 14:00:00 +0000");
  EXPECT_EQ(text_of(parsed.json.at("to").at("display_name")), "Ada Lovelace");
  EXPECT_EQ(text_of(parsed.json.at("to").at("addr_spec")), "ada@example.org");
  EXPECT_LE(parsed.json.at("max_line").as_int64(), 78);
  EXPECT_LE(parsed.json.at("max_header_line").as_int64(), 78);
}

TEST(EmailMessagePython, LongUnsubscribeUrlsStayWhole) {
  REQUIRE_PYTHON();
  // A URL cannot be folded (receivers would not rejoin it), so its line may pass 78, never 998.
  auto p = sample();
  p.unsubscribe_url = "https://convene.example.org/u/u1." + std::string(120, 'A') + "." + std::string(43, 'b');
  p.unsubscribe_mailto = "mailto:unsubscribe@convene.example.org?subject=" + std::string(120, 'C');
  const Parsed parsed = parse_with_python(n::compose_email(p));
  ASSERT_EQ(parsed.status, 0) << parsed.problems();
  EXPECT_EQ(parsed.rfc2047("List-Unsubscribe"), "<" + p.unsubscribe_url + ">, <" + p.unsubscribe_mailto + ">");
  EXPECT_GT(parsed.json.at("max_header_line").as_int64(), 78);
}

TEST(EmailMessagePython, MeetingMailAttachesTheEventAsPublish) {
  REQUIRE_PYTHON();
  auto p = sample();
  p.ics = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nMETHOD:PUBLISH\r\nBEGIN:VEVENT\r\nSUMMARY:R\xC3\xA9union\r\n"
          "ORGANIZER;CN=Lead:mailto:lead@example.org\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
  const std::string m = n::compose_email(p);
  EXPECT_NE(header_block(m).find("Content-Type: multipart/mixed;\r\n boundary=\"=_convene_mixed\"\r\n"),
            std::string::npos);
  const Parsed parsed = parse_with_python(m);
  ASSERT_EQ(parsed.status, 0) << parsed.problems();
  EXPECT_EQ(text_of(parsed.json.at("content_type")), "multipart/mixed");
  ASSERT_EQ(parsed.parts().size(), 5u);
  EXPECT_EQ(parsed.part_field(1, "content_type"), "multipart/alternative");
  EXPECT_EQ(parsed.part_field(2, "content_type"), "text/plain");
  EXPECT_EQ(parsed.part_field(3, "content_type"), "text/html");
  EXPECT_EQ(parsed.part_field(4, "content_type"), "text/calendar");
  EXPECT_EQ(parsed.part_field(4, "disposition"), "attachment");
  EXPECT_EQ(parsed.part_field(4, "filename"), "event.ics");
  EXPECT_EQ(parsed.part_field(4, "charset"), "utf-8");
  EXPECT_EQ(text_of(parsed.parts()[4].at("params").at("method")), "PUBLISH");
  EXPECT_EQ(parsed.part_field(4, "content"), *p.ics);
}

TEST(EmailMessagePython, CrLfInUserDataCannotAddAHeader) {
  REQUIRE_PYTHON();
  auto p = sample();
  const std::string evil = "\r\nBcc: evil@attacker.example\r\n\r\nbody";
  p.subject = "Weekly sync" + evil;
  p.to.name = "Ada" + evil;
  p.from.name = "Convene\nBcc: evil@attacker.example";
  p.list->name = "Data\rScience" + evil;
  p.text = "text" + evil;
  const std::string m = n::compose_email(p);
  for (const auto& line : lines(header_block(m))) EXPECT_FALSE(line.starts_with("Bcc")) << line;
  const Parsed parsed = parse_with_python(m);
  ASSERT_EQ(parsed.status, 0) << parsed.problems();
  const std::set<std::string> expected{"From",    "To",          "Subject",          "Date",
                                       "Message-ID", "MIME-Version", "Auto-Submitted",   "List-Id",
                                       "List-Unsubscribe", "List-Unsubscribe-Post", "Content-Type"};
  EXPECT_EQ(parsed.header_names(), expected);
  EXPECT_EQ(parsed.header("Subject"), "Weekly sync Bcc: evil@attacker.example body");
  EXPECT_EQ(text_of(parsed.json.at("to").at("display_name")), "Ada Bcc: evil@attacker.example body");
  EXPECT_EQ(text_of(parsed.json.at("to").at("addr_spec")), "ada@example.org");
  EXPECT_EQ(text_of(parsed.json.at("from").at("display_name")), "Convene Bcc: evil@attacker.example");
  EXPECT_EQ(parsed.header("List-Id"), "\"Data Science Bcc: evil@attacker.example body\" <data-science.convene.example.org>");
}

TEST(EmailMessagePython, HostileNamesAndBodiesStillParse) {
  REQUIRE_PYTHON();
  auto p = sample();
  p.to.name = "Ada \"the\" \\ Lovelace, <admin@example.org>; =?UTF-8?B?SGk=?=";
  p.from.name = std::string(5000, 'N') + "\xC3\xA9";  // very long
  p.subject = std::string(300, 'x');                  // one very long word
  p.list->name = "\xE6\x97\xA5\xE6\x9C\xAC " + std::string(100, 'L');
  // Long lines, a boundary look-alike, dots and "From " at line starts, '=', trailing white
  // space, a NUL, a lone CR, invalid UTF-8 and CRLF/CR/LF mixed.
  p.text = std::string(2000, 'a') + "\r\n--=_convene_alternative\r\n.\r\nFrom me\rx = y \t\nnul\x01" "x\xFF\n";
  p.html = "<p>" + std::string(1500, 'h') + "</p>\n--=_convene_alternative--\n";
  const Parsed parsed = parse_with_python(n::compose_email(p));
  ASSERT_EQ(parsed.status, 0) << parsed.problems();
  ASSERT_EQ(parsed.parts().size(), 3u);
  EXPECT_EQ(parsed.rfc2047("To"), p.to.name + " <ada@example.org>");
  EXPECT_EQ(text_of(parsed.json.at("to").at("addr_spec")), "ada@example.org");
  // The policy parser keeps the space between encoded-words; a split falls after a space, so
  // it shows a doubled space, not a broken word.
  EXPECT_EQ(text_of(parsed.json.at("to").at("display_name")), "Ada \"the\" \\ Lovelace, <admin@example.org>;  =?UTF-8?B?SGk=?=");
  const std::string from = parsed.rfc2047("From");
  EXPECT_EQ(from, std::string(197, 'N') + "\xE2\x80\xA6 <notify@convene.example.org>");
  const std::string subject = parsed.header("Subject");
  EXPECT_LE(subject.size(), 250u);
  EXPECT_TRUE(subject.starts_with("xxxxxxxx"));
  EXPECT_EQ(without_cr(parsed.part_field(1, "content")),
            std::string(2000, 'a') + "\n--=_convene_alternative\n.\nFrom me\nx = y \t\nnulx\xEF\xBF\xBD\n");
  EXPECT_EQ(without_cr(parsed.part_field(2, "content")), p.html);
  EXPECT_LE(parsed.json.at("max_line").as_int64(), 78);
  EXPECT_LE(parsed.json.at("max_header_line").as_int64(), 78);
}

TEST(EmailMessagePython, NonAsciiHeadersDecodeBackToTheText) {
  REQUIRE_PYTHON();
  auto p = sample();
  p.subject = "R\xC3\xA9union: \xC3\x9C" "bung \xE2\x80\x94 \xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E \xF0\x9F\x8E\x89 " +
              std::string(30, 'z') + " fin";
  p.to.name = "Zo\xC3\xAB O'Brien-\xC5\x81\xC3\xB3" "d\xC5\xBA";
  p.list->name = "Caf\xC3\xA9 & Code";
  const Parsed parsed = parse_with_python(n::compose_email(p));
  ASSERT_EQ(parsed.status, 0) << parsed.problems();
  EXPECT_EQ(parsed.header("Subject"), p.subject);
  EXPECT_EQ(text_of(parsed.json.at("to").at("display_name")), p.to.name);
  EXPECT_NE(parsed.header("List-Id").find("Caf\xC3\xA9 & Code"), std::string::npos) << parsed.header("List-Id");
  EXPECT_EQ(parsed.rfc2047("To"), p.to.name + " <ada@example.org>");
  EXPECT_LE(parsed.json.at("max_header_line").as_int64(), 78);
}

TEST(EmailMessagePython, EveryRenderedKindComposesIntoAStrictMessage) {
  REQUIRE_PYTHON();
  const auto templates = n::Templates::load(CONVENE_TEMPLATES_DIR);
  n::MessageContext context{"Zo\xC3\xAB\r\nBcc: x@y.z", 7, "Europe/Berlin", "https://convene.example.org",
                            "https://convene.example.org/preferences/u1.a.b", "https://convene.example.org/u/u1.c.d"};
  const boost::json::object meeting{
      {"meeting_id", 5}, {"uid", "m5@convene"}, {"community", "data-science"},
      {"community_name", "Data <Science>\r\nBcc: x@y.z"}, {"kind", "meeting"}, {"title", "Sync \xF0\x9F\x8E\x89\r\nBcc: x"},
      {"description", "Line 1\nLine 2 <b>"}, {"all_day", false}, {"start", "2027-07-12T14:00:00"},
      {"end", "2027-07-12T15:00:00"}, {"time_zone", "America/Chicago"}, {"start_utc", "2027-07-12T19:00:00Z"},
      {"end_utc", "2027-07-12T20:00:00Z"}, {"rrule", "FREQ=WEEKLY;BYDAY=MO"}, {"offset_seconds", 3600},
      {"join_url", "https://meet.example.org/a"}, {"member_id", 7}, {"role", "discussion_monitor"},
      {"starts_on", "2027-01-01"}, {"ends_on", "2027-12-31"}, {"year", 2027}, {"name", "Data Science"},
      {"previous_name", "Data"}, {"body", "b"}, {"posted_at", "2027-07-12T10:00:00Z"},
      {"cadence_seconds", 604800}, {"overdue_since", "2027-07-10T00:00:00Z"}, {"period_start", "2026-08-01T07:00:00Z"},
      {"period_end", "2027-08-01T07:00:00Z"}, {"into", boost::json::array{"a", "b"}}, {"from", boost::json::array{"c"}},
      {"communities", boost::json::array{boost::json::object{{"slug", "a"}, {"name", "A"}}}}};
  for (const auto kind : n::email_event_kinds()) {
    SCOPED_TRACE(std::string(kind));
    const auto rendered = templates.render(kind, meeting, context);
    auto p = sample();
    p.subject = rendered.subject;
    p.to.name = context.member_name;
    p.text = rendered.text;
    p.html = rendered.html;
    const Parsed parsed = parse_with_python(n::compose_email(p));
    ASSERT_EQ(parsed.status, 0) << parsed.problems();
    EXPECT_EQ(parsed.header("Subject"), rendered.subject);
    EXPECT_EQ(without_cr(parsed.part_field(1, "content")), rendered.text);
    EXPECT_EQ(parsed.header_names().count("Bcc"), 0u);
    EXPECT_LE(parsed.json.at("max_line").as_int64(), 78);
  }
}
