#include "daemon/http/server.hpp"

#include "base/log.hpp"
#include "base/offload.hpp"
#include "daemon/http/body_budget.hpp"
#include "daemon/http/problem.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/http/dynamic_body.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/span_body.hpp>
#include <boost/beast/http/write.hpp>

#include <atomic>
#include <functional>
#include <list>
#include <utility>

namespace convene::daemon::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using tcp = asio::ip::tcp;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

namespace {

// Lingering close: how long in all, and how long without a byte.
constexpr auto kLingeringTime = std::chrono::seconds(10);
constexpr auto kLingeringTimeout = std::chrono::seconds(2);
constexpr std::size_t kMaxLingering = 1024;

// One open connection; the coroutine serving it owns it, the lists below only point at it.
struct Connection {
  explicit Connection(tcp::socket socket) : stream(std::move(socket)) {}
  beast::tcp_stream stream;
  asio::ip::address peer;
  enum class State { idle, reading, answering } state = State::idle;
  std::list<Connection*>::iterator idle_position;   // valid while state == idle
  std::list<Connection*>::iterator all_position;
  bool closed_by_server = false;
  // Request bytes may still be on their way (a refused body, a broken header): close slowly.
  bool unread_input = false;

  void close() {
    closed_by_server = true;
    beast::error_code ignored;
    stream.socket().close(ignored);
  }
};

}  // namespace

using HeadParser = bhttp::request_parser<bhttp::empty_body>;

// What the header block of a request decided.
struct Screened {
  Request request;
  std::string client_key;  // rate_key of the client's address: its buckets and body budget
  std::optional<RouteMatch> match;
  std::optional<Response> refusal;  // answered without reading the body
  bool has_body = false;
  unsigned version = 11;
  bool keep_alive = false;
  bool head = false;  // HEAD: answers carry no body
};

// What the connection coroutines share. Each holds it (`self`), so it lives until the last one
// ends, even when the Server is destroyed first on a loop that keeps running.
struct Server::Shared : std::enable_shared_from_this<Server::Shared> {
  Shared(asio::io_context& loop, ServerOptions options, Router router, RequestObserver observe)
      : loop(loop),
        options(std::move(options)),
        router(std::move(router)),
        observe(std::move(observe)),
        api(this->options.rates.api),
        token(this->options.rates.token),
        auth_failures(this->options.rates.auth_failures),
        links(this->options.rates.links),
        feeds(this->options.rates.feeds),
        bodies(this->options.limits.max_body_memory, this->options.limits.max_body_memory_per_client),
        acceptor(loop) {}

  asio::io_context& loop;
  const ServerOptions options;
  const Router router;
  const RequestObserver observe;
  asio::thread_pool* workers = nullptr;
  asio::thread_pool* dedicated = nullptr;
  // Loop thread only.
  RateLimiter api, token, auth_failures, links, feeds;
  BodyBudget bodies;
  tcp::acceptor acceptor;
  std::list<Connection*> all;
  std::list<Connection*> idle;  // longest idle first
  std::size_t lingering = 0;
  bool stopping = false;
  // Written on the loop thread, read on any (metrics).
  std::atomic<std::size_t> queued{0};  // requests handed to the workers and not yet answered
  std::atomic<std::size_t> dedicated_queued{0};
  std::atomic<std::size_t> body_bytes_held{0};  // bodies.used() as of its last change
  std::atomic<std::size_t> open{0}, idle_count{0};
  std::atomic<std::uint64_t> connections_total{0}, idle_closed_total{0}, refused_total{0}, busy_total{0},
      rate_limited_total{0};

  void set_state(Connection& c, Connection::State state) {
    if (c.state == Connection::State::idle && state != Connection::State::idle) {
      idle.erase(c.idle_position);
      --idle_count;
    } else if (c.state != Connection::State::idle && state == Connection::State::idle) {
      c.idle_position = idle.insert(idle.end(), &c);
      ++idle_count;
    }
    c.state = state;
  }

  // Makes room for one more connection: closes the longest idle one. False when none is idle.
  bool close_oldest_idle() {
    if (idle.empty()) return false;
    Connection* oldest = idle.front();
    set_state(*oldest, Connection::State::reading);  // leaves the idle list; its coroutine ends
    oldest->close();
    ++idle_closed_total;
    return true;
  }

  asio::awaitable<void> accept_loop(std::shared_ptr<Shared> self);
  void admit(const std::shared_ptr<Shared>& self, tcp::socket socket);
  asio::awaitable<void> serve(std::shared_ptr<Shared> self, std::shared_ptr<Connection> connection);
  asio::awaitable<bool> wait_for_request(Connection& c, boost::beast::flat_buffer& buffer, bool first);
  asio::awaitable<bool> serve_one(Connection& c, boost::beast::flat_buffer& buffer);
  asio::awaitable<void> linger(Connection& c);
  Screened screen(const Connection& c, const HeadParser& head);
  asio::awaitable<bool> read_body(Connection& c, boost::beast::flat_buffer& buffer, HeadParser& head, Screened& s,
                                  BodyBudget::Reservation& reservation);
  asio::awaitable<Response> dispatch(const RouteMatch& match, const Request& request);
  std::optional<std::chrono::milliseconds> rate_limited(LimitClass limit, const Request& request,
                                                       const std::string& client);
  asio::awaitable<bool> write(Connection& c, bool head, unsigned version, Response& response, bool keep_alive);
};

namespace {

void add_default_headers(Response& r) {
  if (r.headers.find("X-Content-Type-Options") == r.headers.end()) r.set_header("X-Content-Type-Options", "nosniff");
  if (r.headers.find("Cache-Control") == r.headers.end()) r.set_header("Cache-Control", "no-store");
}

Response problem_response(int status, std::string_view title, std::string_view detail) {
  Response r;
  send_problem(r, status, title, detail);
  return r;
}

Response body_too_large(std::size_t max_body) {
  return problem_response(413, "Payload Too Large",
                          max_body == 0 ? std::string("this route takes no request body")
                                        : "request bodies on this route are limited to " + std::to_string(max_body) + " bytes");
}

// 503 for a full worker queue or body budget: try again in a second.
Response server_busy() {
  Response r = problem_response(503, "Service Unavailable", "the server is busy; try again shortly");
  r.set_header("Retry-After", "1");
  return r;
}

Response too_many_requests(std::chrono::milliseconds wait) {
  Response r = problem_response(429, "Too Many Requests", "this client sent too many requests; slow down");
  r.set_header("Retry-After", retry_after_seconds(wait));
  return r;
}

// One debug line per request: never the query string or a path's secret (redact_path).
void log_request(const Request& request, int status) {
  if (!log::enabled(log::Level::debug) || request.method.empty()) return;
  log::debug("http request", {{"method", request.method}, {"path", redact_path(request.path)}, {"status", status},
                              {"remote", request.remote_addr}});
}

bool is_disconnect(const beast::error_code& ec) {
  return ec == bhttp::error::end_of_stream || ec == beast::error::timeout || ec == asio::error::eof ||
         ec == asio::error::connection_reset || ec == asio::error::operation_aborted ||
         ec == asio::error::bad_descriptor || ec == bhttp::error::partial_message;
}

}  // namespace

asio::awaitable<void> Server::Shared::accept_loop(std::shared_ptr<Shared> self) {
  asio::steady_timer pause(loop);
  for (;;) {
    auto [ec, socket] = co_await acceptor.async_accept(use_tuple);
    if (stopping || ec == asio::error::operation_aborted) co_return;
    bool failed = static_cast<bool>(ec);
    if (ec) {
      // Out of descriptors (EMFILE/ENFILE) or a transient error: make room and pause rather
      // than spin on a listening socket that stays readable.
      close_oldest_idle();
      log::warn("http accept failed", {{"error", ec.message()}});
    } else {
      try {
        admit(self, std::move(socket));
      } catch (const std::exception& e) {  // out of memory: this connection goes, accepting goes on
        log::error("http connection not admitted", {{"error", std::string(e.what())}});
        failed = true;
      }
    }
    if (failed) {
      pause.expires_after(std::chrono::milliseconds(50));
      co_await pause.async_wait(use_tuple);
    }
  }
}

// A new connection: served, or refused at the cap when no idle one can make room.
void Server::Shared::admit(const std::shared_ptr<Shared>& self, tcp::socket socket) {
  beast::error_code ignored;
  if (all.size() >= options.limits.max_connections && !close_oldest_idle()) {
    ++refused_total;
    socket.close(ignored);
    return;
  }
  // Small answers must not wait for the peer's delayed ACK (Nagle): ~40 ms per response.
  socket.set_option(tcp::no_delay(true), ignored);
  auto connection = std::make_shared<Connection>(std::move(socket));
  connection->peer = connection->stream.socket().remote_endpoint(ignored).address();
  ++connections_total;
  // Counted now, not when its coroutine first runs, so a burst of accepts respects the cap.
  ++open;
  connection->all_position = all.insert(all.end(), connection.get());
  connection->idle_position = idle.insert(idle.end(), connection.get());
  ++idle_count;
  asio::co_spawn(loop, serve(self, std::move(connection)), asio::detached);
}

// `self` is never read: holding it keeps the shared state alive as long as the connection.
asio::awaitable<void> Server::Shared::serve([[maybe_unused]] std::shared_ptr<Shared> self,
                                            std::shared_ptr<Connection> connection) {
  Connection& c = *connection;
  // Bounded: the header limit plus room for the start of a body (bodies go to the parser).
  beast::flat_buffer buffer(options.limits.header_bytes + 16 * 1024);
  bool keep_going = true;
  for (bool first = true; keep_going && !stopping; first = false) {
    try {
      // Waiting happens here, in this small frame: an idle connection holds no parser, no
      // request and (almost) no buffer.
      bool arrived = buffer.size() > 0;  // pipelined: the next request is here already
      if (!arrived) arrived = co_await wait_for_request(c, buffer, first);
      if (arrived) {
        keep_going = co_await serve_one(c, buffer);
      } else {
        keep_going = false;
      }
    } catch (const std::exception& e) {
      log::error("http connection failed", {{"error", std::string(e.what())}});
      keep_going = false;
    }
    body_bytes_held = bodies.used();  // serve_one gave back what its body held
  }
  if (c.state == Connection::State::idle) set_state(c, Connection::State::reading);
  // A lingering connection still counts (a descriptor, toward the cap and the drain); only so
  // many linger at once.
  if (c.unread_input && !c.closed_by_server && lingering < kMaxLingering) {
    ++lingering;
    co_await linger(c);
    --lingering;
  }
  all.erase(c.all_position);
  --open;
}

// Lingering close (as nginx does): stop sending, then read and drop what the client is still
// sending, for a while, so an early answer (413, 415) reaches a client that writes its whole
// body before reading instead of being lost to a reset. Memory stays constant.
asio::awaitable<void> Server::Shared::linger(Connection& c) {
  beast::error_code ec;
  c.stream.socket().shutdown(tcp::socket::shutdown_send, ec);
  const auto give_up = std::chrono::steady_clock::now() + kLingeringTime;
  std::array<char, 4096> sink;
  while (!ec && !stopping && std::chrono::steady_clock::now() < give_up) {
    c.stream.expires_after(kLingeringTimeout);
    auto [read_ec, n] = co_await c.stream.async_read_some(asio::buffer(sink), use_tuple);
    ec = read_ec;
  }
  c.stream.socket().close(ec);
}

// Waits for the first bytes of the next request; false when the connection is to be closed
// (the client closed it, or it stayed silent past the deadline).
asio::awaitable<bool> Server::Shared::wait_for_request(Connection& c, beast::flat_buffer& buffer, bool first) {
  if (c.closed_by_server) co_return false;  // made room for another before it ever ran
  buffer.shrink_to_fit();  // empty: frees it
  set_state(c, Connection::State::idle);
  c.stream.expires_after(first ? options.limits.header_timeout : options.limits.idle_timeout);
  auto [ec, n] = co_await c.stream.async_read_some(buffer.prepare(512), use_tuple);
  if (ec || c.closed_by_server) co_return false;
  buffer.commit(n);
  co_return true;
}

// Reads one request, answers it; false when the connection is to be closed.
asio::awaitable<bool> Server::Shared::serve_one(Connection& c, beast::flat_buffer& buffer) {
  const auto& limits = options.limits;
  set_state(c, Connection::State::reading);
  c.stream.expires_after(limits.header_timeout);
  HeadParser head;
  head.header_limit(static_cast<std::uint32_t>(limits.header_bytes));
  // Bodies are held to the route's limit once it is known (screen, read_body); Beast's own
  // default (1 MB) would refuse a large Content-Length while reading the header.
  head.body_limit(boost::none);
  auto [ec, n] = co_await bhttp::async_read_header(c.stream, buffer, head, use_tuple);
  if (ec) {
    if (c.closed_by_server || is_disconnect(ec)) co_return false;
    Response refusal = ec == bhttp::error::header_limit || ec == bhttp::error::buffer_overflow
                           ? problem_response(431, "Request Header Fields Too Large",
                                              "the request line and header fields are limited to " +
                                                  std::to_string(limits.header_bytes) + " bytes")
                           : problem_response(400, "Bad Request", "the request could not be parsed as HTTP/1.1");
    c.unread_input = true;
    co_await write(c, false, 11, refusal, false);
    co_return false;
  }
  Screened s = screen(c, head);
  // Only a body draws on the budget.
  BodyBudget::Reservation body = s.has_body ? bodies.reserve(s.client_key) : BodyBudget::Reservation{};
  if (!s.refusal && s.has_body && !co_await read_body(c, buffer, head, s, body)) {
    if (!s.refusal) co_return false;  // the client went away
  }
  if (s.refusal) {
    // A body left unread (or cut off) means the connection cannot carry another request.
    const bool unread = s.has_body && s.request.body.empty();
    c.unread_input = c.unread_input || unread;
    const bool keep = s.keep_alive && !unread && !stopping;
    log_request(s.request, s.refusal->status);
    const bool written = co_await write(c, s.head, s.version, *s.refusal, keep);
    co_return written && keep;
  }
  set_state(c, Connection::State::answering);
  Response response = co_await dispatch(*s.match, s.request);
  if (s.match->route->options.limit == LimitClass::api && response.status == 401)
    auth_failures.take(s.client_key, std::chrono::steady_clock::now());
  log_request(s.request, response.status);
  // Stopping while this was answered: say so, the connection closes after it.
  const bool keep = s.keep_alive && !stopping;
  const bool written = co_await write(c, s.head, s.version, response, keep);
  co_return written && keep;
}

// Checks a request's header block and builds the request; a refusal when it is answered
// without reading its body (431, 414, 400, 415, 404, 429, 413 by Content-Length).
Screened Server::Shared::screen(const Connection& c, const HeadParser& head) {
  const auto& limits = options.limits;
  const auto& header = head.get();
  Screened s;
  s.version = header.version();
  s.keep_alive = header.keep_alive();
  s.has_body = head.chunked() || (head.content_length() && *head.content_length() > 0);
  s.head = header.method() == bhttp::verb::head;
  Request& request = s.request;
  if (static_cast<std::size_t>(std::distance(header.begin(), header.end())) > limits.header_fields) {
    s.refusal = problem_response(431, "Request Header Fields Too Large",
                                 "at most " + std::to_string(limits.header_fields) + " header fields");
    return s;
  }
  const auto target = header.target();
  if (target.size() > limits.target_bytes) {
    s.refusal = problem_response(414, "URI Too Long",
                                 "request targets are limited to " + std::to_string(limits.target_bytes) + " bytes");
    return s;
  }
  request.method = std::string(header.method_string());
  const auto query_at = target.find('?');
  const std::string_view raw_path(target.data(), query_at == std::string_view::npos ? target.size() : query_at);
  if (raw_path.empty() || raw_path.front() != '/' || !percent_decode(raw_path, request.path, false)) {
    s.refusal = problem_response(400, "Bad Request", "the request target is not a valid path");
    return s;
  }
  if (query_at != std::string_view::npos)
    request.params = parse_query(std::string_view(target.data() + query_at + 1, target.size() - query_at - 1));
  std::string forwarded_for;
  for (const auto& field : header) {
    const auto name = field.name_string();
    const auto value = field.value();
    request.headers.emplace(std::string(name.data(), name.size()), std::string(value.data(), value.size()));
    if (beast::iequals(name, "X-Forwarded-For")) {
      if (!forwarded_for.empty()) forwarded_for += ',';
      forwarded_for.append(value.data(), value.size());
    }
  }
  request.remote_addr = client_address(c.peer, forwarded_for, options.trusted_proxies);
  s.client_key = rate_key(request.remote_addr);
  if (s.has_body) {
    const auto encoding = request.get_header_value("Content-Encoding");
    if (!encoding.empty() && !beast::iequals(encoding, "identity")) {
      s.refusal = problem_response(415, "Unsupported Media Type",
                                   "request bodies with a Content-Encoding are not accepted; send them uncompressed");
      return s;
    }
  }
  s.match = router.match(request.method, request.path);
  if (!s.match) {
    if (observe) observe("unmatched", 404, {});
    s.refusal = problem_response(404, "Not Found", "no such resource");
    return s;
  }
  const Route& route = *s.match->route;
  if (const auto wait = rate_limited(route.options.limit, request, s.client_key)) {
    ++rate_limited_total;
    if (observe) observe(route.pattern, 429, {});
    s.refusal = too_many_requests(*wait);
    return s;
  }
  if (s.has_body && head.content_length() && *head.content_length() > route.options.max_body) {
    s.refusal = body_too_large(route.options.max_body);
    return s;
  }
  request.matches.reserve(s.match->params.size() + 1);
  request.matches.push_back(request.path);
  for (const auto& p : s.match->params) request.matches.push_back(p);
  return s;
}

// Reads the body into the request, up to the route's limit (chunked or not) and as far as the
// body budget allows, counting bytes as they arrive. False when it was not read: s.refusal
// says why (413, 503), or the connection failed.
asio::awaitable<bool> Server::Shared::read_body(Connection& c, beast::flat_buffer& buffer, HeadParser& head,
                                                Screened& s, BodyBudget::Reservation& reservation) {
  const std::size_t max_body = s.match->route->options.max_body;
  // dynamic_body grows as data comes (string_body would reserve a declared length at once).
  bhttp::request_parser<bhttp::dynamic_body> parser(std::move(head));
  parser.body_limit(max_body);
  if (s.version >= 11 && beast::iequals(s.request.get_header_value("Expect"), "100-continue")) {
    bhttp::response<bhttp::empty_body> go_on{bhttp::status::continue_, s.version};
    c.stream.expires_after(options.limits.write_timeout);
    auto [ec, n] = co_await bhttp::async_write(c.stream, go_on, use_tuple);
    if (ec) co_return false;
  }
  c.stream.expires_after(options.limits.body_timeout);
  while (!parser.is_done()) {
    auto [ec, n] = co_await bhttp::async_read_some(c.stream, buffer, parser, use_tuple);
    if (ec == bhttp::error::body_limit) {
      s.refusal = body_too_large(max_body);
      co_return false;
    }
    if (ec) co_return false;
    if (!reservation.grow_to(parser.get().body().size())) {
      ++busy_total;
      s.refusal = server_busy();
      co_return false;
    }
    body_bytes_held = bodies.used();
  }
  // The text copy is what stays, as many bytes as the reservation already counts: they stay
  // counted until the answer is written.
  s.request.body = beast::buffers_to_string(parser.get().body().data());
  co_return true;
}

std::optional<std::chrono::milliseconds> Server::Shared::rate_limited(LimitClass limit, const Request& request,
                                                                     const std::string& client) {
  const auto now = std::chrono::steady_clock::now();
  switch (limit) {
    case LimitClass::none: return std::nullopt;
    case LimitClass::links: return links.take(client, now);
    case LimitClass::feeds: return feeds.take(client, now);
    case LimitClass::api: {
      if (auto wait = auth_failures.peek(client, now)) return wait;
      if (auto wait = api.take(client, now)) return wait;
      const auto authorization = request.get_header_value("Authorization");
      if (authorization.empty()) return std::nullopt;
      // The key is a digest, so the buckets never hold a usable token.
      return token.take(std::to_string(std::hash<std::string>{}(authorization)), now);
    }
  }
  return std::nullopt;
}

asio::awaitable<Response> Server::Shared::dispatch(const RouteMatch& match, const Request& request) {
  const Route& route = *match.route;
  Response response;
  if (route.options.on_loop) {
    run_route(route, request, response, observe);
    co_return response;
  }
  if (route.options.fast_path && route.options.fast_path(request, response)) {
    if (observe) observe(route.pattern, response.status, {});
    co_return response;
  }
  response = Response{};
  if (stopping) {  // the worker pools may be gone with the Server
    response = problem_response(503, "Service Unavailable", "the server is stopping");
    co_return response;
  }
  const bool own_thread = route.options.dedicated_thread;
  std::atomic<std::size_t>& waiting = own_thread ? dedicated_queued : queued;
  const std::size_t capacity = own_thread ? 8 : options.limits.workers + options.limits.max_queued;
  if (waiting >= capacity) {
    ++busy_total;
    response = server_busy();
    if (observe) observe(route.pattern, 503, {});
    co_return response;
  }
  ++waiting;
  const RequestObserver& observer = observe;
  const auto work = [&route, &request, &observer] {
    Response r;
    run_route(route, request, r, observer);
    return r;
  };
  try {
    response = co_await offload<Response>(own_thread ? *dedicated : *workers, work);
  } catch (...) {
    --waiting;
    throw;
  }
  --waiting;
  co_return response;
}

// Writes an answer; false when it could not be (the connection is then closed).
asio::awaitable<bool> Server::Shared::write(Connection& c, bool head, unsigned version, Response& response,
                                            bool keep_alive) {
  add_default_headers(response);
  const auto content = response.content();
  const bool bodiless = response.status == 204 || response.status == 304 || (response.status >= 100 && response.status < 200);
  bhttp::response<bhttp::span_body<const char>> out{static_cast<bhttp::status>(response.status), version};
  for (const auto& [name, value] : response.headers) {
    // A value with a line break would split the response: never sent (handlers set none).
    if (value.find_first_of(std::string_view("\r\n\0", 3)) != std::string::npos) {
      log::error("http header value with a line break dropped", {{"header", name}});
      continue;
    }
    out.insert(name, value);
  }
  if (!bodiless) {
    out.content_length(content.size());
    if (!head) out.body() = {content.data(), content.size()};
  }
  out.keep_alive(keep_alive);
  set_state(c, Connection::State::answering);
  c.stream.expires_after(options.limits.write_timeout);
  bhttp::response_serializer<bhttp::span_body<const char>> serializer(out);
  beast::error_code ec;
  if (head) {
    serializer.split(true);
    auto [header_ec, n] = co_await bhttp::async_write_header(c.stream, serializer, use_tuple);
    ec = header_ec;
  } else {
    auto [write_ec, n] = co_await bhttp::async_write(c.stream, serializer, use_tuple);
    ec = write_ec;
  }
  if (ec) c.closed_by_server = c.closed_by_server || ec == asio::error::operation_aborted;
  co_return !ec;
}

Server::Server(asio::io_context& loop, ServerOptions options, Router router, RequestObserver observe)
    : shared_(std::make_shared<Shared>(loop, std::move(options), std::move(router), std::move(observe))),
      workers_(shared_->options.limits.workers) {
  shared_->workers = &workers_;
  shared_->dedicated = &dedicated_;
}

Server::~Server() {
  // Handlers still running refer to services owned by the caller: let them finish here.
  workers_.join();
  dedicated_.join();
}

void Server::start() {
  auto& acceptor = shared_->acceptor;
  beast::error_code ec;
  const auto address = asio::ip::make_address(shared_->options.host, ec);
  const std::string where = shared_->options.host + ":" + std::to_string(shared_->options.port);
  if (ec) throw std::runtime_error("cannot listen on " + where + ": not an IP address");
  const tcp::endpoint endpoint(address, shared_->options.port);
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) throw std::runtime_error("cannot listen on " + where + " (" + ec.message() + ")");
  port_ = acceptor.local_endpoint().port();
  asio::co_spawn(shared_->loop, shared_->accept_loop(shared_), asio::detached);
}

void Server::stop() {
  auto& s = *shared_;
  if (s.stopping) return;
  s.stopping = true;
  beast::error_code ignored;
  s.acceptor.close(ignored);
  // Connections waiting for (or reading) a request go now; those answering finish first.
  for (Connection* c : std::list<Connection*>(s.all))
    if (c->state != Connection::State::answering) {
      if (c->state == Connection::State::idle) s.set_state(*c, Connection::State::reading);
      c->close();
    }
}

bool Server::drained() const { return shared_->open == 0; }

ServerCounters Server::counters() const {
  const auto& s = *shared_;
  return ServerCounters{.open_connections = s.open,
                        .idle_connections = s.idle_count,
                        .connections_total = s.connections_total,
                        .idle_closed_total = s.idle_closed_total,
                        .refused_total = s.refused_total,
                        .busy_total = s.busy_total,
                        .rate_limited_total = s.rate_limited_total,
                        .worker_requests = s.queued,
                        .body_bytes_held = s.body_bytes_held};
}

}  // namespace convene::daemon::http
