// Bulk import of members and memberships from CSV (being written).
#include "daemon/api/routes.hpp"

namespace convene::api {

void register_imports(Api&) {}

}  // namespace convene::api
