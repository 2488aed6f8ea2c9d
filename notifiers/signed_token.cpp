#include "notifiers/signed_token.hpp"

#include <charconv>
#include <stdexcept>

#include "notifiers/base64.hpp"
#include "notifiers/crypto.hpp"

namespace convene::notifiers {
namespace {

constexpr std::string_view kVersion = "u1";
constexpr std::size_t kMinKeyBytes = 32, kMaxTokenBytes = 200, kMacBytes = 32;

std::string_view purpose_name(TokenPurpose purpose) {
  switch (purpose) {
    case TokenPurpose::unsubscribe: return "unsubscribe";
    case TokenPurpose::preferences: return "preferences";
    case TokenPurpose::daily_digest: return "daily_digest";
    case TokenPurpose::weekly_digest: return "weekly_digest";
  }
  throw std::invalid_argument("unknown token purpose");
}

std::string mac(std::string_view key, TokenPurpose purpose, std::string_view payload) {
  // The purpose is in the signed text, so a token of one purpose is no token of another.
  std::string message = "convene-token/" + std::string(kVersion) + "/" + std::string(purpose_name(purpose)) + "/";
  message.append(payload);
  return hmac_sha256(key, message);
}

void check_key(std::string_view key) {
  if (key.size() < kMinKeyBytes) throw std::invalid_argument("a token key must be at least 32 bytes");
}

// A canonical decimal: digits only, no leading zero (except "0"), no sign, fits int64.
std::optional<std::int64_t> decimal(std::string_view s) {
  if (s.empty() || s.size() > 19 || (s.size() > 1 && s.front() == '0')) return std::nullopt;
  std::int64_t n = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
  if (ec != std::errc() || end != s.data() + s.size() || n < 0) return std::nullopt;
  return n;
}

}  // namespace

std::string make_token(std::string_view key, TokenPurpose purpose, std::int64_t member_id, std::int64_t community_id,
                       std::int64_t version) {
  check_key(key);
  if (member_id <= 0 || community_id < 0 || version < 0)
    throw std::invalid_argument("a token names a member (> 0), a community (>= 0) and a version (>= 0)");
  std::string payload = std::to_string(member_id) + "." + std::to_string(community_id);
  // Version 0 is left out, so tokens made before versions existed are still the same text.
  if (version > 0) payload.append(".").append(std::to_string(version));
  return std::string(kVersion) + "." + base64url_encode(payload) + "." + base64url_encode(mac(key, purpose, payload));
}

std::optional<std::string> unsubscribe_token(std::string_view key, std::string_view email_kind, std::int64_t member_id,
                                             std::optional<std::int64_t> community_id) {
  if (community_id) return make_token(key, TokenPurpose::unsubscribe, member_id, *community_id);
  if (email_kind == "digest.daily") return make_token(key, TokenPurpose::daily_digest, member_id, 0);
  if (email_kind == "digest.weekly") return make_token(key, TokenPurpose::weekly_digest, member_id, 0);
  return std::nullopt;
}

MemberLinks member_links(std::string_view key, std::string_view public_url, std::string_view email_kind,
                         std::int64_t member_id, std::optional<std::int64_t> community_id, std::int64_t link_version) {
  MemberLinks links;
  links.preferences_url =
      std::string(public_url) + "/preferences/" + make_token(key, TokenPurpose::preferences, member_id, 0, link_version);
  if (const auto token = unsubscribe_token(key, email_kind, member_id, community_id))
    links.unsubscribe_url = std::string(public_url) + "/u/" + *token;
  return links;
}

std::optional<TokenClaims> verify_token(std::string_view key, TokenPurpose purpose, std::string_view token) {
  check_key(key);
  if (token.size() > kMaxTokenBytes || !token.starts_with(kVersion) || token.substr(kVersion.size(), 1) != ".")
    return std::nullopt;
  const std::string_view rest = token.substr(kVersion.size() + 1);
  const std::size_t dot = rest.find('.');
  if (dot == std::string_view::npos) return std::nullopt;
  const auto payload = base64url_decode(rest.substr(0, dot));
  const auto given_mac = base64url_decode(rest.substr(dot + 1));
  if (!payload || !given_mac || given_mac->size() != kMacBytes) return std::nullopt;
  if (!constant_time_equal(*given_mac, mac(key, purpose, *payload))) return std::nullopt;
  // Only a payload this code signed gets here; parse it strictly all the same.
  const std::string_view text(*payload);
  const std::size_t first = text.find('.');
  if (first == std::string_view::npos) return std::nullopt;
  const std::size_t second = text.find('.', first + 1);
  const auto member = decimal(text.substr(0, first));
  const auto community = decimal(text.substr(first + 1, second == std::string_view::npos ? second : second - first - 1));
  std::optional<std::int64_t> version = 0;
  if (second != std::string_view::npos) {
    version = decimal(text.substr(second + 1));
    if (version == 0) return std::nullopt;  // version 0 is never written out: one text per token
  }
  if (!member || !community || !version || *member == 0) return std::nullopt;
  return TokenClaims{*member, *community, *version};
}

}  // namespace convene::notifiers
