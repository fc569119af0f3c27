#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Chooses a model's per-class thresholds on a labelled set of real recordings, at clip level
through the element, and writes them into the model file.

    scripts/choose-thresholds.py --model M.instrid --csv SET.csv [--mix-csv MIX.csv
                                 [--mix-weight W]] [--build build] [--write]

SET.csv is a labels.csv (path,labels[,kind,note]; labels separated by ';', paths relative to the
CSV; a row with no label is a non-music clip, negative for every class). Every file goes through
instrid-identify (filesrc ! decodebin ! audioconvert ! instridentify), whose end-of-stream
summary gives the clip's probabilities. Per class with a positive in the set, the threshold is
the one that maximises F1 there (ties towards the higher threshold: fewer false alarms); a class
without a positive keeps the model's threshold. With --mix-csv, a second labelled set of
mixtures of the same held-out recordings (scripts/mix-real.py --split test): the threshold
maximises (1 - W) * F1 on SET + W * F1 on the mixtures (W = --mix-weight, default 0.2; a class
without a positive among the mixtures: F1 on SET alone). An instrument inside a mix scores lower
than alone, so thresholds chosen on solo clips alone find few instruments in real music; the
mixtures must be another draw than any set the thresholds are then measured on. Then every
threshold is raised, where needed, above the class's --neg-quantile (default 0.98) score on the
clips known not to hold it: the non-music clips and the clips of other instruments (a row's
labels are taken as complete). F1 alone is skewed by the set's class balance: where most clips
hold one class (a held-out saxophone library), it picks a threshold near 0 that reports the
class almost everywhere; the floor bounds each class's false alarms on the other sources' clips
at 2% (with --mix-csv too: the floor is taken on SET's clips).
Prints per-class AP, F1 and threshold, mAP, macro-F1, and the share of non-music clips with any
class reported (per source, from the note column's "source:" prefix), before and after. With
--write the thresholds are written into the model (in place, atomically), and its provenance
gains a line saying where they came from (the set's file name, the clips, the rule), replacing
the line an earlier --write left:
    thresholds: chosen by choose-thresholds.py on validation.csv, 812 clips (140 non-music), ...
--probs FILE keeps the element's clip probabilities in FILE (JSON) and reuses them when the
model's network and the file list are unchanged (its thresholds and provenance do not count), to
try rules without running the element again.
"""
import argparse
import bisect
import csv
import hashlib
import json
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "trainer", "import"))
import instrid_file  # noqa: E402
sys.path.insert(0, HERE)
import identify_json  # noqa: E402

PROVENANCE_PREFIX = "thresholds: chosen by choose-thresholds.py"


def read_set(path):
    base = os.path.dirname(os.path.abspath(path))
    rows = []
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        missing = [c for c in ("path", "labels") if c not in (reader.fieldnames or [])]
        if missing:
            sys.exit(f"choose-thresholds: {path}: no {' or '.join(missing)} column (a labels.csv: "
                     f"path,labels[,kind,note])")
        for r in reader:
            p = r["path"] if os.path.isabs(r["path"]) else os.path.join(base, r["path"])
            src = (r.get("note") or "").split(":")[0].strip() or "-"
            rows.append((os.path.abspath(p), [x for x in r["labels"].split(";") if x], src))
    return rows


def identify(build, model, files, jobs=2):
    objects, _ = identify_json.identify(build, model, files, "choose-thresholds", jobs)
    # an object without a summary is a file the element could not read: reported, left out
    return {os.path.abspath(o["file"]): o["summary"]["probabilities"]
            for o in objects if "summary" in o}


def read_model(model):
    try:
        with open(model, "rb") as f:
            return instrid_file.read_parts(f.read())
    except (OSError, ValueError) as e:
        sys.exit(f"choose-thresholds: {model}: {e}")


def network_key(parts, files):
    """What the clip probabilities depend on: the front end, the classes, the layers and the
    tensors (not the thresholds or the provenance), and the files."""
    h = hashlib.sha256()
    h.update(parts.frontend + parts.frontend_v2)
    h.update(struct.pack("<II", parts.window_frames, parts.hop_frames))
    h.update("\n".join(parts.class_names).encode() + b"\0" + parts.layers)
    for li, role, dims, data in parts.tensors:
        h.update(struct.pack(f"<{2 + len(dims)}I", li, role, *dims) + data)
    h.update("\n".join(files).encode())
    return h.hexdigest()


def with_provenance_line(provenance, line):
    """provenance with `line` in place of the line an earlier run wrote, else appended."""
    kept = [ln for ln in provenance.splitlines() if not ln.startswith(PROVENANCE_PREFIX)]
    return "".join(ln + "\n" for ln in kept + [line])


def ap(y, s):
    order = sorted(range(len(s)), key=lambda i: -s[i])
    hits, total = 0, 0.0
    for rank, i in enumerate(order, 1):
        if y[i]:
            hits += 1
            total += hits / rank
    return total / max(1, sum(y))


def f1_curve(y, s, ts):
    """F1 at every threshold of ts (a class reported where its score >= t), in one sort."""
    pos = sorted(v for a, v in zip(y, s) if a)
    every = sorted(s)
    n_pos = len(pos)
    out = []
    for t in ts:
        tp = n_pos - bisect.bisect_left(pos, t)
        reported = len(every) - bisect.bisect_left(every, t)
        out.append(2 * tp / max(1, reported + n_pos))
    return out


def choose(y, s, ym, sm, w, fallback):
    """The threshold maximising (1 - w) F1 on (y, s) + w F1 on (ym, sm) (on (y, s) alone when w
    is 0 or ym has no positive), ties towards the higher; midway to the highest candidate below
    it. fallback when y has no positive."""
    if not any(y):
        return fallback
    mixed = w > 0 and any(ym)
    ts = sorted(set(s) | (set(sm) if mixed else set()))
    f = f1_curve(y, s, ts)
    if mixed:
        f = [(1 - w) * a + w * b for a, b in zip(f, f1_curve(ym, sm, ts))]
    best = max(range(len(ts)), key=lambda i: (f[i], ts[i]))
    return (ts[best] + ts[best - 1]) / 2 if best > 0 else ts[best]


def report(names, rows, probs, th, title):
    print(title)
    aps, f1s = [], []
    for k, c in enumerate(names):
        y = [c in labels for _, labels, _ in rows]
        if not any(y):
            continue
        s = [probs[p][k] for p, _, _ in rows]
        a, f = ap(y, s), f1_curve(y, s, [th[k]])[0]
        aps.append(a)
        f1s.append(f)
        print(f"  {c:18s} AP {a:.3f}  F1 {f:.3f}  threshold {th[k]:.4f}  positives {sum(y)}")
    nm = [(p, src) for p, labels, src in rows if not labels]
    hit = {p: any(v >= t for v, t in zip(probs[p], th)) for p, _ in nm}
    share = sum(hit.values()) / len(nm) if nm else float("nan")
    print(f"  mAP {sum(aps) / len(aps):.4f}  macro-F1 {sum(f1s) / len(f1s):.4f}"
          + (f"  non-music clips with a class reported {share:.3f} (of {len(nm)})" if nm else ""))
    for src in sorted({x for _, x in nm}):
        mine = [p for p, x in nm if x == src]
        print(f"    non-music {src}: {sum(hit[p] for p in mine)} of {len(mine)}")


def main():
    ap_ = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap_.add_argument("--model", required=True)
    ap_.add_argument("--csv", required=True)
    ap_.add_argument("--build", default=os.path.join(HERE, "..", "build"))
    ap_.add_argument("--write", action="store_true")
    ap_.add_argument("--mix-csv", help="mixtures of the held-out recordings (labels.csv layout)")
    ap_.add_argument("--mix-weight", type=float, default=0.2,
                     help="the mixtures' weight in the F1 maximised, 0..1 (default 0.2)")
    ap_.add_argument("--neg-quantile", type=float, default=0.98)
    ap_.add_argument("--probs")
    ap_.add_argument("--jobs", type=int, default=2, help="instrid-identify processes at once")
    a = ap_.parse_args()
    if not 0.0 <= a.mix_weight <= 1.0:
        sys.exit(f"choose-thresholds: --mix-weight {a.mix_weight}: want a weight in [0, 1]")
    for path in [a.csv] + ([a.mix_csv] if a.mix_csv else []):
        if not os.path.isfile(path):
            sys.exit(f"choose-thresholds: {path}: no such file")
    parts = read_model(a.model)
    names, th = parts.class_names, parts.thresholds
    rows = read_set(a.csv)
    mix = read_set(a.mix_csv) if a.mix_csv else []
    files = [p for p, _, _ in rows] + [p for p, _, _ in mix]
    key = network_key(parts, files)
    probs = None
    if a.probs and os.path.exists(a.probs):
        with open(a.probs) as f:
            saved = json.load(f)
        if saved.get("key") == key:
            probs = saved["probabilities"]
    if probs is None:
        probs = identify(a.build, a.model, files, a.jobs)
        if a.probs:
            with open(a.probs, "w") as f:
                json.dump({"key": key, "probabilities": probs}, f)
    for p in files:
        if p not in probs:
            print(f"choose-thresholds: {p}: no result, left out", file=sys.stderr)
    rows = [r for r in rows if r[0] in probs]
    mix = [r for r in mix if r[0] in probs]
    if not rows:
        sys.exit("choose-thresholds: no file evaluated")
    if a.mix_csv and not mix:
        print(f"choose-thresholds: {a.mix_csv}: no mixture evaluated; thresholds on {a.csv} alone",
              file=sys.stderr)
    report(names, rows, probs, th, "model's thresholds:")
    if mix:
        report(names, mix, probs, th, f"model's thresholds, on {os.path.basename(a.mix_csv)}:")
    new = list(th)
    for k, c in enumerate(names):
        y = [c in labels for _, labels, _ in rows]
        s = [probs[p][k] for p, _, _ in rows]
        ym = [c in labels for _, labels, _ in mix]
        sm = [probs[p][k] for p, _, _ in mix]
        new[k] = min(1.0, max(0.0, choose(y, s, ym, sm, a.mix_weight if mix else 0.0, th[k])))
    for k, c in enumerate(names):
        s = sorted(probs[p][k] for p, labels, _ in rows if c not in labels)
        if s:
            q = s[min(len(s) - 1, int(a.neg_quantile * len(s)))]
            if new[k] <= q:
                new[k] = min(1.0, q + 1e-4)
    report(names, rows, probs, new, "chosen thresholds:")
    if mix:
        report(names, mix, probs, new, f"chosen thresholds, on {os.path.basename(a.mix_csv)}:")
    if a.write:
        n_nonmusic = sum(1 for _, labels, _ in rows if not labels)
        parts.thresholds = new
        parts.provenance = with_provenance_line(
            parts.provenance,
            f"{PROVENANCE_PREFIX} on {os.path.basename(a.csv)}, {len(rows)} clips "
            f"({n_nonmusic} non-music), rule: F1-best per class at clip level through the "
            f"element"
            + (f", weighted {1 - a.mix_weight:g} / {a.mix_weight:g} with F1 on "
               f"{os.path.basename(a.mix_csv)} ({len(mix)} mixtures of held-out recordings)"
               if mix else "")
            + f", floored above the {a.neg_quantile:g} quantile of the scores of clips known not "
            f"to hold the class")
        tmp = a.model + ".tmp"
        with open(tmp, "wb") as f:
            f.write(instrid_file.parts_bytes(parts))
        os.replace(tmp, a.model)
        print(f"thresholds written into {a.model}")


if __name__ == "__main__":
    main()
