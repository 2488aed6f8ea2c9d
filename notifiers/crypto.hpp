#pragma once
// The two primitives the signed parts of notifications need, from OpenSSL.
#include <string>
#include <string_view>

namespace convene::notifiers {

// The 32-byte HMAC-SHA256 of `data` under `key`.
std::string hmac_sha256(std::string_view key, std::string_view data);

// Equal contents, in time that depends only on the lengths (CRYPTO_memcmp).
bool constant_time_equal(std::string_view a, std::string_view b);

// `n` bytes from OpenSSL's CSPRNG; throws std::runtime_error when it has none.
std::string random_bytes(std::size_t n);

}  // namespace convene::notifiers
