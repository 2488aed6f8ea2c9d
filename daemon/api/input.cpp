#include "daemon/api/input.hpp"

#include <boost/json/parse.hpp>

namespace convene::api {
namespace {

// Counts code points of valid UTF-8 (Boost.JSON has already rejected invalid sequences).
std::size_t code_points(std::string_view s) {
  std::size_t n = 0;
  for (unsigned char c : s)
    if ((c & 0xC0) != 0x80) ++n;
  return n;
}

}  // namespace

std::size_t utf8_error_at(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    std::size_t length = 0;
    unsigned char low = 0x80, high = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) length = 2;
    else if (c == 0xE0) length = 3, low = 0xA0;
    else if ((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF) length = 3;
    else if (c == 0xED) length = 3, high = 0x9F;  // no UTF-16 surrogates
    else if (c == 0xF0) length = 4, low = 0x90;
    else if (c >= 0xF1 && c <= 0xF3) length = 4;
    else if (c == 0xF4) length = 4, high = 0x8F;  // nothing above U+10FFFF
    else return i;
    if (i + length > s.size()) return i;
    const auto second = static_cast<unsigned char>(s[i + 1]);
    if (second < low || second > high) return i;
    for (std::size_t k = 2; k < length; ++k) {
      const auto next = static_cast<unsigned char>(s[i + k]);
      if (next < 0x80 || next > 0xBF) return i;
    }
    i += length;
  }
  return std::string_view::npos;
}

std::optional<std::string> text_problem(std::string_view value, Text kind, std::size_t max_chars) {
  if (utf8_error_at(value) != std::string_view::npos) return "must be valid UTF-8";
  for (unsigned char c : value) {
    if (c == '\r' || c == '\n') {
      if (kind == Text::single_line) return "must be a single line (no CR or LF)";
      continue;
    }
    if (c == '\t' && kind == Text::multi_line) continue;
    if (c < 0x20 || c == 0x7f) return "must not contain control characters";
  }
  if (code_points(value) > max_chars) return "must be at most " + std::to_string(max_chars) + " characters";
  return std::nullopt;
}

Input::Input(std::string_view body) {
  if (body.empty()) {
    malformed_ = "the request body must be a JSON object";
    return;
  }
  boost::system::error_code ec;
  boost::json::parse_options options;
  options.max_depth = 32;
  auto value = boost::json::parse(body, ec, {}, options);
  if (ec) {
    malformed_ = "malformed JSON: " + ec.message();
  } else if (!value.is_object()) {
    malformed_ = "the request body must be a JSON object";
  } else {
    object_ = std::move(value.as_object());
  }
}

void Input::type_error(std::string_view field, std::string_view expected) {
  type_errors_.push_back({std::string(field), "must be " + std::string(expected)});
}

bool Input::is_null(std::string_view field) const {
  const auto* v = object_.if_contains(field);
  return v != nullptr && v->is_null();
}

const boost::json::value* Input::find(std::string_view field, bool required) {
  read_.insert(std::string(field));
  const auto* v = object_.if_contains(field);
  if (v == nullptr || v->is_null()) {
    if (required && !malformed_) type_errors_.push_back({std::string(field), "is required"});
    return nullptr;
  }
  return v;
}

std::optional<std::string> Input::text(std::string_view field, bool required, Text kind, std::size_t max_chars) {
  const auto* v = find(field, required);
  if (v == nullptr) return std::nullopt;
  if (!v->is_string()) {
    type_error(field, "a string");
    return std::nullopt;
  }
  std::string s(v->as_string());
  if (auto p = text_problem(s, kind, max_chars)) {
    invalid(std::string(field), *p);
    return std::nullopt;
  }
  return s;
}

std::optional<std::int64_t> Input::integer(std::string_view field, bool required, std::int64_t min, std::int64_t max) {
  const auto* v = find(field, required);
  if (v == nullptr) return std::nullopt;
  std::int64_t n = 0;
  if (v->is_int64()) {
    n = v->as_int64();
  } else if (v->is_uint64() && v->as_uint64() <= static_cast<std::uint64_t>(INT64_MAX)) {
    n = static_cast<std::int64_t>(v->as_uint64());
  } else if (v->is_uint64()) {
    invalid(std::string(field), "must be from " + std::to_string(min) + " to " + std::to_string(max));
    return std::nullopt;
  } else {
    type_error(field, "an integer");
    return std::nullopt;
  }
  if (n < min || n > max) {
    invalid(std::string(field), "must be from " + std::to_string(min) + " to " + std::to_string(max));
    return std::nullopt;
  }
  return n;
}

std::optional<bool> Input::boolean(std::string_view field, bool required) {
  const auto* v = find(field, required);
  if (v == nullptr) return std::nullopt;
  if (!v->is_bool()) {
    type_error(field, "true or false");
    return std::nullopt;
  }
  return v->as_bool();
}

std::optional<std::vector<std::string>> Input::string_list(std::string_view field, bool required,
                                                           std::size_t max_items, std::size_t max_chars) {
  const auto* v = find(field, required);
  if (v == nullptr) return std::nullopt;
  if (!v->is_array()) {
    type_error(field, "an array of strings");
    return std::nullopt;
  }
  const auto& array = v->as_array();
  if (array.size() > max_items) {
    invalid(std::string(field), "must have at most " + std::to_string(max_items) + " items");
    return std::nullopt;
  }
  std::vector<std::string> out;
  for (const auto& item : array) {
    if (!item.is_string()) {
      type_error(field, "an array of strings");
      return std::nullopt;
    }
    std::string s(item.as_string());
    if (auto p = text_problem(s, Text::single_line, max_chars)) {
      invalid(std::string(field), "items " + *p);
      return std::nullopt;
    }
    out.push_back(std::move(s));
  }
  return out;
}

const boost::json::object* Input::object(std::string_view field, bool required) {
  const auto* v = find(field, required);
  if (v == nullptr) return nullptr;
  if (!v->is_object()) {
    type_error(field, "an object");
    return nullptr;
  }
  return &v->as_object();
}

const boost::json::array* Input::array(std::string_view field, bool required) {
  const auto* v = find(field, required);
  if (v == nullptr) return nullptr;
  if (!v->is_array()) {
    type_error(field, "an array");
    return nullptr;
  }
  return &v->as_array();
}

void Input::absorb(Input& nested, const std::string& prefix) {
  for (const auto& [key, value] : nested.object_)
    if (nested.read_.find(std::string_view(key)) == nested.read_.end())
      type_errors_.push_back({prefix + std::string(key), "is not a known field"});
  nested.read_.clear();
  for (auto& e : nested.type_errors_) type_errors_.push_back({prefix + e.field, e.message});
  for (auto& e : nested.value_errors_) value_errors_.push_back({prefix + e.field, e.message});
  nested.type_errors_.clear();
  nested.value_errors_.clear();
  for (const auto& [key, value] : nested.object_) nested.read_.insert(std::string(key));
}

std::optional<Reply> Input::finish() {
  if (malformed_) return problem(400, "Bad Request", *malformed_);
  for (const auto& [key, value] : object_)
    if (read_.find(std::string_view(key)) == read_.end()) type_errors_.push_back({std::string(key), "is not a known field"});
  if (!type_errors_.empty()) return field_problem(400, "required fields are missing, of the wrong type or unknown", type_errors_);
  if (!value_errors_.empty()) return field_problem(422, "some values are not acceptable", value_errors_);
  return std::nullopt;
}

}  // namespace convene::api
