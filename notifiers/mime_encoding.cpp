#include "notifiers/mime_encoding.hpp"

#include <algorithm>

#include "notifiers/base64.hpp"
#include "notifiers/text.hpp"

namespace convene::notifiers {
namespace {

constexpr std::string_view kWordPrefix = "=?UTF-8?B?", kWordSuffix = "?=";
constexpr std::size_t kMaxEncodedWord = 75;  // RFC 2047 §2
constexpr std::size_t kQpLine = 76;          // RFC 2045 §6.7 (5)
constexpr std::size_t kQuotedNameMax = 60;   // longer names become encoded-words, which fold

// How many bytes of text fit an encoded-word of at most `width` characters.
std::size_t bytes_for_width(std::size_t width) {
  const std::size_t overhead = kWordPrefix.size() + kWordSuffix.size();
  return width <= overhead ? 0 : (width - overhead) / 4 * 3;
}

std::string encoded_word(std::string_view bytes) {
  return std::string(kWordPrefix) + base64_encode(bytes) + std::string(kWordSuffix);
}

void hex_escape(std::string& out, unsigned char c) {
  static constexpr char hex[] = "0123456789ABCDEF";
  out += '=';
  out += hex[c >> 4];
  out += hex[c & 0x0F];
}

// One line of text (no LF) as quoted-printable physical lines.
void qp_line(std::string& out, std::string_view line) {
  std::size_t width = 0;  // characters on the current physical line
  for (std::size_t i = 0; i < line.size(); ++i) {
    const auto c = static_cast<unsigned char>(line[i]);
    const bool last = i + 1 == line.size();
    const bool at_start = width == 0;
    const bool escape = c == '=' || c > 0x7E || (c < 0x20 && c != '\t') ||
                        ((c == ' ' || c == '\t') && last) || (at_start && c == '.') ||
                        (at_start && c == 'F' && line.substr(i).starts_with("From "));
    const std::size_t size = escape ? 3 : 1;
    // Room for this character and, unless it ends the line, a soft break '='.
    if (width + size + (last ? 0 : 1) > kQpLine) {
      out += "=\r\n";
      width = 0;
      --i;  // the character is looked at again at the start of the next line
      continue;
    }
    if (escape)
      hex_escape(out, c);
    else
      out += static_cast<char>(c);
    width += size;
  }
  out += "\r\n";
}

}  // namespace

std::string fold_header(std::string_view name, const std::vector<std::string>& tokens) {
  std::string out(name);
  out += ':';
  std::size_t line_length = out.size();
  for (const auto& token : tokens) {
    if (line_length + 1 + token.size() > kHeaderLineLimit && line_length > name.size() + 1) {
      out += "\r\n";
      line_length = 0;
    }
    out += ' ';
    out += token;
    line_length += 1 + token.size();
  }
  return out + "\r\n";
}

std::vector<std::string> encoded_words(std::string_view utf8, std::size_t first_width) {
  std::vector<std::string> words;
  std::size_t budget = bytes_for_width(std::min(first_width, kMaxEncodedWord));
  if (budget < 4) budget = bytes_for_width(kMaxEncodedWord);  // the first word goes on its own line
  std::size_t start = 0;
  while (start < utf8.size()) {
    std::size_t end = start, after_space = start;
    while (end < utf8.size()) {
      const std::size_t next = end + utf8_sequence_length(static_cast<unsigned char>(utf8[end]));
      if (next - start > budget) break;
      if (utf8[end] == ' ') after_space = next;
      end = next;
    }
    end = std::min(end, utf8.size());
    // Split after a space when there is one: a decoder that wrongly keeps the white space
    // between encoded-words (RFC 2047 §6.2 says to drop it) then doubles a space instead of
    // breaking a word.
    if (end < utf8.size() && after_space > start) end = after_space;
    words.push_back(encoded_word(utf8.substr(start, end - start)));
    start = end;
    budget = bytes_for_width(kMaxEncodedWord);
  }
  return words;
}

std::vector<std::string> unstructured_tokens(std::string_view text, std::size_t first_width) {
  std::vector<std::string> words;
  bool plain = is_printable_ascii(text) && text.find("=?") == std::string_view::npos;
  for (std::size_t start = 0; plain && start < text.size();) {
    const std::size_t space = std::min(text.find(' ', start), text.size());
    const std::string_view word = text.substr(start, space - start);
    // The first word shares its line with the header name.
    if (word.size() > (words.empty() ? first_width : kHeaderLineLimit - 1)) plain = false;
    if (!word.empty()) words.emplace_back(word);
    start = space + 1;
  }
  if (plain) return words;
  return encoded_words(text, first_width);
}

std::vector<std::string> phrase_tokens(std::string_view name, std::size_t first_width) {
  if (name.empty()) return {};
  if (is_printable_ascii(name) && name.size() <= kQuotedNameMax && name.find("=?") == std::string_view::npos) {
    std::string quoted = "\"";
    for (char c : name) {
      if (c == '"' || c == '\\') quoted += '\\';
      quoted += c;
    }
    return {quoted + '"'};
  }
  return encoded_words(name, first_width);
}

std::string quoted_printable(std::string_view text) {
  std::string out;
  out.reserve(text.size() + text.size() / 8);
  std::size_t start = 0;
  for (;;) {
    const std::size_t newline = text.find('\n', start);
    qp_line(out, text.substr(start, newline == std::string_view::npos ? std::string_view::npos : newline - start));
    if (newline == std::string_view::npos) break;
    start = newline + 1;
  }
  return out;
}

std::string base64_lines(std::string_view bytes) {
  const std::string encoded = base64_encode(bytes);
  std::string out;
  out.reserve(encoded.size() + encoded.size() / 38 + 2);
  for (std::size_t i = 0; i < encoded.size(); i += 76) out.append(encoded, i, 76).append("\r\n");
  return out;
}

}  // namespace convene::notifiers
