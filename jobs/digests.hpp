#pragma once
// Digest content and the questions asked about a member's digests (DESIGN §4 "Digests"):
// what the next digest would hold, and when digests will go out. Used by the digest job
// (jobs/kinds/digests.cpp), and by the API and `convened simulate` without sending anything.
// Blocking calls on a transaction; "now" is always a parameter.
#include "calendar/clock.hpp"
#include "jobs/digest_schedule.hpp"

#include <boost/json/object.hpp>
#include <pqxx/pqxx>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace convene::jobs {

// What one digest should cover.
struct DigestRequest {
  std::int64_t member_id = 0;
  calendar::Instant covered_from;  // events after this...
  calendar::Instant period_end;    // ...up to and including this
  int periods_covered = 1;
  std::string period_label;
};

struct DigestContent {
  std::int64_t member_id = 0;
  boost::json::object payload;  // notifiers/digest_view.hpp describes it
  int item_count = 0;           // news: topics and meeting changes (upcoming meetings are not news)
  bool has_memberships = false; // the member has an active community on this cadence
  // The community when there is exactly one: the email's List-Id and one-click unsubscribe.
  std::optional<std::int64_t> single_community_id;
  bool empty() const { return item_count == 0; }
};

// Digest items of events, kept between batches (events never change once written): the
// communities of consecutive batches share most of their events. Bounded; thread-safe. One per
// job kind set (a cache must not outlive the database its ids come from).
class DigestEventCache {
 public:
  DigestEventCache();
  ~DigestEventCache();
  DigestEventCache(const DigestEventCache&) = delete;
  DigestEventCache& operator=(const DigestEventCache&) = delete;
  struct Impl;
  Impl& impl() { return *impl_; }

 private:
  std::unique_ptr<Impl> impl_;
};

// The content of many members' digests of one cadence with a handful of set-based queries
// (whatever the number of members): per member, grouped by their active communities on that
// cadence, the topics posted and meetings scheduled, changed or cancelled and annual meetings
// set in (covered_from, period_end], leaving out events the member already got as an email
// (realtime delivery before a switch to a digest), and the meetings of [now, now + 14 days).
// In the order of `requests`.
// `cache` may be null (previews).
std::vector<DigestContent> compose_digests(pqxx::transaction_base& tx, Cadence cadence,
                                           const std::vector<DigestRequest>& requests, calendar::Instant now,
                                           DigestEventCache* cache = nullptr);

// The member's next digest of `cadence` (without one: of the cadence due first) as it would be
// sent if composed at `now`: what it covers so far, when it is due, and its payload. Render it
// with notifiers::Templates::render (kind, payload, context), as the delivery worker does.
// nullopt when the member does not exist or has no digest on this cadence. Only the digest
// chosen is composed. Sends and changes nothing.
struct DigestPreview {
  std::string kind;                 // "digest.daily" / "digest.weekly"
  calendar::Instant due_at;         // when it goes out (now when already owed)
  DigestRequest covers;             // period_end is the due instant (or the owed one)
  DigestContent content;            // empty(): it would not be sent
};
std::optional<DigestPreview> preview_digest(pqxx::transaction_base& tx, std::int64_t member_id,
                                            std::optional<Cadence> cadence, calendar::Instant now);

// When the member's digests would go out in [from, to) under the current preferences and what
// was already covered at `now` (nullopt: `from`), for every cadence the member has an active
// community on; each assumed non-empty (an empty digest is not sent), those before `from`
// included. In time order.
struct UpcomingDigest {
  Cadence cadence;
  std::string kind;
  calendar::Instant at;
};
std::vector<UpcomingDigest> upcoming_digests(pqxx::transaction_base& tx, std::int64_t member_id, calendar::Instant from,
                                             calendar::Instant to, std::optional<calendar::Instant> now = std::nullopt);

// The member's digest preferences (zone, hour, weekday); nullopt when there is no such member.
// An unknown zone counts as UTC, as emails show it.
std::optional<DigestPreferences> load_digest_preferences(pqxx::transaction_base& tx, std::int64_t member_id);

}  // namespace convene::jobs
