#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""test_train_default.py — scripts/train-default.sh's checks before it builds or renders
anything: a missing input file is named, mixtures without a MIDI folder (INSTRID_MIDI) are
refused with the way out, a count of real mixtures (for training or for the thresholds) that is
not one is named, so is a pool head's share that is not one or shares that leave the embedding
head nothing, and each exits 2 without touching the work folder."""
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from checks import check, finish  # noqa: E402

SCRIPT = sys.argv[1]
REAL_FILES = ["openmic-2018-aggregated-labels.csv", "partitions/split01_test.csv", "validation.csv"]
PRE_FILES = ["mn04_as_mAP_432.pt", "audioset_class_labels_indices.csv"]


def run(real, pre, work, **env):
    e = {k: v for k, v in os.environ.items() if not k.startswith("INSTRID_")}
    e.update(env)
    p = subprocess.run(["bash", SCRIPT, real, pre, work, os.path.join(work, "out.instrid")],
                       capture_output=True, text=True, env=e, timeout=60)
    return p.returncode, p.stderr


def touch(root, names):
    for n in names:
        path = os.path.join(root, n)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        open(path, "w").close()


with tempfile.TemporaryDirectory() as tmp:
    real, pre, work = (os.path.join(tmp, d) for d in ("real", "pre", "work"))
    touch(real, REAL_FILES[:2])
    touch(pre, PRE_FILES)
    rc, err = run(real, pre, work)
    check(rc == 2 and "validation.csv: missing" in err, f"no validation.csv: rc {rc}, {err!r}")
    touch(real, REAL_FILES[2:])
    rc, err = run(real, pre, work)
    check(rc == 2 and "INSTRID_MIDI=''" in err and "INSTRID_MIX_HOURS=0" in err,
          f"mixtures without INSTRID_MIDI: rc {rc}, {err!r}")
    rc, err = run(real, pre, work, INSTRID_REAL_MIXES="4k", INSTRID_MIX_HOURS="0")
    check(rc == 2 and "INSTRID_REAL_MIXES='4k': not a count" in err,
          f"INSTRID_REAL_MIXES not a count: rc {rc}, {err!r}")
    for var, what in (("INSTRID_REAL_MIX_MATCH", "real"), ("INSTRID_MIX_MATCH", "rendered")):
        for bad in ("1.5", "half", "-0.5", "0.5:x"):
            rc, err = run(real, pre, work, **{var: bad}, INSTRID_MIX_HOURS="0")
            check(rc == 2 and f"{var}='{bad}': not a share in [0, 1] (of the {what}" in err,
                  f"{var} {bad}: rc {rc}, {err!r}")
    rc, err = run(real, pre, work, INSTRID_THRESHOLD_MIXES="-1", INSTRID_MIX_HOURS="0")
    check(rc == 2 and "INSTRID_THRESHOLD_MIXES='-1': not a count" in err,
          f"INSTRID_THRESHOLD_MIXES not a count: rc {rc}, {err!r}")
    for var in ("INSTRID_POOL_SHARE", "INSTRID_STD_POOL_SHARE"):
        for share in ("1", "0.3x", "-0.1", "0.2;x"):
            rc, err = run(real, pre, work, **{var: share}, INSTRID_MIX_HOURS="0")
            check(rc == 2 and f"{var}='{share}': not a share in [0, 1)" in err,
                  f"{var} {share}: rc {rc}, {err!r}")
    rc, err = run(real, pre, work, INSTRID_POOL_SHARE="0.5", INSTRID_STD_POOL_SHARE="0.5",
                  INSTRID_MIX_HOURS="0")
    check(rc == 2 and "leave the embedding head none" in err,
          f"pool shares adding up to 1: rc {rc}, {err!r}")
    rc, err = run(real, pre, work, INSTRID_MIDI=os.path.join(tmp, "nowhere"))
    check(rc == 2 and "nowhere': not a folder" in err, f"INSTRID_MIDI not a folder: rc {rc}, {err!r}")
    check(not os.path.exists(work), "the work folder was created before the checks passed")
finish()
