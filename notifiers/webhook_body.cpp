#include "notifiers/webhook_body.hpp"

#include <boost/json/serialize.hpp>

#include "notifiers/webhook_signature.hpp"

namespace convene::notifiers {

std::string webhook_body(std::string_view type, calendar::Instant occurred_at, const boost::json::object& data) {
  boost::json::object body;
  body["type"] = type;
  body["timestamp"] = calendar::format_rfc3339_utc(occurred_at);
  body["data"] = data;
  return boost::json::serialize(body);
}

OutgoingWebhook build_webhook(std::string id, std::string url, std::string_view type, calendar::Instant occurred_at,
                              const boost::json::object& data, const std::vector<std::string>& secrets,
                              calendar::Instant now) {
  return sign_webhook(std::move(id), std::move(url), webhook_body(type, occurred_at, data), secrets, now);
}

OutgoingWebhook sign_webhook(std::string id, std::string url, std::string body, const std::vector<std::string>& secrets,
                             calendar::Instant now) {
  OutgoingWebhook out;
  out.body = std::move(body);
  const auto timestamp = std::chrono::floor<std::chrono::seconds>(now).time_since_epoch().count();
  out.headers = {{"content-type", "application/json"},
                 {"webhook-id", id},
                 {"webhook-timestamp", std::to_string(timestamp)},
                 {"webhook-signature", signature_header(secrets, id, timestamp, out.body)}};
  out.id = std::move(id);
  out.url = std::move(url);
  return out;
}

}  // namespace convene::notifiers
