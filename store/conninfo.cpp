#include "store/conninfo.hpp"

#include <regex>

namespace convene::store {
namespace {

bool is_uri(std::string_view s) { return s.rfind("postgresql://", 0) == 0 || s.rfind("postgres://", 0) == 0; }

bool has_key(std::string_view conninfo, std::string_view key) {
  const std::string pattern = "(^|[?&\\s])" + std::string(key) + "\\s*=";
  return std::regex_search(conninfo.begin(), conninfo.end(), std::regex(pattern));
}

void append(std::string& conninfo, std::string_view key, std::string_view value) {
  if (is_uri(conninfo)) {
    conninfo += conninfo.find('?') == std::string::npos ? '?' : '&';
  } else if (!conninfo.empty()) {
    conninfo += ' ';
  }
  conninfo += key;
  conninfo += '=';
  conninfo += value;
}

}  // namespace

std::string with_session_defaults(std::string_view conninfo, std::chrono::seconds connect_timeout,
                                  std::string_view application_name) {
  std::string out(conninfo);
  // libpq treats a timeout of 1 as 2 seconds and 0 as "wait forever"; never send 0.
  if (!has_key(out, "connect_timeout"))
    append(out, "connect_timeout", std::to_string(std::max<long long>(2, connect_timeout.count())));
  if (!has_key(out, "application_name")) append(out, "application_name", application_name);
  return out;
}

std::string redact_conninfo(std::string_view conninfo) {
  std::string s(conninfo);
  if (is_uri(s)) {
    // postgresql://user:secret@host -> postgresql://user:***@host
    s = std::regex_replace(s, std::regex(R"(^(postgres(ql)?://[^:/@?]*):[^@/?]*@)"), "$1:***@");
  }
  // password=... as a keyword or a URI query parameter, quoted or not.
  s = std::regex_replace(s, std::regex(R"((^|[?&\s])(password\s*=\s*)('([^'\\]|\\.)*'|[^&\s]*))"), "$1$2***");
  return s;
}

}  // namespace convene::store
