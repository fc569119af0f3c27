#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""bach10-csv.py — an evaluation CSV of real ensemble recordings: the Bach10 excerpts of the
"Audio source separation dataset" (Delgado Castro; mukulkant-mikemighty/BSS on GitHub,
folder ASS-Dataset-V01/ASS-Dataset), for instrid-eval --csv and the probes.

Bach10 (Duan, Pardo, Zhang 2010) records four-part Bach chorales on violin, clarinet, tenor
saxophone and bassoon, one instrument at a time. The dataset cuts 12 excerpts (about 4.7 s) and
mixes them in groups: Group01-P2H (parts S1 + S2), Group02-P3H (S1-S3), Group04-P4H (S1-S4) and
Group03-P3P (S1, S2 and a percussive sequence, left out: its percussion has no class). Its
files do not say which stem is which instrument; the voices do: S1 is the soprano line (violin),
S2 the alto (clarinet), S3 the tenor (saxophone), S4 the bass (bassoon). The script checks that
order on every excerpt (the median pitch of S1 above S2 above S3 above S4, by autocorrelation)
and refuses a tree where it does not hold.

Rows: the 36 mixtures (labels: their parts) and the 48 stems of Group04-P4H (one label each);
paths relative to the CSV, which is written into the tree's folder. Licence of the recordings:
not stated; evaluation only, never training data.

  usage: bach10-csv.py DIR   (DIR: the ASS-Dataset folder, holding Mixtures/ and Originals/)
Exit status: 0 written, 1 the folder is not as described, 2 usage.
"""
import glob
import os
import sys
import wave

import numpy as np

STEMS = {"S1": "violin", "S2": "clarinet", "S3": "saxophone", "S4": "bassoon"}
GROUPS = [("Group01-P2H", 2), ("Group02-P3H", 3), ("Group04-P4H", 4)]


def fail(msg):
    print(f"bach10-csv.py: {msg}", file=sys.stderr)
    sys.exit(1)


def read(path):
    try:
        with wave.open(path, "rb") as w:
            if w.getsampwidth() != 2 or w.getnchannels() != 1:
                fail(f"{path}: not mono 16-bit PCM WAV")
            x = np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(np.float64) / 32768
            return x, w.getframerate()
    except (OSError, EOFError, wave.Error) as e:
        fail(f"{path}: {e}")


def median_pitch(x, rate):
    """Median of the frame-wise autocorrelation pitch (50..1500 Hz) over voiced frames."""
    n, found = 4096, []
    for i in range(0, len(x) - n, n // 2):
        s = x[i : i + n] * np.hanning(n)
        if np.sqrt(np.mean(s**2)) < 1e-3:
            continue
        ac = np.correlate(s, s, "full")[n - 1 :]
        lo, hi = int(rate / 1500), int(rate / 50)
        k = lo + int(np.argmax(ac[lo:hi]))
        if ac[k] > 0.3 * ac[0]:
            found.append(rate / k)
    return float(np.median(found)) if found else 0.0


def main():
    if len(sys.argv) != 2 or sys.argv[1].startswith("-"):
        print(__doc__.strip().splitlines()[-2].strip(), file=sys.stderr)
        sys.exit(2)
    root = sys.argv[1]
    stems = sorted(glob.glob(os.path.join(root, "Originals", "Group04-P4H", "*_S[1-4].wav")))
    if len(stems) < 4:
        fail(f"{root}/Originals/Group04-P4H: no four-part stems (is {root} the ASS-Dataset folder?)")
    excerpts = sorted({os.path.basename(p).rsplit("_", 1)[0] for p in stems})
    for ex in excerpts:
        pitch = []
        for s in ("S1", "S2", "S3", "S4"):
            path = os.path.join(root, "Originals", "Group04-P4H", f"{ex}_{s}.wav")
            if not os.path.exists(path):
                fail(f"{path}: missing")
            pitch.append(median_pitch(*read(path)))
        if not pitch[0] > pitch[1] > pitch[2] > pitch[3] > 0:
            fail(f"{ex}: median pitches {[round(p) for p in pitch]} Hz are not S1 > S2 > S3 > S4: "
                 "the stems are not the soprano, alto, tenor and bass lines")
    rows = []
    for group, parts in GROUPS:
        mixes = sorted(glob.glob(os.path.join(root, "Mixtures", group, "*.wav")))
        if not mixes:
            fail(f"{root}/Mixtures/{group}: no mixtures")
        labels = ";".join(STEMS[f"S{i}"] for i in range(1, parts + 1))
        rows += [(p, labels, f"mixture of {parts}") for p in mixes]
    rows += [(p, STEMS[p[-6:-4]], "stem") for p in stems]
    out = os.path.join(root, "bach10.csv")
    with open(out, "w") as f:
        f.write("path,labels,kind,note\n")
        for p, labels, kind in rows:
            f.write(f"{os.path.relpath(p, root)},{labels},{kind},bach10\n")
    n_mix = sum(1 for r in rows if r[2] != "stem")
    print(f"bach10-csv.py: {out}: {n_mix} mixtures and {len(rows) - n_mix} stems "
          f"({len(excerpts)} excerpts; stem order checked by pitch)", file=sys.stderr)


if __name__ == "__main__":
    main()
