#include "notifiers/webhook_transport.hpp"

#include "notifiers/classify.hpp"

#include <boost/asio/post.hpp>
#include <curl/header.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <chrono>
#include <deque>
#include <optional>
#include <stdexcept>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace convene::notifiers {
namespace {

namespace asio = boost::asio;

// What every call shares and must outlive the transfers (the transport may go first).
struct Shared {
  WebhookSettings settings;
  CurlSlistPtr resolve;
};

struct Call {
  std::shared_ptr<const Shared> shared;
  OutgoingWebhook webhook;
  std::string host;  // scheme://authority: the per-host queue it waits in
  SendDone done;
  CurlSlistPtr headers;
  std::string body;  // the response body, up to the limit
  bool truncated = false;
  char error[CURL_ERROR_SIZE] = {};
  int refused = 0;    // connections the address policy refused
  int permitted = 0;  // connections it let through
  std::string refused_address;
};

std::string address_text(const sockaddr* address) {
  char text[INET6_ADDRSTRLEN] = {};
  if (address->sa_family == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(address)->sin_addr, text, sizeof text);
  } else if (address->sa_family == AF_INET6) {
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(address)->sin6_addr, text, sizeof text);
  } else {
    return "family " + std::to_string(address->sa_family);
  }
  return text;
}

// CURLOPT_OPENSOCKETFUNCTION: the SSRF guard sees every address libcurl is about to connect to,
// after resolution (and after CURLOPT_RESOLVE), so a DNS answer cannot steer around it.
curl_socket_t open_socket(void* userp, curlsocktype purpose, curl_sockaddr* address) {
  auto* call = static_cast<Call*>(userp);
  bool allowed = false;
  if (purpose == CURLSOCKTYPE_IPCXN) {
    try {
      allowed = call->shared->settings.allowed(&address->addr);
    } catch (...) {
      allowed = false;
    }
  }
  if (!allowed) {
    ++call->refused;
    if (call->refused_address.empty()) call->refused_address = address_text(&address->addr);
    return CURL_SOCKET_BAD;
  }
  ++call->permitted;
  return ::socket(address->family, address->socktype | SOCK_CLOEXEC, address->protocol);
}

// Keeps the first max_response_bytes of the body; past that, stops the transfer (the status is
// already known, and the result does not count it as a failure).
std::size_t on_body(char* data, std::size_t size, std::size_t count, void* userp) {
  auto* call = static_cast<Call*>(userp);
  const std::size_t length = size * count;
  const std::size_t limit = call->shared->settings.max_response_bytes;
  const std::size_t room = limit - std::min(call->body.size(), limit);
  if (length > room) {
    call->body.append(data, room);
    call->truncated = true;
    return 0;  // CURLE_WRITE_ERROR: stop reading
  }
  call->body.append(data, length);
  return length;
}

bool header_token(std::string_view name) {
  if (name.empty()) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
  });
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? char(c + 32) : c; };
           return lower(x) == lower(y);
         });
}

std::optional<std::string> response_header(CURL* easy, const char* name) {
  curl_header* header = nullptr;
  if (curl_easy_header(easy, name, 0, CURLH_HEADER, -1, &header) != CURLHE_OK || !header || !header->value)
    return std::nullopt;
  return std::string(header->value);
}

SendResult webhook_result(CURLcode code, CURL* easy, const Call& call) {
  long status = 0;
  curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
  // Once a final status arrived the receiver has decided; what happens to the body after that
  // (our own stop at the limit, a slow or broken tail) does not change it.
  if (status >= 200) {
    std::string excerpt = call.body;
    if (status >= 300 && status < 400) {
      excerpt = "redirect not followed";
      if (auto location = response_header(easy, "Location")) excerpt += " (Location: " + *location + ")";
    }
    const auto now = std::chrono::time_point_cast<std::chrono::microseconds>(std::chrono::system_clock::now());
    // A success has no use for Retry-After, and looking it up walks every response header.
    const bool success = status <= 299;
    return classify_http(static_cast<int>(status), success ? std::nullopt : response_header(easy, "Retry-After"),
                         std::move(excerpt), now);
  }
  if (call.refused > 0 && call.permitted == 0) return refused_destination("address not allowed: " + call.refused_address);
  if (code == CURLE_UNSUPPORTED_PROTOCOL || code == CURLE_URL_MALFORMAT) {
    SendResult result;
    result.kind = SendResult::Kind::permanent;
    result.detail = describe_curl_error(code, call.error);
    return result;
  }
  return transport_failure(describe_curl_error(code, call.error));
}

class CurlWebhookTransport final : public WebhookTransport {
 public:
  CurlWebhookTransport(CurlMulti& multi, std::shared_ptr<const Shared> shared)
      : multi_(multi), state_(std::make_shared<State>()) {
    state_->shared = std::move(shared);
  }

  void post(OutgoingWebhook webhook, SendDone done) override {
    auto call = std::make_shared<Call>();
    call->shared = state_->shared;
    call->webhook = std::move(webhook);
    call->done = std::move(done);

    bool has_content_type = false;
    for (const auto& [name, value] : call->webhook.headers) {
      if (!header_token(name) || value.find_first_of(std::string_view("\r\n\0", 3)) != std::string::npos) {
        SendResult refused;
        refused.kind = SendResult::Kind::permanent;
        refused.detail = clip_detail("invalid header: " + name);
        fail_later(std::move(call), std::move(refused));
        return;
      }
      has_content_type = has_content_type || iequals(name, "Content-Type");
      append(call->headers, value.empty() ? name + ";" : name + ": " + value);
    }
    if (!has_content_type) append(call->headers, "Content-Type: application/json");
    append(call->headers, "Expect:");  // no 100-continue round trip

    ++state_->alive;
    call->host = webhook_receiver(call->webhook.url);
    Host& host = state_->hosts[call->host];
    host.waiting.push_back(std::move(call));
    pump(state_, multi_, host);
  }

  std::size_t in_flight() const override { return state_->alive; }

 private:
  // Calls wait here, not in libcurl, until their host has a free connection: libcurl's own
  // queue would start their whole-transfer timeout while they wait (a slow receiver would time
  // out calls that never started), and walks its pending list on every completion.
  struct Host {
    std::size_t active = 0;
    std::deque<std::shared_ptr<Call>> waiting;
  };
  struct State {
    std::shared_ptr<const Shared> shared;
    std::unordered_map<std::string, Host> hosts;
    std::vector<CurlEasyPtr> idle;  // configured handles, reused: setting one up costs more than a request
    std::size_t alive = 0;          // calls accepted and not yet answered
  };

  static void pump(const std::shared_ptr<State>& state, CurlMulti& multi, Host& host) {
    const std::size_t limit = std::max<std::size_t>(1, state->shared->settings.max_host_connections);
    while (host.active < limit && !host.waiting.empty()) {
      auto call = std::move(host.waiting.front());
      host.waiting.pop_front();
      ++host.active;
      start(state, multi, std::move(call));
    }
  }

  static CurlEasyPtr configured_easy(State& state) {
    if (!state.idle.empty()) {
      CurlEasyPtr easy = std::move(state.idle.back());
      state.idle.pop_back();
      return easy;
    }
    const WebhookSettings& settings = state.shared->settings;
    CurlEasyPtr easy = make_curl_easy();
    CURL* e = easy.get();
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(e, CURLOPT_PROXY, "");  // never a proxy from the environment: the guard checks the real peer
    curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, &open_socket);
    if (state.shared->resolve) curl_easy_setopt(e, CURLOPT_RESOLVE, state.shared->resolve.get());
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
    if (!settings.ca_file.empty()) curl_easy_setopt(e, CURLOPT_CAINFO, settings.ca_file.c_str());
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(settings.connect_timeout.count()));
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, static_cast<long>(settings.timeout.count()));
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(e, CURLOPT_USERAGENT, settings.user_agent.c_str());
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, &on_body);
    return easy;
  }

  static void start(const std::shared_ptr<State>& state, CurlMulti& multi, std::shared_ptr<Call> call) {
    CurlEasyPtr easy = configured_easy(*state);
    CURL* e = easy.get();
    curl_easy_setopt(e, CURLOPT_URL, call->webhook.url.c_str());
    curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, call.get());
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, call->webhook.body.data());
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(call->webhook.body.size()));
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, call->headers.get());
    curl_easy_setopt(e, CURLOPT_WRITEDATA, call.get());
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, call->error);

    CurlMulti::Done finished = [weak = std::weak_ptr<State>(state), &multi, call](CURLcode code, CurlEasyPtr handle) {
      SendResult result = webhook_result(code, handle.get(), *call);
      auto state = weak.lock();
      if (!state) return;  // the transport is gone: nobody waits for the result
      // Nothing of this call may stay in a handle that outlives it.
      CURL* h = handle.get();
      curl_easy_setopt(h, CURLOPT_OPENSOCKETDATA, static_cast<void*>(nullptr));
      curl_easy_setopt(h, CURLOPT_WRITEDATA, static_cast<void*>(nullptr));
      curl_easy_setopt(h, CURLOPT_HTTPHEADER, static_cast<curl_slist*>(nullptr));
      curl_easy_setopt(h, CURLOPT_ERRORBUFFER, static_cast<char*>(nullptr));
      curl_easy_setopt(h, CURLOPT_POSTFIELDS, static_cast<char*>(nullptr));
      if (state->idle.size() < kMaxIdleHandles) state->idle.push_back(std::move(handle));
      auto found = state->hosts.find(call->host);
      if (found != state->hosts.end()) {
        --found->second.active;
        pump(state, multi, found->second);
        if (found->second.active == 0 && found->second.waiting.empty()) state->hosts.erase(found);
      }
      --state->alive;
      SendDone done = std::move(call->done);
      if (done) done(std::move(result));
    };
    multi.start(std::move(easy), std::move(finished));
  }

  void fail_later(std::shared_ptr<Call> call, SendResult result) {
    ++state_->alive;
    asio::post(multi_.executor(),
               [weak = std::weak_ptr<State>(state_), call = std::move(call), result = std::move(result)]() mutable {
                 auto state = weak.lock();
                 if (!state) return;
                 --state->alive;
                 SendDone done = std::move(call->done);
                 if (done) done(std::move(result));
               });
  }

  static constexpr std::size_t kMaxIdleHandles = 64;

  CurlMulti& multi_;
  std::shared_ptr<State> state_;  // expires with the transport: late completions then do nothing
};

}  // namespace

// URLs were checked when the endpoint was registered; anything odd just makes a key of its own.
std::string webhook_receiver(std::string_view url) {
  const auto scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) return std::string(url);
  const auto authority_end = url.find_first_of("/?#", scheme_end + 3);
  return std::string(url.substr(0, authority_end));
}

std::unique_ptr<WebhookTransport> make_webhook_transport(CurlMulti& multi, WebhookSettings settings) {
  if (!settings.allowed) throw std::invalid_argument("webhook transport: an address policy is required");
  auto shared = std::make_shared<Shared>();
  for (const auto& entry : settings.resolve) append(shared->resolve, entry);
  shared->settings = std::move(settings);
  return std::make_unique<CurlWebhookTransport>(multi, std::move(shared));
}

}  // namespace convene::notifiers
