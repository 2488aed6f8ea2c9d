#include "daemon/http/problem.hpp"

#include <boost/json/serialize.hpp>

namespace convene::daemon::http {

void send_problem(Response& res, int status, std::string_view title, std::string_view detail,
                  boost::json::object extensions) {
  boost::json::object body = std::move(extensions);
  body["type"] = "about:blank";
  body["title"] = title;
  body["status"] = status;
  if (!detail.empty()) body["detail"] = detail;
  res.status = status;
  res.set_content(boost::json::serialize(body), "application/problem+json");
}

void send_json(Response& res, int status, const boost::json::value& body) {
  res.status = status;
  res.set_content(boost::json::serialize(body), "application/json");
}

}  // namespace convene::daemon::http
