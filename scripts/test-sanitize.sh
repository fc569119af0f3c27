#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The whole test suite under AddressSanitizer + UndefinedBehaviorSanitizer (what CI runs after
# the plain suite): builds build-asan with -Db_sanitize=address,undefined and runs meson test
# there. Every test runs except the valgrind ones (valgrind and the sanitizers cannot share a
# process; see meson.build). Extra arguments go to meson test (e.g. --suite libcore). Tests
# whose programs are not instrumented but load the plugin (python3, gst-launch-1.0, Xvfb) run
# with the runtime preloaded and LeakSanitizer off in those programs only (host_env in
# tests/gst/meson.build; tests/sanitize/<program>.asan-options turns it on in instrid's).
# Cost, measured from a fresh build-asan: 303 s user + 96 s system CPU for the build and the
# whole suite less tag and gnome (`/usr/bin/time bash scripts/test-sanitize.sh`), about 3-4
# minutes on an idle 2-core machine. The tests alone, build done, on a 2-core machine shared with
# other jobs (load 20): 102 s user + 41 s system, 388 s wall, without tag and gnome; 176 s user +
# 70 s system, 626 s wall, with them (the tag suite is most of it: 332 s wall).
# Suppressions: tests/sanitize/lsan.supp, only for what GLib/GStreamer/OpenBLAS/FFTW keep.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -d build-asan ]; then
  meson setup build-asan -Db_sanitize=address,undefined -Db_lundef=false \
    -Dbuildtype=debugoptimized >/dev/null
fi
meson compile -C build-asan >/dev/null
supp="$PWD/tests/sanitize"
# abort_on_error: a report ends the test with a failure meson sees; halt_on_error for UBSan
# likewise (it only prints and goes on by default).
# fast_unwind_on_malloc=0: GLib is built without frame pointers, and the suppressions need
# the frames above g_malloc to match.
export ASAN_OPTIONS="abort_on_error=1:detect_leaks=1:detect_stack_use_after_return=1:check_initialization_order=1:fast_unwind_on_malloc=0"
export LSAN_OPTIONS="suppressions=$supp/lsan.supp:print_suppressions=0"
export UBSAN_OPTIONS="halt_on_error=1:abort_on_error=1:print_stacktrace=1"
# GStreamer scans plugins in a helper process (gst-plugin-scanner) that is not instrumented and
# so cannot load the instrumented plugin; scanning in the test's own process works.
export GST_REGISTRY_FORK=no
rc=0
meson test -C build-asan --print-errorlogs --timeout-multiplier 4 "$@" || rc=$?
/usr/bin/python3 - build-asan/meson-logs/testlog.json <<'PY' || true
import json, sys
counts = {"passed": 0, "failed": 0, "skipped": 0}
for line in open(sys.argv[1]):
    result = json.loads(line).get("result", "")
    key = {"OK": "passed", "EXPECTEDFAIL": "passed", "SKIP": "skipped"}.get(result, "failed")
    counts[key] += 1
print("sanitized tests: %(passed)d passed, %(failed)d failed, %(skipped)d skipped" % counts)
PY
exit $rc
