#pragma once
// UTF-8 well-formedness (RFC 3629), shared by everything that cleans user text for a wire
// format (ICS, email headers). Pure.
#include <cstddef>
#include <string_view>

namespace convene::calendar {

// The length of the well-formed UTF-8 sequence at `i` (lead byte >= 0x80) and its code
// point; 0 when malformed (overlong, surrogate, beyond U+10FFFF, truncated).
std::size_t utf8_sequence(std::string_view s, std::size_t i, char32_t& code_point);

}  // namespace convene::calendar
