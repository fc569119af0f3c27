#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Installs dependencies, builds, and runs the whole test suite (the same as CI).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps-debian.sh
[ -d build ] || meson setup build
meson compile -C build
rc=0
meson test -C build --print-errorlogs "$@" || rc=$?
# One closing line in the plain form CI tools read, counted from meson's own log.
/usr/bin/python3 - build/meson-logs/testlog.json <<'PY' || true
import json, sys
counts = {"passed": 0, "failed": 0, "skipped": 0}
for line in open(sys.argv[1]):
    result = json.loads(line).get("result", "")
    key = {"OK": "passed", "EXPECTEDFAIL": "passed", "SKIP": "skipped"}.get(result, "failed")
    counts[key] += 1
print("tests: %(passed)d passed, %(failed)d failed, %(skipped)d skipped" % counts)
PY
exit $rc
