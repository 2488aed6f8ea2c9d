#include "daemon/pages/link_key.hpp"

#include "store/server_secrets.hpp"
#include "store/sql_time.hpp"

#include <cctype>

namespace convene::daemon {

std::string LinkKey::get() {
  const auto now = std::chrono::steady_clock::now();
  {
    std::lock_guard lock(mutex_);
    if (!key_.empty() && now - read_at_ < std::chrono::minutes(1)) return key_;
  }
  store::TxOptions read_only;
  read_only.read_only = true;
  auto key = database_.transact([](pqxx::work& tx) { return store::find_server_secret(tx, "links"); }, read_only);
  // Only the very first link ever checked makes the key (every later one reads it).
  if (!key) key = database_.transact([&](pqxx::work& tx) { return store::server_secret(tx, "links", store::sql_instant(clock_.now())); });
  std::lock_guard lock(mutex_);
  key_ = *key;
  read_at_ = now;
  return key_;
}

bool plausible_token(std::string_view token) {
  if (token.size() < 8 || token.size() > 200) return false;
  for (const char c : token)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-') return false;
  return true;
}

}  // namespace convene::daemon
