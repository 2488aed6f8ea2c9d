#pragma once
// What a delivery attempt's outcome means for the notification (DESIGN §4): sent, try again
// later, or give up. Pure: "now" is a parameter.
#include <optional>
#include <string>

#include "calendar/clock.hpp"
#include "notifiers/send_result.hpp"

namespace convene::notifiers {

// The longest wait a Retry-After can ask for; longer ones are cut to it.
inline constexpr std::chrono::seconds kMaxRetryAfter = std::chrono::hours(24);

// The final SMTP reply for a recipient or message: 2xx sent; 4xx transient; 5xx permanent,
// except the relay's authentication replies (530, 534, 535, 538), which say the operator's
// settings are wrong, not the recipient: transient, so mail waits for the fix. A code outside
// 200..599 (a garbled or missing reply) is transient.
SendResult classify_smtp(int code, std::string text);

// An HTTP response to a webhook POST: only 2xx is sent; 408, 429 and 5xx are transient;
// 410 is permanent and marks the endpoint gone; other 4xx are permanent; anything else
// (1xx, 3xx: redirects are not followed) is transient. For a transient result, Retry-After
// (delta-seconds or an IMF-fixdate HTTP-date, relative to `now`) becomes retry_after, at most
// kMaxRetryAfter and at least zero; a malformed one is ignored.
SendResult classify_http(int status, const std::optional<std::string>& retry_after_header, std::string body_excerpt,
                         calendar::Instant now);

// No reply at all: connection refused or reset, DNS failure, TLS failure, timeout. Transient.
SendResult transport_failure(std::string detail);

// A destination the address policy refuses (address_policy.hpp). Permanent: trying again
// would reach the same address.
SendResult refused_destination(std::string detail);

// Retry-After as a wait from `now`: "120" or "Wed, 21 Oct 2026 07:28:00 GMT"; nullopt when
// malformed. Clamped to [0, kMaxRetryAfter].
std::optional<std::chrono::seconds> parse_retry_after(std::string_view value, calendar::Instant now);

}  // namespace convene::notifiers
