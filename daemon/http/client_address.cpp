#include "daemon/http/client_address.hpp"

#include <algorithm>

namespace convene::daemon::http {
namespace {

namespace ip = boost::asio::ip;

ip::address unmapped(const ip::address& a) {
  if (a.is_v6() && a.to_v6().is_v4_mapped()) return ip::make_address_v4(ip::v4_mapped, a.to_v6());
  return a;
}

notifiers::IpAddress to_ip(const ip::address& a) {
  notifiers::IpAddress out;
  if (a.is_v4()) {
    const auto bytes = a.to_v4().to_bytes();
    std::copy(bytes.begin(), bytes.end(), out.bytes.begin());
  } else {
    out.v6 = true;
    out.bytes = a.to_v6().to_bytes();
  }
  return out;
}

std::string_view trim(std::string_view s) {
  const auto blank = [](char c) { return c == ' ' || c == '\t'; };
  while (!s.empty() && blank(s.front())) s.remove_prefix(1);
  while (!s.empty() && blank(s.back())) s.remove_suffix(1);
  return s;
}

std::optional<ip::address> parse_entry(std::string_view entry) {
  if (entry.empty() || entry.size() > 64) return std::nullopt;
  boost::system::error_code ec;
  const auto a = ip::make_address(std::string(entry), ec);
  if (ec) return std::nullopt;
  return unmapped(a);
}

}  // namespace

TrustedProxies TrustedProxies::parse(std::string_view cidr_list) {
  TrustedProxies out;
  try {
    out.blocks_ = notifiers::parse_cidr_list(cidr_list);
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument(std::string("trusted proxies: ") + e.what());
  }
  return out;
}

bool TrustedProxies::contains(const ip::address& a) const {
  const auto address = to_ip(unmapped(a));
  return std::any_of(blocks_.begin(), blocks_.end(), [&](const notifiers::Cidr& c) { return c.contains(address); });
}

std::string client_address(const ip::address& peer, std::string_view x_forwarded_for, const TrustedProxies& trusted) {
  ip::address hop = unmapped(peer);
  if (!trusted.contains(hop)) return hop.to_string();
  // From the right: each trusted hop vouches for the entry to its left.
  std::string_view rest = x_forwarded_for;
  for (std::size_t read = 0; read < kMaxForwardedEntries && !trim(rest).empty(); ++read) {
    const auto comma = rest.rfind(',');
    const std::string_view entry = trim(comma == std::string_view::npos ? rest : rest.substr(comma + 1));
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(0, comma);
    const auto address = parse_entry(entry);
    if (!address) break;
    hop = *address;
    if (!trusted.contains(hop)) break;
  }
  return hop.to_string();
}

std::string rate_key(std::string_view client) {
  boost::system::error_code ec;
  const auto address = boost::asio::ip::make_address_v6(std::string(client), ec);
  if (ec || address.is_v4_mapped()) return std::string(client);
  auto bytes = address.to_bytes();
  for (std::size_t i = 8; i < bytes.size(); ++i) bytes[i] = 0;
  return boost::asio::ip::address_v6(bytes).to_string() + "/64";
}

}  // namespace convene::daemon::http
