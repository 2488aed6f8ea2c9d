#include "notifiers/webhook_signature.hpp"

#include <stdexcept>

#include "notifiers/base64.hpp"
#include "notifiers/crypto.hpp"

namespace convene::notifiers {
namespace {

constexpr std::string_view kSecretPrefix = "whsec_";
constexpr std::size_t kSecretBytes = 32;

std::optional<std::string> secret_key(std::string_view secret) {
  if (!secret.starts_with(kSecretPrefix)) return std::nullopt;
  auto key = base64_decode(secret.substr(kSecretPrefix.size()));
  if (!key || key->empty()) return std::nullopt;
  return key;
}

std::string signed_content(std::string_view id, std::int64_t timestamp, std::string_view body) {
  std::string content;
  content.reserve(id.size() + body.size() + 24);
  content.append(id).append(".").append(std::to_string(timestamp)).append(".").append(body);
  return content;
}

}  // namespace

std::string generate_webhook_secret() { return std::string(kSecretPrefix) + base64_encode(random_bytes(kSecretBytes)); }

std::string sign(std::string_view secret, std::string_view id, std::int64_t timestamp, std::string_view body) {
  const auto key = secret_key(secret);
  if (!key) throw std::invalid_argument("a webhook secret must be \"whsec_\" followed by base64");
  return "v1," + base64_encode(hmac_sha256(*key, signed_content(id, timestamp, body)));
}

std::string signature_header(const std::vector<std::string>& secrets, std::string_view id, std::int64_t timestamp,
                             std::string_view body) {
  if (secrets.empty()) throw std::invalid_argument("a webhook needs a secret to sign with");
  std::string header;
  for (const auto& secret : secrets) {
    if (!header.empty()) header += ' ';
    header += sign(secret, id, timestamp, body);
  }
  return header;
}

std::vector<std::string> signing_secrets(const std::string& current, const std::optional<std::string>& previous,
                                         std::optional<calendar::Instant> previous_until, calendar::Instant now) {
  std::vector<std::string> secrets{current};
  if (previous && previous_until && now < *previous_until && *previous != current) secrets.push_back(*previous);
  return secrets;
}

bool verify_signature(std::string_view secret, std::string_view id, std::int64_t timestamp, std::string_view body,
                      std::string_view header) {
  if (!secret_key(secret)) return false;
  const std::string expected = sign(secret, id, timestamp, body);
  bool found = false;
  while (!header.empty()) {
    const std::size_t space = header.find(' ');
    const std::string_view entry = header.substr(0, space);
    // Every entry is compared, so the time taken does not say which one matched.
    if (constant_time_equal(entry, expected)) found = true;
    header = space == std::string_view::npos ? std::string_view{} : header.substr(space + 1);
  }
  return found;
}

}  // namespace convene::notifiers
