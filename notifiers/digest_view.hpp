#pragma once
// The template data of a digest email (digest.daily, digest.weekly; DESIGN §4 "Digests"). The
// digest job stores the content as the notification's payload, with times in UTC; this adds
// what people read, in the recipient's zone, when the email is rendered. Pure.
//
// Payload (written by jobs/kinds/digests.cpp):
//   cadence, period (label), period_end, covered_from, covered_to (RFC 3339 UTC),
//   periods_covered, item_count, and communities: [{community, community_name,
//     topics: [{topic_id, title, url, posted_at}],
//     scheduled, changed, cancelled, annual: [meeting item],
//     upcoming: [meeting item]}]
//   meeting item: {meeting_id, title, kind, start_utc, end_utc, time_zone, rrule?,
//     all_day, start, end (local; only for all-day meetings, whose dates they give),
//     occurrence?: {recurrence_id, cancelled, start_utc?, end_utc?}}
//   Only what the email shows: a payload is stored, read back and rendered once per recipient.
#include <string>

#include <boost/json/object.hpp>

namespace convene::notifiers {

// True for the kinds this view is for.
bool is_digest_kind(std::string_view kind);

// Adds to `view` (a copy of the payload): digest_title, period_text, coalesced,
// periods_covered_text, summary (for the subject), digest_communities_text (the footer), and
// per community has_news, has_upcoming and per item when (in `zone` only: no
// when_in_meeting_zone), kind_label, repeats, posted_when, occurrence_original_when,
// occurrence_when, occurrence_cancelled,
// with url kept only when it is a safe http(s) URL. Communities and items hold only what the
// templates read (community, community_name; title, url and the fields above), not the rest of
// the payload: rendering converts the whole view. `zone` must be usable.
void add_digest_view(boost::json::object& view, const boost::json::object& payload, const std::string& zone);

}  // namespace convene::notifiers
