#pragma once
// A webhook delivery as the Standard Webhooks specification shapes it (DESIGN §4): the JSON
// body {type, timestamp, data} and the signed headers. Pure.
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/object.hpp>

#include "calendar/clock.hpp"
#include "notifiers/send_result.hpp"

namespace convene::notifiers {

// {"type": type, "timestamp": RFC 3339 UTC of `occurred_at`, "data": data}, in that order.
std::string webhook_body(std::string_view type, calendar::Instant occurred_at, const boost::json::object& data);

// The POST for one attempt: the body for the event, and webhook-id (the notification id),
// webhook-timestamp (`now` in Unix seconds: each attempt is signed afresh, so receivers'
// freshness checks pass on retries), webhook-signature (one per secret, signing_secrets) and
// content-type headers. Throws std::invalid_argument for a malformed secret or none.
OutgoingWebhook build_webhook(std::string id, std::string url, std::string_view type, calendar::Instant occurred_at,
                              const boost::json::object& data, const std::vector<std::string>& secrets,
                              calendar::Instant now);
// The same for a body already made by webhook_body: every recipient of an event gets the same
// body, so a batch serialises it once and signs it per notification.
OutgoingWebhook sign_webhook(std::string id, std::string url, std::string body, const std::vector<std::string>& secrets,
                             calendar::Instant now);

}  // namespace convene::notifiers
