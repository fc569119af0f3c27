#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Renders an extra training corpus of multi-instrument phrases played only by real recordings:
# the SFZ libraries scripts/fetch-data exported (OUT/sfz/*.args) and the Philharmonia sampler,
# with the acoustics of real recordings (rooms from OUT/irs, microphone colour, compression,
# lossy codecs). No GM SoundFont and no Hydrogen kit plays. Written to
# OUT/render-real/musicnet: a MusicNet-layout tree of 10-s excerpts with note-level labels (the
# layout that names all 25 classes; OpenMIC's vocabulary has no oboe, viola, bassoon, horn or
# harpsichord), renamed into place when complete.
#   usage: bash scripts/render-real.sh DATA_OUT PHILHARMONIA MIDI_DIR... [-- RENDER_OPTION...]
#     DATA_OUT      the --out folder of scripts/fetch-data (holds sfz/ and irs/)
#     PHILHARMONIA  the Philharmonia samples folder (data.csv, brass/, strings/, ...)
#     MIDI_DIR      MIDI files or folders; choose ones whose licence allows what the model is
#                   for (e.g. the MIT MusicNet scores)
#   environment: HOURS (default 1), SEED (default 1), JOBS (default 2), REASSIGN (default 0.6:
#                the share of parts given another class that fits their range, which spreads
#                piano-heavy scores over the instruments real audio lacks)
set -euo pipefail
cd "$(dirname "$0")/.."
usage="usage: render-real.sh DATA_OUT PHILHARMONIA MIDI_DIR... [-- RENDER_OPTION...]"
[ $# -ge 3 ] || { echo "$usage" >&2; exit 2; }
data=$1 phil=$2
shift 2
midi=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do midi+=("$1"); shift; done
[ $# -gt 0 ] && shift
[ ${#midi[@]} -gt 0 ] || { echo "$usage" >&2; exit 2; }
[ -f "$phil/data.csv" ] || { echo "render-real.sh: $phil/data.csv: missing" >&2; exit 2; }
sfz=()
for f in "$data"/sfz/*.args; do
  [ -f "$f" ] || continue
  while IFS= read -r line; do  # "--sfz CLASS=FILE"; FILE may hold spaces
    [ -n "$line" ] && sfz+=(--sfz "${line#--sfz }")
  done <"$f"
done
[ ${#sfz[@]} -gt 0 ] || { echo "render-real.sh: no $data/sfz/*.args (run scripts/fetch-data first)" >&2; exit 2; }
# instrid-render reads one folder of responses: gather every source's into one
irs=()
if compgen -G "$data/irs/*/*.wav" >/dev/null; then
  mkdir -p "$data/render-irs"
  for w in "$data"/irs/*/*.wav; do
    src=$(basename "$(dirname "$w")")
    cp -n "$w" "$data/render-irs/$src-$(basename "$w")"
  done
  irs=(--ir-dir "$data/render-irs")
fi
[ -x build/trainer/render/instrid-render ] || { [ -d build ] || meson setup build; meson compile -C build; }
out="$data/render-real"
rm -rf "$out.part"
./build/trainer/render/instrid-render --out "$out.part" --layout musicnet --excerpt 10 \
    --hours "${HOURS:-1}" --test-fraction 0 --reassign-prob "${REASSIGN:-0.6}" \
    --no-fluidsynth --no-kits \
    --philharmonia "$phil" "${sfz[@]}" --sfz-prob 0.7 \
    --room-prob 0.7 "${irs[@]}" --mic-prob 0.5 --compress-prob 0.3 --codec-prob 0.5 \
    --seed "${SEED:-1}" --jobs "${JOBS:-2}" --quiet "$@" "${midi[@]}"
rm -rf "$out"
mv "$out.part" "$out"
echo "render-real.sh: $out/musicnet"
