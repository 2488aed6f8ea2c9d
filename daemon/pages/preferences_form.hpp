#pragma once
// The preferences form's pure half: decoding an application/x-www-form-urlencoded body, the
// CSRF field, and turning submitted fields into a checked PreferencesEdit. No I/O, "now" is
// passed in.
#include "daemon/pages/preferences_model.hpp"

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace convene::daemon {

// Field name -> values, in order (checkboxes repeat a name).
using FormFields = std::multimap<std::string, std::string>;

// Decodes "a=1&b=x+y%21"; nullopt for a malformed body (bad percent escape) or more than
// `max_fields` fields.
std::optional<FormFields> parse_form(std::string_view body, std::size_t max_fields = 1000);

// The CSRF field of a form rendered for that member and link version at `issued_unix`:
// base64url HMAC-SHA256 of both under the links key, with its own label so it is no link
// token. The page puts `issued` and this in hidden fields.
std::string csrf_value(std::string_view key, std::int64_t member_id, std::int64_t link_version, std::int64_t issued_unix);

enum class CsrfCheck { ok, missing, wrong, expired };
// Checks the `issued` and `csrf` fields (constant-time compare). A form is good for a day
// (and for five minutes of clock skew ahead), and only for the link version it was made for.
CsrfCheck check_csrf(const FormFields& form, std::string_view key, std::int64_t member_id, std::int64_t link_version,
                     std::int64_t now_unix);

struct EditResult {
  PreferencesEdit edit;
  std::vector<std::string> errors;  // for people: "Digest hour must be a whole hour from 0 to 23."
};
// The changes a submitted form asks for against the stored state; `known_zone` says whether
// a time zone name is valid. Fields absent from the form leave their setting as it is (a page
// rendered before a membership existed has no field for it); the reminder checkboxes count
// only when the form says it showed them (`reminders_shown`), since no box ticked means none.
EditResult read_edit(const FormFields& form, const PreferencesState& state, bool (*known_zone)(std::string_view));

// One line per change, for the "what changed" summary: "Data Science: daily digest (was: every email)".
std::vector<std::string> describe_edit(const PreferencesEdit& edit, const PreferencesState& before);

// People's words for settings.
std::string delivery_label(std::string_view mode);           // "every email as it happens"
std::string reminder_label(std::chrono::seconds offset);     // "1 hour", "1 day 2 hours"
std::string hour_label(int hour);                            // "07:00"
std::string weekday_label(int iso_weekday);                  // "Monday"

}  // namespace convene::daemon
