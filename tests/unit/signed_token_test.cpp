// Signed unsubscribe and preferences tokens (DESIGN §4): they round-trip, are bound to their
// purpose, member, community and key, resist tampering, and malformed input never crashes.
#include "notifiers/signed_token.hpp"

#include <gtest/gtest.h>

#include <random>

#include "notifiers/base64.hpp"
#include "notifiers/crypto.hpp"

namespace n = convene::notifiers;
using n::TokenPurpose;

namespace {

const std::string kKey(32, 'k');
const std::string kOtherKey = std::string(31, 'k') + "K";

}  // namespace

TEST(SignedToken, RoundTrips) {
  const std::string t = n::make_token(kKey, TokenPurpose::unsubscribe, 42, 7);
  EXPECT_TRUE(t.starts_with("u1."));
  EXPECT_EQ(t.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_."), std::string::npos)
      << "URL-safe";
  EXPECT_EQ(n::verify_token(kKey, TokenPurpose::unsubscribe, t), (n::TokenClaims{42, 7}));
  const std::string p = n::make_token(kKey, TokenPurpose::preferences, 42, 0);
  EXPECT_EQ(n::verify_token(kKey, TokenPurpose::preferences, p), (n::TokenClaims{42, 0}));
  const std::int64_t big = std::numeric_limits<std::int64_t>::max();
  EXPECT_EQ(n::verify_token(kKey, TokenPurpose::unsubscribe, n::make_token(kKey, TokenPurpose::unsubscribe, big, big)),
            (n::TokenClaims{big, big}));
  // Deterministic: the same claims give the same link.
  EXPECT_EQ(n::make_token(kKey, TokenPurpose::unsubscribe, 42, 7), t);
}

TEST(SignedToken, IsBoundToPurposeAndKey) {
  const std::string t = n::make_token(kKey, TokenPurpose::unsubscribe, 42, 7);
  EXPECT_FALSE(n::verify_token(kKey, TokenPurpose::preferences, t));
  EXPECT_FALSE(n::verify_token(kOtherKey, TokenPurpose::unsubscribe, t));
  EXPECT_FALSE(n::verify_token(kKey, TokenPurpose::unsubscribe, n::make_token(kOtherKey, TokenPurpose::unsubscribe, 42, 7)));
}

TEST(SignedToken, AnotherMembersTokenCannotBeMadeFromOne) {
  const std::string t = n::make_token(kKey, TokenPurpose::unsubscribe, 42, 7);
  const std::size_t dot = t.find('.', 3);
  const std::string mac = t.substr(dot + 1);
  // The payload of member 43 (or community 8) with member 42's signature.
  for (const std::string payload : {"43.7", "42.8", "42.7.", "042.7", "42.07", "42", "42.7.9", "-42.7", "42.-7"})
    EXPECT_FALSE(n::verify_token(kKey, TokenPurpose::unsubscribe, "u1." + n::base64url_encode(payload) + "." + mac))
        << payload;
  // Two genuine tokens' halves do not combine.
  const std::string other = n::make_token(kKey, TokenPurpose::unsubscribe, 43, 7);
  EXPECT_FALSE(n::verify_token(kKey, TokenPurpose::unsubscribe, other.substr(0, other.find('.', 3)) + "." + mac));
}

TEST(SignedToken, EveryChangedCharacterIsRefused) {
  const std::string t = n::make_token(kKey, TokenPurpose::preferences, 1234, 56);
  const std::string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/ ";
  for (std::size_t i = 0; i < t.size(); ++i)
    for (char c : {alphabet[i % alphabet.size()], alphabet[(i * 7 + 3) % alphabet.size()]}) {
      if (c == t[i]) continue;
      std::string changed = t;
      changed[i] = c;
      EXPECT_FALSE(n::verify_token(kKey, TokenPurpose::preferences, changed)) << changed;
    }
  EXPECT_FALSE(n::verify_token(kKey, TokenPurpose::preferences, t + "A"));
  EXPECT_FALSE(n::verify_token(kKey, TokenPurpose::preferences, t.substr(0, t.size() - 1)));
  EXPECT_FALSE(n::verify_token(kKey, TokenPurpose::preferences, t + "="));
}

TEST(SignedToken, MalformedInputIsRefusedQuietly) {
  const std::vector<std::string> malformed{"",      "u1",        "u1.",
                                           "u1..",  "u1.a.b",    "u2.NDIuNw.AAAA",
                                           "U1.x.y", ".....",    "u1.NDIuNw",
                                           std::string(100000, 'a'), "u1." + std::string(300, 'A') + ".x",
                                           std::string("u1.\0.\0", 6)};
  for (const auto& bad : malformed)
    EXPECT_FALSE(n::verify_token(kKey, TokenPurpose::unsubscribe, bad)) << bad.substr(0, 40);
  std::mt19937 random(12345);
  for (int i = 0; i < 2000; ++i) {
    std::string junk = "u1.";
    const int length = static_cast<int>(random() % 120);
    for (int k = 0; k < length; ++k) junk += static_cast<char>(random() % 256);
    EXPECT_FALSE(n::verify_token(kKey, TokenPurpose::unsubscribe, junk));
  }
}

TEST(SignedToken, RefusesWeakKeysAndImpossibleClaims) {
  EXPECT_THROW(n::make_token(std::string(31, 'k'), TokenPurpose::unsubscribe, 1, 1), std::invalid_argument);
  EXPECT_THROW(n::make_token("", TokenPurpose::unsubscribe, 1, 1), std::invalid_argument);
  EXPECT_THROW(n::verify_token("short", TokenPurpose::unsubscribe, "u1.a.b"), std::invalid_argument);
  EXPECT_THROW(n::make_token(kKey, TokenPurpose::unsubscribe, 0, 1), std::invalid_argument);
  EXPECT_THROW(n::make_token(kKey, TokenPurpose::unsubscribe, -1, 1), std::invalid_argument);
  EXPECT_THROW(n::make_token(kKey, TokenPurpose::unsubscribe, 1, -1), std::invalid_argument);
}

TEST(SignedToken, VersionZeroIsTheTokenMadeBeforeVersionsExisted) {
  // Links already in mailboxes were made without a version: they must still verify, as version 0.
  const std::string before = "u1." + n::base64url_encode("42.0") + ".";
  const std::string t = n::make_token(kKey, TokenPurpose::preferences, 42, 0);
  EXPECT_TRUE(t.starts_with(before)) << t;
  EXPECT_EQ(n::make_token(kKey, TokenPurpose::preferences, 42, 0, 0), t);
  EXPECT_EQ(n::verify_token(kKey, TokenPurpose::preferences, t)->version, 0);
}

TEST(SignedToken, TheVersionIsSignedAndRoundTrips) {
  const std::string v3 = n::make_token(kKey, TokenPurpose::preferences, 42, 0, 3);
  EXPECT_EQ(n::verify_token(kKey, TokenPurpose::preferences, v3), (n::TokenClaims{42, 0, 3}));
  EXPECT_NE(v3, n::make_token(kKey, TokenPurpose::preferences, 42, 0, 4));
  EXPECT_NE(v3, n::make_token(kKey, TokenPurpose::preferences, 42, 0));
  // Version 3's signature does not cover another version, nor the version-less payload.
  const std::string mac = v3.substr(v3.find('.', 3) + 1);
  for (const std::string payload : {"42.0", "42.0.4", "42.0.03", "42.0.0", "42.0.3.", "42.0.-3", "42.3"})
    EXPECT_FALSE(n::verify_token(kKey, TokenPurpose::preferences, "u1." + n::base64url_encode(payload) + "." + mac))
        << payload;
  // Version 0 written out, even correctly signed, is not a second spelling of the version-less token.
  const std::string zero_mac = n::hmac_sha256(kKey, "convene-token/u1/preferences/42.0.0");
  EXPECT_FALSE(n::verify_token(kKey, TokenPurpose::preferences,
                               "u1." + n::base64url_encode("42.0.0") + "." + n::base64url_encode(zero_mac)));
  EXPECT_THROW(n::make_token(kKey, TokenPurpose::preferences, 42, 0, -1), std::invalid_argument);
  const std::int64_t big = std::numeric_limits<std::int64_t>::max();
  const std::string largest = n::make_token(kKey, TokenPurpose::unsubscribe, big, big, big);
  EXPECT_LE(largest.size(), 200u) << "the largest token still fits the 200-byte limit";
  EXPECT_EQ(n::verify_token(kKey, TokenPurpose::unsubscribe, largest), (n::TokenClaims{big, big, big}));
}

TEST(SignedToken, AnEmailsUnsubscribeTokenIsItsCommunitysOrItsDigests) {
  // A community's email: that community's token.
  EXPECT_EQ(n::unsubscribe_token(kKey, "topic.posted", 42, 7), n::make_token(kKey, TokenPurpose::unsubscribe, 42, 7));
  EXPECT_EQ(n::unsubscribe_token(kKey, "digest.daily", 42, 7), n::make_token(kKey, TokenPurpose::unsubscribe, 42, 7));
  // A digest over several communities: the digest's own token, of its cadence only.
  const auto daily = n::unsubscribe_token(kKey, "digest.daily", 42, std::nullopt);
  ASSERT_TRUE(daily);
  EXPECT_EQ(n::verify_token(kKey, TokenPurpose::daily_digest, *daily), (n::TokenClaims{42, 0}));
  EXPECT_FALSE(n::verify_token(kKey, TokenPurpose::weekly_digest, *daily));
  EXPECT_FALSE(n::verify_token(kKey, TokenPurpose::unsubscribe, *daily));
  const auto weekly = n::unsubscribe_token(kKey, "digest.weekly", 42, std::nullopt);
  ASSERT_TRUE(weekly);
  EXPECT_EQ(n::verify_token(kKey, TokenPurpose::weekly_digest, *weekly), (n::TokenClaims{42, 0}));
  // Other emails without a community (role.ending, review.due) have none.
  EXPECT_FALSE(n::unsubscribe_token(kKey, "review.due", 42, std::nullopt));
}

TEST(Base64, DecodesOnlyCanonicalText) {
  EXPECT_EQ(n::base64_encode(""), "");
  EXPECT_EQ(n::base64_encode("f"), "Zg==");
  EXPECT_EQ(n::base64_encode("fo"), "Zm8=");
  EXPECT_EQ(n::base64_encode("foo"), "Zm9v");
  EXPECT_EQ(n::base64url_encode("\xFB\xFF"), "-_8");
  EXPECT_EQ(n::base64_decode("Zg=="), "f");
  EXPECT_EQ(n::base64_decode("Zm8="), "fo");
  EXPECT_EQ(n::base64_decode(""), "");
  EXPECT_EQ(n::base64url_decode("-_8"), "\xFB\xFF");
  EXPECT_EQ(n::base64_decode(std::string("AA==")), std::string(1, '\0'));
  for (const char* bad : {"Zg=", "Zg", "Zh==", "Zm9=", "Z===", "====", "Zg==Zg==", "Zm 9v", "Zm9v\n", "-_8=", "Zm=v"})
    EXPECT_FALSE(n::base64_decode(bad)) << bad;
  for (const char* bad : {"-_8=", "+/8", "Zh", "Z", "-_9"}) EXPECT_FALSE(n::base64url_decode(bad)) << bad;
}
