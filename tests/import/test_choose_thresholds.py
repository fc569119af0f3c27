#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""test_choose_thresholds.py: scripts/choose-thresholds.py --write on a small model written here
with trainer/import/instrid_file.py and a labelled set of sine clips, through the element
(instrid-identify). The written model holds the thresholds the script printed, its provenance
gains one "thresholds: chosen by choose-thresholds.py on set.csv, ..." line (replaced, not
repeated, by a second --write), everything else is unchanged, and libcore (run_model) loads it
and gives the same outputs to the bit. With --mix-csv (mixtures where a flute is quieter than
alone) the flute threshold is lowered to find them, above the floor over the solo negatives, and
the provenance line names the mixtures and the weight; a bad weight or a missing set is refused.
Also instrid_file's reader: read_parts then parts_bytes
gives the file back byte for byte, and a corrupt or truncated file is refused by name.

usage: test_choose_thresholds.py CHOOSE_THRESHOLDS RUN_MODEL BUILD_DIR SOURCE_IMPORT_DIR WORKDIR
Exit status: 0 pass, 1 fail, 77 skip (numpy missing).
"""
import json
import os
import re
import shutil
import subprocess
import sys

try:
    import numpy as np
except ImportError:
    print("numpy missing: skipping")
    sys.exit(77)

script, run_model, build, src_dir, work = sys.argv[1:6]
sys.path.insert(0, src_dir)
import instrid_file as F  # noqa: E402
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from checks import check, finish  # noqa: E402
from fixtures import tone, write_wav  # noqa: E402

shutil.rmtree(work, ignore_errors=True)
os.makedirs(work)

# A model that hears pitch: mean log-mel energy over time per band, a dense layer whose class
# rows pick a few bands, a sigmoid. 16 kHz, 32 mels, 0.4 s windows.
RATE = 16000
N_MELS = 32
CLASSES = ["flute", "piano", "violin"]
fe = dict(sample_rate=RATE, n_fft=512, win_length=400, hop_samples=160, n_mels=N_MELS,
          fmin_hz=0.0, fmax_hz=8000.0, power=2.0, log_floor=1e-6, feature_mean=-6.0,
          feature_std=4.0)
w = np.full((len(CLASSES), N_MELS), -0.05, dtype=np.float32)
for k, bands in enumerate([(6, 7, 8), (12, 13, 14), (18, 19, 20)]):
    w[k, list(bands)] = 0.6
layers = [F.Layer(F.GLOBAL_POOL, [2, 0]),  # mean over time: (1, 32, 1)
          F.Layer(F.DENSE, [len(CLASSES)], tensors=[w, np.array([-1.0, -0.5, -1.5])]),
          F.Layer(F.SIGMOID)]
original = F.model_bytes(fe, 40, 20, CLASSES, [0.5, 0.5, 0.5],
                         "made by test_choose_thresholds.py\nsecond line\n", layers)
model = os.path.join(work, "model.instrid")
with open(model, "wb") as f:
    f.write(original)

# The reader: the file back byte for byte; corruption and truncation named.
check(F.parts_bytes(F.read_parts(original)) == original, "read_parts + parts_bytes: the same bytes")
for what, bad, needle in (("a flipped byte", original[:200] + bytes([original[200] ^ 1]) +
                           original[201:], "checksum"),
                          ("a truncated file", original[:-10], "file_bytes"),
                          ("not a model", b"hello" * 40, "magic")):
    try:
        F.read_parts(bad)
        msg = "no error"
    except ValueError as e:
        msg = str(e)
    check(needle in msg, f"{what} refused: {msg!r}")

# The set: a second of sine per clip, one clip with two labels, two non-music (no label) clips.
clips = [("a.wav", 440.0, "flute"), ("b.wav", 1000.0, "piano"), ("c.wav", 2200.0, "violin"),
         ("d.wav", 470.0, "flute;piano"), ("e.wav", 150.0, ""), ("f.wav", 3000.0, "")]
for name, freq, _ in clips:
    write_wav(os.path.join(work, name), tone(1.0, freq, 0.3, RATE), RATE)
csv_path = os.path.join(work, "set.csv")
with open(csv_path, "w") as f:
    f.write("path,labels,kind,note\n")
    for name, _, labels in clips:
        f.write(f"{name},{labels},test,\n")

# The same audio through libcore before and after: every window's outputs, as text.
raw = os.path.join(work, "audio.f32")
t = np.arange(int(1.5 * RATE)) / RATE
(0.3 * np.sin(2 * np.pi * (300 + 900 * t) * t)).astype("<f4").tofile(raw)


def outputs(path):
    p = subprocess.run([run_model, path, raw], capture_output=True, text=True)
    return p.returncode, p.stdout, p.stderr


rc0, before, err0 = outputs(model)
check(rc0 == 0 and len(before.splitlines()) >= 2, f"run_model on the original: {rc0} {err0!r}")

probs = os.path.join(work, "probs.json")


def choose(*extra, build_dir=build):
    return subprocess.run([sys.executable, script, "--model", model, "--csv", csv_path,
                           "--build", build_dir, "--probs", probs, "--write", *extra],
                          capture_output=True, text=True, timeout=120)


r = choose()
check(r.returncode == 0 and "thresholds written into" in r.stdout,
      f"choose-thresholds --write: exit {r.returncode}, stderr {r.stderr.strip()!r}")
printed = dict(re.findall(r"^\s+(\w+)\s+AP .* threshold (\S+)",
                          r.stdout.split("chosen thresholds:")[-1], re.M))
after = F.read_parts(open(model, "rb").read())
first = F.read_parts(original)
line = ("thresholds: chosen by choose-thresholds.py on set.csv, 6 clips (2 non-music), rule: "
        "F1-best per class at clip level through the element, floored above the 0.98 quantile "
        "of the scores of clips known not to hold the class")
check(after.provenance == first.provenance + line + "\n",
      f"provenance gains the line: {after.provenance!r}")
check(sorted(printed) == CLASSES and
      all(abs(after.thresholds[k] - float(printed[c])) <= 5e-5 for k, c in enumerate(CLASSES)),
      f"the file holds the printed thresholds: {after.thresholds} vs {printed}")
check(after.thresholds != first.thresholds, f"thresholds changed: {after.thresholds}")
check((after.version, after.frontend, after.frontend_v2, after.window_frames, after.hop_frames,
       after.class_names, after.layers, after.tensors) ==
      (first.version, first.frontend, first.frontend_v2, first.window_frames, first.hop_frames,
       first.class_names, first.layers, first.tensors),
      "front end, classes, layers and tensors unchanged")
rc1, now, err1 = outputs(model)
check(rc1 == 0 and now == before, f"libcore loads the rewritten model, same outputs: {err1!r}")

# Again, from the saved probabilities (the element must not run: the build folder given does
# not exist), with another rule: the line is replaced, not repeated.
r = choose("--neg-quantile", "0.5", build_dir=os.path.join(work, "no-build"))
again = F.read_parts(open(model, "rb").read())
check(r.returncode == 0, f"second --write from --probs: exit {r.returncode} {r.stderr.strip()!r}")
check(again.provenance == first.provenance + line.replace("0.98", "0.5") + "\n",
      f"one thresholds line, the new one: {again.provenance!r}")
rc2, now, err2 = outputs(model)
check(rc2 == 0 and now == before, f"still the same outputs: {err2!r}")

# A corrupt model is refused before anything runs, and left as it was.
bad = original[:-1] + bytes([original[-1] ^ 0xFF])
with open(model, "wb") as f:
    f.write(bad)
r = choose()
check(r.returncode != 0 and "checksum" in r.stderr and open(model, "rb").read() == bad,
      f"corrupt model: exit {r.returncode}, {r.stderr.strip()!r}")

# --mix-csv: a solo set whose flutes sit in the middle of the flute bands, and mixtures where a
# quieter flute sounds beside a violin (as an instrument inside a mix scores lower than alone).
# Solo thresholds miss those flutes; the weighted rule (default weight 0.2) lowers flute's
# threshold to find them, never below the floor over the solo clips known not to hold a flute.
with open(model, "wb") as f:
    f.write(original)
solo = [("s1.wav", [(600.0, 0.3)], "flute"), ("s2.wav", [(640.0, 0.3)], "flute"),
        ("s3.wav", [(2200.0, 0.3)], "violin"), ("s4.wav", [(150.0, 0.3)], ""),
        ("s5.wav", [(3000.0, 0.3)], "")]
mixes = [("m1.wav", [(520.0, 0.02), (2200.0, 0.3)], "flute;violin"),
         ("m2.wav", [(560.0, 0.01), (2200.0, 0.3)], "flute;violin"),
         ("m3.wav", [(150.0, 0.3), (2200.0, 0.3)], "violin")]


def write_set(name, clips):
    for clip, parts, _ in clips:
        waves = [tone(1.0, fr, amp, RATE) for fr, amp in parts]
        write_wav(os.path.join(work, clip), [sum(v) for v in zip(*waves)], RATE)
    path = os.path.join(work, name)
    with open(path, "w") as f:
        f.write("path,labels,kind,note\n")
        for clip, _, labels in clips:
            f.write(f"{clip},{labels},test,\n")
    return path


solo_csv, mix_csv = write_set("solo.csv", solo), write_set("mix.csv", mixes)
mprobs = os.path.join(work, "mprobs.json")


def chosen(*extra):
    subprocess.run([sys.executable, script, "--model", model, "--csv", solo_csv, "--build", build,
                    "--probs", mprobs, "--write", *extra], capture_output=True, text=True,
                   timeout=120, check=True)
    return F.read_parts(open(model, "rb").read())


solo_th = chosen("--mix-csv", mix_csv, "--mix-weight", "0").thresholds[0]
p = json.load(open(mprobs))["probabilities"]
flute = {n: p[os.path.join(work, n)][0] for n, _, _ in solo + mixes}
negatives = max(flute[n] for n, _, labels in solo if "flute" not in labels)
quiet = min(flute["m1.wav"], flute["m2.wav"])
check(negatives < quiet and max(flute["m1.wav"], flute["m2.wav"]) < solo_th,
      f"the test's design: solo negatives < quiet flutes in mixtures < the solo threshold: "
      f"{flute}, solo threshold {solo_th}")
weighted = chosen("--mix-csv", mix_csv)
th = weighted.thresholds[0]
check(negatives < th <= quiet, f"weighted rule: flute threshold {th} finds the mixtures' flutes "
      f"({quiet}) and stays above the solo negatives ({negatives})")
check(weighted.provenance.splitlines()[-1] ==
      "thresholds: chosen by choose-thresholds.py on solo.csv, 5 clips (2 non-music), rule: "
      "F1-best per class at clip level through the element, weighted 0.8 / 0.2 with F1 on "
      "mix.csv (3 mixtures of held-out recordings), floored above the 0.98 quantile of the "
      "scores of clips known not to hold the class",
      f"provenance names the mixtures and the weight: {weighted.provenance.splitlines()[-1]!r}")
wrong = os.path.join(work, "wrong.csv")
with open(wrong, "w") as f:
    f.write("file,instruments\nm1.wav,flute\n")
for bad_args, needle in ((["--mix-csv", mix_csv, "--mix-weight", "1.5"], "--mix-weight 1.5"),
                         (["--mix-csv", os.path.join(work, "none.csv")], "none.csv: no such file"),
                         (["--mix-csv", wrong], "wrong.csv: no path or labels column")):
    r = choose(*bad_args)
    check(r.returncode != 0 and needle in r.stderr, f"{bad_args}: {r.returncode} {r.stderr!r}")

finish()
