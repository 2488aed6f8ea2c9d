#include "daemon/http/server.hpp"

#include "base/log.hpp"
#include "daemon/http/problem.hpp"
#include "jobs/offload.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/span_body.hpp>
#include <boost/beast/http/string_body.hpp>
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

// One open connection; the coroutine serving it owns it, the lists below only point at it.
struct Connection {
  explicit Connection(tcp::socket socket) : stream(std::move(socket)) {}
  beast::tcp_stream stream;
  asio::ip::address peer;
  enum class State { idle, reading, answering } state = State::idle;
  std::list<Connection*>::iterator idle_position;   // valid while state == idle
  std::list<Connection*>::iterator all_position;
  bool closed_by_server = false;

  void close() {
    closed_by_server = true;
    beast::error_code ignored;
    stream.socket().close(ignored);
  }
};

std::string lowercase(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace

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
        acceptor(loop) {}

  asio::io_context& loop;
  const ServerOptions options;
  const Router router;
  const RequestObserver observe;
  asio::thread_pool* workers = nullptr;
  asio::thread_pool* dedicated = nullptr;
  // Loop thread only.
  RateLimiter api, token, auth_failures, links, feeds;
  tcp::acceptor acceptor;
  std::list<Connection*> all;
  std::list<Connection*> idle;  // longest idle first
  std::size_t queued = 0;       // requests handed to the workers and not yet answered
  std::size_t dedicated_queued = 0;
  std::size_t body_bytes = 0;  // reserved by requests whose bodies are being read or answered
  bool stopping = false;
  // Any thread (metrics).
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
  asio::awaitable<void> serve(std::shared_ptr<Shared> self, std::shared_ptr<Connection> connection);
  asio::awaitable<bool> wait_for_request(Connection& c, boost::beast::flat_buffer& buffer, bool first);
  asio::awaitable<bool> serve_one(Connection& c, boost::beast::flat_buffer& buffer);
  asio::awaitable<void> linger(Connection& c);
  std::optional<Response> screen(const Connection& c, boost::beast::http::request_parser<boost::beast::http::empty_body>& head,
                                 Request& request, std::optional<RouteMatch>& match);
  asio::awaitable<bool> read_body(Connection& c, boost::beast::flat_buffer& buffer,
                                  boost::beast::http::request_parser<boost::beast::http::empty_body>& head,
                                  Request& request, std::size_t max_body, unsigned version, std::optional<Response>& refusal);
  asio::awaitable<Response> dispatch(const RouteMatch& match, const Request& request);
  std::optional<std::chrono::milliseconds> rate_limited(LimitClass limit, const Request& request,
                                                        const std::string& client);
  asio::awaitable<void> write(Connection& c, const Request* request, unsigned version, Response& response,
                              bool keep_alive);
};

// One request's body counted against max_body_memory until its answer is written.
class BodyReservation {
 public:
  BodyReservation() = default;
  BodyReservation(std::shared_ptr<Server::Shared> shared, std::size_t bytes);
  BodyReservation(const BodyReservation&) = delete;
  BodyReservation& operator=(BodyReservation&& other) noexcept {
    release();
    shared_ = std::move(other.shared_);
    bytes_ = std::exchange(other.bytes_, 0);
    return *this;
  }
  ~BodyReservation() { release(); }

 private:
  void release() noexcept;
  std::shared_ptr<Server::Shared> shared_;
  std::size_t bytes_ = 0;
};

BodyReservation::BodyReservation(std::shared_ptr<Server::Shared> shared, std::size_t bytes)
    : shared_(std::move(shared)), bytes_(bytes) {
  shared_->body_bytes += bytes_;
}

void BodyReservation::release() noexcept {
  if (shared_) shared_->body_bytes -= bytes_;
  shared_.reset();
  bytes_ = 0;
}

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
    if (ec) {
      // Out of descriptors (EMFILE/ENFILE) or a transient error: make room and pause rather
      // than spin on a listening socket that stays readable.
      close_oldest_idle();
      log::warn("http accept failed", {{"error", ec.message()}});
      pause.expires_after(std::chrono::milliseconds(50));
      co_await pause.async_wait(use_tuple);
      continue;
    }
    if (all.size() >= options.limits.max_connections && !close_oldest_idle()) {
      ++refused_total;
      beast::error_code ignored;
      socket.close(ignored);
      continue;
    }
    beast::error_code ignored;
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
}

asio::awaitable<void> Server::Shared::serve(std::shared_ptr<Shared> self, std::shared_ptr<Connection> connection) {
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
  }
  if (c.state == Connection::State::idle) {
    idle.erase(c.idle_position);
    --idle_count;
  }
  all.erase(c.all_position);
  --open;
  if (!c.closed_by_server) co_await linger(c);
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
  bhttp::request_parser<bhttp::empty_body> head;
  head.header_limit(static_cast<std::uint32_t>(limits.header_bytes));
  // Bodies are held to the route's limit once it is known (screen, read_body); Beast's own
  // default (1 MB) would refuse a large Content-Length while reading the header.
  head.body_limit(boost::none);
  auto [ec, n] = co_await bhttp::async_read_header(c.stream, buffer, head, use_tuple);
  if (ec) {
    if (c.closed_by_server || (is_disconnect(ec) && ec != bhttp::error::header_limit)) co_return false;
    Response refusal = ec == bhttp::error::header_limit || ec == bhttp::error::buffer_overflow
                           ? problem_response(431, "Request Header Fields Too Large",
                                              "the request line and header fields are limited to " +
                                                  std::to_string(limits.header_bytes) + " bytes")
                           : problem_response(400, "Bad Request", "the request could not be parsed as HTTP/1.1");
    co_await write(c, nullptr, 11, refusal, false);
    co_return false;
  }
  const unsigned version = head.get().version();
  const bool keep_alive = head.get().keep_alive();
  const bool has_body = head.chunked() || (head.content_length() && *head.content_length() > 0);
  Request request;
  const RouteMatch* route_match = nullptr;
  std::optional<RouteMatch> matched;
  std::optional<Response> refusal = screen(c, head, request, matched);
  BodyReservation reservation;
  if (!refusal && has_body) {
    const std::size_t declared = head.content_length() ? static_cast<std::size_t>(*head.content_length())
                                                       : matched->route->options.max_body;
    if (body_bytes + declared > limits.max_body_memory) {
      ++busy_total;
      refusal = problem_response(503, "Service Unavailable", "the server is busy; try again shortly");
      refusal->set_header("Retry-After", "1");
    } else {
      reservation = BodyReservation(shared_from_this(), declared);
    }
  }
  if (!refusal) {
    route_match = &*matched;
    if (has_body) {
      bool ok = co_await read_body(c, buffer, head, request, route_match->route->options.max_body, version, refusal);
      if (!ok && !refusal) co_return false;
      if (refusal) {
        // The body was cut off at its limit: answer, then close.
        co_await write(c, nullptr, version, *refusal, false);
        co_return false;
      }
    }
  }
  if (refusal) {
    // The body (if any) is not read: the connection cannot carry another request.
    const bool keep = keep_alive && !has_body;
    log_request(request, refusal->status);
    co_await write(c, nullptr, version, *refusal, keep);
    co_return keep;
  }
  set_state(c, Connection::State::answering);
  Response response = co_await dispatch(*route_match, request);
  if (route_match->route->options.limit == LimitClass::api && response.status == 401)
    auth_failures.take(request.remote_addr, std::chrono::steady_clock::now());
  log_request(request, response.status);
  // Stopping while this was answered: say so, the connection closes after it.
  const bool keep = keep_alive && !stopping;
  co_await write(c, &request, version, response, keep);
  co_return keep;
}

// Checks a request's header block and fills in `request`; an answer when it is refused
// before its body is read (431, 414, 400, 415, 404, 429, 413 by Content-Length).
std::optional<Response> Server::Shared::screen(const Connection& c, bhttp::request_parser<bhttp::empty_body>& head,
                                               Request& request, std::optional<RouteMatch>& match) {
  const auto& limits = options.limits;
  const auto& header = head.get();
  const bool has_body = head.chunked() || (head.content_length() && *head.content_length() > 0);
  if (static_cast<std::size_t>(std::distance(header.begin(), header.end())) > limits.header_fields)
    return problem_response(431, "Request Header Fields Too Large",
                            "at most " + std::to_string(limits.header_fields) + " header fields");
  const auto target = header.target();
  if (target.size() > limits.target_bytes)
    return problem_response(414, "URI Too Long",
                            "request targets are limited to " + std::to_string(limits.target_bytes) + " bytes");
  request.method = std::string(header.method_string());
  request.target = std::string(target);
  const auto query_at = target.find('?');
  const std::string_view raw_path(target.data(), query_at == std::string_view::npos ? target.size() : query_at);
  if (raw_path.empty() || raw_path.front() != '/' || !percent_decode(raw_path, request.path, false))
    return problem_response(400, "Bad Request", "the request target is not a valid path");
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
  if (has_body) {
    const auto encoding = lowercase(request.get_header_value("Content-Encoding"));
    if (!encoding.empty() && encoding != "identity")
      return problem_response(415, "Unsupported Media Type",
                              "request bodies with a Content-Encoding are not accepted; send them uncompressed");
  }
  match = router.match(request.method, request.path);
  if (!match) {
    if (observe) observe("unmatched", 404, {});
    return problem_response(404, "Not Found", "no such resource");
  }
  const Route& route = *match->route;
  if (const auto wait = rate_limited(route.options.limit, request, request.remote_addr)) {
    ++rate_limited_total;
    if (observe) observe(route.pattern, 429, {});
    return too_many_requests(*wait);
  }
  if (has_body && head.content_length() && *head.content_length() > route.options.max_body)
    return body_too_large(route.options.max_body);
  request.matches.reserve(match->params.size() + 1);
  request.matches.push_back(request.path);
  for (const auto& p : match->params) request.matches.push_back(p);
  return std::nullopt;
}

// Reads the body into `request` up to `max_body` bytes, chunked or not. False when the
// connection failed; `refusal` is set when the body passed its limit.
asio::awaitable<bool> Server::Shared::read_body(Connection& c, beast::flat_buffer& buffer,
                                                bhttp::request_parser<bhttp::empty_body>& head, Request& request,
                                                std::size_t max_body, unsigned version,
                                                std::optional<Response>& refusal) {
  bhttp::request_parser<bhttp::string_body> parser(std::move(head));
  parser.body_limit(max_body);
  if (beast::iequals(request.get_header_value("Expect"), "100-continue")) {
    bhttp::response<bhttp::empty_body> go_on{bhttp::status::continue_, version};
    c.stream.expires_after(options.limits.write_timeout);
    auto [ec, n] = co_await bhttp::async_write(c.stream, go_on, use_tuple);
    if (ec) co_return false;
  }
  c.stream.expires_after(options.limits.body_timeout);
  auto [ec, n] = co_await bhttp::async_read(c.stream, buffer, parser, use_tuple);
  if (ec == bhttp::error::body_limit) {
    refusal = body_too_large(max_body);
    co_return false;
  }
  if (ec) co_return false;
  request.body = std::move(parser.get().body());
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
  std::size_t& waiting = own_thread ? dedicated_queued : queued;
  const std::size_t capacity = own_thread ? 8 : options.limits.workers + options.limits.max_queued;
  if (waiting >= capacity) {
    ++busy_total;
    response = problem_response(503, "Service Unavailable", "the server is busy; try again shortly");
    response.set_header("Retry-After", "1");
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
    response = co_await jobs::offload<Response>(own_thread ? *dedicated : *workers, work);
  } catch (...) {
    --waiting;
    throw;
  }
  --waiting;
  co_return response;
}

asio::awaitable<void> Server::Shared::write(Connection& c, const Request* request, unsigned version,
                                            Response& response, bool keep_alive) {
  add_default_headers(response);
  const bool head = request && request->method == "HEAD";
  const auto content = response.content();
  const bool bodiless = response.status == 204 || response.status == 304 || (response.status >= 100 && response.status < 200);
  bhttp::response<bhttp::span_body<const char>> out{static_cast<bhttp::status>(response.status), version};
  for (const auto& [name, value] : response.headers) out.insert(name, value);
  if (!bodiless) {
    out.content_length(content.size());
    if (!head) out.body() = {content.data(), content.size()};
  }
  out.keep_alive(keep_alive);
  set_state(c, Connection::State::answering);
  c.stream.expires_after(options.limits.write_timeout);
  bhttp::response_serializer<bhttp::span_body<const char>> serializer(out);
  if (head) serializer.split(true);
  beast::error_code ec;
  if (head) {
    auto [header_ec, n] = co_await bhttp::async_write_header(c.stream, serializer, use_tuple);
    ec = header_ec;
  } else {
    auto [write_ec, n] = co_await bhttp::async_write(c.stream, serializer, use_tuple);
    ec = write_ec;
  }
  if (ec == asio::error::operation_aborted) c.closed_by_server = true;
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
  return ServerCounters{s.open, s.idle_count, s.connections_total, s.idle_closed_total, s.refused_total, s.busy_total,
                        s.rate_limited_total};
}

}  // namespace convene::daemon::http
