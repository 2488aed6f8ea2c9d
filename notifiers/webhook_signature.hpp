#pragma once
// Standard Webhooks signing (https://www.standardwebhooks.com, DESIGN §4). A secret is
// "whsec_" + base64 of the key; a delivery carries webhook-id, webhook-timestamp (Unix
// seconds) and webhook-signature: "v1,<base64 HMAC-SHA256 of id.timestamp.body>", several
// space-separated while a rotated-out secret still signs. Pure except generate_webhook_secret.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "calendar/clock.hpp"

namespace convene::notifiers {

// "whsec_" + base64 of 32 random bytes (OpenSSL RAND_bytes).
std::string generate_webhook_secret();

// "v1,<base64 HMAC-SHA256>" over "<id>.<timestamp>.<body>", keyed with the base64-decoded
// part of `secret` after "whsec_". Throws std::invalid_argument for a malformed secret.
std::string sign(std::string_view secret, std::string_view id, std::int64_t timestamp, std::string_view body);

// The webhook-signature value: one signature per secret, space-separated, in the given order.
// Throws std::invalid_argument when `secrets` is empty or one is malformed.
std::string signature_header(const std::vector<std::string>& secrets, std::string_view id, std::int64_t timestamp,
                             std::string_view body);

// The secrets that sign now: the current one, and the previous one while `now` is before the
// end of its overlap (webhook_endpoints.previous_secret_until).
std::vector<std::string> signing_secrets(const std::string& current, const std::optional<std::string>& previous,
                                         std::optional<calendar::Instant> previous_until, calendar::Instant now);

// What a receiver does: true when some "v1,..." entry of `header` matches the signature under
// `secret` (compared in constant time). A malformed secret or header is simply false.
bool verify_signature(std::string_view secret, std::string_view id, std::int64_t timestamp, std::string_view body,
                      std::string_view header);

}  // namespace convene::notifiers
