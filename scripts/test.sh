#!/usr/bin/env bash
# The README's test command: installs what is missing, builds dist/bunker and runs every suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec bun scripts/test.ts "$@"
