#include "daemon/http/client_address.hpp"

#include <gtest/gtest.h>

using namespace convene::daemon::http;
using boost::asio::ip::make_address;

namespace {

const TrustedProxies kLocal = TrustedProxies::parse("127.0.0.0/8, ::1/128");

}  // namespace

TEST(ClientAddress, AnUntrustedPeerIsTheClientWhateverItsHeaderSays) {
  // Spoofing: a client sends X-Forwarded-For to pass as someone else (or as many others).
  EXPECT_EQ(client_address(make_address("203.0.113.7"), "198.51.100.1", kLocal), "203.0.113.7");
  EXPECT_EQ(client_address(make_address("203.0.113.7"), "127.0.0.1", kLocal), "203.0.113.7");
  EXPECT_EQ(client_address(make_address("2001:db8::7"), "198.51.100.1", kLocal), "2001:db8::7");
}

TEST(ClientAddress, ATrustedPeerWithoutTheHeaderIsTheClient) {
  EXPECT_EQ(client_address(make_address("127.0.0.1"), "", kLocal), "127.0.0.1");
  EXPECT_EQ(client_address(make_address("127.0.0.1"), " ", kLocal), "127.0.0.1");
}

TEST(ClientAddress, ATrustedPeerNamesTheRightmostUntrustedEntry) {
  // The client put a forged entry first; the proxy appended the real address.
  EXPECT_EQ(client_address(make_address("127.0.0.1"), "1.1.1.1, 198.51.100.9", kLocal), "198.51.100.9");
  EXPECT_EQ(client_address(make_address("127.0.0.1"), "198.51.100.9", kLocal), "198.51.100.9");
}

TEST(ClientAddress, AChainOfTrustedProxiesIsSkipped) {
  const auto trusted = TrustedProxies::parse("127.0.0.0/8 10.0.0.0/8");
  // client -> 10.1.1.1 (edge) -> 10.2.2.2 (internal) -> 127.0.0.1 (local) -> convened
  EXPECT_EQ(client_address(make_address("127.0.0.1"), "6.6.6.6, 198.51.100.9, 10.1.1.1,10.2.2.2", trusted),
            "198.51.100.9");
  // Every entry trusted: the leftmost.
  EXPECT_EQ(client_address(make_address("127.0.0.1"), "10.1.1.1, 10.2.2.2", trusted), "10.1.1.1");
  // Only trusted proxies are skipped: an untrusted hop in the middle is the client.
  EXPECT_EQ(client_address(make_address("127.0.0.1"), "198.51.100.9, 203.0.113.1, 10.2.2.2", trusted), "203.0.113.1");
}

TEST(ClientAddress, SeveralHeaderValuesJoinedWithCommas) {
  const auto trusted = TrustedProxies::parse("127.0.0.0/8 10.0.0.0/8");
  EXPECT_EQ(client_address(make_address("127.0.0.1"), "198.51.100.9,10.1.1.1", trusted), "198.51.100.9");
}

TEST(ClientAddress, AnEntryThatIsNotAnAddressEndsTheWalkAtTheLastTrustedHop) {
  const auto trusted = TrustedProxies::parse("127.0.0.0/8 10.0.0.0/8");
  EXPECT_EQ(client_address(make_address("127.0.0.1"), "198.51.100.9, unknown, 10.1.1.1", trusted), "10.1.1.1");
  EXPECT_EQ(client_address(make_address("127.0.0.1"), "198.51.100.9, garbage", trusted), "127.0.0.1");
  EXPECT_EQ(client_address(make_address("127.0.0.1"), "198.51.100.9:4711", trusted), "127.0.0.1");  // ports are not addresses
  EXPECT_EQ(client_address(make_address("127.0.0.1"), "198.51.100.9, ,10.1.1.1", trusted), "10.1.1.1");
  EXPECT_EQ(client_address(make_address("127.0.0.1"), "198.51.100.9,", trusted), "127.0.0.1");
  EXPECT_EQ(client_address(make_address("127.0.0.1"), std::string(1000, 'x'), trusted), "127.0.0.1");
}

TEST(ClientAddress, IPv6AndV4MappedAddresses) {
  // A dual-stack socket reports IPv4 clients as ::ffff:a.b.c.d: they match IPv4 blocks and
  // are shown as IPv4, so one client is one rate-limit key.
  EXPECT_EQ(client_address(make_address("::ffff:127.0.0.1"), "198.51.100.9", kLocal), "198.51.100.9");
  EXPECT_EQ(client_address(make_address("::ffff:203.0.113.7"), "198.51.100.9", kLocal), "203.0.113.7");
  EXPECT_EQ(client_address(make_address("::1"), "2001:db8:0:0::9", kLocal), "2001:db8::9");
  EXPECT_EQ(client_address(make_address("::1"), "::ffff:198.51.100.9", kLocal), "198.51.100.9");
  const auto v6 = TrustedProxies::parse("fd00::/8");
  EXPECT_EQ(client_address(make_address("fd00::1"), "2001:db8::9, fd12::5", v6), "2001:db8::9");
  EXPECT_EQ(client_address(make_address("fe00::1"), "2001:db8::9", v6), "fe00::1");
}

TEST(ClientAddress, OnlyTheRightmost64EntriesAreRead) {
  const auto trusted = TrustedProxies::parse("10.0.0.0/8");
  std::string xff = "198.51.100.9";
  for (int i = 0; i < 64; ++i) xff += ", 10.0.0." + std::to_string(i);
  // 65 entries: the client's is beyond the bound, so the leftmost entry read is the answer.
  EXPECT_EQ(client_address(make_address("10.255.0.1"), xff, trusted), "10.0.0.0");
  xff = "198.51.100.9";
  for (int i = 0; i < 63; ++i) xff += ", 10.0.0." + std::to_string(i);
  EXPECT_EQ(client_address(make_address("10.255.0.1"), xff, trusted), "198.51.100.9");
}

TEST(ClientAddress, TrustedProxiesParseAndMatch) {
  const auto t = TrustedProxies::parse("127.0.0.0/8, ::1/128, 10.0.0.0/8");
  EXPECT_FALSE(t.empty());
  EXPECT_TRUE(t.contains(make_address("127.9.9.9")));
  EXPECT_TRUE(t.contains(make_address("10.200.0.1")));
  EXPECT_TRUE(t.contains(make_address("::1")));
  EXPECT_TRUE(t.contains(make_address("::ffff:10.0.0.1")));
  EXPECT_FALSE(t.contains(make_address("11.0.0.1")));
  EXPECT_FALSE(t.contains(make_address("::2")));
  EXPECT_TRUE(TrustedProxies::parse("").empty());
  EXPECT_EQ(client_address(make_address("127.0.0.1"), "198.51.100.9", TrustedProxies::parse("")), "127.0.0.1");
}

TEST(ClientAddress, BadCidrTextThrowsNamingTheEntry) {
  for (const char* bad : {"10.0.0.1/8", "10.0.0.0/33", "localhost", "10.0.0.0/8, 1.2.3", "::1/129"}) {
    try {
      TrustedProxies::parse(bad);
      ADD_FAILURE() << "accepted " << bad;
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find("trusted proxies"), std::string::npos) << e.what();
    }
  }
  try {
    TrustedProxies::parse("127.0.0.0/8, 10.0.0.1/8");
    ADD_FAILURE();
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("10.0.0.1/8"), std::string::npos) << e.what();
  }
}
