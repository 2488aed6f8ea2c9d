#include "jobs/kinds/kinds.hpp"

#include "jobs/kinds/families.hpp"

namespace convene::jobs {

std::vector<KindSpec> standard_kinds(const KindSettings& settings) {
  std::vector<KindSpec> kinds;
  kinds.push_back(fanout_kind(settings));
  for (auto* family : {&reminder_kinds, &annual_kinds, &topic_kinds, &role_kinds, &digest_kinds})
    for (auto& spec : family(settings)) kinds.push_back(std::move(spec));
  kinds.push_back(review_kind(settings));
  kinds.push_back(booking_kind(settings));
  kinds.push_back(noop_kind());
  return kinds;
}

}  // namespace convene::jobs
