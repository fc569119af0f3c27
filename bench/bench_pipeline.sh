#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# bench_pipeline.sh — real-time factor and peak memory of the instridentify element in
# `filesrc ! decodebin ! audioconvert ! instridentify ! fakesink sync=false` on minutes of
# audio, against the same pipeline without the element, in the same run, one BLAS thread.
#
# usage: bench/bench_pipeline.sh [--build DIR] [--model PATH] [--minutes N] [--runs N]
#   --build DIR    meson build directory (default: build)
#   --model PATH   model file (default: the shipped models/default.instrid when present, else a
#                  random-weight "reference" architecture model written by make_test_model)
#   --minutes N    length of the generated audio (default: 10)
#   --runs N       runs of each pipeline; the fastest counts (default: 2)
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
build="$root/build"; model=""; minutes=10; runs=2
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

# Prints "wall_s cpu_s maxrss_kb" of the fastest of $runs runs of a pipeline.
measure() {
  local best="" line
  for _ in $(seq "$runs"); do
    /usr/bin/time -f "%e %U %S %M" -o "$tmp/time.txt" gst-launch-1.0 -q "$@" >/dev/null
    line="$(awk '{printf "%.2f %.2f %d", $1, $2 + $3, $4}' "$tmp/time.txt")"
    if [ -z "$best" ] || awk -v a="$line" -v b="$best" 'BEGIN{split(a,x," ");split(b,y," ");exit !(x[1]<y[1])}'; then
      best="$line"
    fi
  done
  echo "$best"
}

without=$(measure filesrc location="$wav" ! decodebin ! audioconvert ! fakesink sync=false)
with=$(measure filesrc location="$wav" ! decodebin ! audioconvert \
  ! instridentify model-location="$model" ! fakesink sync=false)

awk -v a="$without" -v b="$with" -v s="$seconds" 'BEGIN {
  split(a, x, " "); split(b, y, " ");
  printf "%-34s %8s %8s %12s\n", "pipeline", "wall s", "CPU s", "peak RSS MB";
  printf "%-34s %8.2f %8.2f %12.1f\n", "without instridentify", x[1], x[2], x[3] / 1024;
  printf "%-34s %8.2f %8.2f %12.1f\n", "with instridentify", y[1], y[2], y[3] / 1024;
  printf "real-time factor (wall / audio): without %.4f, with %.4f\n", x[1] / s, y[1] / s;
  printf "element alone: %.4f wall, %.4f CPU per second of audio (%.0fx faster than real time)\n",
    (y[1] - x[1]) / s, (y[2] - x[2]) / s, s / ((y[1] - x[1]) > 0 ? (y[1] - x[1]) : 1e-9);
  printf "element peak memory: +%.1f MB RSS over the pipeline without it\n", (y[3] - x[3]) / 1024;
}'
