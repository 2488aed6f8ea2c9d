// Standard Webhooks signing (DESIGN §4): the specification's published example, rotation with
// two secrets, tampering, the JSON body, and a check by an independent HMAC (Python's hmac,
// run by tests/unit/webhook_verify.py).
#include "notifiers/crypto.hpp"
#include "notifiers/webhook_signature.hpp"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <filesystem>
#include <fstream>
#include <map>

#include "notifiers/base64.hpp"
#include "notifiers/webhook_body.hpp"

using namespace std::chrono;
namespace n = convene::notifiers;
using convene::calendar::Instant;

namespace {

// The example of the Standard Webhooks specification (and Svix's libraries' tests).
constexpr const char* kSpecSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
constexpr const char* kSpecId = "msg_p5jXN8AQM9LWM0D4loKWxJek";
constexpr std::int64_t kSpecTimestamp = 1614265330;
constexpr const char* kSpecBody = "{\"test\": 2432232314}";
constexpr const char* kSpecSignature = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

Instant utc(int y, unsigned mo, unsigned d, int h = 0, int mi = 0) {
  return Instant{sys_days{year{y} / month{mo} / day{d}}} + hours{h} + minutes{mi};
}

// Exit status of webhook_verify.py for these values.
int python_verify(const std::string& secret, const std::string& id, std::int64_t timestamp, const std::string& body,
                  const std::string& header) {
  const auto dir = std::filesystem::temp_directory_path() / ("convene-webhook-test-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const auto file = dir / "body.json";
  {
    std::ofstream out(file, std::ios::binary);
    out << body;
  }
  // Secrets, ids and signatures are base64/ASCII without quotes: safe inside single quotes.
  const std::string command = "/usr/bin/python3 '" + std::string(CONVENE_SOURCE_DIR) + "/tests/unit/webhook_verify.py' '" +
                              secret + "' '" + id + "' " + std::to_string(timestamp) + " '" + file.string() + "' '" +
                              header + "' >/dev/null";
  const int status = std::system(command.c_str());
  std::filesystem::remove_all(dir);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace

TEST(WebhookSignature, MatchesTheSpecificationsExample) {
  EXPECT_EQ(n::sign(kSpecSecret, kSpecId, kSpecTimestamp, kSpecBody), kSpecSignature);
  EXPECT_TRUE(n::verify_signature(kSpecSecret, kSpecId, kSpecTimestamp, kSpecBody, kSpecSignature));
}

TEST(WebhookSignature, SecretsAreWhsecAndThirtyTwoRandomBytes) {
  const std::string a = n::generate_webhook_secret(), b = n::generate_webhook_secret();
  ASSERT_TRUE(a.starts_with("whsec_"));
  const auto key = n::base64_decode(a.substr(6));
  ASSERT_TRUE(key);
  EXPECT_EQ(key->size(), 32u);
  EXPECT_NE(a, b);
  EXPECT_TRUE(n::sign(a, "id", 1, "{}").starts_with("v1,"));
  EXPECT_EQ(n::sign(a, "id", 1, "{}").size(), 3u + 44u);
}

TEST(WebhookSignature, AnyChangeBreaksTheSignature) {
  const std::string secret = n::generate_webhook_secret();
  const std::string header = n::sign(secret, "n-1", 1700000000, "{\"a\":1}");
  EXPECT_TRUE(n::verify_signature(secret, "n-1", 1700000000, "{\"a\":1}", header));
  EXPECT_FALSE(n::verify_signature(secret, "n-2", 1700000000, "{\"a\":1}", header));
  EXPECT_FALSE(n::verify_signature(secret, "n-1", 1700000001, "{\"a\":1}", header));
  EXPECT_FALSE(n::verify_signature(secret, "n-1", 1700000000, "{\"a\":2}", header));
  EXPECT_FALSE(n::verify_signature(n::generate_webhook_secret(), "n-1", 1700000000, "{\"a\":1}", header));
  // Moving the separator between id and timestamp changes the signed text.
  EXPECT_FALSE(n::verify_signature(secret, "n-1.1700000000", 0, "{\"a\":1}", header));
  std::string flipped = header;
  flipped[5] = flipped[5] == 'A' ? 'B' : 'A';
  EXPECT_FALSE(n::verify_signature(secret, "n-1", 1700000000, "{\"a\":1}", flipped));
  EXPECT_FALSE(n::verify_signature(secret, "n-1", 1700000000, "{\"a\":1}", ""));
  EXPECT_FALSE(n::verify_signature(secret, "n-1", 1700000000, "{\"a\":1}", "v2," + header.substr(3)));
}

TEST(WebhookSignature, MalformedSecretsAreRefused) {
  for (const char* bad : {"", "whsec_", "whsec_!!!!", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS"}) {
    EXPECT_THROW(n::sign(bad, "id", 1, "{}"), std::invalid_argument) << bad;
    EXPECT_FALSE(n::verify_signature(bad, "id", 1, "{}", "v1,AAAA")) << bad;
  }
  EXPECT_THROW(n::signature_header({}, "id", 1, "{}"), std::invalid_argument);
}

TEST(WebhookSignature, RotationSignsWithBothSecretsForTheOverlap) {
  const std::string current = n::generate_webhook_secret(), previous = n::generate_webhook_secret();
  const Instant rotated = utc(2027, 7, 1, 12);
  const Instant until = rotated + hours{24};
  EXPECT_EQ(n::signing_secrets(current, previous, until, rotated), (std::vector<std::string>{current, previous}));
  EXPECT_EQ(n::signing_secrets(current, previous, until, until - seconds{1}), (std::vector<std::string>{current, previous}));
  EXPECT_EQ(n::signing_secrets(current, previous, until, until), std::vector<std::string>{current});
  EXPECT_EQ(n::signing_secrets(current, std::nullopt, std::nullopt, rotated), std::vector<std::string>{current});
  EXPECT_EQ(n::signing_secrets(current, current, until, rotated), std::vector<std::string>{current});

  const std::string header = n::signature_header({current, previous}, "n-1", 1751371200, "{}");
  EXPECT_EQ(std::count(header.begin(), header.end(), ' '), 1);
  EXPECT_EQ(header, n::sign(current, "n-1", 1751371200, "{}") + " " + n::sign(previous, "n-1", 1751371200, "{}"));
  // A receiver holding either secret accepts it.
  EXPECT_TRUE(n::verify_signature(current, "n-1", 1751371200, "{}", header));
  EXPECT_TRUE(n::verify_signature(previous, "n-1", 1751371200, "{}", header));
  EXPECT_FALSE(n::verify_signature(n::generate_webhook_secret(), "n-1", 1751371200, "{}", header));
}

TEST(WebhookBody, IsTypeTimestampDataInThatOrder) {
  const boost::json::object data{{"meeting_id", 5}, {"title", "Caf\xC3\xA9 \"sync\""}};
  const std::string body = n::webhook_body("meeting.scheduled", utc(2027, 7, 12, 19), data);
  EXPECT_TRUE(body.starts_with("{\"type\":\"meeting.scheduled\",\"timestamp\":\"2027-07-12T19:00:00Z\",\"data\":{"))
      << body;
  const auto parsed = boost::json::parse(body).as_object();
  EXPECT_EQ(parsed.at("data").as_object(), data);
}

TEST(WebhookBody, BuildsASignedDeliveryForEachAttempt) {
  const std::string secret = n::generate_webhook_secret();
  const boost::json::object data{{"topic_id", 9}};
  const Instant occurred = utc(2027, 7, 12, 19), now = occurred + minutes{7} + milliseconds{999};
  const auto hook = n::build_webhook("0b7e6a52-3c1f-4d2e-9a4b-7f1e2d3c4b5a", "https://hooks.example.org/x", "topic.posted",
                                     occurred, data, {secret}, now);
  std::map<std::string, std::string> headers(hook.headers.begin(), hook.headers.end());
  EXPECT_EQ(hook.id, "0b7e6a52-3c1f-4d2e-9a4b-7f1e2d3c4b5a");
  EXPECT_EQ(hook.url, "https://hooks.example.org/x");
  EXPECT_EQ(headers["content-type"], "application/json");
  EXPECT_EQ(headers["webhook-id"], hook.id);
  const std::int64_t timestamp = floor<seconds>(now).time_since_epoch().count();
  EXPECT_EQ(headers["webhook-timestamp"], std::to_string(timestamp));
  EXPECT_TRUE(n::verify_signature(secret, hook.id, timestamp, hook.body, headers["webhook-signature"]));
  EXPECT_EQ(hook.body, n::webhook_body("topic.posted", occurred, data));
  // A retry an hour later carries the same body, signed at its own time.
  const auto retry = n::build_webhook(hook.id, hook.url, "topic.posted", occurred, data, {secret}, now + hours{1});
  EXPECT_EQ(retry.body, hook.body);
  EXPECT_NE(retry.headers, hook.headers);
}

TEST(WebhookSignaturePython, AnIndependentHmacAgrees) {
  if (std::system("/usr/bin/python3 -c 'import hmac' >/dev/null 2>&1") != 0) GTEST_SKIP() << "no /usr/bin/python3";
  EXPECT_EQ(python_verify(kSpecSecret, kSpecId, kSpecTimestamp, kSpecBody, kSpecSignature), 0);
  const std::string current = n::generate_webhook_secret(), previous = n::generate_webhook_secret();
  const std::string body = n::webhook_body("meeting.updated", Instant{},
                                           boost::json::object{{"title", "R\xC3\xA9union \xF0\x9F\x8E\x89 \\ \"x\"\n"}});
  const std::string header = n::signature_header({current, previous}, "n-42", 1783000000, body);
  EXPECT_EQ(python_verify(current, "n-42", 1783000000, body, header), 0);
  EXPECT_EQ(python_verify(previous, "n-42", 1783000000, body, header), 0);
  // And it does notice a wrong one.
  EXPECT_EQ(python_verify(n::generate_webhook_secret(), "n-42", 1783000000, body, header), 1);
  EXPECT_EQ(python_verify(current, "n-42", 1783000001, body, header), 1);
}

// RFC 4231 test cases 2 and 6, and the empty key (which OpenSSL must not read as "no key").
TEST(HmacSha256, MatchesKnownVectors) {
  const auto hex = [](const std::string& bytes) {
    std::string out;
    for (unsigned char c : bytes) out += "0123456789abcdef"[c >> 4], out += "0123456789abcdef"[c & 15];
    return out;
  };
  EXPECT_EQ(hex(convene::notifiers::hmac_sha256("Jefe", "what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  EXPECT_EQ(hex(convene::notifiers::hmac_sha256("", "")), "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
  // RFC 4231 test case 6: a key longer than SHA-256's block (hashed first); and the short
  // key again after it, so a reused context takes each MAC's own key.
  EXPECT_EQ(hex(convene::notifiers::hmac_sha256(std::string(131, '\xaa'), "Test Using Larger Than Block-Size Key - Hash Key First")),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
  EXPECT_EQ(hex(convene::notifiers::hmac_sha256("Jefe", "what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}
