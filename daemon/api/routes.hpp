#pragma once
// Registration of each resource's routes (one file per resource).
#include "daemon/api/api.hpp"

namespace convene::api {

void register_members(Api& api);
void register_communities(Api& api);
void register_memberships(Api& api);
void register_roles(Api& api);
void register_topics(Api& api);
void register_rooms(Api& api);
void register_meetings(Api& api);
void register_annual_meetings(Api& api);
void register_imports(Api& api);
void register_admin(Api& api);
void register_webhooks(Api& api);
void register_upcoming(Api& api);  // what a member will receive, digest previews  // jobs, and the test clock when enabled

}  // namespace convene::api
