#include "support/api_fixture.hpp"
