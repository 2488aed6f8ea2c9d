#pragma once
// Email over SMTP to the configured relay through libcurl (smtp:// with optional or required
// STARTTLS, smtps://), optional AUTH, connections reused across messages.
//
// libcurl's multi interface on Asio loops of the transport's own: one thread per connection,
// because libcurl 7.88 waits for the reply to a message's final dot (and to QUIT) blocking, which
// must neither stall the caller's loop nor make the other connections wait their turn. send()
// and the callbacks stay on the caller's loop.
#include "notifiers/transport.hpp"

#include <boost/asio/any_io_executor.hpp>

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

namespace convene::notifiers {

struct SmtpSettings {
  std::string url;           // smtp://relay.example.org:587 or smtps://relay.example.org:465 (a path sets the EHLO name)
  bool require_tls = false;  // smtp://: fail unless STARTTLS succeeds (otherwise STARTTLS when offered); implied by `user`
  std::string user;          // empty: no AUTH
  std::string password;      // never logged nor put in a result
  std::chrono::milliseconds connect_timeout{10'000};
  std::chrono::milliseconds timeout{60'000};  // a whole message, connecting included
  std::size_t max_connections = 4;            // connections (and threads) to the relay = messages in flight; more queue
  std::string ca_file;                        // CA bundle for the relay's certificate; empty: the system's
};

// Results: the relay's reply to the envelope (MAIL FROM, RCPT TO) or the message (DATA) is
// classified by notifiers/classify.hpp (2xx sent, 4xx transient, 5xx permanent, relay
// authentication codes transient); any refusal of the session itself (greeting, EHLO, STARTTLS,
// AUTH) is transient whatever its code, so a relay or settings problem delays mail instead of
// killing it; connection errors and timeouts are transient. An envelope address with CR, LF,
// NUL, '<' or '>' is permanent without a connection. A permanent refusal of RCPT TO or of the
// message (DATA, the final dot) sets recipient_refused; one of MAIL FROM or of the session never
// does.
// Throws std::invalid_argument for a URL that is not smtp:// or smtps://. Destroying the
// transport closes its connections politely (QUIT), waiting at most about `timeout` each.
std::unique_ptr<EmailTransport> make_smtp_transport(boost::asio::any_io_executor loop, SmtpSettings settings);

}  // namespace convene::notifiers
