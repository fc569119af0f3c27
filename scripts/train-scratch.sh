#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Reproduces the previous default model (v1, from scratch on rendered audio; docs/MODEL.md):
# renders the training corpus from the MIDI files and Philharmonia samples in DATA
# (../shared/data in the project's workplace) and trains the "default" architecture on it.
# Resumable: run it again after an interruption.
#   usage: bash scripts/train-scratch.sh DATA [WORKDIR] [OUT]
set -euo pipefail
cd "$(dirname "$0")/.."
data=${1:?usage: train-scratch.sh DATA [WORKDIR] [OUT]  (DATA has midi/ and samples/philharmonia/)}
work=${2:-work/scratch-model}
out=${3:-work/scratch-model/scratch.instrid}
hours=${INSTRID_HOURS:-12}
epochs=${INSTRID_EPOCHS:-25}
[ -d "$data/midi" ] || { echo "train-scratch.sh: $data/midi: no such folder" >&2; exit 2; }
[ -f "$data/samples/philharmonia/data.csv" ] || {
  echo "train-scratch.sh: $data/samples/philharmonia/data.csv: missing" >&2; exit 2; }
[ -d build ] || meson setup build
meson compile -C build
mkdir -p "$work/cache"
corpus="$work/corpus-seed1-${hours}h"
if [ ! -f "$corpus/.done" ]; then
  rm -rf "$corpus"
  ./build/trainer/render/instrid-render --out "$corpus" --hours "$hours" --jobs "$(nproc)" \
      --seed 1 --philharmonia "$data/samples/philharmonia" "$data/midi"
  touch "$corpus/.done"
fi
./build/trainer/instrid-train --corpus-musicnet "$corpus/musicnet" \
    --corpus-openmic "$corpus/openmic" --cache "$work/cache" --arch default \
    --epochs "$epochs" --batch 64 --seed 1 --threads 2 \
    --checkpoint "$work/train.ckpt" --resume --out "$out"
