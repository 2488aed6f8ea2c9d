#pragma once
// A request as handlers see it (parsed, bounded, body read) and the response they fill in.
// Plain data: handlers run on worker threads and never touch the connection.
#include <cstddef>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace convene::daemon::http {

struct CaseInsensitiveLess {
  bool operator()(std::string_view a, std::string_view b) const;
  using is_transparent = void;
};
using Headers = std::multimap<std::string, std::string, CaseInsensitiveLess>;

struct Request {
  std::string method;  // "GET", "POST", ... (HEAD is routed as GET)
  std::string path;    // the request target's path, percent-decoded
  std::multimap<std::string, std::string> params;  // the query, decoded
  Headers headers;
  std::string body;
  std::vector<std::string> matches;  // [0] the path, then each {parameter} of the route in order
  std::string remote_addr;           // the client (after trusted proxies)

  bool has_header(std::string_view name) const { return headers.find(name) != headers.end(); }
  // The first value, or "" when absent.
  std::string get_header_value(std::string_view name) const;
  bool has_param(std::string_view name) const;
  std::string get_param_value(std::string_view name) const;  // the first value, or ""
};

struct Response {
  int status = 200;
  Headers headers;
  std::string body;
  // A body shared with a cache (a feed): sent without copying; `shared_owner` keeps it alive.
  std::shared_ptr<const void> shared_owner;
  std::string_view shared_body;

  void set_header(std::string_view name, std::string_view value);
  void set_content(std::string content, std::string_view content_type);
  void set_shared_content(std::shared_ptr<const void> owner, std::string_view content, std::string_view content_type);
  std::string_view content() const { return shared_owner ? shared_body : std::string_view(body); }
};

// Percent-decodes a path or query component ('+' is a space only in queries); nullopt-like
// empty result with ok=false when an escape is malformed.
bool percent_decode(std::string_view in, std::string& out, bool plus_is_space);
// Splits a query string into decoded parameters (malformed pairs are skipped).
std::multimap<std::string, std::string> parse_query(std::string_view query);

}  // namespace convene::daemon::http
