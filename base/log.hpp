#pragma once
// Structured logs to stderr: a message plus key=value fields, as text (logfmt) or JSON lines.
// Never pass secrets (passwords, tokens) as fields; redact them first.
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>

namespace convene::log {

enum class Level { trace, debug, info, warn, error };
enum class Format { text, json };

std::optional<Level> parse_level(std::string_view text);
std::optional<Format> parse_format(std::string_view text);

// Thread-safe; may be called again (SIGHUP) while other threads log.
void configure(Level level, Format format);
bool enabled(Level level);

struct Field {
  Field(std::string_view k, std::string_view v) : key(k), value(v), quoted(true) {}
  Field(std::string_view k, const std::string& v) : key(k), value(v), quoted(true) {}
  Field(std::string_view k, const char* v) : key(k), value(v), quoted(true) {}
  Field(std::string_view k, bool v) : key(k), value(v ? "true" : "false"), quoted(false) {}
  Field(std::string_view k, int v) : key(k), value(std::to_string(v)), quoted(false) {}
  Field(std::string_view k, long v) : key(k), value(std::to_string(v)), quoted(false) {}
  Field(std::string_view k, long long v) : key(k), value(std::to_string(v)), quoted(false) {}
  Field(std::string_view k, unsigned v) : key(k), value(std::to_string(v)), quoted(false) {}
  Field(std::string_view k, unsigned long v) : key(k), value(std::to_string(v)), quoted(false) {}
  Field(std::string_view k, unsigned long long v) : key(k), value(std::to_string(v)), quoted(false) {}
  Field(std::string_view k, double v);
  std::string_view key;
  std::string value;
  bool quoted;
};

void write(Level level, std::string_view message, std::initializer_list<Field> fields);

// Formats one record without the timestamp and level (exposed for tests).
std::string format_record(Format format, std::string_view message, std::initializer_list<Field> fields);

inline void trace(std::string_view m, std::initializer_list<Field> f = {}) { write(Level::trace, m, f); }
inline void debug(std::string_view m, std::initializer_list<Field> f = {}) { write(Level::debug, m, f); }
inline void info(std::string_view m, std::initializer_list<Field> f = {}) { write(Level::info, m, f); }
inline void warn(std::string_view m, std::initializer_list<Field> f = {}) { write(Level::warn, m, f); }
inline void error(std::string_view m, std::initializer_list<Field> f = {}) { write(Level::error, m, f); }

}  // namespace convene::log
