#pragma once
// Bulk import of members and their memberships from CSV: one function that validates every
// row and then upserts, inside a transaction it is given. POST /v1/import/members and
// `convened import members FILE.csv` both use it.
//
// The file (RFC 4180): UTF-8 (an initial byte-order mark is ignored), comma separated, fields
// that contain commas, double quotes or line breaks enclosed in double quotes with each quote
// written twice, CRLF or LF line ends, blank lines ignored, a header row naming the columns in
// any order: email and name (required), time_zone, digest_hour, weekly_day, reminder_offsets,
// communities. An empty cell in an optional column means "the default" for a new member and
// "unchanged" for an existing one. See docs/api.md.
#include <pqxx/pqxx>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace convene::api {

inline constexpr std::size_t kImportMaxBytes = 20 * 1024 * 1024;
inline constexpr std::size_t kImportMaxRows = 100000;       // data rows, the header not counted
inline constexpr std::size_t kImportMaxReportedErrors = 1000;

// A problem with the file. `line` is the 1-based physical line where the record starts (0: the
// file as a whole); `field` is the column name, empty when the problem is the record itself.
struct ImportError {
  std::size_t line = 0;
  std::string field;
  std::string message;
};

struct ImportSummary {
  std::int64_t members_created = 0;
  std::int64_t members_updated = 0;
  std::int64_t members_unchanged = 0;
  std::int64_t memberships_created = 0;
  std::int64_t memberships_updated = 0;
};

enum class ImportOutcome {
  imported,   // written (summary says what changed)
  malformed,  // the file cannot be read as the CSV described above (400)
  invalid,    // it can be read, but values are wrong (422)
  too_large,  // more than kImportMaxRows rows or kImportMaxBytes bytes (413)
  conflict,   // members with the same email addresses were created concurrently; run it again (409)
};

struct ImportResult {
  ImportOutcome outcome = ImportOutcome::imported;
  ImportSummary summary;
  std::vector<ImportError> errors;  // ordered by line; at most kImportMaxReportedErrors
  std::size_t error_count = 0;      // all of them, also those not listed
  std::string detail;               // one sentence for a person
};

struct ImportContext {
  std::string now_sql;                    // timestamptz literal for created_at/updated_at/events
  std::string organisation_time_zone;     // the time zone of new members without one
  std::optional<std::int64_t> actor_id;   // recorded in the events (the admin who imported)
};

// Validates every row first; writes only when there is no error, so for every outcome except
// `imported` and `conflict` nothing has been written. On `conflict` the caller must roll back.
// Emits member.joined for each membership it creates. Importing the same file again changes
// nothing (no updated_at bump, no event).
ImportResult import_members(pqxx::work& tx, std::string_view csv, const ImportContext& context);

}  // namespace convene::api
