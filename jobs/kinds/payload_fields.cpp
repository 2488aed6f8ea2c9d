#include "jobs/kinds/payload_fields.hpp"

#include "store/sql_time.hpp"

#include <stdexcept>

namespace convene::jobs {
namespace {

const boost::json::value& field(const boost::json::object& payload, std::string_view key) {
  const auto* value = payload.if_contains(key);
  if (value == nullptr) throw std::invalid_argument("the job's payload has no " + std::string(key));
  return *value;
}

}  // namespace

std::int64_t integer_field(const boost::json::object& payload, std::string_view key) {
  const auto& value = field(payload, key);
  if (value.is_int64()) return value.get_int64();
  if (value.is_uint64() && value.get_uint64() <= static_cast<std::uint64_t>(INT64_MAX))
    return static_cast<std::int64_t>(value.get_uint64());
  throw std::invalid_argument("the job's payload field " + std::string(key) + " is not an integer");
}

std::string text_field(const boost::json::object& payload, std::string_view key) {
  const auto& value = field(payload, key);
  if (!value.is_string()) throw std::invalid_argument("the job's payload field " + std::string(key) + " is not text");
  return std::string(value.get_string());
}

calendar::Instant instant_field(const boost::json::object& payload, std::string_view key) {
  return parse_rfc3339_utc(text_field(payload, key));
}

calendar::Instant parse_rfc3339_utc(std::string_view text) {
  // "YYYY-MM-DDTHH:MM:SS[.ffffff]Z" is PostgreSQL's text with 'T' for ' ' and 'Z' for "+00".
  if (text.size() < 20 || text[10] != 'T' || text.back() != 'Z')
    throw std::invalid_argument("not an RFC 3339 UTC time: " + std::string(text));
  std::string sql(text.substr(0, text.size() - 1));
  sql[10] = ' ';
  return store::parse_sql_instant(sql + "+00");
}

}  // namespace convene::jobs
