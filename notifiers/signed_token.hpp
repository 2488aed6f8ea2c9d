#pragma once
// Signed, URL-safe tokens for links in emails: the one-click unsubscribe (RFC 8058) and the
// preferences page (DESIGN §4). A token binds a purpose, a member and a community under an
// HMAC-SHA256 with the server's key, so it cannot be forged, changed to name another member or
// community, or used for the other purpose. Nothing is stored: the key (server_secrets) is the
// only state, and replacing it revokes every token. Pure.
//
// Form: "u1.<base64url(payload)>.<base64url(mac)>", payload "<member>.<community>" in decimal,
// or "<member>.<community>.<version>" for a version above 0, and
// mac = HMAC-SHA256(key, "convene-token/u1/<purpose>/" + payload). The version lets one member's
// links be revoked (the preferences page's "invalidate old links": the member's current version
// is stored, and a token of an older one is refused); version 0 is the form tokens had before
// versions existed, so those keep working until the member first rotates.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace convene::notifiers {

// unsubscribe: one-click from one community's email (community_id > 0); preferences: the
// preferences page; daily_digest / weekly_digest: one-click from the member's daily (weekly)
// digest, which may span several communities (community_id 0): every membership on that
// cadence becomes `none`.
enum class TokenPurpose { unsubscribe, preferences, daily_digest, weekly_digest };

struct TokenClaims {
  std::int64_t member_id = 0;     // > 0
  std::int64_t community_id = 0;  // >= 0; 0 when the token is not about one community
  std::int64_t version = 0;       // >= 0; the member's link version when it was made

  friend bool operator==(const TokenClaims&, const TokenClaims&) = default;
};

// The key must be at least 32 bytes (std::invalid_argument otherwise), as are the members of
// server_secrets; member_id must be > 0 and community_id and version >= 0 (std::invalid_argument).
std::string make_token(std::string_view key, TokenPurpose purpose, std::int64_t member_id, std::int64_t community_id,
                       std::int64_t version = 0);

// The token of an email's one-click unsubscribe (RFC 8058): from its community when it has
// one, else, for a digest ("digest.daily", "digest.weekly"), from that digest; nullopt for
// other emails without a community. Same key and checks as make_token.
std::optional<std::string> unsubscribe_token(std::string_view key, std::string_view email_kind, std::int64_t member_id,
                                             std::optional<std::int64_t> community_id);

// The two links every email to a member carries, on `public_url`: the preferences page
// (/preferences/{token}, the member's current link version) and, when the email has one
// (unsubscribe_token), the one-click unsubscribe (/u/{token}; empty otherwise). The delivery
// worker and the digest preview both use it, so a preview shows the links the email will have.
struct MemberLinks {
  std::string preferences_url;
  std::string unsubscribe_url;
};
MemberLinks member_links(std::string_view key, std::string_view public_url, std::string_view email_kind,
                         std::int64_t member_id, std::optional<std::int64_t> community_id, std::int64_t link_version);

// The claims of a genuine token of that purpose; nullopt for anything else: another purpose,
// another key, a changed character, a token longer than 200 bytes, malformed input. The MAC
// is compared in constant time.
std::optional<TokenClaims> verify_token(std::string_view key, TokenPurpose purpose, std::string_view token);

}  // namespace convene::notifiers
