#!/usr/bin/env bash
# The test command (`make test` runs it): PostgreSQL and Redis provided by tests/services.sh,
# then the whole suite on PostgreSQL with the API tests a second time on SQLite.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=tests/services.sh
source tests/services.sh
exec .venv/bin/pytest "$@"
