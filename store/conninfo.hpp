#pragma once
// Helpers for libpq connection strings, in both the URI and the keyword=value forms.
#include <chrono>
#include <string>
#include <string_view>

namespace convene::store {

// Adds connect_timeout and application_name unless the operator already set them.
std::string with_session_defaults(std::string_view conninfo, std::chrono::seconds connect_timeout,
                                  std::string_view application_name);

// The connection string with any password replaced by "***", safe for logs and errors.
std::string redact_conninfo(std::string_view conninfo);

}  // namespace convene::store
