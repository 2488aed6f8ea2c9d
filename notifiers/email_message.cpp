#include "notifiers/email_message.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <stdexcept>
#include <vector>

#include "notifiers/mime_encoding.hpp"
#include "notifiers/text.hpp"

namespace convene::notifiers {
namespace {

// Boundaries begin with "=_": quoted-printable writes '=' only before two hex digits or a line
// end, and base64 has no '_', so no encoded body can hold a boundary line.
constexpr std::string_view kMixedBoundary = "=_convene_mixed", kAlternativeBoundary = "=_convene_alternative";
constexpr std::size_t kMaxSubjectBytes = 250, kMaxNameBytes = 200;

bool is_atext(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         std::string_view("!#$%&'*+-/=?^_`{|}~").find(c) != std::string_view::npos;
}

bool is_dot_atom(std::string_view s) {
  if (s.empty() || s.front() == '.' || s.back() == '.' || s.find("..") != std::string_view::npos) return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return c == '.' || is_atext(c); });
}

bool is_host_name(std::string_view s) {
  if (s.empty() || s.size() > 253 || s.front() == '.' || s.back() == '.' || s.find("..") != std::string_view::npos)
    return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.';
  });
}

bool is_slug(std::string_view s) {
  return !s.empty() && s.size() <= 64 &&
         std::all_of(s.begin(), s.end(), [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'; });
}

// A URL that can sit between angle brackets in a header.
bool is_header_url(std::string_view url) {
  return url.size() <= 900 && is_printable_ascii(url) && url.find_first_of(" <>\"") == std::string_view::npos;
}

std::size_t room_after(std::string_view header_name) { return kHeaderLineLimit - header_name.size() - 2; }

std::string mailbox_header(std::string_view name, const Mailbox& box) {
  if (!is_plain_address(box.address))
    throw std::invalid_argument(std::string(name) + ": not a plain email address");
  auto tokens = phrase_tokens(shorten(single_line(box.name), kMaxNameBytes), room_after(name));
  tokens.push_back(tokens.empty() ? box.address : "<" + box.address + ">");
  return fold_header(name, tokens);
}

std::string subject_header(std::string_view subject) {
  std::string clean = shorten(single_line(subject), kMaxSubjectBytes);
  if (clean.empty()) clean = "(no subject)";
  return fold_header("Subject", unstructured_tokens(clean, room_after("Subject")));
}

std::string message_id_header(const EmailParts& p) {
  if (p.notification_id.empty() || p.notification_id.size() > 64 ||
      !std::all_of(p.notification_id.begin(), p.notification_id.end(),
                   [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '-'; }))
    throw std::invalid_argument("Message-ID: the notification id must be letters, digits and '-'");
  if (!is_host_name(p.message_id_domain)) throw std::invalid_argument("Message-ID: not a host name");
  return "Message-ID: <" + p.notification_id + "@" + p.message_id_domain + ">\r\n";
}

std::string list_id_header(const ListIdentity& list) {
  if (!is_slug(list.slug))
    throw std::invalid_argument("List-Id: the slug must be [a-z0-9-]");
  if (!is_host_name(list.domain)) throw std::invalid_argument("List-Id: not a host name");
  auto tokens = phrase_tokens(shorten(single_line(list.name), kMaxNameBytes), room_after("List-Id"));
  tokens.push_back("<" + list.slug + "." + list.domain + ">");
  return fold_header("List-Id", tokens);
}

std::string unsubscribe_headers(const EmailParts& p) {
  std::vector<std::string> tokens;
  const bool https = p.unsubscribe_url.starts_with("https://");
  if (!p.unsubscribe_url.empty()) {
    if (!(https || p.unsubscribe_url.starts_with("http://")) || !is_header_url(p.unsubscribe_url))
      throw std::invalid_argument("List-Unsubscribe: the URL must be http(s) without spaces or angle brackets");
    tokens.push_back("<" + p.unsubscribe_url + ">");
  }
  if (!p.unsubscribe_mailto.empty()) {
    if (!p.unsubscribe_mailto.starts_with("mailto:") || !is_header_url(p.unsubscribe_mailto))
      throw std::invalid_argument("List-Unsubscribe: the mailto must be mailto: without spaces or angle brackets");
    if (!tokens.empty()) tokens.back() += ',';
    tokens.push_back("<" + p.unsubscribe_mailto + ">");
  }
  if (tokens.empty()) return {};
  std::string out = fold_header("List-Unsubscribe", tokens);
  // RFC 8058 one-click needs an HTTPS URI; receivers POST "List-Unsubscribe=One-Click" to it.
  if (https) out += "List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n";
  return out;
}

std::string text_part(std::string_view subtype, std::string_view body) {
  return "Content-Type: text/" + std::string(subtype) +
         "; charset=UTF-8\r\n"
         "Content-Transfer-Encoding: quoted-printable\r\n"
         "\r\n" +
         quoted_printable(multi_line(body));
}

std::string calendar_part(std::string_view ics) {
  return "Content-Type: text/calendar; charset=UTF-8; method=PUBLISH; name=\"event.ics\"\r\n"
         "Content-Disposition: attachment; filename=\"event.ics\"\r\n"
         "Content-Transfer-Encoding: base64\r\n"
         "\r\n" +
         base64_lines(ics);
}

// A multipart entity: its Content-Type header, a blank line, the parts, the close delimiter.
std::string multipart(std::string_view subtype, std::string_view boundary, const std::vector<std::string>& parts) {
  std::string out = "Content-Type: multipart/" + std::string(subtype) + ";\r\n boundary=\"" + std::string(boundary) +
                    "\"\r\n\r\n";
  for (const auto& part : parts) out += "--" + std::string(boundary) + "\r\n" + part;
  return out + "--" + std::string(boundary) + "--\r\n";
}

}  // namespace

bool is_plain_address(std::string_view address) {
  const std::size_t at = address.rfind('@');
  return address.size() <= 254 && at != std::string_view::npos && is_dot_atom(address.substr(0, at)) &&
         is_host_name(address.substr(at + 1));
}

std::string rfc5322_date(calendar::Instant t) {
  using namespace std::chrono;
  static constexpr std::array<std::string_view, 7> weekdays{"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr std::array<std::string_view, 12> months{"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                           "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  const auto day_point = floor<days>(t);
  const year_month_day date{day_point};
  const hh_mm_ss clock{floor<seconds>(t - day_point)};
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%s, %02u %s %04d %02ld:%02ld:%02ld +0000",
                weekdays[weekday{day_point}.c_encoding()].data(), static_cast<unsigned>(date.day()),
                months[static_cast<unsigned>(date.month()) - 1].data(), static_cast<int>(date.year()),
                static_cast<long>(clock.hours().count()), static_cast<long>(clock.minutes().count()),
                static_cast<long>(clock.seconds().count()));
  return buffer;
}

std::string compose_email(const EmailParts& p) {
  std::string message;
  message += mailbox_header("From", p.from);
  message += mailbox_header("To", p.to);
  message += subject_header(p.subject);
  message += "Date: " + rfc5322_date(p.date) + "\r\n";
  message += message_id_header(p);
  message += "MIME-Version: 1.0\r\n";
  message += "Auto-Submitted: auto-generated\r\n";
  if (p.list) message += list_id_header(*p.list);
  message += unsubscribe_headers(p);
  std::string alternative =
      multipart("alternative", kAlternativeBoundary, {text_part("plain", p.text), text_part("html", p.html)});
  if (p.ics)
    message += multipart("mixed", kMixedBoundary, {std::move(alternative), calendar_part(*p.ics)});
  else
    message += alternative;
  return message;
}

std::string unsubscribe_mailto(std::string_view address, std::string_view unsubscribe_url) {
  if (address.empty() || unsubscribe_url.empty()) return {};
  return "mailto:" + std::string(address) + "?subject=unsubscribe%20" +
         std::string(unsubscribe_url.substr(unsubscribe_url.rfind('/') + 1));
}

}  // namespace convene::notifiers
