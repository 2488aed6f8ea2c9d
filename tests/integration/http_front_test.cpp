// The HTTP front (daemon/http/server) with routes of its own, no database: the bounded worker
// queue, answers on the loop while every worker is busy, the body budget, the deadlines (header,
// body, idle, write), the connection cap, HEAD, 100-continue and a graceful stop.
#include "daemon/http/problem.hpp"
#include "daemon/http/server.hpp"
#include "support/loop_thread.hpp"
#include "support/raw_http.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

using namespace convene::daemon::http;
using convene::testing::LoopThread;
using convene::testing::raw_exchange;
using convene::testing::RawConnection;
using convene::testing::RawResponse;
using convene::testing::request_bytes;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

// More than loopback's socket buffers hold on both sides together, so a client that never
// reads leaves the server's write waiting.
constexpr std::size_t kLargeBody = 16 * 1024 * 1024;

// Polls `condition` every 10 ms until it holds (true) or `timeout` passes (false).
bool eventually(const std::function<bool()>& condition, std::chrono::milliseconds timeout = 5s) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    if (condition()) return true;
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(10ms);
  }
}

// Holds handlers until opened: the workers stay busy as long as a test wants.
class Gate {
 public:
  void wait() {
    std::unique_lock lock(mutex_);
    ++waiting_;
    changed_.notify_all();
    changed_.wait(lock, [this] { return open_; });
  }
  bool wait_for_waiting(int n) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, 10s, [&] { return waiting_ >= n; });
  }
  void open() {
    std::lock_guard lock(mutex_);
    open_ = true;
    changed_.notify_all();
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  int waiting_ = 0;
  bool open_ = false;
};

class HttpFront : public ::testing::Test {
 protected:
  void start(ServerLimits limits) {
    Router router;
    router.add("GET", "/slow", [this](const Request&, Response& res) {
      gate_.wait();
      send_json(res, 200, boost::json::object{{"slow", true}});
    });
    router.add("GET", "/loop", [](const Request&, Response& res) { send_json(res, 200, boost::json::object{{"loop", true}}); },
               {.on_loop = true});
    router.add("GET", "/text", [](const Request&, Response& res) { res.set_content("hello", "text/plain"); });
    router.add("GET", "/large", [large = large_](const Request&, Response& res) {
      res.set_shared_content(large, *large, "application/octet-stream");
    });
    router.add("POST", "/echo", [](const Request& req, Response& res) { res.set_content(req.body, "text/plain"); },
               {.max_body = 1024});
    ServerOptions options;
    options.limits = limits;
    options.trusted_proxies = TrustedProxies::parse("127.0.0.0/8");  // clients told apart by X-Forwarded-For
    server_ = std::make_unique<Server>(loop_.context(), options, std::move(router));
    server_->start();
    loop_.start();
  }
  void TearDown() override {
    gate_.open();
    if (server_) loop_.run([this] { server_->stop(); });
    loop_.stop();
    server_.reset();
  }
  // Sends a request on a new connection without waiting for the answer.
  RawConnection send(const std::string& bytes) {
    RawConnection c(server_->port());
    EXPECT_TRUE(c.wait_connected(2s));
    EXPECT_TRUE(c.send(bytes, 2s));
    return c;
  }
  bool drained() {
    bool result = false;
    loop_.run([&] { result = server_->drained(); });
    return result;
  }
  ServerCounters counters() const { return server_->counters(); }

  const std::shared_ptr<const std::string> large_ = std::make_shared<const std::string>(kLargeBody, 'x');
  Gate gate_;
  LoopThread loop_;
  std::unique_ptr<Server> server_;
};

}  // namespace

TEST_F(HttpFront, AFullWorkerQueueAnswers503AtOnceAndTheLoopStillAnswers) {
  start(ServerLimits{.workers = 2, .max_queued = 1});
  std::vector<RawConnection> held;
  for (int i = 0; i < 3; ++i) held.push_back(send(request_bytes("GET", "/slow")));  // 2 running, 1 waiting
  ASSERT_TRUE(gate_.wait_for_waiting(2));
  ASSERT_TRUE(eventually([&] { return counters().worker_requests == 3; })) << "the third never queued behind them";

  auto refused = send(request_bytes("GET", "/slow"));
  const auto busy = refused.read_response(2s);
  ASSERT_TRUE(busy) << "the fourth request waited instead of being refused";
  EXPECT_EQ(busy->status, 503);
  EXPECT_EQ(busy->header("retry-after"), "1");
  EXPECT_EQ(busy->header("content-type"), "application/problem+json");
  EXPECT_EQ(server_->counters().busy_total, 1u);

  auto loop = send(request_bytes("GET", "/loop"));
  const auto answered = loop.read_response(2s);
  ASSERT_TRUE(answered) << "a route on the loop waited for a worker";
  EXPECT_EQ(answered->status, 200);

  gate_.open();
  for (auto& c : held) {
    const auto r = c.read_response(5s);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
  }
}

TEST_F(HttpFront, BodyBytesHeldAreBoundedAsTheyArriveInAllAndPerClient) {
  // Each body may be 1 KiB; all together may hold 2 KiB, one client 1.5 KiB.
  start(ServerLimits{.max_body_memory = 2048, .max_body_memory_per_client = 1536});
  const std::string header = "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n";
  const auto from = [&](const std::string& client) { return header + "X-Forwarded-For: " + client + "\r\n\r\n"; };
  // Declared but never sent: holds nothing (counting declared lengths let 13 such requests
  // lock every body out of a 256 MiB budget).
  std::vector<RawConnection> declared;
  for (int i = 0; i < 5; ++i) declared.push_back(send(from("192.0.2.9")));
  // Two bodies of 900 bytes that never finish, from two clients: 1,800 bytes held.
  auto first = send(from("192.0.2.1") + std::string(900, 'a'));
  auto second = send(from("192.0.2.2") + std::string(900, 'b'));
  ASSERT_TRUE(eventually([&] { return counters().body_bytes_held == 1800; })) << counters().body_bytes_held;
  auto third = send(from("192.0.2.3") + std::string(1000, 'c'));
  const auto refused = third.read_response(2s);
  ASSERT_TRUE(refused) << "a third body was held beside two unfinished ones";
  EXPECT_EQ(refused->status, 503);
  EXPECT_EQ(refused->header("retry-after"), "1");
  first.close();  // its bytes go with its connection
  second.close();
  ASSERT_TRUE(eventually([&] { return counters().body_bytes_held == 0; })) << counters().body_bytes_held;
  // One client's second body passes its own share (900 + 1000 > 1536) while the total has room.
  auto held = send(from("192.0.2.4") + std::string(900, 'd'));
  ASSERT_TRUE(eventually([&] { return counters().body_bytes_held == 900; })) << counters().body_bytes_held;
  auto same_client = send(from("192.0.2.4") + std::string(1000, 'e'));
  const auto per_client = same_client.read_response(2s);
  ASSERT_TRUE(per_client);
  EXPECT_EQ(per_client->status, 503) << "one client held more than its share";
  auto other_client = send(from("192.0.2.5") + std::string(1000, 'f'));
  const auto echoed = other_client.read_response(2s);
  ASSERT_TRUE(echoed);
  EXPECT_EQ(echoed->status, 200) << "another client was refused";
  EXPECT_EQ(echoed->body, std::string(1000, 'f'));
}

TEST_F(HttpFront, AnIdleKeepAliveConnectionIsClosedAfterTheIdleTimeout) {
  start(ServerLimits{.idle_timeout = std::chrono::milliseconds(1000)});
  auto c = send(request_bytes("GET", "/text"));
  const auto r = c.read_response(2s);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_FALSE(c.wait_closed(100ms)) << "closed before the idle timeout";
  EXPECT_TRUE(c.wait_closed(3s)) << "an idle keep-alive connection stayed open past http_idle_timeout";
}

TEST_F(HttpFront, AHeaderSentSlowlyIsCutOffAtTheHeaderTimeout) {
  start(ServerLimits{.header_timeout = std::chrono::milliseconds(500)});
  // A slow drip: a byte every 100 ms keeps the connection busy, never finishing the header.
  RawConnection c(server_->port());
  ASSERT_TRUE(c.wait_connected(2s));
  const std::string header = "GET /text HTTP/1.1\r\nHost: x\r\nX-Drip: ";
  const auto started = std::chrono::steady_clock::now();
  bool closed = false;
  for (std::size_t i = 0; i < 40 && !closed; ++i) {  // 4 s of dripping at most
    closed = !c.send(i < header.size() ? header.substr(i, 1) : std::string("a"), 200ms) || c.wait_closed(100ms);
  }
  EXPECT_TRUE(closed) << "a header dripped for 4 s was still being read";
  EXPECT_LT(std::chrono::steady_clock::now() - started, 3s) << "cut off long after the header timeout";
}

TEST_F(HttpFront, ABodyThatStopsComingIsCutOffAtTheBodyTimeout) {
  // Every other deadline a minute away: only the body's can end this connection.
  start(ServerLimits{.header_timeout = 60s, .body_timeout = 500ms, .idle_timeout = 60s, .write_timeout = 60s});
  const auto started = Clock::now();
  // 10 bytes of the 1,000 declared, then nothing.
  auto c = send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n" + std::string(10, 'a'));
  EXPECT_TRUE(c.wait_closed(5s)) << "a body that stopped after 10 of 1,000 bytes was still awaited after 5 s";
  EXPECT_GE(Clock::now() - started, 500ms) << "closed before the body timeout";
  EXPECT_TRUE(eventually([&] { return counters().open_connections == 0 && counters().body_bytes_held == 0; }))
      << counters().open_connections << " open, " << counters().body_bytes_held << " body bytes held";
}

TEST_F(HttpFront, AClientThatNeverReadsItsAnswerIsCutOffAtTheWriteTimeout) {
  start(ServerLimits{.header_timeout = 60s, .body_timeout = 60s, .idle_timeout = 60s, .write_timeout = 500ms});
  auto c = send(request_bytes("GET", "/large"));  // and never read
  ASSERT_TRUE(eventually([&] { return counters().connections_total == 1; }));
  EXPECT_TRUE(eventually([&] { return counters().open_connections == 0; }))
      << "an answer nobody reads held its connection for 5 s";
  // What reached the client is what the buffers held when the server gave up: not the answer.
  c.wait_closed(5s);
  EXPECT_LT(c.received().size(), kLargeBody) << "the whole answer fit in the socket buffers: no write ever waited";
}

TEST_F(HttpFront, AtTheConnectionCapWithNoneIdleANewConnectionIsRefused) {
  start(ServerLimits{.max_connections = 3});
  std::vector<RawConnection> held;
  for (int i = 0; i < 3; ++i) held.push_back(send(request_bytes("GET", "/slow")));
  ASSERT_TRUE(gate_.wait_for_waiting(3));  // all three answering: none idle to make room
  RawConnection fourth(server_->port());
  ASSERT_TRUE(fourth.wait_connected(2s)) << fourth.error();  // the kernel's backlog takes it
  fourth.send(request_bytes("GET", "/loop"), 2s);            // may fail: the server closes it
  EXPECT_FALSE(fourth.read_response(2s)) << "a connection past the cap was served";
  EXPECT_TRUE(fourth.closed()) << "a connection past the cap was left open";
  EXPECT_TRUE(eventually([&] { return counters().refused_total == 1; })) << counters().refused_total;
  EXPECT_EQ(counters().idle_closed_total, 0u);

  gate_.open();
  for (auto& c : held) {
    const auto r = c.read_response(5s);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
  }
  // Still at the cap, but with idle connections to close: a new one is served.
  ASSERT_TRUE(eventually([&] { return counters().idle_connections == 3; }));
  std::string why;
  const auto again = raw_exchange(server_->port(), request_bytes("GET", "/loop"), 2s, &why);
  ASSERT_TRUE(again) << why;
  EXPECT_EQ(again->status, 200);
  EXPECT_EQ(counters().refused_total, 1u);
}

TEST_F(HttpFront, RefusalsToHeadCarryNoBody) {
  start({});
  // A 404 to HEAD, then a GET on the same connection: its answer must follow the header directly.
  auto c = send(request_bytes("HEAD", "/nothing") + request_bytes("GET", "/text"));
  c.read_until("hello", 5s);
  const std::string& received = c.received();
  const auto head_end = received.find("\r\n\r\n");
  ASSERT_NE(head_end, std::string::npos) << received;
  EXPECT_EQ(received.rfind("HTTP/1.1 404", 0), 0u) << received;
  EXPECT_EQ(received.compare(head_end + 4, 15, "HTTP/1.1 200 OK"), 0) << "a body followed HEAD's 404: " << received;
}

TEST_F(HttpFront, HeadAnswersTheHeadersOfGetWithoutTheBody) {
  start({});
  auto c = send(request_bytes("HEAD", "/text") + request_bytes("GET", "/text"));
  // Raw bytes: a response parser cannot know that HEAD's Content-Length has no body behind it.
  c.read_until("hello", 5s);
  const std::string& received = c.received();
  const auto head_end = received.find("\r\n\r\n");
  ASSERT_NE(head_end, std::string::npos) << received;
  const std::string head = received.substr(0, head_end);
  EXPECT_EQ(head.rfind("HTTP/1.1 200 OK", 0), 0u) << head;
  EXPECT_NE(head.find("Content-Length: 5"), std::string::npos) << "HEAD tells the length GET would send: " << head;
  // The GET's answer starts right after HEAD's header: HEAD sent no body.
  EXPECT_EQ(received.compare(head_end + 4, 15, "HTTP/1.1 200 OK"), 0) << received;
  EXPECT_EQ(received.substr(received.size() - 5), "hello");
}

TEST_F(HttpFront, ExpectContinueIsAnsweredBeforeTheBodyIsSent) {
  start({});
  auto c = send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n");
  ASSERT_TRUE(c.wait_readable(2s)) << "no 100 Continue: clients such as curl wait a second for it";
  EXPECT_EQ(c.received().rfind("HTTP/1.1 100 Continue", 0), 0u) << c.received();
  ASSERT_TRUE(c.send("hello", 2s));
  // The 100 is an interim answer; the final one follows.
  c.read_until("hello", 5s);
  const std::string& received = c.received();
  EXPECT_NE(received.find("HTTP/1.1 200 OK"), std::string::npos) << received;
  EXPECT_NE(received.find("\r\n\r\nhello"), std::string::npos) << received;
}

TEST_F(HttpFront, StopClosesIdleConnectionsAndLetsAnswersInProgressFinish) {
  start({});
  RawConnection idle(server_->port());
  ASSERT_TRUE(idle.wait_connected(2s));
  auto busy = send(request_bytes("GET", "/slow"));
  ASSERT_TRUE(gate_.wait_for_waiting(1));
  loop_.run([this] { server_->stop(); });
  EXPECT_TRUE(idle.wait_closed(2s)) << "an idle connection stayed open after stop";
  EXPECT_FALSE(drained()) << "the answer in progress was cut off";
  gate_.open();
  const auto r = busy.read_response(5s);
  ASSERT_TRUE(r) << "the request being answered at stop got no answer";
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->header("connection"), "close");
  for (int i = 0; i < 100 && !drained(); ++i) std::this_thread::sleep_for(20ms);
  EXPECT_TRUE(drained());
  RawConnection late(server_->port());
  EXPECT_FALSE(late.wait_connected(500ms) && late.send(request_bytes("GET", "/loop"), 500ms) &&
               late.read_response(500ms))
      << "a new connection was served after stop";
}
