#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""frontend_at_rate_net.py: the at-input-rate front end through an imported network: the
window probabilities and the mapped-AudioSet Medley-solos mAP of each clip decoded at its own
rate (44.1 kHz) into instrid_stream_new_for_rate, against the same clip resampled to the
model's rate by GStreamer's audioresample into instrid_stream_new.

usage: frontend_at_rate_net.py DATA_DIR MODEL.instrid RUN_MODEL [--work DIR]
  DATA_DIR   the shared data folder (dev-eval/, pretrained/)
  MODEL      an EfficientAT mn* model from instrid-import (527 AudioSet classes)
  RUN_MODEL  build/tests/import/run_model
"""
import argparse
import csv
import importlib.util
import os
import subprocess
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location(
    "check_mn04", os.path.join(HERE, "..", "scripts", "check-mn04.py"))
C = importlib.util.module_from_spec(spec)
spec.loader.exec_module(C)


def decode(path, out, rate):
    caps = "audio/x-raw,format=F32LE,channels=1" + (f",rate={rate}" if rate else "")
    if not os.path.exists(out):
        subprocess.run(["gst-launch-1.0", "-q", "filesrc", f"location={path}", "!", "decodebin",
                        "!", "audioconvert", "!", "audioresample", "!", caps, "!", "filesink",
                        f"location={out}"], check=True)


def run(run_model, model, raw, rate=None):
    args = [run_model, model, raw] + (["4096", str(rate)] if rate else [])
    r = subprocess.run(args, check=True, capture_output=True, text=True)
    rows = [list(map(float, line.split()[2:])) for line in r.stdout.splitlines() if line]
    return np.array(rows, dtype=np.float64)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("data")
    ap.add_argument("model")
    ap.add_argument("run_model")
    ap.add_argument("--work", default="/tmp/frontend-at-rate")
    a = ap.parse_args()
    os.makedirs(a.work, exist_ok=True)
    names = C.audioset_names(os.path.join(a.data, "pretrained",
                                          "audioset_class_labels_indices.csv"))
    amap = C.audioset_map()
    with open(os.path.join(a.data, "dev-eval", "labels.csv"), newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["path"].startswith("medley-solos/")]
    clip_a, clip_b, targets, diffs = [], [], [], []
    for i, r in enumerate(rows):
        path = os.path.join(a.data, "dev-eval", r["path"])
        raw32, raw44 = (os.path.join(a.work, f"clip{i:03d}.{k}.f32") for k in ("32k", "own"))
        decode(path, raw32, 32000)
        decode(path, raw44, None)
        pa = run(a.run_model, a.model, raw32)
        pb = run(a.run_model, a.model, raw44, 44100)
        n = min(len(pa), len(pb))
        diffs.append(np.abs(pa[:n] - pb[:n]))
        clip_a.append(pa.mean(axis=0))
        clip_b.append(pb.mean(axis=0))
        t = np.zeros(len(C.TAXONOMY))
        for lab in r["labels"].split(";"):
            if lab in C.TAXONOMY:
                t[C.TAXONOMY.index(lab)] = 1
        targets.append(t)
    d = np.concatenate(diffs)
    targets = np.array(targets)
    map_a, _ = C.mean_ap(targets, C.mapped_scores(np.array(clip_a), names, amap))
    map_b, _ = C.mean_ap(targets, C.mapped_scores(np.array(clip_b), names, amap))
    top_a = np.argmax(np.array(clip_a), axis=1)
    top_b = np.argmax(np.array(clip_b), axis=1)
    print(f"{len(rows)} Medley-solos clips, {d.shape[0]} windows x {d.shape[1]} classes")
    print(f"window probabilities, at-input-rate vs resampled: mean |diff| {d.mean():.5f}, "
          f"99th percentile {np.percentile(d, 99):.4f}, max {d.max():.4f}")
    print(f"clip top-1 AudioSet class agrees on {np.mean(top_a == top_b) * 100:.1f}% of clips")
    print(f"mapped AudioSet mAP: resampled (audioresample to 32 kHz) {map_a:.4f}, "
          f"at input rate (44.1 kHz) {map_b:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
