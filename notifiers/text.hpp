#pragma once
// User text made safe for messages: well-formed UTF-8 (invalid bytes become U+FFFD) without
// control characters, so nothing a member types can break a header, a body or a template.
#include <cstddef>
#include <string>
#include <string_view>

namespace convene::notifiers {

// One line: CR, LF, TAB and other white space become one space between words; other C0,
// DEL and C1 controls are removed; leading and trailing spaces are trimmed.
std::string single_line(std::string_view text);

// Several lines: CRLF and CR become LF, TAB stays, other C0, DEL and C1 controls are removed.
std::string multi_line(std::string_view text);

// At most `max_bytes` bytes of well-formed UTF-8, cut between characters, ending in "…" when
// something was cut.
std::string shorten(std::string_view utf8, std::size_t max_bytes);

// The length of the UTF-8 sequence starting with `lead` in well-formed text (1 to 4).
std::size_t utf8_sequence_length(unsigned char lead);

bool is_printable_ascii(std::string_view text);  // only 0x20..0x7E

}  // namespace convene::notifiers
