#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# bench_pipeline.sh — real-time factor and peak memory of the instridentify element in
# `filesrc ! decodebin ! audioconvert ! instridentify ! fakesink sync=false` on minutes of
# audio, against the same pipeline without the element, in the same run, one BLAS thread:
# the element's CPU time (all its threads) per second of audio, medians of alternating runs.
#
# usage: bench/bench_pipeline.sh [--build DIR] [--model PATH] [--minutes N] [--runs N]
#   --build DIR    meson build directory (default: build)
#   --model PATH   model file (default: the shipped models/default.instrid when present, else a
#                  random-weight "reference" architecture model written by make_test_model)
#   --minutes N    length of the generated audio (default: 10)
#   --runs N       runs of each pipeline, alternating; medians count (default: 3)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="$root/build"; model=""; minutes=10; runs=3
while [ $# -gt 0 ]; do
  case "$1" in
    --build) build="$(cd "$2" && pwd)"; shift 2 ;;
    --model) model="$2"; shift 2 ;;
    --minutes) minutes="$2"; shift 2 ;;
    --runs) runs="$2"; shift 2 ;;
    *) sed -n '2,12p' "$0" >&2; exit 2 ;;
  esac
done
[ -f "$build/gst-plugin/libgstinstrid.so" ] || { echo "bench_pipeline: no plugin in $build (build first)" >&2; exit 1; }
export GST_PLUGIN_PATH="$build/gst-plugin${GST_PLUGIN_PATH:+:$GST_PLUGIN_PATH}"
# The element sets OpenBLAS to one thread itself; this covers anything else in the process.
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT

if [ -z "$model" ]; then
  if [ -f "$root/models/default.instrid" ]; then
    model="$root/models/default.instrid"
  else
    model="$tmp/reference.instrid"
    "$build/tests/gst/make_test_model" "$model" reference 25
    echo "model: random-weight 'reference' architecture (no models/default.instrid yet)"
  fi
fi
echo "model: $model"

seconds=$((minutes * 60))
wav="$tmp/audio.wav"
# Pink noise with a tone on top, 44.1 kHz stereo S16: a typical decoded file's format, so
# the element resamples and downmixes as it would in practice.
gst-launch-1.0 -q audiotestsrc wave=pink-noise num-buffers="$seconds" samplesperbuffer=44100 \
  ! audio/x-raw,format=S16LE,rate=44100,channels=2 ! wavenc ! filesink location="$wav"
echo "audio: $seconds s, 44.1 kHz stereo S16 WAV ($(du -m "$wav" | cut -f1) MB)"

# One run of a pipeline: "wall_s cpu_s maxrss_kb".
run_once() {
  /usr/bin/time -f "%e %U %S %M" -o "$tmp/time.txt" gst-launch-1.0 -q "$@" >/dev/null
  awk '{printf "%.2f %.2f %d\n", $1, $2 + $3, $4}' "$tmp/time.txt"
}

# The two pipelines alternate, so that a busy moment of the machine hits both alike; each pair
# gives the element's cost as a difference, and the medians of the runs count.
for i in $(seq "$runs"); do
  run_once filesrc location="$wav" ! decodebin ! audioconvert ! fakesink sync=false >>"$tmp/without.txt"
  run_once filesrc location="$wav" ! decodebin ! audioconvert \
    ! instridentify model-location="$model" ! fakesink sync=false >>"$tmp/with.txt"
done
paste -d' ' "$tmp/without.txt" "$tmp/with.txt" >"$tmp/pairs.txt"

awk -v s="$seconds" -v runs="$runs" '
function median(a, n,   i, j, t) {
  for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j - 1] > a[j]; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
  return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
{ n++; xw[n] = $1; xc[n] = $2; xm[n] = $3; yw[n] = $4; yc[n] = $5; ym[n] = $6;
  dw[n] = $4 - $1; dc[n] = $5 - $2; dm[n] = $6 - $3;
  printf "run %d: without %.2f s wall %.2f s CPU, with %.2f s wall %.2f s CPU: element %.3f s CPU\n",
    n, $1, $2, $4, $5, $5 - $2 }
END {
  printf "%-34s %8s %8s %12s  (medians of %d runs)\n", "pipeline", "wall s", "CPU s", "peak RSS MB", runs;
  printf "%-34s %8.2f %8.2f %12.1f\n", "without instridentify", median(xw, n), median(xc, n), median(xm, n) / 1024;
  printf "%-34s %8.2f %8.2f %12.1f\n", "with instridentify", median(yw, n), median(yc, n), median(ym, n) / 1024;
  c = median(dc, n); w = median(dw, n);
  printf "element alone: %.5f CPU s per second of audio: %.0fx faster than real time per core (CPU time)\n",
    c / s, s / (c > 0 ? c : 1e-9);
  printf "element alone: %.5f wall s per second of audio (%.0fx, wall)\n", w / s, s / (w > 0 ? w : 1e-9);
  printf "element peak memory: +%.1f MB RSS over the pipeline without it\n", median(dm, n) / 1024;
}' "$tmp/pairs.txt"
