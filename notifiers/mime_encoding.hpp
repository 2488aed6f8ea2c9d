#pragma once
// The encodings a message is built from (RFC 5322, RFC 2045, RFC 2047): header fields folded
// at 78 characters, RFC 2047 encoded-words for text that is not plain printable ASCII, quoted-
// printable and base64 bodies. Everything returned uses CRLF line ends.
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace convene::notifiers {

constexpr std::size_t kHeaderLineLimit = 78;  // RFC 5322 §2.1.1 SHOULD (998 is the MUST)

// "Name: t1 t2\r\n t3\r\n": the tokens separated by one space, a line folded before a token
// that would pass kHeaderLineLimit. A single token longer than a line stays whole (the
// callers keep every token within 998).
std::string fold_header(std::string_view name, const std::vector<std::string>& tokens);

// `utf8` as "=?UTF-8?B?...?=" words of at most 75 characters, never splitting a UTF-8
// sequence and preferably right after a space; the first word is at most `first_width`
// characters (the room left on the first line of its header) when that holds at least one
// character.
std::vector<std::string> encoded_words(std::string_view utf8, std::size_t first_width);

// The tokens of an unstructured value (Subject): its words when it is printable ASCII, holds
// no "=?" and every word fits a line; otherwise encoded-words. `text` is one clean line
// (text.hpp single_line); `first_width` as for encoded_words.
std::vector<std::string> unstructured_tokens(std::string_view text, std::size_t first_width);

// A display name (RFC 5322 phrase) for one clean line: a quoted-string when it is short
// printable ASCII, else encoded-words. Empty for an empty name.
std::vector<std::string> phrase_tokens(std::string_view name, std::size_t first_width);

// Quoted-printable (RFC 2045 §6.7) of UTF-8 text with LF line ends (text.hpp multi_line):
// lines of at most 76 characters with soft breaks, '=' and non-ASCII bytes escaped, spaces
// before a line end escaped, and a '.' or "From " at the start of a line escaped so that
// dot-stuffing or mbox quoting on the way cannot change the text. Ends in CRLF.
std::string quoted_printable(std::string_view text);

// Base64 in lines of 76 characters, each ending in CRLF.
std::string base64_lines(std::string_view bytes);

}  // namespace convene::notifiers
