// Bulk import of members and memberships from CSV (see import.hpp for the file format).
#include "daemon/api/import.hpp"

#include "calendar/durations.hpp"
#include "calendar/zones.hpp"
#include "daemon/api/common.hpp"
#include "daemon/api/input.hpp"
#include "daemon/api/routes.hpp"
#include "notifiers/routing.hpp"
#include "store/sql_lists.hpp"

#include <boost/json/array.hpp>
#include <boost/json/serialize.hpp>

#include <algorithm>
#include <array>
#include <functional>
#include <map>
#include <set>
#include <unordered_map>

namespace convene::api {
namespace {

// Serialises imports with each other, so two files that add the same new member cannot race.
constexpr std::int64_t kImportLockKey = 0x636f6e76656e6549;  // "conveneI"

constexpr std::array<std::string_view, 7> kColumns = {"email",      "name",           "time_zone",  "digest_hour",
                                                      "weekly_day", "reminder_offsets", "communities"};
enum Column { email_col, name_col, zone_col, hour_col, day_col, offsets_col, communities_col };

constexpr const char* kDays[] = {"monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"};
constexpr std::size_t kMaxOffsets = 10;

std::string column_list() {
  std::string out;
  for (auto c : kColumns) out += (out.empty() ? "" : ", ") + std::string(c);
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// A value quoted for a message, shortened when long (never inside a UTF-8 sequence).
std::string shown(std::string_view value) {
  constexpr std::size_t kMax = 80;
  if (value.size() <= kMax) return "'" + std::string(value) + "'";
  std::size_t cut = kMax;
  while (cut > 0 && (static_cast<unsigned char>(value[cut]) & 0xC0) == 0x80) --cut;
  return "'" + std::string(value.substr(0, cut)) + "...'";
}

std::string ascii_lower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

// Collects problems; keeps the first kImportMaxReportedErrors, counts them all.
class Errors {
 public:
  void add(std::size_t line, std::string field, std::string message, bool malformed = false) {
    ++count_;
    malformed_ = malformed_ || malformed;
    if (list_.size() < kImportMaxReportedErrors) list_.push_back({line, std::move(field), std::move(message)});
  }
  std::size_t count() const { return count_; }
  bool malformed() const { return malformed_; }
  std::vector<ImportError> take() {
    // By line, and within a line the record's own problems first, then by column.
    auto rank = [](const ImportError& e) {
      const auto it = std::find(kColumns.begin(), kColumns.end(), e.field);
      return e.field.empty() ? -1 : static_cast<int>(it - kColumns.begin());
    };
    std::stable_sort(list_.begin(), list_.end(), [&](const ImportError& a, const ImportError& b) {
      return a.line != b.line ? a.line < b.line : rank(a) < rank(b);
    });
    return std::move(list_);
  }

 private:
  std::vector<ImportError> list_;
  std::size_t count_ = 0;
  bool malformed_ = false;
};

struct CsvRecord {
  std::size_t line = 0;  // where the record starts
  std::vector<std::string> fields;
  bool bad = false;      // a syntax error was recorded for it
};

// RFC 4180 records with the physical line each starts on. Blank lines are skipped. Spaces
// around a quoted field are tolerated. A record with a syntax error is returned with `bad`
// set (the error recorded) and reading resumes on the next line; an unclosed quote ends it.
class CsvReader {
 public:
  CsvReader(std::string_view text, Errors& errors) : text_(text), errors_(errors) {}

  bool next(CsvRecord& record) {
    while (!done_ && pos_ < text_.size()) {
      if (text_[pos_] == '\n') {
        ++pos_, ++line_;
      } else if (text_[pos_] == '\r' && pos_ + 1 < text_.size() && text_[pos_ + 1] == '\n') {
        pos_ += 2, ++line_;
      } else {
        break;
      }
    }
    if (done_ || pos_ >= text_.size()) return false;
    record.line = line_;
    record.fields.clear();
    record.bad = false;
    for (;;) {
      std::string value;
      std::size_t start = pos_;
      while (start < text_.size() && (text_[start] == ' ' || text_[start] == '\t')) ++start;
      if (start < text_.size() && text_[start] == '"') {
        pos_ = start + 1;
        bool closed = false;
        while (pos_ < text_.size()) {
          const char c = text_[pos_];
          if (c == '"') {
            if (pos_ + 1 < text_.size() && text_[pos_ + 1] == '"') {
              value += '"';
              pos_ += 2;
              continue;
            }
            ++pos_;
            closed = true;
            break;
          }
          if (c == '\n') ++line_;
          value += c;
          ++pos_;
        }
        if (!closed) {
          errors_.add(record.line, "",
                      "a quoted field starts in this record but its closing double quote is missing", true);
          done_ = true;
          record.bad = true;
          return true;
        }
        while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\t')) ++pos_;
        if (pos_ < text_.size() && text_[pos_] != ',' && text_[pos_] != '\n' && text_[pos_] != '\r')
          return skip_rest(record,
                           "unexpected text after a closing double quote (inside a quoted field, write a double quote "
                           "as \"\")");
      } else {
        while (pos_ < text_.size() && text_[pos_] != ',' && text_[pos_] != '\n' && text_[pos_] != '\r') {
          if (text_[pos_] == '"')
            return skip_rest(record,
                             "a double quote inside a field that does not start with one (enclose the whole field "
                             "in double quotes and write each quote inside it as \"\")");
          value += text_[pos_++];
        }
      }
      record.fields.push_back(std::move(value));
      if (pos_ >= text_.size()) return true;
      const char c = text_[pos_];
      if (c == ',') {
        ++pos_;
        continue;
      }
      if (c == '\n') {
        ++pos_, ++line_;
        return true;
      }
      if (pos_ + 1 < text_.size() && text_[pos_ + 1] == '\n') {
        pos_ += 2, ++line_;
        return true;
      }
      return skip_rest(record, "a carriage return (CR) without a line feed (LF): lines must end with CRLF or LF");
    }
  }

 private:
  bool skip_rest(CsvRecord& record, std::string message) {
    errors_.add(record.line, "", std::move(message), true);
    record.bad = true;
    while (pos_ < text_.size() && text_[pos_] != '\n') ++pos_;
    if (pos_ < text_.size()) ++pos_, ++line_;
    return true;
  }

  std::string_view text_;
  Errors& errors_;
  std::size_t pos_ = 0;
  std::size_t line_ = 1;
  bool done_ = false;
};

struct Membership {
  std::string slug;
  std::string delivery;
};

struct Row {
  std::size_t line = 0;
  bool valid = true;  // every value acceptable
  std::string email;
  std::string key;    // lower(email) as PostgreSQL computes it
  std::string name;
  std::optional<std::string> time_zone;
  std::optional<int> digest_hour;
  std::optional<int> weekly_day;                       // ISO: 1 = Monday
  std::optional<std::vector<std::int64_t>> offsets;    // seconds, longest first, no repeats
  std::vector<Membership> communities;
};

std::optional<int> parse_hour(std::string_view text) {
  if (text.empty() || text.size() > 2) return std::nullopt;
  int n = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + (c - '0');
  }
  if (n > 23) return std::nullopt;
  return n;
}

std::optional<int> parse_day(std::string_view text) {
  const std::string lower = ascii_lower(text);
  for (int i = 0; i < 7; ++i)
    if (lower == kDays[i]) return i + 1;
  return std::nullopt;
}

// Validates one data record's values into `row`; problems go to `errors`.
class RowReader {
 public:
  RowReader(const std::vector<int>& column_of_field, Errors& errors) : columns_(column_of_field), errors_(errors) {}

  Row read(const CsvRecord& record) {
    Row row;
    row.line = record.line;
    std::array<std::optional<std::string_view>, kColumns.size()> cells;
    for (std::size_t i = 0; i < record.fields.size(); ++i) cells[static_cast<std::size_t>(columns_[i])] = record.fields[i];
    line_ = record.line;
    row_ = &row;

    // Encoding first: values that are not UTF-8 text cannot be judged further.
    for (std::size_t c = 0; c < cells.size(); ++c) {
      if (!cells[c]) continue;
      const auto value = *cells[c];
      if (value.find('\0') != std::string_view::npos) {
        malformed(c, "contains a NUL byte: the file must be UTF-8 text (not UTF-16 or a spreadsheet's binary format)");
      } else if (const auto at = utf8_error_at(value); at != std::string_view::npos) {
        malformed(c, "is not valid UTF-8 (byte " + std::to_string(at + 1) +
                         " of the value); save the file as \"CSV UTF-8\"");
      }
    }
    if (!row.valid) return row;

    auto text = [&](Column c, std::size_t max_chars) -> std::optional<std::string> {
      if (!cells[c]) return std::nullopt;
      const auto value = trim(*cells[c]);
      if (value.empty()) return std::nullopt;
      if (auto p = text_problem(value, Text::single_line, max_chars)) {
        invalid(c, *p);
        return std::nullopt;
      }
      return std::string(value);
    };

    const bool email_given = cells[email_col] && !trim(*cells[email_col]).empty();
    if (const auto email = text(email_col, 254)) {
      if (auto p = email_problem(*email)) invalid(email_col, *p);
      else row.email = *email;
    } else if (!email_given) {
      invalid(email_col, "is required");
    }
    const bool name_given = cells[name_col] && !trim(*cells[name_col]).empty();
    if (const auto name = text(name_col, 200)) row.name = *name;
    else if (!name_given) invalid(name_col, "is required");

    if (const auto zone = text(zone_col, 64)) {
      if (zone_known(*zone)) row.time_zone = *zone;
      else invalid(zone_col, shown(*zone) + " must be an IANA time zone such as Europe/London");
    }
    if (const auto hour = text(hour_col, 16)) {
      row.digest_hour = parse_hour(*hour);
      if (!row.digest_hour) invalid(hour_col, shown(*hour) + " must be a whole number from 0 to 23");
    }
    if (const auto day = text(day_col, 16)) {
      row.weekly_day = parse_day(*day);
      if (!row.weekly_day) invalid(day_col, shown(*day) + " must be a day name such as monday");
    }
    if (const auto offsets = text(offsets_col, 400)) read_offsets(*offsets);
    if (cells[communities_col]) read_communities(*cells[communities_col]);
    return row;
  }

 private:
  void malformed(std::size_t column, std::string message) {
    errors_.add(line_, std::string(kColumns[column]), std::move(message), true);
    row_->valid = false;
  }
  void invalid(std::size_t column, std::string message) {
    errors_.add(line_, std::string(kColumns[column]), std::move(message));
    row_->valid = false;
  }

  bool zone_known(const std::string& zone) {
    const auto it = zones_.find(zone);
    if (it != zones_.end()) return it->second;
    return zones_[zone] = calendar::is_known_zone(zone);
  }

  // "P1D PT1H": space-separated ISO 8601 durations (the rules of PATCH /v1/members), or "none".
  void read_offsets(std::string_view text) {
    std::vector<std::int64_t> seconds;
    if (ascii_lower(text) == "none") {
      row_->offsets = seconds;
      return;
    }
    std::size_t items = 0;
    while (!text.empty()) {
      const auto space = text.find_first_of(" \t");
      const auto item = text.substr(0, space);
      text = space == std::string_view::npos ? std::string_view() : trim(text.substr(space));
      if (++items > kMaxOffsets) {
        invalid(offsets_col, "must list at most " + std::to_string(kMaxOffsets) + " durations");
        return;
      }
      const auto d = calendar::parse_iso8601_duration(item);
      if (!d || *d < std::chrono::minutes(1) || *d > std::chrono::days(60)) {
        invalid(offsets_col, shown(item) +
                                 " must be an ISO 8601 duration from PT1M to P60D, such as PT1H or P1D (several are "
                                 "separated by spaces; 'none' for no reminders)");
        return;
      }
      seconds.push_back(d->count());
    }
    std::sort(seconds.begin(), seconds.end(), std::greater<>());
    seconds.erase(std::unique(seconds.begin(), seconds.end()), seconds.end());
    row_->offsets = std::move(seconds);
  }

  // "data-science:daily;rust:realtime".
  void read_communities(std::string_view text) {
    if (auto p = text_problem(text, Text::single_line, 100000)) {
      invalid(communities_col, *p);
      return;
    }
    std::set<std::string, std::less<>> seen;
    while (!text.empty()) {
      const auto semicolon = text.find(';');
      const auto item = trim(text.substr(0, semicolon));
      text = semicolon == std::string_view::npos ? std::string_view() : text.substr(semicolon + 1);
      if (item.empty()) continue;
      const auto colon = item.find(':');
      if (colon == std::string_view::npos) {
        invalid(communities_col, shown(item) + " needs a delivery mode, such as " + shown(std::string(item) + ":daily") +
                                     " (realtime, daily, weekly or none)");
        continue;
      }
      const std::string slug(trim(item.substr(0, colon)));
      const std::string delivery = ascii_lower(trim(item.substr(colon + 1)));
      if (auto p = slug_problem(slug)) {
        invalid(communities_col, shown(slug) + " is not a community slug: it " + *p);
        continue;
      }
      if (!notifiers::parse_delivery_mode(delivery)) {
        invalid(communities_col, "the delivery mode " + shown(delivery) + " for " + slug +
                                     " must be one of realtime, daily, weekly, none");
        continue;
      }
      if (!seen.insert(slug).second) {
        invalid(communities_col, slug + " is listed twice");
        continue;
      }
      row_->communities.push_back({slug, delivery});
    }
  }

  const std::vector<int>& columns_;
  Errors& errors_;
  std::size_t line_ = 0;
  Row* row_ = nullptr;
  std::unordered_map<std::string, bool> zones_;
};

// A PostgreSQL array literal of text elements (NULL for nullopt), for unnest($n::type[]).
std::string array_literal(const std::vector<std::optional<std::string>>& items) {
  std::string out = "{";
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out += ',';
    if (!items[i]) {
      out += "NULL";
      continue;
    }
    out += '"';
    for (char c : *items[i]) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += '"';
  }
  out += '}';
  return out;
}

std::string interval_array(const std::vector<std::int64_t>& seconds) {
  std::vector<std::optional<std::string>> items;
  for (auto s : seconds) items.emplace_back(std::to_string(s) + " seconds");
  return array_literal(items);
}

// Sorted and without repeats, so two lists of the same offsets compare equal.
std::vector<std::int64_t> normalized_seconds(std::string_view list) {
  auto out = store::parse_seconds_list(list);
  std::sort(out.begin(), out.end(), std::greater<>());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

struct ExistingMember {
  std::int64_t id = 0;
  std::string name, time_zone;
  int digest_hour = 0, weekly_day = 0;
  std::vector<std::int64_t> offsets;
};

struct CommunityInfo {
  std::int64_t id = 0;
  std::string name;
  bool active = false;
};

ImportResult finish(ImportResult result, Errors& errors) {
  result.error_count = errors.count();
  result.outcome = errors.malformed() ? ImportOutcome::malformed : ImportOutcome::invalid;
  result.errors = errors.take();
  result.detail = std::to_string(result.error_count) + (result.error_count == 1 ? " problem" : " problems") +
                  " found; nothing was imported" +
                  (result.error_count > result.errors.size()
                       ? " (the first " + std::to_string(result.errors.size()) + " are listed)"
                       : "");
  return result;
}

}  // namespace

ImportResult import_members(pqxx::work& tx, std::string_view csv, const ImportContext& context) {
  ImportResult result;
  Errors errors;
  if (csv.size() > kImportMaxBytes) {
    result.outcome = ImportOutcome::too_large;
    result.detail = "the file is larger than 20 MiB; split it into several files";
    return result;
  }
  if (csv.size() >= 2 && ((csv[0] == '\xFF' && csv[1] == '\xFE') || (csv[0] == '\xFE' && csv[1] == '\xFF'))) {
    errors.add(1, "", "the file is UTF-16 text; save it as \"CSV UTF-8\"", true);
    return finish(std::move(result), errors);
  }
  if (csv.size() >= 3 && csv.substr(0, 3) == "\xEF\xBB\xBF") csv.remove_prefix(3);

  CsvReader reader(csv, errors);
  CsvRecord record;
  if (!reader.next(record)) {
    errors.add(1, "", "the file is empty: its first line must be a header such as email,name,communities", true);
    return finish(std::move(result), errors);
  }

  // The header: known column names, each once, email and name among them.
  std::vector<int> column_of_field;
  const std::size_t header_line = record.line;
  if (!record.bad) {
    std::set<int> seen;
    for (std::size_t i = 0; i < record.fields.size(); ++i) {
      const std::string& raw = record.fields[i];
      const std::string name = ascii_lower(trim(raw));
      const auto known = std::find(kColumns.begin(), kColumns.end(), name);
      if (raw.find('\0') != std::string::npos || utf8_error_at(raw) != std::string_view::npos) {
        errors.add(header_line, "", "column " + std::to_string(i + 1) + " of the header is not UTF-8 text", true);
      } else if (name.empty()) {
        errors.add(header_line, "", "column " + std::to_string(i + 1) + " of the header has no name", true);
      } else if (known == kColumns.end()) {
        errors.add(header_line, name, "is not a known column (the columns are " + column_list() + ")", true);
      } else if (!seen.insert(static_cast<int>(known - kColumns.begin())).second) {
        errors.add(header_line, name, "is a column named twice in the header", true);
      }
      column_of_field.push_back(known == kColumns.end() ? -1 : static_cast<int>(known - kColumns.begin()));
    }
    for (auto required : {email_col, name_col})
      if (seen.count(required) == 0)
        errors.add(header_line, std::string(kColumns[required]), "is a required column: the header must name it", true);
  }
  if (errors.count() > 0) return finish(std::move(result), errors);
  std::array<bool, kColumns.size()> present{};
  for (int c : column_of_field) present[static_cast<std::size_t>(c)] = true;

  // Every data row, validated on its own.
  std::vector<Row> rows;
  RowReader row_reader(column_of_field, errors);
  std::size_t data_rows = 0;
  while (reader.next(record)) {
    if (++data_rows > kImportMaxRows) {
      result.outcome = ImportOutcome::too_large;
      result.detail = "the file has more than " + std::to_string(kImportMaxRows) +
                      " rows (the row on line " + std::to_string(record.line) + " is one too many); split it into several files";
      return result;
    }
    if (record.bad) continue;
    if (record.fields.size() != column_of_field.size()) {
      errors.add(record.line, "",
                 "has " + std::to_string(record.fields.size()) + " fields but the header has " +
                     std::to_string(column_of_field.size()) + " (a value containing a comma must be in double quotes)",
                 true);
      continue;
    }
    rows.push_back(row_reader.read(record));
  }

  // Checks across rows and against the database, on what PostgreSQL considers the same email.
  tx.exec_params("SELECT pg_advisory_xact_lock($1)", kImportLockKey);
  {
    std::vector<std::optional<std::string>> emails;
    std::vector<Row*> with_email;
    for (auto& row : rows)
      if (!row.email.empty()) emails.emplace_back(row.email), with_email.push_back(&row);
    if (!emails.empty()) {
      const auto keys = tx.exec_params("SELECT lower(e) FROM unnest($1::text[]) WITH ORDINALITY AS u(e, n) ORDER BY n",
                                       array_literal(emails));
      std::unordered_map<std::string, std::size_t> first_line;
      for (std::size_t i = 0; i < with_email.size(); ++i) {
        Row& row = *with_email[i];
        row.key = keys[static_cast<pqxx::result::size_type>(i)][0].as<std::string>();
        const auto [it, inserted] = first_line.emplace(row.key, row.line);
        if (!inserted) {
          errors.add(row.line, "email", shown(row.email) + " is already on line " + std::to_string(it->second) +
                                            " (email addresses are compared without regard to case)");
          row.valid = false;
        }
      }
    }
  }
  std::map<std::string, CommunityInfo, std::less<>> communities;
  {
    std::set<std::string> slugs;
    for (const auto& row : rows)
      for (const auto& m : row.communities) slugs.insert(m.slug);
    if (!slugs.empty()) {
      std::vector<std::optional<std::string>> list(slugs.begin(), slugs.end());
      // FOR SHARE: a community cannot be archived while members are being added to it.
      for (const auto& r : tx.exec_params("SELECT slug, id, name, status FROM communities WHERE slug = ANY($1::text[]) "
                                          "ORDER BY id FOR SHARE",
                                          array_literal(list)))
        communities[r[0].as<std::string>()] =
            CommunityInfo{r[1].as<std::int64_t>(), r[2].as<std::string>(), r[3].as<std::string>() == "active"};
    }
    for (auto& row : rows)
      for (const auto& m : row.communities) {
        const auto it = communities.find(m.slug);
        if (it == communities.end()) {
          errors.add(row.line, "communities", "no community has the slug " + shown(m.slug));
          row.valid = false;
        } else if (!it->second.active) {
          errors.add(row.line, "communities", "the community " + m.slug + " is archived");
          row.valid = false;
        }
      }
  }
  if (errors.count() > 0) return finish(std::move(result), errors);

  // Existing members, locked so nothing changes them between the comparison and the update.
  std::unordered_map<std::string, ExistingMember> existing;
  if (!rows.empty()) {
    std::vector<std::optional<std::string>> keys;
    for (const auto& row : rows) keys.emplace_back(row.key);
    for (const auto& r : tx.exec_params(
             "SELECT lower(email), id, name, time_zone, digest_hour, weekly_day, " +
                 store::seconds_list_sql("reminder_offsets") +
                 " FROM members WHERE lower(email) = ANY($1::text[]) ORDER BY id FOR UPDATE",
             array_literal(keys)))
      existing[r[0].as<std::string>()] = ExistingMember{r[1].as<std::int64_t>(), r[2].as<std::string>(),
                                                        r[3].as<std::string>(), r[4].as<int>(), r[5].as<int>(),
                                                        normalized_seconds(r[6].as<std::string>())};
  }

  auto opt_int = [](std::optional<int> v) -> std::optional<std::string> {
    return v ? std::optional<std::string>(std::to_string(*v)) : std::nullopt;
  };

  // New members.
  std::unordered_map<std::string, std::int64_t> member_ids;
  {
    std::vector<std::optional<std::string>> emails, names, zones, hours, days, offsets;
    for (const auto& row : rows) {
      if (existing.count(row.key) != 0) continue;
      emails.emplace_back(row.email);
      names.emplace_back(row.name);
      zones.emplace_back(row.time_zone.value_or(context.organisation_time_zone));
      hours.push_back(opt_int(row.digest_hour));
      days.push_back(opt_int(row.weekly_day));
      offsets.push_back(row.offsets ? std::optional<std::string>(interval_array(*row.offsets)) : std::nullopt);
    }
    if (!emails.empty()) {
      const auto inserted = tx.exec_params(
          "INSERT INTO members (email, name, time_zone, digest_hour, weekly_day, reminder_offsets, created_at, updated_at) "
          "SELECT u.email, u.name, u.zone, coalesce(u.hour, 7), coalesce(u.day, 1), "
          "  coalesce(u.offsets::interval[], '{1 day,1 hour}'), $7, $7 "
          "FROM unnest($1::text[], $2::text[], $3::text[], $4::smallint[], $5::smallint[], $6::text[]) "
          "  WITH ORDINALITY AS u(email, name, zone, hour, day, offsets, n) ORDER BY u.n "
          "ON CONFLICT ((lower(email))) DO NOTHING RETURNING lower(email), id",
          array_literal(emails), array_literal(names), array_literal(zones), array_literal(hours), array_literal(days),
          array_literal(offsets), context.now_sql);
      if (inserted.size() != emails.size()) {
        result.outcome = ImportOutcome::conflict;
        result.detail =
            "some of these members were created by another request at the same time; nothing was imported, run the "
            "import again";
        return result;
      }
      for (const auto& r : inserted) member_ids[r[0].as<std::string>()] = r[1].as<std::int64_t>();
      result.summary.members_created = static_cast<std::int64_t>(emails.size());
    }
  }

  // Existing members: only the columns the file has, only values that differ.
  {
    std::vector<std::optional<std::string>> ids, names, zones, hours, days, offsets;
    for (const auto& row : rows) {
      const auto it = existing.find(row.key);
      if (it == existing.end()) continue;
      const ExistingMember& m = it->second;
      member_ids[row.key] = m.id;
      std::optional<std::string> name, zone, hour, day, offset;
      if (row.name != m.name) name = row.name;
      if (present[zone_col] && row.time_zone && *row.time_zone != m.time_zone) zone = row.time_zone;
      if (present[hour_col] && row.digest_hour && *row.digest_hour != m.digest_hour) hour = opt_int(row.digest_hour);
      if (present[day_col] && row.weekly_day && *row.weekly_day != m.weekly_day) day = opt_int(row.weekly_day);
      if (present[offsets_col] && row.offsets && *row.offsets != m.offsets) offset = interval_array(*row.offsets);
      if (!name && !zone && !hour && !day && !offset) {
        ++result.summary.members_unchanged;
        continue;
      }
      ids.emplace_back(std::to_string(m.id));
      names.push_back(name);
      zones.push_back(zone);
      hours.push_back(hour);
      days.push_back(day);
      offsets.push_back(offset);
    }
    if (!ids.empty()) {
      tx.exec_params(
          "UPDATE members m SET name = coalesce(u.name, m.name), time_zone = coalesce(u.zone, m.time_zone), "
          "digest_hour = coalesce(u.hour, m.digest_hour), weekly_day = coalesce(u.day, m.weekly_day), "
          "reminder_offsets = coalesce(u.offsets::interval[], m.reminder_offsets), updated_at = $7 "
          "FROM unnest($1::bigint[], $2::text[], $3::text[], $4::smallint[], $5::smallint[], $6::text[]) "
          "  AS u(id, name, zone, hour, day, offsets) WHERE m.id = u.id",
          array_literal(ids), array_literal(names), array_literal(zones), array_literal(hours), array_literal(days),
          array_literal(offsets), context.now_sql);
      result.summary.members_updated = static_cast<std::int64_t>(ids.size());
    }
  }

  // Memberships: new ones inserted (member.joined), others get their delivery mode when it
  // differs; memberships the file does not list are left alone.
  std::map<std::pair<std::int64_t, std::int64_t>, std::string> current;
  {
    std::vector<std::optional<std::string>> ids;
    for (const auto& row : rows)
      if (existing.count(row.key) != 0 && !row.communities.empty()) ids.emplace_back(std::to_string(member_ids[row.key]));
    if (!ids.empty())
      for (const auto& r : tx.exec_params("SELECT member_id, community_id, delivery FROM memberships "
                                          "WHERE member_id = ANY($1::bigint[]) ORDER BY member_id, community_id FOR UPDATE",
                                          array_literal(ids)))
        current[{r[0].as<std::int64_t>(), r[1].as<std::int64_t>()}] = r[2].as<std::string>();
  }
  struct Join {
    std::int64_t member_id;
    const std::string* slug;
    const CommunityInfo* community;
    std::string delivery;
  };
  std::vector<Join> joins;
  std::vector<std::optional<std::string>> change_members, change_communities, change_deliveries;
  for (const auto& row : rows) {
    const auto member_id = member_ids.at(row.key);
    for (const auto& m : row.communities) {
      const auto c = communities.find(m.slug);
      const auto it = current.find({member_id, c->second.id});
      if (it == current.end()) {
        joins.push_back({member_id, &c->first, &c->second, m.delivery});
      } else if (it->second != m.delivery) {
        change_members.emplace_back(std::to_string(member_id));
        change_communities.emplace_back(std::to_string(c->second.id));
        change_deliveries.emplace_back(m.delivery);
      }
    }
  }
  if (!change_members.empty()) {
    const auto updated = tx.exec_params(
        "UPDATE memberships ms SET delivery = u.delivery, updated_at = $4 "
        "FROM unnest($1::bigint[], $2::bigint[], $3::text[]) AS u(member_id, community_id, delivery) "
        "WHERE ms.member_id = u.member_id AND ms.community_id = u.community_id AND ms.delivery <> u.delivery",
        array_literal(change_members), array_literal(change_communities), array_literal(change_deliveries),
        context.now_sql);
    result.summary.memberships_updated = static_cast<std::int64_t>(updated.affected_rows());
  }
  if (!joins.empty()) {
    std::vector<std::optional<std::string>> members, community_ids, deliveries;
    for (const auto& j : joins) {
      members.emplace_back(std::to_string(j.member_id));
      community_ids.emplace_back(std::to_string(j.community->id));
      deliveries.emplace_back(j.delivery);
    }
    // A membership made concurrently (PUT .../members/{id}) keeps its own delivery mode and event.
    const auto inserted = tx.exec_params(
        "INSERT INTO memberships (member_id, community_id, delivery, joined_at, updated_at) "
        "SELECT u.member_id, u.community_id, u.delivery, $4, $4 "
        "FROM unnest($1::bigint[], $2::bigint[], $3::text[]) WITH ORDINALITY AS u(member_id, community_id, delivery, n) "
        "ORDER BY u.n ON CONFLICT (member_id, community_id) DO NOTHING RETURNING member_id, community_id",
        array_literal(members), array_literal(community_ids), array_literal(deliveries), context.now_sql);
    std::set<std::pair<std::int64_t, std::int64_t>> made;
    for (const auto& r : inserted) made.insert({r[0].as<std::int64_t>(), r[1].as<std::int64_t>()});
    std::vector<std::optional<std::string>> event_communities, payloads;
    for (const auto& j : joins) {
      if (made.count({j.member_id, j.community->id}) == 0) continue;
      boost::json::object payload{{"member_id", j.member_id},
                                  {"community", *j.slug},
                                  {"community_name", j.community->name},
                                  {"delivery", j.delivery}};
      if (context.actor_id) payload["actor_id"] = *context.actor_id;
      event_communities.emplace_back(std::to_string(j.community->id));
      payloads.emplace_back(boost::json::serialize(payload));
    }
    if (!payloads.empty())
      tx.exec_params(
          "INSERT INTO events (kind, community_id, payload, occurred_at) "
          "SELECT 'member.joined', u.community_id, u.payload::jsonb, $3 "
          "FROM unnest($1::bigint[], $2::text[]) WITH ORDINALITY AS u(community_id, payload, n) ORDER BY u.n",
          array_literal(event_communities), array_literal(payloads), context.now_sql);
    result.summary.memberships_created = static_cast<std::int64_t>(made.size());
  }
  result.outcome = ImportOutcome::imported;
  result.detail = "imported";
  return result;
}

namespace {

// "text/csv" with optional parameters; a charset other than UTF-8 is refused.
std::optional<std::string> content_type_problem(const std::string& header) {
  const std::string value = ascii_lower(header);
  const auto semicolon = value.find(';');
  if (trim(std::string_view(value).substr(0, semicolon)) != "text/csv")
    return "send the file with Content-Type: text/csv (UTF-8)";
  if (semicolon == std::string::npos) return std::nullopt;
  std::string_view params = std::string_view(value).substr(semicolon + 1);
  while (!params.empty()) {
    const auto next = params.find(';');
    const auto param = trim(params.substr(0, next));
    params = next == std::string_view::npos ? std::string_view() : params.substr(next + 1);
    if (param.rfind("charset=", 0) != 0) continue;
    auto charset = param.substr(8);
    if (charset.size() >= 2 && charset.front() == '"' && charset.back() == '"') charset = charset.substr(1, charset.size() - 2);
    if (charset != "utf-8" && charset != "utf8" && charset != "us-ascii")
      return "only UTF-8 files are accepted (Content-Type: text/csv; charset=utf-8)";
  }
  return std::nullopt;
}

Reply import_route(Call& call) {
  if (!call.admin()) return forbidden("only admins import members");
  if (auto p = content_type_problem(call.http.get_header_value("Content-Type"))) {
    Reply r = problem(415, "Unsupported Media Type", *p);
    r.headers.emplace_back("Accept-Post", "text/csv");
    return r;
  }
  const ImportContext context{call.now_sql, call.services.config.organisation_time_zone, call.principal->member_id};
  const ImportResult result = import_members(call.tx, call.http.body, context);
  switch (result.outcome) {
    case ImportOutcome::imported: {
      const auto& s = result.summary;
      return ok(boost::json::object{{"members_created", s.members_created},
                                    {"members_updated", s.members_updated},
                                    {"members_unchanged", s.members_unchanged},
                                    {"memberships_created", s.memberships_created},
                                    {"memberships_updated", s.memberships_updated}});
    }
    case ImportOutcome::too_large:
      return problem(413, "Payload Too Large", result.detail);
    case ImportOutcome::conflict:
      return conflict(result.detail);
    case ImportOutcome::malformed:
    case ImportOutcome::invalid:
      break;
  }
  boost::json::array list;
  for (const auto& e : result.errors) {
    boost::json::object item{{"line", e.line}};
    item["field"] = e.field.empty() ? boost::json::value(nullptr) : boost::json::value(e.field);
    item["message"] = e.message;
    list.push_back(std::move(item));
  }
  const bool malformed = result.outcome == ImportOutcome::malformed;
  return problem(malformed ? 400 : 422, malformed ? "Bad Request" : "Unprocessable Content", result.detail,
                 boost::json::object{{"errors", std::move(list)}, {"error_count", result.error_count}});
}

}  // namespace

void register_imports(Api& api) { api.add("POST", "/v1/import/members", import_route, {.body = Body::csv}); }

}  // namespace convene::api
