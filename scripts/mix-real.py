#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""mix-real.py — mixtures of real recordings with exact labels, in the OpenMIC-2018 layout.

Every real source the project fetches is solo (one instrument per note or phrase), so a head
trained on them alone has never heard a real instrument inside a mix. This takes the clips of
one partition of an OpenMIC-layout tree (the `real` tree scripts/fetch-data writes, or its
shippable view) that hold exactly one instrument, and sums 2 to 4 of them, of different
classes, into new clips:

  - each part is scaled to the same RMS over its sounding samples (|x| > 1e-3), then by a
    level drawn in -6..+6 dB; the first part starts at 0, the others at a time drawn in the
    first 30% of the mixture, which lasts as long as its longest part, at most --max-seconds
    (default 4) and at least 0.5 s; the sum is scaled to a peak drawn in 0.3..0.9;
  - labels: each part's class is positive; another class is a known negative only when every
    part's clip says it is (relevance 0), else it stays unknown (left out, as OpenMIC does);
  - clips that hold no instrument (the non-music negatives) and clips with several are not
    used;
  - with --match-fraction F, that share of the mixtures is register-matched: every part's
    clip has a pitch (the median YIN estimate over its first sounding seconds) within
    --match-semitones (default 4) of the first part's, the case where timbre alone tells two
    instruments apart (a flute a few semitones above a violin); clips YIN finds no pitch in
    (most cymbals, noise-like notes) are not used in those. The pitches are estimated once
    per clip, at the start.

Output, in DIR: audio/<k[:3]>/<k>.wav (44.1 kHz mono 16-bit), openmic-2018-aggregated-labels.csv,
partitions/split01_train.csv and split01_test.csv (--test-fraction of the mixtures, default
0.1, the first ones), class-map.json (the tree's) and mixtures.csv (path,labels,kind,note: what
instrid-eval --csv and scripts/choose-thresholds.py read). The same tree, seed and options give
the same bytes. Without --out the mixtures are counted and nothing is written.

Used by scripts/train-default.sh on the training partition (docs/MODEL.md, v6), and on the
test partition of the held-out sources to measure polyphonic real audio.

  usage: mix-real.py --tree DIR --split train|test --mixtures N --seed S --out DIR
         [--max-seconds F] [--test-fraction F] [--exclude CLASS]...
         [--match-fraction F [--match-semitones S]]
Exit status: 0 done, 1 the tree cannot be read or offers fewer than two classes, 2 usage.
"""
import argparse
import csv
import glob
import json
import os
import random
import sys
import wave

import numpy as np

RATE = 44100


def fail(msg, code=1):
    print(f"mix-real.py: {msg}", file=sys.stderr)
    sys.exit(code)


def read_labels(tree, keys):
    """{key: {class: relevance}} for the keys, from the aggregated labels."""
    path = os.path.join(tree, "openmic-2018-aggregated-labels.csv")
    labels = {k: {} for k in keys}
    with open(path, newline="") as f:
        r = csv.DictReader(f)
        need = {"sample_key", "instrument", "relevance"}
        if not r.fieldnames or not need <= set(r.fieldnames):
            fail(f"{path}: header {r.fieldnames}, want the columns {sorted(need)}")
        for n, row in enumerate(r, 2):
            k = row["sample_key"]
            if k not in labels:
                continue
            try:
                labels[k][row["instrument"]] = float(row["relevance"])
            except ValueError:
                fail(f"{path}:{n}: relevance {row['relevance']!r} is not a number")
    return labels


def read_clip(tree, key):
    """The clip as float32 in [-1, 1], or None (with the reason) when it is not 16-bit PCM WAV
    at 44.1 kHz (mono, or stereo taken as the mean)."""
    path = os.path.join(tree, "audio", key[:3], key + ".wav")
    if not os.path.exists(path):
        other = glob.glob(os.path.join(tree, "audio", key[:3], glob.escape(key) + ".*"))
        if other:
            return None, (f"{other[0]}: not WAV (mix-real.py reads the 16-bit PCM WAV clips "
                          "scripts/fetch-data writes)")
    try:
        with wave.open(path, "rb") as w:
            if w.getsampwidth() != 2 or w.getframerate() != RATE or w.getnchannels() not in (1, 2):
                return None, f"{path}: not 16-bit PCM WAV at {RATE} Hz, mono or stereo"
            x = np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(np.float32) / 32768
            if w.getnchannels() == 2:
                x = x[: len(x) // 2 * 2].reshape(-1, 2).mean(axis=1)
    except (OSError, EOFError, wave.Error) as e:
        return None, f"{path}: {e}"
    return x, None


def write_wav(path, x):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".tmp"
    with wave.open(tmp, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes((np.clip(x, -1.0, 1.0) * 32767).astype("<i2").tobytes())
    os.replace(tmp, path)


def pitch(x):
    """The clip's pitch as a fractional MIDI note number, or None when it has no clear one:
    YIN (de Cheveigne and Kawahara 2002: cumulative-mean-normalised difference, absolute
    threshold 0.15, parabolic refinement) on 93-ms frames of its first 2 s of sounding audio
    at 22.05 kHz, the median over the frames that have a period between 11 and 1024 samples
    (21.5 Hz-2 kHz); None when under three frames have one."""
    loud = np.flatnonzero(np.abs(x) > 1e-3)
    if len(loud) == 0:
        return None
    y = x[loud[0] : loud[0] + 2 * RATE]
    y = y[: len(y) // 2 * 2].reshape(-1, 2).mean(axis=1)  # 22.05 kHz
    sr, w, hop = RATE / 2, 2048, 1024
    f0 = []
    for start in range(0, len(y) - w + 1, hop):
        fr = y[start : start + w].astype(np.float64)
        fr -= fr.mean()
        if float(np.sqrt(np.mean(fr**2))) < 1e-3:
            continue
        spec = np.fft.rfft(fr, 2 * w)
        r = np.fft.irfft(spec * np.conj(spec))[: w // 2]
        e = np.cumsum(fr**2)
        tau = np.arange(w // 2)
        e_head = e[w - 1 - tau]  # energy of fr[0 : w - tau]
        e_tail = e[w - 1] - np.concatenate(([0.0], e[: w // 2 - 1]))  # of fr[tau : w]
        d = np.maximum(e_head + e_tail - 2 * r, 0.0)
        cum = np.cumsum(d[1:])
        cmnd = np.ones_like(d)
        cmnd[1:] = d[1:] * tau[1:] / np.maximum(cum, 1e-12)
        below = np.flatnonzero(cmnd[11:] < 0.15)
        if len(below) == 0:
            continue
        t = 11 + below[0]
        while t + 1 < len(cmnd) and cmnd[t + 1] < cmnd[t]:  # down to the dip's bottom
            t += 1
        tf = float(t)
        if t + 1 < len(cmnd):  # the dip's bottom between samples: a parabola through three
            a_, b_, c_ = cmnd[t - 1], cmnd[t], cmnd[t + 1]
            den = a_ - 2 * b_ + c_
            if den > 0:
                tf += 0.5 * (a_ - c_) / den
        f0.append(sr / tf)
    if len(f0) < 3:
        return None
    return 69 + 12 * float(np.log2(np.median(f0) / 440.0))


def mix(parts, rng, max_frames):
    """Sums the parts (float arrays) as the module's docstring says."""
    n = min(max(len(x) for x in parts), max_frames)
    n = max(n, RATE // 2)
    y = np.zeros(n, np.float32)
    for j, x in enumerate(parts):
        start = 0 if j == 0 else rng.randrange(0, max(1, int(0.3 * n)))
        seg = x[: n - start]
        sounding = seg[np.abs(seg) > 1e-3]
        if len(sounding) == 0:
            continue
        gain = 10 ** (rng.uniform(-6.0, 6.0) / 20) * 0.1 / float(np.sqrt(np.mean(sounding**2)))
        y[start : start + len(seg)] += gain * seg
    peak = float(np.max(np.abs(y)))
    return y * (rng.uniform(0.3, 0.9) / peak) if peak > 0 else y


def matched_parts(avail, by_class, pitches, n_parts, semitones, rng):
    """n_parts (class, clip) pairs of different classes whose clips' pitches lie within
    `semitones` of the first's, or None when the first clip drawn has no pitch or too few
    classes have a clip near it (the caller draws again)."""
    c0 = rng.choice(avail)
    k0 = rng.choice(by_class[c0])
    p0 = pitches.get(k0)
    if p0 is None:
        return None
    picks = [(c0, k0)]
    for c in rng.sample(avail, len(avail)):
        if len(picks) == n_parts:
            break
        if c == c0:
            continue
        near = [k for k in by_class[c]
                if pitches.get(k) is not None and abs(pitches[k] - p0) <= semitones]
        if near:
            picks.append((c, rng.choice(near)))
    return picks if len(picks) == n_parts else None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tree", required=True, help="an OpenMIC-layout tree of real recordings")
    ap.add_argument("--split", required=True, choices=["train", "test"])
    ap.add_argument("--mixtures", type=int, required=True, help="how many mixtures")
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--out", help="the corpus folder to write (else only counted)")
    ap.add_argument("--max-seconds", type=float, default=4.0)
    ap.add_argument("--test-fraction", type=float, default=0.1)
    ap.add_argument("--exclude", action="append", default=[], metavar="CLASS",
                    help="a class whose clips are not used as parts (repeatable); it stays "
                    "labelled, a known negative where every part's clip knows it")
    ap.add_argument("--match-fraction", type=float, default=0.0,
                    help="the share of register-matched mixtures (default 0: none)")
    ap.add_argument("--match-semitones", type=float, default=4.0,
                    help="how far a matched part's pitch may lie from the first part's")
    a = ap.parse_args()
    if not 1 <= a.mixtures <= 1_000_000:
        ap.error(f"--mixtures {a.mixtures}: outside 1..1000000")
    if not 0.5 <= a.max_seconds <= 60:
        ap.error(f"--max-seconds {a.max_seconds}: outside 0.5..60")
    if not 0 <= a.test_fraction < 1:
        ap.error(f"--test-fraction {a.test_fraction}: outside [0, 1)")
    if not 0 <= a.match_fraction <= 1:
        ap.error(f"--match-fraction {a.match_fraction}: outside [0, 1]")
    if not 0 < a.match_semitones <= 48:
        ap.error(f"--match-semitones {a.match_semitones}: outside (0, 48]")
    part = os.path.join(a.tree, "partitions", f"split01_{a.split}.csv")
    cmap = os.path.join(a.tree, "class-map.json")
    for p in (part, cmap, os.path.join(a.tree, "openmic-2018-aggregated-labels.csv")):
        if not os.path.isfile(p):
            fail(f"{p}: missing (--tree names an OpenMIC-layout tree: scripts/fetch-data's real)")
    with open(part) as f:
        keys = [line.strip().split(",")[0] for line in f if line.strip()]
    with open(cmap) as f:
        class_map = json.load(f)
    classes = sorted(class_map, key=lambda c: class_map[c])
    for c in a.exclude:
        if c not in class_map:
            ap.error(f"--exclude {c}: not a class of {cmap}")
    labels = read_labels(a.tree, keys)
    by_class = {}
    for k in keys:
        pos = [c for c, v in labels[k].items() if v >= 0.5]
        if len(pos) == 1 and pos[0] in class_map and pos[0] not in a.exclude:
            by_class.setdefault(pos[0], []).append(k)
    avail = sorted(by_class)
    if len(avail) < 2:
        fail(f"{part}: clips of {len(avail)} class(es) with one instrument each; a mixture needs 2")
    pitches = {}
    if a.match_fraction > 0:
        todo = [(c, k) for c in avail for k in by_class[c]]
        for i, (c, k) in enumerate(todo):
            x, _ = read_clip(a.tree, k)
            pitches[k] = pitch(x) if x is not None else None
            if (i + 1) % 1000 == 0 or i + 1 == len(todo):
                print(f"mix-real.py: pitch of {i + 1} of {len(todo)} clips", file=sys.stderr)
        n_pitched = sum(p is not None for p in pitches.values())
        print(f"mix-real.py: {n_pitched} of {len(todo)} clips have a pitch", file=sys.stderr)
        if len({c for c, k in todo if pitches[k] is not None}) < 2:
            fail(f"{part}: clips with a pitch in fewer than two classes; a register-matched "
                 "mixture needs 2 (--match-fraction 0 makes none)")
    rng = random.Random(a.seed)
    cache, skipped, made, rows = {}, {}, [], []
    max_frames = int(a.max_seconds * RATE)
    n_matched, misses = 0, 0
    while len(made) < a.mixtures:
        n_parts = min(rng.choice([2, 2, 3, 3, 4]), len(avail))
        matched = a.match_fraction > 0 and rng.random() < a.match_fraction
        if matched:
            picks = matched_parts(avail, by_class, pitches, n_parts, a.match_semitones, rng)
            if picks is None:
                misses += 1
                if misses == 100_000:
                    fail(f"no register-matched mixture found in {misses} draws in a row: too "
                         f"few clips within --match-semitones {a.match_semitones} of each other")
                continue
            misses = 0
        else:
            chosen = rng.sample(avail, n_parts)
            picks = [(c, rng.choice(by_class[c])) for c in chosen]
        chosen = [c for c, _ in picks]
        audio = []
        for c, k in picks:
            if k not in cache:
                cache[k], why = read_clip(a.tree, k)
                if why:  # never drawn again; a class with no readable clip left goes
                    skipped[k] = why
                    by_class[c].remove(k)
                    if not by_class[c]:
                        avail.remove(c)
            audio.append(cache[k])
        if len(avail) < 2:
            fail(f"fewer than two classes with readable clips left: {next(iter(skipped.values()))}")
        if any(x is None for x in audio):
            continue
        key = f"mix{a.seed % 1000:03d}{len(made):07d}_00"
        y = mix(audio, rng, max_frames)
        if a.out:
            write_wav(os.path.join(a.out, "audio", key[:3], key + ".wav"), y)
        for c in classes:
            if c in chosen:
                rows.append((key, c, 1.0))
            elif all(labels[k].get(c) == 0.0 for _, k in picks):
                rows.append((key, c, 0.0))
        made.append((key, chosen, [k for _, k in picks]))
        n_matched += matched
        if len(cache) > 4096:
            cache.clear()
    for k, why in sorted(skipped.items()):
        print(f"mix-real.py: skipped {why}", file=sys.stderr)
    n_test = int(round(a.test_fraction * len(made)))
    print(f"mix-real.py: {len(made)} mixtures of {len(avail)} classes from {a.tree} "
          f"({a.split}), {n_matched} register-matched, {n_test} in the test partition"
          + (f", written to {a.out}" if a.out else ""), file=sys.stderr)
    if not a.out:
        return
    os.makedirs(os.path.join(a.out, "partitions"), exist_ok=True)
    with open(os.path.join(a.out, "partitions", "split01_test.csv"), "w") as f:
        f.writelines(k + "\n" for k, _, _ in made[:n_test])
    with open(os.path.join(a.out, "partitions", "split01_train.csv"), "w") as f:
        f.writelines(k + "\n" for k, _, _ in made[n_test:])
    with open(os.path.join(a.out, "class-map.json"), "w") as f:
        json.dump(class_map, f, indent=1)
    with open(os.path.join(a.out, "mixtures.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["path", "labels", "kind", "note"])
        for k, chosen, src in made:
            w.writerow([f"audio/{k[:3]}/{k}.wav", ";".join(chosen), "real mixture",
                        "mixture of " + " + ".join(src)])
    # the labels last: their presence says the corpus is complete
    tmp = os.path.join(a.out, "openmic-2018-aggregated-labels.csv.tmp")
    with open(tmp, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["sample_key", "instrument", "relevance", "num_responses"])
        for k, c, v in rows:
            w.writerow([k, c, v, 1])
    os.replace(tmp, os.path.join(a.out, "openmic-2018-aggregated-labels.csv"))


if __name__ == "__main__":
    main()
