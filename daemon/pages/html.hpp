#pragma once
// What the member-facing HTML pages (preferences, unsubscribe) share: escaping, and sending a
// page with the hardening headers every one of them carries.
#include "daemon/http/message.hpp"

#include <string>
#include <string_view>

namespace convene::daemon {

// Text made safe for HTML element content and quoted attribute values.
std::string html_escape(std::string_view text);

// Sends `html` with no caching, no referrer, no framing and a script-free CSP; `location`
// (when set) for a 303.
void send_page(http::Response& res, int status, std::string html, std::string_view location = {});

// A whole minimal page: the title as <title> and <h1>, then `body_html` (already escaped).
std::string simple_page(const std::string& title, const std::string& body_html);

// The answer when the database cannot be reached: a page saying to try again shortly.
void send_try_again(http::Response& res, std::string_view what);

}  // namespace convene::daemon
