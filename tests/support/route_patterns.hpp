#pragma once
// Every route pattern the daemon serves, for tests that attack each one
// (tests/e2e/hostile_http_test.cpp's long paths). AuthzCoverage.EveryApiRouteIsInRoutePatterns
// (tests/api/authz_test.cpp) fails when the API registers a route this table lacks.
namespace convene::testing {

struct RoutePattern {
  const char* method;
  const char* pattern;
};
// Every api.add() in daemon/api/*.cpp (POST /v1/admin/clock exists only with a test clock),
// then the feeds, the member pages and the daemon's own routes (these last ones by hand: the
// router does not list its routes).
inline constexpr RoutePattern kRoutes[] = {
    {"GET", "/v1/admin/jobs"},
    {"POST", "/v1/admin/jobs/{id}/retry"},
    {"GET", "/v1/admin/notifications"},
    {"POST", "/v1/admin/notifications/{id}/retry"},
    {"GET", "/v1/admin/suppressions"},
    {"DELETE", "/v1/admin/suppressions/{address}"},
    {"POST", "/v1/admin/clock"},
    {"GET", "/v1/annual-meetings/{year}"},
    {"PUT", "/v1/communities/{slug}/annual-meeting/{year}"},
    {"POST", "/v1/annual-meetings/{year}/plan"},
    {"POST", "/v1/annual-meetings/{year}/plan/apply"},
    {"GET", "/v1/communities"},
    {"POST", "/v1/communities"},
    {"POST", "/v1/communities/merge"},
    {"GET", "/v1/communities/{slug}"},
    {"PATCH", "/v1/communities/{slug}"},
    {"POST", "/v1/communities/{slug}/archive"},
    {"POST", "/v1/communities/{slug}/split"},
    {"GET", "/v1/communities/{slug}/members"},
    {"POST", "/v1/import/members"},
    {"POST", "/v1/communities/{slug}/meetings"},
    {"GET", "/v1/meetings/{id}"},
    {"PATCH", "/v1/meetings/{id}"},
    {"POST", "/v1/meetings/{id}/cancel"},
    {"PATCH", "/v1/meetings/{id}/occurrences/{recurrence_id}"},
    {"POST", "/v1/meetings/{id}/occurrences/{recurrence_id}/cancel"},
    {"GET", "/v1/me"},
    {"POST", "/v1/members"},
    {"GET", "/v1/members/{id}"},
    {"PATCH", "/v1/members/{id}"},
    {"POST", "/v1/members/{id}/tokens"},
    {"POST", "/v1/members/{id}/feed-token"},
    {"POST", "/v1/members/{id}/join-all"},
    {"PUT", "/v1/communities/{slug}/members/{member_id}"},
    {"DELETE", "/v1/communities/{slug}/members/{member_id}"},
    {"PUT", "/v1/communities/{slug}/roles/{member_id}"},
    {"DELETE", "/v1/communities/{slug}/roles/{member_id}/{role}"},
    {"POST", "/v1/rooms"},
    {"GET", "/v1/rooms"},
    {"GET", "/v1/rooms/{id}/bookings"},
    {"PUT", "/v1/communities/{slug}/topic-cadence"},
    {"POST", "/v1/communities/{slug}/topics"},
    {"GET", "/v1/members/{id}/upcoming"},
    {"GET", "/v1/members/{id}/digest-preview"},
    {"POST", "/v1/members/{id}/webhooks"},
    {"GET", "/v1/members/{id}/webhooks"},
    {"POST", "/v1/communities/{slug}/webhooks"},
    {"GET", "/v1/communities/{slug}/webhooks"},
    {"POST", "/v1/webhooks/{id}/rotate-secret"},
    {"DELETE", "/v1/webhooks/{id}"},
    {"GET", "/feeds/communities/{slug}.ics"},
    {"GET", "/feeds/members/{token}.ics"},
    {"GET", "/feeds/rooms/{id}.ics"},
    {"GET", "/preferences/{token}"},
    {"POST", "/preferences/{token}"},
    {"GET", "/u/{token}"},
    {"POST", "/u/{token}"},
    {"GET", "/healthz"},
    {"GET", "/readyz"},
    {"GET", "/metrics"},
};

}  // namespace convene::testing
