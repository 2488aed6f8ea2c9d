#pragma once
// Which address a request comes from, when trusted reverse proxies stand in front. Pure.
#include "notifiers/address_policy.hpp"

#include <boost/asio/ip/address.hpp>

#include <string>
#include <string_view>
#include <vector>

namespace convene::daemon::http {

// A CIDR list such as "127.0.0.0/8, ::1/128, 10.0.0.0/8" (commas and/or white space).
class TrustedProxies {
 public:
  // Throws std::invalid_argument naming the first malformed entry.
  static TrustedProxies parse(std::string_view cidr_list);
  // An IPv4-mapped IPv6 address is looked up as its IPv4 address.
  bool contains(const boost::asio::ip::address& a) const;
  bool empty() const { return blocks_.empty(); }

 private:
  std::vector<notifiers::Cidr> blocks_;
};

// At most this many X-Forwarded-For entries are read, the rightmost ones.
inline constexpr std::size_t kMaxForwardedEntries = 64;

// The client's address as text. The peer, unless the peer is a trusted proxy: then
// X-Forwarded-For (all its header values joined with ",") is walked from the right, skipping
// trusted proxies; the first untrusted entry is the client. An entry that is not an IP address
// (a port, a name, an empty entry) ends the walk: the last trusted hop is then the client. If
// every entry is trusted, the leftmost read. IPv4-mapped IPv6 addresses count as IPv4; the
// text is the address's canonical form, so one client always gives one key.
std::string client_address(const boost::asio::ip::address& peer, std::string_view x_forwarded_for,
                           const TrustedProxies& trusted);

// The key a client's rate limits and budgets are kept under: its address, or for IPv6 its /64
// ("2001:db8:1:2::/64"), since one subscriber line is given a whole /64 to rotate through.
std::string rate_key(std::string_view client);

}  // namespace convene::daemon::http
