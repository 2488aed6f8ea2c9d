#include "notifiers/text.hpp"

#include "calendar/utf8.hpp"

#include <algorithm>

namespace convene::notifiers {
namespace {

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD

using calendar::utf8_sequence;

// Calls `ascii(c, i)` for each ASCII byte and `other(chars)` for each well-formed non-ASCII
// character that is not a C1 control, or with U+FFFD for each malformed byte.
template <typename Ascii, typename Other>
void walk(std::string_view text, Ascii ascii, Other other) {
  for (std::size_t i = 0; i < text.size();) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x80) {
      ascii(c, i);
      ++i;
      continue;
    }
    char32_t code_point = 0;
    const std::size_t len = utf8_sequence(text, i, code_point);
    if (len == 0) {
      other(kReplacement);
      ++i;
      continue;
    }
    if (code_point > 0x9F) other(text.substr(i, len));  // U+0080..U+009F: C1 controls
    i += len;
  }
}

}  // namespace

std::string single_line(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  bool pending_space = false;
  const auto append = [&](std::string_view chars) {
    if (pending_space && !out.empty()) out += ' ';
    pending_space = false;
    out.append(chars);
  };
  walk(
      text,
      [&](unsigned char c, std::size_t) {
        if (c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f')
          pending_space = true;
        else if (c >= 0x20 && c != 0x7F)
          append(std::string_view(reinterpret_cast<const char*>(&c), 1));
      },
      append);
  return out;
}

std::string multi_line(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  walk(
      text,
      [&](unsigned char c, std::size_t i) {
        if (c == '\r') {
          if (i + 1 >= text.size() || text[i + 1] != '\n') out += '\n';
        } else if (c == '\n' || c == '\t' || (c >= 0x20 && c != 0x7F)) {
          out += static_cast<char>(c);
        }
      },
      [&](std::string_view chars) { out.append(chars); });
  return out;
}

std::string shorten(std::string_view utf8, std::size_t max_bytes) {
  if (utf8.size() <= max_bytes) return std::string(utf8);
  constexpr std::string_view kEllipsis = "\xE2\x80\xA6";
  if (max_bytes < kEllipsis.size()) return {};
  std::size_t end = max_bytes - kEllipsis.size();
  while (end > 0 && (static_cast<unsigned char>(utf8[end]) & 0xC0) == 0x80) --end;  // a continuation byte
  return std::string(utf8.substr(0, end)) + std::string(kEllipsis);
}

std::size_t utf8_sequence_length(unsigned char lead) {
  if (lead < 0x80) return 1;
  if (lead >= 0xF0) return 4;
  if (lead >= 0xE0) return 3;
  return 2;
}

bool is_printable_ascii(std::string_view text) {
  return std::all_of(text.begin(), text.end(), [](char ch) { return ch >= 0x20 && ch < 0x7F; });
}

}  // namespace convene::notifiers
