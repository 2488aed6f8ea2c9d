#pragma once
// Reading a JSON request body field by field. Wrong types are 400 errors, bad values 422;
// every problem is collected so a client sees them all at once. Unknown fields are refused
// so typos do not pass silently.
#include "daemon/api/reply.hpp"

#include <boost/json/object.hpp>

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace convene::api {

enum class Text { single_line, multi_line };

// The offset of the first byte that is not well-formed UTF-8 (no overlong forms, no
// surrogates, nothing above U+10FFFF), or npos. JSON bodies are checked by the parser; query
// strings and CSV are not.
std::size_t utf8_error_at(std::string_view s);

// Why a text is unacceptable (control characters, CR/LF in a single line, too long), or nullopt.
std::optional<std::string> text_problem(std::string_view value, Text kind, std::size_t max_chars);

class Input {
 public:
  // Parses `body` as a JSON object; a malformed body is recorded as a 400 problem.
  explicit Input(std::string_view body);
  explicit Input(boost::json::object object) : object_(std::move(object)) {}

  std::optional<std::string> text(std::string_view field, bool required, Text kind, std::size_t max_chars);
  std::optional<std::int64_t> integer(std::string_view field, bool required, std::int64_t min, std::int64_t max);
  std::optional<bool> boolean(std::string_view field, bool required);
  std::optional<std::vector<std::string>> string_list(std::string_view field, bool required, std::size_t max_items,
                                                      std::size_t max_chars);
  // A nested object or array, unparsed; nullopt (and a 400) when present with another type.
  const boost::json::object* object(std::string_view field, bool required);
  const boost::json::array* array(std::string_view field, bool required);
  bool has(std::string_view field) const { return object_.contains(field); }
  bool is_null(std::string_view field) const;

  // Records a value problem found by the caller (422).
  void invalid(std::string field, std::string message) { value_errors_.push_back({std::move(field), std::move(message)}); }

  // Takes over a nested object's problems, their fields prefixed ("into[0].slug").
  void absorb(Input& nested, const std::string& prefix);

  // The reply for everything collected so far (400 beats 422), or nullopt when the input is fine.
  // Fields never read are unknown and reported.
  std::optional<Reply> finish();

  const boost::json::object& raw() const { return object_; }

 private:
  const boost::json::value* find(std::string_view field, bool required);
  void type_error(std::string_view field, std::string_view expected);

  boost::json::object object_;
  std::set<std::string, std::less<>> read_;
  std::optional<std::string> malformed_;
  std::vector<FieldError> type_errors_;
  std::vector<FieldError> value_errors_;
};

}  // namespace convene::api
