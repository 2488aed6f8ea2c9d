#pragma once
// Array literals for SQL parameters ($1::bigint[], $1::text[]), so a batch of rows is one
// statement with unnest() instead of one statement per row. Values are quoted as PostgreSQL's
// array input requires, so any text is safe; nullopt elements become NULL.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace convene::store {

std::string bigint_array(const std::vector<std::int64_t>& values);
std::string text_array(const std::vector<std::string>& values);
std::string text_array(const std::vector<std::optional<std::string>>& values);

}  // namespace convene::store
