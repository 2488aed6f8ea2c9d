#pragma once
// Keys the daemon signs with (server_secrets), shared by every instance: made once with
// random bytes by whichever instance asks first, then read by all.
#include <pqxx/pqxx>

#include <optional>
#include <string>

namespace convene::store {

// The secret called `name`, or nullopt when none has been made yet. Reads only.
std::optional<std::string> find_server_secret(pqxx::work& tx, const std::string& name);

// The secret called `name` (at least 32 bytes), made now if there is none yet.
std::string server_secret(pqxx::work& tx, const std::string& name, const std::string& now_sql);

}  // namespace convene::store
