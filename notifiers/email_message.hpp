#pragma once
// One notification email as RFC 5322 + MIME text (DESIGN §4). Pure: the caller supplies the
// rendered bodies (templates.hpp), the addresses, the ids, the date and any ICS attachment.
//
// Shape: multipart/alternative (text/plain, text/html; UTF-8, quoted-printable); with an ICS
// attachment, multipart/mixed wrapping that and a base64 text/calendar; method=PUBLISH part.
// Headers: From, To, Subject, Date, Message-ID, MIME-Version, Auto-Submitted, List-Id,
// List-Unsubscribe (+ List-Unsubscribe-Post for an https URL, RFC 8058), Content-Type.
// User text (names, subject, list name) is cleaned of control characters and written as a
// quoted-string or RFC 2047 encoded-words, so no CR or LF of it reaches a header; header
// lines are folded at 78 characters; the boundaries start with "=_", which quoted-printable
// and base64 output cannot contain. CRLF line ends throughout; no dot-stuffing (the transport's
// job).
#include <optional>
#include <string>
#include <string_view>

#include "calendar/clock.hpp"

namespace convene::notifiers {

struct Mailbox {
  std::string address;  // a plain ASCII addr-spec (dot-atom@dot-atom), at most 254 characters
  std::string name;     // display name: any text, may be empty
};

struct ListIdentity {      // List-Id (RFC 2919): "Name <slug.domain>"
  std::string slug;        // the community's slug ([a-z0-9-])
  std::string domain;      // the service's host name
  std::string name;        // the community's name: any text
};

struct EmailParts {
  Mailbox from, to;
  std::string subject;                 // any text; shortened to 250 bytes
  std::string notification_id;         // a UUID ([A-Za-z0-9-], at most 64 characters)
  std::string message_id_domain;       // Message-ID: <notification_id@message_id_domain>
  calendar::Instant date;              // "Date:", in UTC ("+0000")
  std::optional<ListIdentity> list;    // community mail; nullopt for committee/role mail
  std::string unsubscribe_url;         // one-click URL (http or https); empty: none
  std::string unsubscribe_mailto;      // "mailto:..."; empty: none
  std::string text, html;              // bodies (UTF-8; any line ends)
  std::optional<std::string> ics;      // VCALENDAR text with METHOD:PUBLISH, attached as event.ics
};

// The message. Throws std::invalid_argument for values that no encoding makes safe: an address
// that is not a plain ASCII addr-spec, a notification id or domain outside their alphabets, a
// slug outside [a-z0-9-], an unsubscribe URL that is not http(s) printable ASCII without
// spaces or angle brackets, a mailto that does not start with "mailto:".
std::string compose_email(const EmailParts& parts);

// The List-Unsubscribe mailto for a one-click URL ("https://host/u/{token}"): a mail to
// `address` whose subject names the same signed token. Empty when `address` or the URL is
// empty: a mailto goes only to an address something actually reads.
std::string unsubscribe_mailto(std::string_view address, std::string_view unsubscribe_url);

// RFC 5322 date-time in UTC: "Mon, 12 Jul 2027 14:00:00 +0000".
std::string rfc5322_date(calendar::Instant t);

// A plain addr-spec as compose_email accepts it.
bool is_plain_address(std::string_view address);

}  // namespace convene::notifiers
