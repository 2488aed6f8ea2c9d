#include "store/tokens.hpp"

#include "store/migrations.hpp"

#include <openssl/rand.h>
#include <pqxx/result>

#include <stdexcept>

namespace convene::store {
namespace {

const char* purpose_name(TokenPurpose p) {
  switch (p) {
    case TokenPurpose::api: return "api";
    case TokenPurpose::feed: return "feed";
    case TokenPurpose::preferences: return "preferences";
  }
  return "api";
}

const char* purpose_prefix(TokenPurpose p) {
  switch (p) {
    case TokenPurpose::api: return "cvn_";
    case TokenPurpose::feed: return "cvf_";
    case TokenPurpose::preferences: return "cvp_";
  }
  return "cvn_";
}

std::string base64url(const unsigned char* data, std::size_t n) {
  static constexpr char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  std::size_t i = 0;
  for (; i + 3 <= n; i += 3) {
    const unsigned v = (data[i] << 16) | (data[i + 1] << 8) | data[i + 2];
    out += alphabet[(v >> 18) & 63];
    out += alphabet[(v >> 12) & 63];
    out += alphabet[(v >> 6) & 63];
    out += alphabet[v & 63];
  }
  if (n - i == 1) {
    const unsigned v = data[i] << 16;
    out += alphabet[(v >> 18) & 63];
    out += alphabet[(v >> 12) & 63];
  } else if (n - i == 2) {
    const unsigned v = (data[i] << 16) | (data[i + 1] << 8);
    out += alphabet[(v >> 18) & 63];
    out += alphabet[(v >> 12) & 63];
    out += alphabet[(v >> 6) & 63];
  }
  return out;
}

}  // namespace

std::string generate_token(TokenPurpose purpose) {
  unsigned char bytes[32];
  if (RAND_bytes(bytes, sizeof bytes) != 1) throw std::runtime_error("no randomness for a token");
  return purpose_prefix(purpose) + base64url(bytes, sizeof bytes);
}

std::string token_hash_hex(std::string_view token) { return sha256_hex(token); }

std::int64_t insert_token(pqxx::transaction_base& tx, std::int64_t member_id, TokenPurpose purpose,
                          const std::string& token, const std::string& label, const std::string& now_sql) {
  const auto r = tx.exec_params(
      "INSERT INTO tokens (member_id, purpose, token_hash, label, created_at) "
      "VALUES ($1, $2, decode($3, 'hex'), $4, $5) RETURNING id",
      member_id, purpose_name(purpose), token_hash_hex(token), label, now_sql);
  return r[0][0].as<std::int64_t>();
}

void revoke_tokens(pqxx::transaction_base& tx, std::int64_t member_id, TokenPurpose purpose,
                   const std::string& now_sql) {
  tx.exec_params("UPDATE tokens SET revoked_at = $3 WHERE member_id = $1 AND purpose = $2 AND revoked_at IS NULL",
                 member_id, purpose_name(purpose), now_sql);
}

std::optional<std::int64_t> member_for_token(pqxx::transaction_base& tx, std::string_view token,
                                             TokenPurpose purpose, const std::string& now_sql) {
  // Tokens are short ASCII; anything else cannot be one of ours.
  if (token.size() < 8 || token.size() > 128) return std::nullopt;
  // The lookup is by hash, so response times say nothing about how much of a token matched.
  const auto r = tx.exec_params(
      "SELECT member_id FROM tokens WHERE token_hash = decode($1, 'hex') AND purpose = $2 "
      "AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $3)",
      token_hash_hex(token), purpose_name(purpose), now_sql);
  if (r.empty()) return std::nullopt;
  return r[0][0].as<std::int64_t>();
}

}  // namespace convene::store
