#include "base/log.hpp"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <cstdio>
#include <memory>
#include <mutex>

namespace convene::log {
namespace {

std::atomic<Format> g_format{Format::text};

spdlog::level::level_enum to_spdlog(Level level) {
  switch (level) {
    case Level::trace: return spdlog::level::trace;
    case Level::debug: return spdlog::level::debug;
    case Level::info: return spdlog::level::info;
    case Level::warn: return spdlog::level::warn;
    case Level::error: return spdlog::level::err;
  }
  return spdlog::level::info;
}

spdlog::logger& logger() {
  static std::shared_ptr<spdlog::logger> instance = [] {
    auto l = std::make_shared<spdlog::logger>("convene", std::make_shared<spdlog::sinks::stderr_sink_mt>());
    l->set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %-5l %v", spdlog::pattern_time_type::utc);
    l->set_level(spdlog::level::info);
    l->flush_on(spdlog::level::trace);  // stderr lines must not wait in a buffer (journald, tests)
    return l;
  }();
  return *instance;
}

void append_escaped(std::string& out, std::string_view value, Format format) {
  for (unsigned char c : value) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20 || (format == Format::json && c == 0x7f)) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
}

bool needs_quotes(std::string_view value) {
  if (value.empty()) return true;
  for (unsigned char c : value)
    if (c <= ' ' || c == '"' || c == '=' || c == '\\' || c == 0x7f) return true;
  return false;
}

}  // namespace

Field::Field(std::string_view k, double v) : key(k), quoted(false) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  value = buf;
}

std::optional<Level> parse_level(std::string_view text) {
  if (text == "trace") return Level::trace;
  if (text == "debug") return Level::debug;
  if (text == "info") return Level::info;
  if (text == "warn" || text == "warning") return Level::warn;
  if (text == "error") return Level::error;
  return std::nullopt;
}

std::optional<Format> parse_format(std::string_view text) {
  if (text == "text") return Format::text;
  if (text == "json") return Format::json;
  return std::nullopt;
}

void configure(Level level, Format format) {
  g_format.store(format);
  auto& l = logger();
  l.set_level(to_spdlog(level));
  if (format == Format::json) {
    l.set_pattern(R"({"ts":"%Y-%m-%dT%H:%M:%S.%fZ","level":"%l",%v})", spdlog::pattern_time_type::utc);
  } else {
    l.set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %-5l %v", spdlog::pattern_time_type::utc);
  }
}

bool enabled(Level level) { return logger().should_log(to_spdlog(level)); }

std::string format_record(Format format, std::string_view message, std::initializer_list<Field> fields) {
  std::string out;
  if (format == Format::json) {
    out += "\"msg\":\"";
    append_escaped(out, message, format);
    out += '"';
    for (const auto& f : fields) {
      out += ",\"";
      append_escaped(out, f.key, format);
      out += "\":";
      if (f.quoted) out += '"';
      append_escaped(out, f.value, format);
      if (f.quoted) out += '"';
    }
    return out;
  }
  // logfmt: msg first, values quoted when they hold spaces, quotes, '=' or controls.
  out += "msg=\"";
  append_escaped(out, message, format);
  out += '"';
  for (const auto& f : fields) {
    out += ' ';
    out += f.key;
    out += '=';
    if (needs_quotes(f.value)) {
      out += '"';
      append_escaped(out, f.value, format);
      out += '"';
    } else {
      out += f.value;
    }
  }
  return out;
}

void write(Level level, std::string_view message, std::initializer_list<Field> fields) {
  auto& l = logger();
  const auto spd_level = to_spdlog(level);
  if (!l.should_log(spd_level)) return;
  l.log(spd_level, "{}", format_record(g_format.load(), message, fields));
}

}  // namespace convene::log
