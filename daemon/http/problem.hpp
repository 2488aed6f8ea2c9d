#pragma once
// RFC 9457 problem details (application/problem+json) for every error the HTTP front answers.
#include "daemon/http/message.hpp"

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include <string_view>

namespace convene::daemon::http {

void send_problem(Response& res, int status, std::string_view title, std::string_view detail = {},
                  boost::json::object extensions = {});

void send_json(Response& res, int status, const boost::json::value& body);

}  // namespace convene::daemon::http
