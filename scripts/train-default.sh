#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Reproduces models/default.instrid (v2, docs/MODEL.md): imports EfficientAT mn04 (AudioSet),
# trains a 25-class head on its frozen backbone's output over the real recordings that
# scripts/fetch-data extracts, and blends the head with mn04's own AudioSet outputs mapped onto
# the taxonomy (a BLEND_MAPPED layer in the model); thresholds are chosen on the held-out real
# validation set (the tree's split01_test, then validation.csv through the element).
# Resumable: each stage skips what is done (the import when its file exists, decoding through
# the feature cache, training through its checkpoint).
#   usage: bash scripts/train-default.sh REAL PRETRAINED [WORKDIR] [OUT]
#     REAL        the `real` tree scripts/fetch-data writes (e.g. --out DIR gives DIR/real)
#     PRETRAINED  a folder with mn04_as_mAP_432.pt and audioset_class_labels_indices.csv
#                 (../shared/data/pretrained in the project's workplace)
set -euo pipefail
cd "$(dirname "$0")/.."
usage="usage: train-default.sh REAL PRETRAINED [WORKDIR] [OUT]"
real=${1:?$usage}
pre=${2:?$usage}
work=${3:-work/default-model}
out=${4:-models/default.instrid}
epochs=${INSTRID_EPOCHS:-15}
blend=${INSTRID_BLEND:-0.1}
for f in "$real/openmic-2018-aggregated-labels.csv" "$real/partitions/split01_test.csv" \
    "$pre/mn04_as_mAP_432.pt" "$pre/audioset_class_labels_indices.csv"; do
  [ -f "$f" ] || { echo "train-default.sh: $f: missing" >&2; exit 2; }
done
[ -d build ] || meson setup build
meson compile -C build
mkdir -p "$work/cache"
if [ ! -f "$work/mn04.instrid" ]; then
  ./build/trainer/import/instrid-import "$pre/mn04_as_mAP_432.pt" \
      "$pre/audioset_class_labels_indices.csv" -o "$work/mn04.instrid.tmp"
  mv "$work/mn04.instrid.tmp" "$work/mn04.instrid"
fi
./build/trainer/instrid-train --init "$work/mn04.instrid" --keep-source-head \
    --blend-source-head "$blend" --unblended-out "$work/head-unblended.instrid" \
    --corpus-openmic "$real" --cache "$work/cache" --out "$out" --threads 2 \
    --epochs "$epochs" --lr 1e-3 --weight-decay 1e-4 --seed 1 --checkpoint "$work/train.ckpt" --resume
# Thresholds: per class, F1-maximising at clip level through the element on the held-out real
# validation set (validation.csv: whole sources held out, non-music clips included).
/usr/bin/python3 scripts/choose-thresholds.py --model "$out" --csv "$real/validation.csv" --write
