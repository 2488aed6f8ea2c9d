#pragma once
// RFC 9457 problem details (application/problem+json) for every error the HTTP API answers.
#include <boost/json/object.hpp>
#include <httplib.h>

#include <string>

namespace convene::daemon {

void send_problem(httplib::Response& res, int status, std::string_view title, std::string_view detail = {},
                  boost::json::object extensions = {});

void send_json(httplib::Response& res, int status, const boost::json::value& body);

}  // namespace convene::daemon
