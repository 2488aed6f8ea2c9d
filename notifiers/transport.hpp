#pragma once
// The delivery transports' interfaces. Implementations: SMTP (notifiers/smtp_transport.hpp) and
// .eml files (notifiers/file_transport.hpp) for email; libcurl POSTs for webhooks
// (notifiers/webhook_transport.hpp).
//
// Threading: call send()/post() on the loop thread; `done` runs on the loop thread, exactly once
// per call, and never inside the call itself. Destroying a transport drops the callbacks of the
// sends still in flight (they are not called).
#include "notifiers/send_result.hpp"

#include <cstddef>
#include <functional>

namespace convene::notifiers {

using SendDone = std::function<void(SendResult)>;

class EmailTransport {
 public:
  virtual ~EmailTransport() = default;
  virtual void send(OutgoingEmail email, SendDone done) = 0;
  // Sends accepted and not yet finished (queued ones included).
  virtual std::size_t in_flight() const = 0;
};

class WebhookTransport {
 public:
  virtual ~WebhookTransport() = default;
  virtual void post(OutgoingWebhook webhook, SendDone done) = 0;
  virtual std::size_t in_flight() const = 0;
};

}  // namespace convene::notifiers
