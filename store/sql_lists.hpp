#pragma once
// Small lists read back from PostgreSQL as comma-joined text (array_to_string), so that a
// row needs no array parsing: slugs, and interval[] columns as whole seconds.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace convene::store {

// SQL that turns an interval[] column into "86400,3600".
std::string seconds_list_sql(std::string_view interval_array_column);

std::vector<std::string> split_list(std::string_view comma_joined);
std::vector<std::int64_t> parse_seconds_list(std::string_view comma_joined);

}  // namespace convene::store
