#include "store/server_secrets.hpp"

#include <openssl/rand.h>

#include <stdexcept>

namespace convene::store {

std::optional<std::string> find_server_secret(pqxx::work& tx, const std::string& name) {
  const auto rows = tx.exec_params("SELECT secret FROM server_secrets WHERE name = $1", name);
  if (rows.empty()) return std::nullopt;
  return pqxx::binarystring(rows[0][0]).str();
}

std::string server_secret(pqxx::work& tx, const std::string& name, const std::string& now_sql) {
  unsigned char fresh[32];
  if (RAND_bytes(fresh, sizeof fresh) != 1) throw std::runtime_error("no random bytes for a server secret");
  const pqxx::binarystring candidate(fresh, sizeof fresh);
  // Two instances racing: the first insert wins and both read its key.
  tx.exec_params("INSERT INTO server_secrets (name, secret, created_at) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING", name,
                 candidate, now_sql);
  return find_server_secret(tx, name).value();
}

}  // namespace convene::store
