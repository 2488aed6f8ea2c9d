#include "notifiers/classify.hpp"

#include <algorithm>
#include <array>
#include <charconv>

#include "notifiers/text.hpp"

namespace convene::notifiers {
namespace {

using namespace std::chrono;

constexpr std::size_t kMaxDetailBytes = 500;

// A reply or body fit for logs and the admin view: one line, no control characters, short.
std::string detail_text(std::string_view prefix, std::string_view text) {
  std::string clean = single_line(text);
  return shorten(clean.empty() ? std::string(prefix) : std::string(prefix) + ": " + clean, kMaxDetailBytes);
}

SendResult result(SendResult::Kind kind, int code, std::string detail) {
  SendResult r;
  r.kind = kind;
  r.code = code;
  r.detail = std::move(detail);
  return r;
}

// Digits only (from_chars alone would take a '-').
std::optional<int> number(std::string_view s) {
  if (s.empty() || s.find_first_not_of("0123456789") != std::string_view::npos) return std::nullopt;
  int n = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return n;
}

// IMF-fixdate (RFC 9110 §5.6.7): "Sun, 06 Nov 1994 08:49:37 GMT".
std::optional<sys_seconds> parse_http_date(std::string_view s) {
  static constexpr std::array<std::string_view, 7> weekdays{"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr std::array<std::string_view, 12> months{"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                           "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  if (s.size() != 29 || s.substr(3, 2) != ", " || s[7] != ' ' || s[11] != ' ' || s[16] != ' ' || s[19] != ':' ||
      s[22] != ':' || s.substr(25) != " GMT")
    return std::nullopt;
  const auto two = [&](std::size_t at) { return number(s.substr(at, 2)); };
  const auto d = two(5), y = number(s.substr(12, 4)), h = two(17), mi = two(20), se = two(23);
  unsigned month_number = 0;
  for (unsigned i = 0; i < months.size(); ++i)
    if (s.substr(8, 3) == months[i]) month_number = i + 1;
  if (!d || !y || !h || !mi || !se || month_number == 0 || *h > 23 || *mi > 59 || *se > 60) return std::nullopt;
  const year_month_day date{year{*y}, month{month_number}, day{static_cast<unsigned>(*d)}};
  if (!date.ok()) return std::nullopt;
  // The weekday must agree with the date, or the value is not what it claims to be.
  if (s.substr(0, 3) != weekdays[weekday{sys_days{date}}.c_encoding()]) return std::nullopt;
  return sys_days{date} + hours{*h} + minutes{*mi} + seconds{*se};
}

}  // namespace

std::optional<seconds> parse_retry_after(std::string_view value, calendar::Instant now) {
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
  if (value.empty()) return std::nullopt;
  if (value.find_first_not_of("0123456789") == std::string_view::npos) {
    std::uint64_t n = 0;
    const auto parsed = std::from_chars(value.data(), value.data() + value.size(), n);
    // Any number of digits: a huge one is simply the longest wait.
    if (parsed.ec == std::errc::result_out_of_range || n > static_cast<std::uint64_t>(kMaxRetryAfter.count()))
      return kMaxRetryAfter;
    return seconds{static_cast<seconds::rep>(n)};
  }
  const auto at = parse_http_date(value);
  if (!at) return std::nullopt;
  const auto wait = duration_cast<seconds>(*at - now);
  return std::clamp(wait, seconds{0}, kMaxRetryAfter);
}

SendResult classify_smtp(int code, std::string text) {
  std::string detail = detail_text("SMTP " + std::to_string(code), text);
  if (code >= 200 && code <= 299) return result(SendResult::Kind::sent, code, std::move(detail));
  if (code >= 500 && code <= 599 && code != 530 && code != 534 && code != 535 && code != 538)
    return result(SendResult::Kind::permanent, code, std::move(detail));
  return result(SendResult::Kind::transient, code, std::move(detail));
}

SendResult classify_http(int status, const std::optional<std::string>& retry_after_header, std::string body_excerpt,
                         calendar::Instant now) {
  std::string detail = detail_text("HTTP " + std::to_string(status), body_excerpt);
  if (status >= 200 && status <= 299) return result(SendResult::Kind::sent, status, std::move(detail));
  if (status == 410) {
    SendResult r = result(SendResult::Kind::permanent, status, std::move(detail));
    r.endpoint_gone = true;
    return r;
  }
  if (status >= 400 && status <= 499 && status != 408 && status != 429)
    return result(SendResult::Kind::permanent, status, std::move(detail));
  SendResult r = result(SendResult::Kind::transient, status, std::move(detail));
  if (retry_after_header) r.retry_after = parse_retry_after(*retry_after_header, now);
  return r;
}

SendResult transport_failure(std::string detail) {
  return result(SendResult::Kind::transient, 0, detail_text("transport", detail));
}

SendResult refused_destination(std::string detail) {
  return result(SendResult::Kind::permanent, 0, detail_text("refused destination", detail));
}

}  // namespace convene::notifiers
