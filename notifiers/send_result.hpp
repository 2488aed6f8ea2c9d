#pragma once
// What a delivery attempt came to. Expected failures (a 451 from SMTP, a 410 from a webhook
// endpoint, a timeout) are values the caller must look at, not exceptions (DESIGN §4).
#include <chrono>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace convene::notifiers {

struct SendResult {
  enum class Kind {
    sent,       // accepted (SMTP 250 for the recipient, HTTP 2xx)
    transient,  // try again later: connection errors, timeouts, SMTP 4xx, HTTP 408/429/5xx
    permanent,  // do not retry: SMTP 5xx for the recipient, HTTP 4xx other than 408/429
  };
  Kind kind = Kind::transient;
  int code = 0;        // SMTP reply code or HTTP status; 0 when none came (connection failure)
  std::string detail;  // the server's reply text or the transport's error, at most ~500 bytes
  std::optional<std::chrono::seconds> retry_after;  // HTTP Retry-After, when given
  bool endpoint_gone = false;                        // HTTP 410: disable the webhook endpoint
  // SMTP 5xx to RCPT TO or to the message (DATA, the final dot): the recipient's address is
  // refused, and later emails to it are suppressed. Never set for a refusal of the relay
  // session or of MAIL FROM, which is about the sender and the relay, not the recipient.
  bool recipient_refused = false;

  bool ok() const { return kind == Kind::sent; }
};

// One email to one recipient: the SMTP envelope and the complete RFC 5322 message.
struct OutgoingEmail {
  std::string id;              // the notification id (also in Message-ID)
  std::string envelope_from;   // MAIL FROM
  std::string recipient;       // RCPT TO
  std::string message;         // CRLF line endings, dot-stuffing left to the transport
};

// One webhook POST.
struct OutgoingWebhook {
  std::string id;   // the notification id (also webhook-id)
  std::string url;
  std::string body;  // JSON
  std::vector<std::pair<std::string, std::string>> headers;  // webhook-id, -timestamp, -signature, content-type
};

}  // namespace convene::notifiers
