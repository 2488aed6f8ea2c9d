#pragma once
// RFC 9457 problem details for the daemon's routes (daemon/http/problem.hpp).
#include "daemon/http/problem.hpp"

namespace convene::daemon {

using http::send_json;
using http::send_problem;

}  // namespace convene::daemon
