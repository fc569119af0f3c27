#!/usr/bin/env bash
# Installs dependencies, builds, and runs the whole test suite (the same as CI).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps-debian.sh
[ -d build ] || meson setup build
meson compile -C build
meson test -C build --print-errorlogs "$@"
