#pragma once
// libcurl's multi interface driven by the Asio loop (CURLMOPT_SOCKETFUNCTION/TIMERFUNCTION, as
// curl's docs/examples/asiohiper.cpp does): hundreds of transfers in flight on one thread, their
// connections pooled and reused by the multi handle, bounded per host.
//
// Everything here runs on the loop thread: construct, start() and destroy a CurlMulti there, and
// its completion callbacks run there too (never from inside a libcurl callback, so they may start
// new transfers).
#include <boost/asio/any_io_executor.hpp>
#include <curl/curl.h>

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace convene::notifiers {

struct CurlEasyDeleter {
  void operator()(CURL* easy) const noexcept { curl_easy_cleanup(easy); }
};
struct CurlSlistDeleter {
  void operator()(curl_slist* list) const noexcept { curl_slist_free_all(list); }
};
using CurlEasyPtr = std::unique_ptr<CURL, CurlEasyDeleter>;
using CurlSlistPtr = std::unique_ptr<curl_slist, CurlSlistDeleter>;

// A new easy handle (curl_global_init is done once, first). Throws std::bad_alloc on failure.
CurlEasyPtr make_curl_easy();
// Appends a copy of `item` to `list`. Throws std::bad_alloc on failure.
void append(CurlSlistPtr& list, const std::string& item);

// "Timeout was reached (Connection timed out after 2001 milliseconds)": the CURLcode's text and,
// when the error buffer holds more, that too.
std::string describe_curl_error(CURLcode code, const char* error_buffer);
// `text` cut to at most `max` bytes on a UTF-8 boundary, with CR/LF and other controls as spaces.
std::string clip_detail(std::string_view text, std::size_t max = 500);

struct CurlOptions {
  long max_host_connections = 8;     // CURLMOPT_MAX_HOST_CONNECTIONS per host:port; more transfers queue (0: no limit)
  long max_total_connections = 256;  // CURLMOPT_MAX_TOTAL_CONNECTIONS (0: no limit)
  long max_cached_connections = 64;  // CURLMOPT_MAXCONNECTS: idle connections kept open for reuse
  // Never reuse the connection of a failed transfer (shut its socket down as it completes).
  // For SMTP: libcurl 7.88 caches a connection whose reply to the final dot timed out, and the
  // late reply would answer the next message's MAIL FROM. Not for HTTP/2, where one failed
  // stream must not take its connection's other streams down.
  bool retire_failed_connections = false;
};

class CurlMulti {
 public:
  // Called once per transfer on the loop thread with libcurl's result and the easy handle back
  // (to read CURLINFO_* from and to reuse or drop).
  using Done = std::function<void(CURLcode, CurlEasyPtr)>;

  explicit CurlMulti(boost::asio::any_io_executor loop, CurlOptions options = {});
  // Transfers still in flight are removed and their callbacks dropped without being called.
  ~CurlMulti();
  CurlMulti(const CurlMulti&) = delete;
  CurlMulti& operator=(const CurlMulti&) = delete;

  // Adds a configured easy handle (CURLOPT_NOSIGNAL is set here). If libcurl refuses it, `done`
  // still runs, later, with CURLE_FAILED_INIT.
  void start(CurlEasyPtr easy, Done done);
  std::size_t in_flight() const;
  const boost::asio::any_io_executor& executor() const;

 private:
  class Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace convene::notifiers
