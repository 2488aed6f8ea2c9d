#include "daemon/api/routes.hpp"

namespace convene::api {

void register_v1_routes(Api& api) {
  register_members(api);
  register_upcoming(api);
  register_communities(api);
  register_memberships(api);
  register_roles(api);
  register_topics(api);
  register_rooms(api);
  register_meetings(api);
  register_annual_meetings(api);
  register_imports(api);
  register_webhooks(api);
  register_admin(api);
}

Api v1_api(Services services) {
  Api api(services);
  register_v1_routes(api);
  return api;
}

}  // namespace convene::api
