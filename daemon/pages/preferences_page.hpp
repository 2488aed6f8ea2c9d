#pragma once
// The preferences page's HTML (DESIGN §4): server-rendered, usable without JavaScript and with
// a keyboard, one <h2> per community, a <label> for every control, <fieldset>/<legend> around
// each radio or checkbox group. Pure: data in, HTML out; every text from the database is
// escaped here.
#include "daemon/pages/preferences_model.hpp"

#include <optional>
#include <string>
#include <vector>

namespace convene::daemon {

struct PreferencesPage {
  PreferencesState state;
  std::string csrf, issued;                 // hidden fields of every form on the page
  std::vector<std::string> zones;           // the time-zone choices
  std::vector<std::string> changes;         // "what changed" after a save
  std::vector<std::string> errors;          // why nothing was saved
  std::string notice;                       // one sentence of news (a new link, nothing to save)
  std::optional<std::string> new_feed_url;  // shown once, right after a rotation
};

std::string render_preferences_page(const PreferencesPage& page);

// A page with a heading and one paragraph of text (not-found, try-again).
std::string render_message_page(const std::string& title, const std::string& text);

}  // namespace convene::daemon
