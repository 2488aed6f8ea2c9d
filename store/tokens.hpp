#pragma once
// Bearer, feed and preferences tokens. Only the SHA-256 of a token is stored; the token
// itself is shown once, when it is made.
#include <pqxx/transaction_base>

#include <cstdint>
#include <optional>
#include <string>

namespace convene::store {

enum class TokenPurpose { api, feed, preferences };

// 32 random bytes, base64url, with a prefix that says what it is ("cvn_", "cvf_", "cvp_").
std::string generate_token(TokenPurpose purpose);
std::string token_hash_hex(std::string_view token);  // hex SHA-256

// Stores the hash of a new token for the member; returns the token's row id.
std::int64_t insert_token(pqxx::transaction_base& tx, std::int64_t member_id, TokenPurpose purpose,
                          const std::string& token, const std::string& label, const std::string& now_sql);

// Revokes the member's tokens of that purpose (feed rotation).
void revoke_tokens(pqxx::transaction_base& tx, std::int64_t member_id, TokenPurpose purpose,
                   const std::string& now_sql);

// The member a live token belongs to, or nullopt.
std::optional<std::int64_t> member_for_token(pqxx::transaction_base& tx, std::string_view token,
                                             TokenPurpose purpose, const std::string& now_sql);

}  // namespace convene::store
