#include "notifiers/address_policy.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <stdexcept>

namespace convene::notifiers {
namespace {

struct Range {
  Cidr cidr;
  std::string_view name;
};

std::vector<Range> ranges(std::initializer_list<std::pair<std::string_view, std::string_view>> table) {
  std::vector<Range> out;
  for (const auto& [text, name] : table) out.push_back({*parse_cidr(text), name});
  return out;
}

// Most specific first where ranges overlap (metadata inside link-local or unique-local).
const std::vector<Range>& v4_ranges() {
  static const auto table = ranges({{"169.254.169.254/32", "metadata"},
                                    {"0.0.0.0/8", "unspecified"},
                                    {"10.0.0.0/8", "private"},
                                    {"100.64.0.0/10", "CGNAT"},
                                    {"127.0.0.0/8", "loopback"},
                                    {"169.254.0.0/16", "link-local"},
                                    {"172.16.0.0/12", "private"},
                                    {"192.0.0.0/24", "IETF protocol assignments"},
                                    {"192.0.2.0/24", "documentation"},
                                    {"192.88.99.0/24", "6to4 relay anycast"},
                                    {"192.168.0.0/16", "private"},
                                    {"198.18.0.0/15", "benchmarking"},
                                    {"198.51.100.0/24", "documentation"},
                                    {"203.0.113.0/24", "documentation"},
                                    {"224.0.0.0/4", "multicast"},
                                    {"255.255.255.255/32", "broadcast"},
                                    {"240.0.0.0/4", "reserved"}});
  return table;
}

const std::vector<Range>& v6_ranges() {
  static const auto table = ranges({{"::/128", "unspecified"},
                                    {"::1/128", "loopback"},
                                    {"fd00:ec2::254/128", "metadata"},
                                    {"::/96", "IPv4-compatible (deprecated)"},
                                    {"64:ff9b:1::/48", "NAT64 local-use"},
                                    {"100::/64", "discard-only"},
                                    {"2001::/23", "IETF protocol assignments"},
                                    {"2001:db8::/32", "documentation"},
                                    {"3fff::/20", "documentation"},
                                    {"fc00::/7", "private"},
                                    {"fe80::/10", "link-local"},
                                    {"fec0::/10", "site-local (deprecated)"},
                                    {"ff00::/8", "multicast"}});
  return table;
}

IpAddress v4_at(const IpAddress& v6, std::size_t offset) {
  IpAddress v4;
  std::copy_n(v6.bytes.begin() + static_cast<std::ptrdiff_t>(offset), 4, v4.bytes.begin());
  return v4;
}

bool starts_with(const IpAddress& a, std::initializer_list<std::uint8_t> prefix) {
  return a.v6 && std::equal(prefix.begin(), prefix.end(), a.bytes.begin());
}

// An IPv6 address that is an IPv4 address on the wire: IPv4-mapped (::ffff:a.b.c.d) and
// IPv4-translated (::ffff:0:a.b.c.d).
std::optional<IpAddress> direct_v4(const IpAddress& a) {
  if (starts_with(a, {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff})) return v4_at(a, 12);
  if (starts_with(a, {0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0})) return v4_at(a, 12);
  return std::nullopt;
}

bool allowed(const IpAddress& a, const std::vector<Cidr>& allowlist) {
  return std::any_of(allowlist.begin(), allowlist.end(), [&](const Cidr& c) { return c.contains(a); });
}

std::optional<std::string> listed_range(const IpAddress& a) {
  for (const auto& r : a.v6 ? v6_ranges() : v4_ranges())
    if (r.cidr.contains(a)) return std::string(r.name);
  return std::nullopt;
}

}  // namespace

std::optional<IpAddress> parse_ip(std::string_view text) {
  if (text.empty() || text.size() > 45) return std::nullopt;
  const std::string s(text);
  IpAddress a;
  if (s.find(':') == std::string::npos) {
    if (inet_pton(AF_INET, s.c_str(), a.bytes.data()) != 1) return std::nullopt;
  } else {
    a.v6 = true;
    if (inet_pton(AF_INET6, s.c_str(), a.bytes.data()) != 1) return std::nullopt;
  }
  return a;
}

std::optional<IpAddress> from_sockaddr(const sockaddr* address) {
  if (address == nullptr) return std::nullopt;
  IpAddress a;
  if (address->sa_family == AF_INET) {
    sockaddr_in in;
    std::memcpy(&in, address, sizeof in);
    std::memcpy(a.bytes.data(), &in.sin_addr, 4);
    return a;
  }
  if (address->sa_family == AF_INET6) {
    sockaddr_in6 in6;
    std::memcpy(&in6, address, sizeof in6);
    a.v6 = true;
    std::memcpy(a.bytes.data(), &in6.sin6_addr, 16);
    return a;
  }
  return std::nullopt;
}

std::string to_string(const IpAddress& address) {
  char buffer[INET6_ADDRSTRLEN] = {};
  inet_ntop(address.v6 ? AF_INET6 : AF_INET, address.bytes.data(), buffer, sizeof buffer);
  return buffer;
}

bool Cidr::contains(const IpAddress& address) const {
  if (address.v6 != network.v6) return false;
  const int full = prefix / 8, rest = prefix % 8;
  if (!std::equal(network.bytes.begin(), network.bytes.begin() + full, address.bytes.begin())) return false;
  if (rest == 0) return true;
  const auto mask = static_cast<std::uint8_t>(0xFF << (8 - rest));
  return (network.bytes[static_cast<std::size_t>(full)] & mask) == (address.bytes[static_cast<std::size_t>(full)] & mask);
}

std::optional<Cidr> parse_cidr(std::string_view text) {
  const std::size_t slash = text.find('/');
  const auto address = parse_ip(text.substr(0, slash));
  if (!address) return std::nullopt;
  const int bits = address->v6 ? 128 : 32;
  int prefix = bits;
  if (slash != std::string_view::npos) {
    const std::string_view digits = text.substr(slash + 1);
    if (digits.empty() || digits.size() > 3 || (digits.size() > 1 && digits.front() == '0')) return std::nullopt;
    const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), prefix);
    if (ec != std::errc() || end != digits.data() + digits.size() || prefix < 0 || prefix > bits) return std::nullopt;
  }
  const Cidr cidr{*address, prefix};
  // Host bits set: the network written with them cleared must be the same address.
  IpAddress masked = *address;
  for (int bit = prefix; bit < bits; ++bit)
    masked.bytes[static_cast<std::size_t>(bit / 8)] &= static_cast<std::uint8_t>(~(0x80 >> (bit % 8)));
  if (!(masked == *address)) return std::nullopt;
  return cidr;
}

std::vector<Cidr> parse_cidr_list(std::string_view text) {
  std::vector<Cidr> out;
  std::size_t pos = 0;
  const auto separator = [](char c) { return c == ',' || c == ' ' || c == '\t' || c == '\n' || c == '\r'; };
  while (pos < text.size()) {
    while (pos < text.size() && separator(text[pos])) ++pos;
    std::size_t end = pos;
    while (end < text.size() && !separator(text[end])) ++end;
    if (end == pos) break;
    const std::string_view entry = text.substr(pos, end - pos);
    const auto cidr = parse_cidr(entry);
    if (!cidr)
      throw std::invalid_argument("not an address or CIDR block with zero host bits: \"" +
                                  std::string(entry.substr(0, 64)) + "\"");
    out.push_back(*cidr);
    pos = end;
  }
  return out;
}

std::optional<std::string> forbidden_range(const IpAddress& address, const std::vector<Cidr>& allowlist) {
  if (allowed(address, allowlist)) return std::nullopt;
  if (const auto v4 = direct_v4(address)) return forbidden_range(*v4, allowlist);
  if (address.v6) {
    // NAT64 (64:ff9b::/96) and 6to4 (2002::/16) reach the IPv4 address they embed.
    if (starts_with(address, {0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0})) {
      const auto inner = forbidden_range(v4_at(address, 12), allowlist);
      return inner ? std::optional("NAT64 of " + *inner) : std::nullopt;
    }
    if (starts_with(address, {0x20, 0x02})) {
      const auto inner = forbidden_range(v4_at(address, 2), allowlist);
      return inner ? std::optional("6to4 of " + *inner) : std::nullopt;
    }
  }
  if (auto name = listed_range(address)) return name;
  // Global unicast IPv6 is 2000::/3; the rest is unassigned or special.
  if (address.v6 && (address.bytes[0] & 0xE0) != 0x20) return "reserved";
  return std::nullopt;
}

bool is_forbidden_destination(const IpAddress& address, const std::vector<Cidr>& allowlist) {
  return forbidden_range(address, allowlist).has_value();
}

bool is_forbidden_destination(const sockaddr* address, const std::vector<Cidr>& allowlist) {
  const auto ip = from_sockaddr(address);
  return !ip || is_forbidden_destination(*ip, allowlist);
}

}  // namespace convene::notifiers
