#pragma once
// Email texts from mustache templates (kainjow mustache), loaded once from a directory
// (templates/, installed as CONVENE_TEMPLATES_DIR) and rendered without I/O.
//
// For every event kind that sends email there are three files: <kind>.subject.mustache,
// <kind>.text.mustache and <kind>.html.mustache; layout.text.mustache and
// layout.html.mustache wrap each body ({{{content}}}) and carry the common footer with the
// preferences and unsubscribe links. The data is message_view (message_view.hpp).
// HTML templates escape with {{ }}; text and subject templates are rendered with no escaping
// at all, so {{ }} and {{{ }}} both give the plain text there. Partials ({{> x}}) are refused:
// kainjow would take their text from the data. Data is never rendered as a template.
#include <filesystem>
#include <map>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/object.hpp>

#include "notifiers/message_view.hpp"

namespace convene::notifiers {

struct RenderedMessage {
  std::string subject;  // one line (control characters removed, spaces collapsed)
  std::string text;     // text/plain body
  std::string html;     // text/html document
};

// A template directory that cannot be used: a file missing or unreadable, or a template that
// does not parse. The message names every problem found.
class TemplateError : public std::runtime_error {
 public:
  using runtime_error::runtime_error;
};

class Templates {
 public:
  // Reads and checks every file of every kind in email_event_kinds(). Throws TemplateError.
  static Templates load(const std::filesystem::path& directory);

  // The message for one recipient. Throws std::invalid_argument for a kind without templates.
  RenderedMessage render(std::string_view event_kind, const boost::json::object& payload,
                         const MessageContext& context) const;

 private:
  struct Kind {
    std::string subject, text, html;
  };
  std::map<std::string, Kind, std::less<>> kinds_;
  std::string text_layout_, html_layout_;
};

// The event kinds of DESIGN §4 that send email (member.joined and member.left do not).
const std::vector<std::string_view>& email_event_kinds();

}  // namespace convene::notifiers
