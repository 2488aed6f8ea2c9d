#include "store/sql_lists.hpp"

namespace convene::store {

std::string seconds_list_sql(std::string_view column) {
  return "array_to_string(array(SELECT extract(epoch FROM o)::bigint FROM unnest(" + std::string(column) + ") o), ',')";
}

std::vector<std::string> split_list(std::string_view text) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start < text.size()) {
    const auto comma = text.find(',', start);
    out.emplace_back(text.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start));
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return out;
}

std::vector<std::int64_t> parse_seconds_list(std::string_view text) {
  std::vector<std::int64_t> out;
  for (const auto& item : split_list(text)) out.push_back(std::stoll(item));
  return out;
}

}  // namespace convene::store
