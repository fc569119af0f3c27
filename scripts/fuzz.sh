#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Runs one libFuzzer harness of tests/fuzz (outside CI: it runs for as long as asked).
#   scripts/fuzz.sh TARGET [SECONDS] [extra libFuzzer flags...]
# TARGET: model, csv, musicnet, openmic, smf, sfz, tag. Builds build-fuzz with clang, ASan+UBSan and
# coverage instrumentation of the whole tree (-fsanitize=fuzzer-no-link), then fuzzes from the
# committed seeds (tests/fuzz/corpus/TARGET) into a work corpus (fuzz-work/TARGET, not
# committed), at nice 19, one process. A crash leaves crash-* / leak-* / timeout-* files in
# fuzz-work/; after the fix, copy the input into tests/fuzz/corpus/TARGET/ so that the normal
# suite replays it (fuzz-TARGET in `meson test`). Needs clang (Debian: clang-14 and
# libclang-rt-14-dev).
set -euo pipefail
cd "$(dirname "$0")/.."
target=${1:?usage: scripts/fuzz.sh TARGET [SECONDS] [libFuzzer flags...]}
seconds=${2:-600}
shift $(( $# >= 2 ? 2 : 1 ))
if [ ! -d build-fuzz ]; then
  INSTRID_WITH_FUZZ=1 bash scripts/deps-debian.sh
  CC=$(command -v clang || command -v clang-14) meson setup build-fuzz -Dfuzzers=true -Db_sanitize=address,undefined -Db_lundef=false \
    -Dbuildtype=debugoptimized -Dc_args=-fsanitize=fuzzer-no-link >/dev/null
fi
nice -n 19 meson compile -C build-fuzz "fuzz_$target" >/dev/null
mkdir -p "fuzz-work/$target"
# allocator_release_to_os_interval_ms=-1: three runs stalled 11-19 s inside the allocator's
# madvise on a loaded machine (inputs that replay in milliseconds); nothing is returned early.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1:allocator_release_to_os_interval_ms=-1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
# The reader harnesses write their input to a file per run: in memory when there is /dev/shm.
if [ -z "${TMPDIR:-}" ] && [ -d /dev/shm ] && [ -w /dev/shm ]; then export TMPDIR=/dev/shm; fi
cd fuzz-work
# -timeout=60: on a loaded machine an input that takes milliseconds has stalled for over 10 s
# (twice, inside the allocator's madvise); slower inputs are still written as slow-unit-*.
# -close_fd_mask=3: the readers report skipped files on stderr by design; libFuzzer keeps its
# own output and the sanitizers' reports on a duplicate of stderr.
exec nice -n 19 "../build-fuzz/tests/fuzz/fuzz_$target" -max_total_time="$seconds" \
  -print_final_stats=1 -close_fd_mask=3 -timeout=60 -rss_limit_mb=2048 "$@" \
  "$target" "../tests/fuzz/corpus/$target"
