#pragma once
// Base64 (RFC 4648 §4) and base64url without padding (§5), through OpenSSL's encoder.
// Decoding is strict: wrong alphabet, bad length, stray padding or non-zero trailing bits are
// refused, so one byte string has exactly one encoding (tokens cannot be varied).
#include <optional>
#include <string>
#include <string_view>

namespace convene::notifiers {

std::string base64_encode(std::string_view bytes);
std::optional<std::string> base64_decode(std::string_view text);

std::string base64url_encode(std::string_view bytes);                // no '=' padding
std::optional<std::string> base64url_decode(std::string_view text);  // no '=' padding accepted

}  // namespace convene::notifiers
