#pragma once
// Where a webhook may be delivered (DESIGN §4, SSRF guard). The transport checks the address
// it is about to connect to (after DNS, so a name that resolves to 127.0.0.1 is caught), not
// the host name. Refused unless the operator's allowlist holds the address: loopback, private
// (RFC 1918, unique-local), link-local, CGNAT, cloud metadata, unspecified, multicast,
// broadcast, documentation, benchmarking and other special-purpose ranges (IANA registries),
// and IPv6 forms that embed such an IPv4 address (IPv4-mapped, NAT64, 6to4). Pure.
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

struct sockaddr;

namespace convene::notifiers {

struct IpAddress {
  bool v6 = false;
  std::array<std::uint8_t, 16> bytes{};  // network order; an IPv4 address uses the first 4

  friend bool operator==(const IpAddress&, const IpAddress&) = default;
};

// "192.0.2.1" or "2001:db8::1" (inet_pton; no zone index, no leading zeros in IPv4).
std::optional<IpAddress> parse_ip(std::string_view text);
// An AF_INET or AF_INET6 socket address; nullopt for other families or a null pointer.
std::optional<IpAddress> from_sockaddr(const sockaddr* address);
std::string to_string(const IpAddress& address);

struct Cidr {
  IpAddress network;
  int prefix = 0;  // 0..32 or 0..128

  bool contains(const IpAddress& address) const;  // same family only
};

// "10.0.0.0/8", "::1/128", or a bare address (a /32 or /128). Host bits after the prefix
// must be zero ("10.0.0.1/8" is refused as a likely mistake). nullopt when malformed.
std::optional<Cidr> parse_cidr(std::string_view text);

// A configuration list: entries separated by commas and/or white space. Throws
// std::invalid_argument naming the first malformed entry.
std::vector<Cidr> parse_cidr_list(std::string_view text);

// The name of the range that makes `address` a forbidden destination ("loopback", "private",
// "metadata", ...), or nullopt when it may be used: a public address, or one the allowlist
// holds (an IPv4-mapped IPv6 address is also looked up as its IPv4 address).
std::optional<std::string> forbidden_range(const IpAddress& address, const std::vector<Cidr>& allowlist);

bool is_forbidden_destination(const IpAddress& address, const std::vector<Cidr>& allowlist);
bool is_forbidden_destination(const sockaddr* address, const std::vector<Cidr>& allowlist);  // true for non-IP

}  // namespace convene::notifiers
