#include "daemon/api/reply.hpp"

namespace convene::api {

Reply problem(int status, std::string_view title, std::string_view detail, boost::json::object extensions) {
  boost::json::object body = std::move(extensions);
  body["type"] = "about:blank";
  body["title"] = title;
  body["status"] = status;
  if (!detail.empty()) body["detail"] = detail;
  Reply r{status, std::move(body)};
  r.is_problem = true;
  return r;
}

Reply field_problem(int status, std::string_view detail, const std::vector<FieldError>& errors) {
  boost::json::array list;
  for (const auto& e : errors) list.push_back(boost::json::object{{"field", e.field}, {"message", e.message}});
  const char* title = status == 400 ? "Bad Request" : "Unprocessable Content";
  return problem(status, title, detail, boost::json::object{{"errors", std::move(list)}});
}

Reply unauthorized() {
  Reply r = problem(401, "Unauthorized", "a valid bearer token is required (Authorization: Bearer <token>)");
  r.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"convene\"");
  return r;
}

Reply forbidden(std::string_view detail) { return problem(403, "Forbidden", detail); }

Reply not_found(std::string_view what) { return problem(404, "Not Found", std::string(what) + " not found"); }

Reply conflict(std::string_view detail, boost::json::object extensions) {
  return problem(409, "Conflict", detail, std::move(extensions));
}

}  // namespace convene::api
