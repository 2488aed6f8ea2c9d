// The SSRF guard (DESIGN §4): addresses a webhook may not reach, IPv6 forms that hide an
// IPv4 address, the operator's allowlist and its parsing.
#include "notifiers/address_policy.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/un.h>

namespace n = convene::notifiers;

namespace {

std::optional<std::string> range_of(const char* address, const std::vector<n::Cidr>& allowlist = {}) {
  const auto ip = n::parse_ip(address);
  if (!ip) return "unparsable";
  return n::forbidden_range(*ip, allowlist);
}

}  // namespace

TEST(AddressPolicy, RefusesInternalIpv4Ranges) {
  const std::vector<std::pair<const char*, const char*>> cases{
      {"127.0.0.1", "loopback"},        {"127.255.255.254", "loopback"}, {"10.1.2.3", "private"},
      {"172.16.0.1", "private"},        {"172.31.255.255", "private"},   {"192.168.1.1", "private"},
      {"169.254.169.254", "metadata"},  {"169.254.1.1", "link-local"},   {"100.64.0.1", "CGNAT"},
      {"100.100.100.200", "CGNAT"},     {"100.127.255.255", "CGNAT"},    {"0.0.0.0", "unspecified"},
      {"0.1.2.3", "unspecified"},       {"224.0.0.1", "multicast"},      {"239.255.255.250", "multicast"},
      {"255.255.255.255", "broadcast"}, {"240.0.0.1", "reserved"},       {"192.0.2.10", "documentation"},
      {"198.51.100.1", "documentation"}, {"203.0.113.9", "documentation"}, {"198.18.0.1", "benchmarking"},
      {"192.0.0.8", "IETF protocol assignments"}};
  for (const auto& [address, name] : cases) EXPECT_EQ(range_of(address), name) << address;
}

TEST(AddressPolicy, AllowsPublicAddresses) {
  for (const char* address : {"93.184.216.34", "8.8.8.8", "1.1.1.1", "172.15.255.255", "172.32.0.0", "100.63.255.255",
                              "100.128.0.0", "169.253.255.255", "192.169.0.1", "223.255.255.255", "2606:4700::1111",
                              "2a00:1450:4001:82b::200e", "2001:4860:4860::8888"})
    EXPECT_EQ(range_of(address), std::nullopt) << address;
}

TEST(AddressPolicy, RefusesInternalIpv6Ranges) {
  const std::vector<std::pair<const char*, const char*>> cases{
      {"::1", "loopback"},          {"::", "unspecified"},          {"fd00:ec2::254", "metadata"},
      {"fc00::1", "private"},        {"fdff:ffff::1", "private"},     {"fe80::1", "link-local"},
      {"febf::1", "link-local"},     {"fec0::1", "site-local (deprecated)"}, {"ff02::1", "multicast"},
      {"2001:db8::1", "documentation"}, {"100::1", "discard-only"}, {"2001::1", "IETF protocol assignments"},
      {"64:ff9b:1::1", "NAT64 local-use"}, {"::7f00:1", "IPv4-compatible (deprecated)"}, {"4000::1", "reserved"},
      {"::2", "IPv4-compatible (deprecated)"}, {"1::1", "reserved"}};
  for (const auto& [address, name] : cases) EXPECT_EQ(range_of(address), name) << address;
}

TEST(AddressPolicy, Ipv6FormsOfIpv4AreJudgedAsTheIpv4Address) {
  EXPECT_EQ(range_of("::ffff:127.0.0.1"), "loopback");
  EXPECT_EQ(range_of("::ffff:7f00:1"), "loopback");
  EXPECT_EQ(range_of("::ffff:169.254.169.254"), "metadata");
  EXPECT_EQ(range_of("::ffff:10.0.0.1"), "private");
  EXPECT_EQ(range_of("::ffff:0:10.0.0.1"), "private");  // IPv4-translated
  EXPECT_EQ(range_of("::ffff:8.8.8.8"), std::nullopt);
  EXPECT_EQ(range_of("64:ff9b::127.0.0.1"), "NAT64 of loopback");
  EXPECT_EQ(range_of("64:ff9b::a9fe:a9fe"), "NAT64 of metadata");
  EXPECT_EQ(range_of("64:ff9b::8.8.8.8"), std::nullopt);
  EXPECT_EQ(range_of("2002:c0a8:0101::1"), "6to4 of private");  // 6to4 of 192.168.1.1
  EXPECT_EQ(range_of("2002:7f00:1::"), "6to4 of loopback");
  EXPECT_EQ(range_of("2002:0808:0808::1"), std::nullopt);
}

TEST(AddressPolicy, TheAllowlistWins) {
  const auto allow = n::parse_cidr_list("127.0.0.1/32, 10.20.0.0/16 fd12:3456::/32");
  EXPECT_EQ(range_of("127.0.0.1", allow), std::nullopt);
  EXPECT_EQ(range_of("::ffff:127.0.0.1", allow), std::nullopt);  // the same host
  EXPECT_EQ(range_of("127.0.0.2", allow), "loopback");
  EXPECT_EQ(range_of("10.20.255.1", allow), std::nullopt);
  EXPECT_EQ(range_of("10.21.0.1", allow), "private");
  EXPECT_EQ(range_of("fd12:3456:1::9", allow), std::nullopt);
  EXPECT_EQ(range_of("fd12:3457::9", allow), "private");
  EXPECT_EQ(range_of("::1", allow), "loopback");
  EXPECT_EQ(range_of("169.254.169.254", n::parse_cidr_list("0.0.0.0/0")), std::nullopt);
}

TEST(AddressPolicy, SocketAddresses) {
  sockaddr_in v4{};
  v4.sin_family = AF_INET;
  inet_pton(AF_INET, "127.0.0.1", &v4.sin_addr);
  EXPECT_TRUE(n::is_forbidden_destination(reinterpret_cast<const sockaddr*>(&v4), {}));
  inet_pton(AF_INET, "93.184.216.34", &v4.sin_addr);
  EXPECT_FALSE(n::is_forbidden_destination(reinterpret_cast<const sockaddr*>(&v4), {}));
  sockaddr_in6 v6{};
  v6.sin6_family = AF_INET6;
  inet_pton(AF_INET6, "::ffff:192.168.0.1", &v6.sin6_addr);
  EXPECT_TRUE(n::is_forbidden_destination(reinterpret_cast<const sockaddr*>(&v6), {}));
  EXPECT_EQ(n::to_string(*n::from_sockaddr(reinterpret_cast<const sockaddr*>(&v6))), "::ffff:192.168.0.1");
  sockaddr_un unix_socket{};
  unix_socket.sun_family = AF_UNIX;
  EXPECT_TRUE(n::is_forbidden_destination(reinterpret_cast<const sockaddr*>(&unix_socket), {}));
  EXPECT_TRUE(n::is_forbidden_destination(static_cast<const sockaddr*>(nullptr), {}));
}

TEST(AddressPolicy, ParsesAddressesStrictly) {
  for (const char* bad : {"", "localhost", "127.1", "127.0.0.01", "0x7f.0.0.1", "2130706433", "1.2.3.4.5", "256.1.1.1",
                          " 1.2.3.4", "fe80::1%eth0", "::ffff:1.2.3", "1.2.3.4/8"})
    EXPECT_FALSE(n::parse_ip(bad)) << bad;
  EXPECT_EQ(n::to_string(*n::parse_ip("2001:DB8:0:0::1")), "2001:db8::1");
}

TEST(AddressPolicy, ParsesCidrLists) {
  const auto list = n::parse_cidr_list("10.0.0.0/8, ::1/128,\n192.168.1.7  fe80::/10,");
  ASSERT_EQ(list.size(), 4u);
  EXPECT_EQ(list[0].prefix, 8);
  EXPECT_EQ(list[1].prefix, 128);
  EXPECT_EQ(list[2].prefix, 32);  // a bare address
  EXPECT_EQ(n::to_string(list[3].network), "fe80::");
  EXPECT_TRUE(n::parse_cidr_list("").empty());
  EXPECT_TRUE(n::parse_cidr_list(" , ").empty());
  EXPECT_TRUE(n::parse_cidr("0.0.0.0/0")->contains(*n::parse_ip("8.8.8.8")));
  EXPECT_FALSE(n::parse_cidr("0.0.0.0/0")->contains(*n::parse_ip("::1")));  // families never mix
  EXPECT_TRUE(n::parse_cidr("10.0.0.0/9")->contains(*n::parse_ip("10.127.0.1")));
  EXPECT_FALSE(n::parse_cidr("10.0.0.0/9")->contains(*n::parse_ip("10.128.0.1")));
  for (const char* bad : {"10.0.0.1/8", "10.0.0.0/33", "::/129", "10.0.0.0/", "10.0.0.0/-1", "10.0.0.0/08", "10.0.0.0/8/8",
                          "/8", "example.org/8", "10.0.0.0/8x"})
    EXPECT_FALSE(n::parse_cidr(bad)) << bad;
  try {
    n::parse_cidr_list("10.0.0.0/8, 10.0.0.1/8");
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("10.0.0.1/8"), std::string::npos) << e.what();
  }
}
