#pragma once
// Webhook POSTs through libcurl on the loop: JSON body and the caller's headers, HTTPS verified,
// redirects not followed, short timeouts, bounded response reading, and an SSRF guard on the
// address actually connected to (so a name that later resolves elsewhere cannot slip past).
#include "notifiers/curl_multi.hpp"
#include "notifiers/transport.hpp"

#include <sys/socket.h>

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace convene::notifiers {

struct WebhookSettings {
  // Whether a connection to this resolved address may be opened (notifiers/address_policy.hpp
  // has the real rules). Required: a transport without one refuses to be built.
  std::function<bool(const sockaddr*)> allowed;
  std::chrono::milliseconds connect_timeout{5'000};
  std::chrono::milliseconds timeout{10'000};  // the whole POST, connecting included
  std::size_t max_response_bytes = 4096;      // read at most this much of a response body, then stop
  std::size_t max_host_connections = 8;       // transfers at once per scheme://host:port; more wait their turn
  std::string user_agent = "convene-webhooks";
  std::string ca_file;               // CA bundle; empty: the system's
  std::vector<std::string> resolve;  // CURLOPT_RESOLVE entries ("host:port:address"), for tests
};

// Results (notifiers/classify.hpp decides from the status): 2xx sent; 408, 429 and 5xx transient
// with Retry-After in retry_after; 410 permanent with endpoint_gone; other 4xx permanent; a
// redirect is not followed (and, as classify_http says, transient). Without a response:
// connection errors, TLS failures and timeouts transient; a refused address, a URL that is not
// http(s) and a header with CR/LF permanent. `detail` holds the status and the start of the body.
// The receiver a URL is delivered to: scheme://authority. Calls to one receiver may share
// connections; the transport's per-host limit and the delivery worker's shares count by it.
std::string webhook_receiver(std::string_view url);

std::unique_ptr<WebhookTransport> make_webhook_transport(CurlMulti& multi, WebhookSettings settings);

}  // namespace convene::notifiers
