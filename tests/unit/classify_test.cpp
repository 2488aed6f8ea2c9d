// Delivery outcomes (DESIGN §4): SMTP replies and HTTP statuses become sent, transient or
// permanent; 410 disables an endpoint; Retry-After is honoured within bounds.
#include "notifiers/classify.hpp"

#include <gtest/gtest.h>

using namespace std::chrono;
namespace n = convene::notifiers;
using Kind = n::SendResult::Kind;
using convene::calendar::Instant;

namespace {

// Wed, 21 Oct 2026 07:28:00 GMT
const Instant kNow = Instant{sys_days{2026y / October / 21} + 7h + 28min};

n::SendResult http(int status, std::optional<std::string> retry_after = std::nullopt) {
  return n::classify_http(status, retry_after, "body", kNow);
}

}  // namespace

TEST(ClassifySmtp, ByReplyClass) {
  for (int code : {250, 251, 200, 299}) EXPECT_EQ(n::classify_smtp(code, "ok").kind, Kind::sent) << code;
  for (int code : {421, 450, 451, 452, 454, 499}) EXPECT_EQ(n::classify_smtp(code, "later").kind, Kind::transient) << code;
  for (int code : {500, 501, 550, 551, 552, 553, 554, 599})
    EXPECT_EQ(n::classify_smtp(code, "no").kind, Kind::permanent) << code;
}

TEST(ClassifySmtp, RelayAuthenticationFailuresWaitForTheOperator) {
  for (int code : {530, 534, 535, 538}) EXPECT_EQ(n::classify_smtp(code, "auth").kind, Kind::transient) << code;
}

TEST(ClassifySmtp, NoOrGarbledReplyIsTransient) {
  for (int code : {0, -1, 1, 199, 354, 600, 99999}) EXPECT_EQ(n::classify_smtp(code, "").kind, Kind::transient) << code;
}

TEST(ClassifySmtp, DetailIsOneShortLine) {
  const auto r = n::classify_smtp(550, "5.1.1 <ada@example.org>: Recipient address rejected\r\n550 second line\x01");
  EXPECT_EQ(r.code, 550);
  EXPECT_EQ(r.detail, "SMTP 550: 5.1.1 <ada@example.org>: Recipient address rejected 550 second line");
  EXPECT_FALSE(r.ok());
  const auto long_reply = n::classify_smtp(451, std::string(5000, 'x'));
  EXPECT_LE(long_reply.detail.size(), 500u);
  EXPECT_EQ(n::classify_smtp(250, "").detail, "SMTP 250");
  EXPECT_TRUE(n::classify_smtp(250, "").ok());
}

TEST(ClassifyHttp, OnlyTwoHundredsAreSent) {
  for (int s : {200, 201, 202, 204, 299}) EXPECT_EQ(http(s).kind, Kind::sent) << s;
  for (int s : {408, 429, 500, 502, 503, 504, 599}) EXPECT_EQ(http(s).kind, Kind::transient) << s;
  for (int s : {400, 401, 403, 404, 405, 409, 413, 415, 422, 451, 499}) EXPECT_EQ(http(s).kind, Kind::permanent) << s;
  // Redirects are not followed (they could lead anywhere) and are not a success.
  for (int s : {100, 301, 302, 307, 308, 0, 600}) EXPECT_EQ(http(s).kind, Kind::transient) << s;
}

TEST(ClassifyHttp, GoneDisablesTheEndpoint) {
  const auto r = http(410);
  EXPECT_EQ(r.kind, Kind::permanent);
  EXPECT_TRUE(r.endpoint_gone);
  for (int s : {200, 404, 429, 500}) EXPECT_FALSE(http(s).endpoint_gone) << s;
}

TEST(ClassifyHttp, RetryAfterSecondsAndDates) {
  EXPECT_EQ(http(429, "120").retry_after, seconds{120});
  EXPECT_EQ(http(503, " 0 ").retry_after, seconds{0});
  EXPECT_EQ(http(503, "Wed, 21 Oct 2026 07:30:00 GMT").retry_after, seconds{120});
  EXPECT_EQ(http(503, "Wed, 21 Oct 2026 07:00:00 GMT").retry_after, seconds{0});  // in the past
  // Capped at a day.
  EXPECT_EQ(http(429, "86401").retry_after, hours{24});
  EXPECT_EQ(http(429, "99999999999999999999999").retry_after, hours{24});
  EXPECT_EQ(http(429, "0000000000000000120").retry_after, seconds{120});
  EXPECT_EQ(http(503, "Fri, 30 Oct 2026 07:30:00 GMT").retry_after, hours{24});
  // Malformed: ignored.
  for (const char* bad : {"", "-5", "1.5", "soon", "120s", "Thu, 21 Oct 2026 07:30:00 GMT" /* wrong weekday */,
                          "Wed, 21 Oct 2026 07:30:00 UTC", "Wed, 31 Feb 2026 07:30:00 GMT", "Wed, 21 Oct 2026 25:30:00 GMT", "Wed, 21 Oct 2026 -1:30:00 GMT", "Wed, +1 Oct 2026 07:30:00 GMT",
                          "Wednesday, 21-Oct-26 07:30:00 GMT"})
    EXPECT_FALSE(http(503, bad).retry_after) << bad;
  // Only a transient result carries one.
  EXPECT_FALSE(http(400, "120").retry_after);
  EXPECT_FALSE(http(200, "120").retry_after);
  EXPECT_FALSE(http(503).retry_after);
}

TEST(ClassifyHttp, DetailHoldsTheStatusAndAnExcerpt) {
  const auto r = n::classify_http(500, std::nullopt, std::string("<html>\r\nInternal error") + '\0' + std::string(2000, 'y'), kNow);
  EXPECT_EQ(r.code, 500);
  EXPECT_TRUE(r.detail.starts_with("HTTP 500: <html> Internal error")) << r.detail;
  EXPECT_LE(r.detail.size(), 500u);
  EXPECT_EQ(r.detail.find_first_of("\r\n"), std::string::npos);
  // Invalid UTF-8 from a peer is repaired, not passed on.
  EXPECT_EQ(n::classify_http(502, std::nullopt, "bad \xFF", kNow).detail, "HTTP 502: bad \xEF\xBF\xBD");
}

TEST(ClassifyTransport, FailuresWithoutAReply) {
  const auto r = n::transport_failure("Connection refused");
  EXPECT_EQ(r.kind, Kind::transient);
  EXPECT_EQ(r.code, 0);
  EXPECT_EQ(r.detail, "transport: Connection refused");
  const auto refused = n::refused_destination("127.0.0.1 is loopback");
  EXPECT_EQ(refused.kind, Kind::permanent);
  EXPECT_EQ(refused.code, 0);
  EXPECT_FALSE(refused.endpoint_gone);
}
