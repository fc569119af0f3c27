#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""test_bach10_csv.py — scripts/bach10-csv.py on a dataset folder of tones made here (four
stems per excerpt, soprano to bass): the CSV's rows and labels, and the refusals of stems out of
voice order, a missing group of mixtures and a folder that is not the dataset.
Skips (77) without numpy."""
import csv
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from checks import check, finish, require_modules  # noqa: E402
from fixtures import tone, write_wav  # noqa: E402

SCRIPT = sys.argv[1]
require_modules("numpy")

PITCH = {"S1": 523.0, "S2": 392.0, "S3": 262.0, "S4": 131.0}


def run(*args):
    p = subprocess.run(["/usr/bin/python3", SCRIPT, *args], capture_output=True, text=True,
                       timeout=60)
    return p.returncode, p.stderr


def make(root, pitch=PITCH, groups=("Group01-P2H", "Group02-P3H", "Group03-P3P", "Group04-P4H")):
    for ex in ("P4_Mix01", "P4_Mix02"):
        for s, hz in pitch.items():
            write_wav(os.path.join(root, "Originals", "Group04-P4H", f"{ex}_{s}.wav"),
                      tone(1.0, hz, 0.2))
        for g in groups:
            write_wav(os.path.join(root, "Mixtures", g, f"{g[-3:]}_{ex[-5:]}.wav"),
                      tone(1.0, 440.0, 0.2))


with tempfile.TemporaryDirectory() as d:
    ok = os.path.join(d, "ok")
    make(ok)
    rc, err = run(ok)
    check(rc == 0 and "6 mixtures and 8 stems" in err, f"written: rc {rc}, {err!r}")
    with open(os.path.join(ok, "bach10.csv")) as f:
        rows = list(csv.DictReader(f))
    labels = {r["path"]: r["labels"] for r in rows}
    check(len(rows) == 14, f"{len(rows)} rows, want 14 (no P3P mixture)")
    check(labels.get("Mixtures/Group01-P2H/P2H_Mix01.wav") == "violin;clarinet" and
          labels.get("Mixtures/Group02-P3H/P3H_Mix02.wav") == "violin;clarinet;saxophone" and
          labels.get("Mixtures/Group04-P4H/P4H_Mix01.wav") == "violin;clarinet;saxophone;bassoon",
          f"mixture labels: {labels}")
    check([labels.get(f"Originals/Group04-P4H/P4_Mix01_{s}.wav") for s in PITCH] ==
          ["violin", "clarinet", "saxophone", "bassoon"], "stem labels by voice")
    check(not any("P3P" in p for p in labels), "the percussive group is left out")

    swapped = os.path.join(d, "swapped")
    make(swapped, pitch={"S1": 131.0, "S2": 392.0, "S3": 262.0, "S4": 523.0})
    rc, err = run(swapped)
    check(rc == 1 and "not S1 > S2 > S3 > S4" in err, f"stems out of order: rc {rc}, {err!r}")
    check(not os.path.exists(os.path.join(swapped, "bach10.csv")), "nothing written when refused")
    nomix = os.path.join(d, "nomix")
    make(nomix, groups=("Group01-P2H", "Group04-P4H"))
    rc, err = run(nomix)
    check(rc == 1 and "Group02-P3H: no mixtures" in err, f"a missing group: rc {rc}, {err!r}")
    rc, err = run(d)
    check(rc == 1 and "no four-part stems" in err, f"not the dataset: rc {rc}, {err!r}")
    rc, err = run()
    check(rc == 2 and "usage" in err, f"no argument: rc {rc}, {err!r}")
finish()
