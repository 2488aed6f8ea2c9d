#pragma once
// What an API handler answers: a status and a JSON body, or an RFC 9457 problem.
// Expected failures (validation, conflicts, permissions) are replies, not exceptions.
#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include <string>
#include <utility>
#include <vector>

namespace convene::api {

struct Reply {
  int status = 200;
  boost::json::value body;  // null for 204
  bool is_problem = false;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string content_type;  // set for non-JSON bodies (text)
  std::string text;

  bool failed() const { return status >= 400; }
};

inline Reply ok(boost::json::value body) { return Reply{200, std::move(body)}; }
inline Reply created(boost::json::value body) { return Reply{201, std::move(body)}; }
inline Reply no_content() { return Reply{204, nullptr}; }

// A field-level problem: {"field": "start", "message": "must be before end"}.
struct FieldError {
  std::string field;
  std::string message;
};

Reply problem(int status, std::string_view title, std::string_view detail = {},
              boost::json::object extensions = {});
Reply field_problem(int status, std::string_view detail, const std::vector<FieldError>& errors);

Reply unauthorized();                         // 401: token missing or unknown
Reply forbidden(std::string_view detail);     // 403
Reply not_found(std::string_view what);       // 404
Reply conflict(std::string_view detail, boost::json::object extensions = {});  // 409

}  // namespace convene::api
