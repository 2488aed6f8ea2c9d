#!/usr/bin/env bash
# ctest browser_preferences: installs playwright-core (npm ci from this folder's lock file)
# under BUILD_DIR/tests/browser when missing or outdated, then runs preferences.test.js.
# Usage: tests/browser/run.sh BUILD_DIR CONVENED_BINARY
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/scripts/lib.sh"
[[ $# -eq 2 ]] || die "usage: $0 BUILD_DIR CONVENED_BINARY"

if [[ -z ${CONVENE_TEST_DATABASE_URL:-} ]]; then
    echo "SKIP: CONVENE_TEST_DATABASE_URL is not set (scripts/test sets it)"
    exit 77
fi
[[ -x /usr/bin/chromium || -n ${CONVENE_CHROMIUM:-} ]] || die "chromium is missing (scripts/packages.txt; scripts/test installs it)"
ensure_browser_test_modules "$1"
export NODE_PATH="$1/tests/browser/node_modules" CONVENED="$2"
exec node "${CONVENE_REPO}/tests/browser/preferences.test.js"
