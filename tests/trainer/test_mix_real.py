#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""test_mix_real.py — scripts/mix-real.py on an OpenMIC-layout tree made here: each class a pure
tone of its own frequency, so that a mixture's spectrum says which parts are in it. Checks that
every mixture holds exactly the tones of its positive labels (2 to 4 different classes), lasts
as long as its longest part within the limits, that a class is a known negative only where every
part's clip knew it, that non-music and multi-instrument clips are not used, the partitions and
mixtures.csv, that the same seed gives the same bytes, and the messages for a missing tree, a
labels file with a wrong column, too few classes, unreadable clips and bad options. Then the
register-matched mixtures (--match-fraction): the pitch estimate on tones and noise, every
matched mixture's parts within --match-semitones of its first part, no clip without a pitch in
them, and --match-fraction 0 giving the bytes of a run without it.
Skips (77) without numpy.
"""
import csv
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import wave

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from checks import check, finish, require_modules  # noqa: E402
from fixtures import tone, write_wav  # noqa: E402

SCRIPT = sys.argv[1]
require_modules("numpy")
import numpy as np  # noqa: E402

CLASSES = ["flute", "guitar", "piano", "violin", "voice"]
FREQ = {"flute": 440.0, "guitar": 660.0, "piano": 990.0, "violin": 1320.0, "voice": 1760.0}
SECONDS = {"flute": 1.0, "guitar": 2.0, "piano": 3.0, "violin": 5.0, "voice": 1.5}


def run(*args):
    p = subprocess.run(["/usr/bin/python3", SCRIPT, *args], capture_output=True, text=True,
                       timeout=120)
    return p.returncode, p.stdout, p.stderr


def make_tree(root, classes=CLASSES, unknown_violin_for=("flute",)):
    """Two clips per class in the train split (one tone each); the flute clips do not know
    violin (unknown); a non-music clip and a two-instrument clip that must not be used; one clip
    per class in the test split."""
    rows, train, test = [], [], []

    def clip(key, signal, pos, split, unknown=()):
        write_wav(os.path.join(root, "audio", key[:3], key + ".wav"), signal)
        (train if split == "train" else test).append(key)
        for c in CLASSES:
            if c not in unknown:
                rows.append((key, c, 1.0 if c in pos else 0.0))

    for i, c in enumerate(classes):
        for j in range(2):
            clip(f"{i:03d}{j}a_00", tone(SECONDS[c], FREQ[c], 0.3), [c], "train",
                 ("violin",) if c in unknown_violin_for else ())
        clip(f"{i:03d}9t_00", tone(1.0, FREQ[c], 0.3), [c], "test")
    clip("nm0000_00", tone(2.0, 3000.0, 0.3), [], "train")
    both = [a + b for a, b in zip(tone(2.0, 3000.0, 0.2), tone(2.0, 2500.0, 0.2))]
    clip("two000_00", both, ["flute", "piano"], "train")
    os.makedirs(os.path.join(root, "partitions"), exist_ok=True)
    with open(os.path.join(root, "partitions", "split01_train.csv"), "w") as f:
        f.writelines(k + "\n" for k in train)
    with open(os.path.join(root, "partitions", "split01_test.csv"), "w") as f:
        f.writelines(k + "\n" for k in test)
    with open(os.path.join(root, "openmic-2018-aggregated-labels.csv"), "w") as f:
        f.write("sample_key,instrument,relevance,num_responses\n")
        f.writelines(f"{k},{c},{v},1\n" for k, c, v in rows)
    with open(os.path.join(root, "class-map.json"), "w") as f:
        json.dump({c: i for i, c in enumerate(CLASSES)}, f)


def read_wav(path):
    """The samples, or None when the file is not 44.1 kHz mono 16-bit."""
    with wave.open(path, "rb") as w:
        if w.getframerate() != 44100 or w.getnchannels() != 1 or w.getsampwidth() != 2:
            return None
        return np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(np.float64) / 32768


def tones_in(x):
    """The fixture frequencies whose band holds at least 1e-4 of the mixture's energy (a part
    can be 12 dB below another and a fifth as long; what is not in it lies near 1e-10)."""
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x)))) ** 2
    hz = np.fft.rfftfreq(len(x), 1 / 44100)
    total = spec.sum()
    found = set()
    for f in list(FREQ.values()) + [2500.0, 3000.0]:
        band = spec[(hz > f - 20) & (hz < f + 20)].sum()
        if band > 1e-4 * total:
            found.add(f)
    return found


def midi(freq):
    return 69 + 12 * np.log2(freq / 440.0)


def make_pitched_tree(root):
    """Five classes, each with a clip in three registers (MIDI 48, 60 and 72, the class's own
    offset of 0.25 semitone added) and, for guitar, a noise clip that has no pitch; the keys
    say the pitch: pitched[key] = MIDI note, or None for the noise."""
    pitched, rows, keys = {}, [], []
    rng = np.random.default_rng(3)
    for i, c in enumerate(CLASSES):
        for j, base in enumerate((48, 60, 72)):
            key = f"p{i}{j}000_00"
            note = base + 0.25 * i
            f = 440.0 * 2 ** ((note - 69) / 12)
            write_wav(os.path.join(root, "audio", key[:3], key + ".wav"),
                      [a + 0.3 * b for a, b in zip(tone(1.5, f, 0.3), tone(1.5, 2 * f, 0.3))])
            pitched[key] = note
            keys.append((key, c))
    write_wav(os.path.join(root, "audio", "n00", "n00000_00.wav"),
              list(np.clip(0.2 * rng.standard_normal(44100), -0.9, 0.9)))
    pitched["n00000_00"] = None
    keys.append(("n00000_00", "guitar"))
    for key, c in keys:
        rows += [(key, o, 1.0 if o == c else 0.0) for o in CLASSES]
    os.makedirs(os.path.join(root, "partitions"), exist_ok=True)
    with open(os.path.join(root, "partitions", "split01_train.csv"), "w") as f:
        f.writelines(k + "\n" for k, _ in keys)
    with open(os.path.join(root, "partitions", "split01_test.csv"), "w") as f:
        f.write("")
    with open(os.path.join(root, "openmic-2018-aggregated-labels.csv"), "w") as f:
        f.write("sample_key,instrument,relevance,num_responses\n")
        f.writelines(f"{k},{c},{v},1\n" for k, c, v in rows)
    with open(os.path.join(root, "class-map.json"), "w") as f:
        json.dump({c: i for i, c in enumerate(CLASSES)}, f)
    return pitched


def corpus_digest(out):
    h = hashlib.sha256()
    for base, _, files in sorted(os.walk(out)):
        for name in sorted(files):
            with open(os.path.join(base, name), "rb") as f:
                h.update(name.encode() + f.read())
    return h.hexdigest()


with tempfile.TemporaryDirectory() as d:
    tree = os.path.join(d, "real")
    make_tree(tree)
    out = os.path.join(d, "mix")
    rc, _, err = run("--tree", tree, "--split", "train", "--mixtures", "40", "--seed", "5",
                     "--out", out)
    check(rc == 0, f"mix-real.py: exit {rc}: {err}")
    check("40 mixtures of 5 classes" in err, f"summary line: {err!r}")

    labels = {}
    with open(os.path.join(out, "openmic-2018-aggregated-labels.csv")) as f:
        for r in csv.DictReader(f):
            labels.setdefault(r["sample_key"], {})[r["instrument"]] = float(r["relevance"])
    with open(os.path.join(out, "mixtures.csv")) as f:
        mixtures = list(csv.DictReader(f))
    check(len(mixtures) == 40 and len(labels) == 40, f"{len(mixtures)} mixtures, want 40")
    with open(os.path.join(out, "partitions", "split01_test.csv")) as f:
        test_keys = f.read().split()
    with open(os.path.join(out, "partitions", "split01_train.csv")) as f:
        train_keys = f.read().split()
    check(len(test_keys) == 4 and len(train_keys) == 36 and not set(test_keys) & set(train_keys),
          f"partitions: {len(test_keys)} test, {len(train_keys)} train, want 4 and 36")
    with open(os.path.join(out, "class-map.json")) as f:
        check(json.load(f) == {c: i for i, c in enumerate(CLASSES)}, "the tree's class map")

    n_parts, tone_ok, unknown_ok, length_ok, source_ok, label_ok, peak_ok = [], 0, 0, 0, 0, 0, 0
    for m in mixtures:
        key = os.path.basename(m["path"])[:-4]
        pos = m["labels"].split(";")
        n_parts.append(len(pos))
        lab = labels[key]
        label_ok += sorted(c for c, v in lab.items() if v == 1.0) == sorted(pos)
        x = read_wav(os.path.join(out, m["path"]))
        if x is None:
            continue
        # exactly the tones of its classes: no non-music (3 kHz) or two-instrument (2.5 kHz) clip
        tone_ok += tones_in(x) == {FREQ[c] for c in pos}
        # lasts as long as its longest part, at most 4 s
        length_ok += abs(len(x) / 44100 - min(4.0, max(SECONDS[c] for c in pos))) < 1e-3
        # violin: unknown when a flute clip is in it (and violin is not), else a known negative
        if "violin" not in pos:
            unknown_ok += ("violin" in lab) == ("flute" not in pos)
        else:
            unknown_ok += 1
        source_ok += m["kind"] == "real mixture" and m["note"].count("+") == len(pos) - 1
        peak_ok += 0.29 <= np.max(np.abs(x)) <= 0.91
    check(label_ok == 40, f"the labels file and mixtures.csv agree: {label_ok} of 40")
    check(peak_ok == 40, f"44.1 kHz mono 16-bit, peak in 0.3..0.9: {peak_ok} of 40")
    check(tone_ok == 40, f"mixtures holding exactly their classes' tones: {tone_ok} of 40")
    check(length_ok == 40, f"mixtures as long as their longest part (<= 4 s): {length_ok} of 40")
    check(unknown_ok == 40, f"unknown labels kept unknown: {unknown_ok} of 40")
    check(source_ok == 40, f"mixtures.csv names the parts: {source_ok} of 40")
    check(min(n_parts) == 2 and max(n_parts) == 4 and all(len(set(m["labels"].split(";")))
                                                          == len(m["labels"].split(";"))
                                                          for m in mixtures),
          f"2 to 4 different classes per mixture: {sorted(set(n_parts))}")

    # the same seed: the same bytes; another seed: other mixtures
    again = os.path.join(d, "again")
    run("--tree", tree, "--split", "train", "--mixtures", "40", "--seed", "5", "--out", again)
    check(corpus_digest(out) == corpus_digest(again), "the same seed gives the same bytes")
    other = os.path.join(d, "other")
    run("--tree", tree, "--split", "train", "--mixtures", "40", "--seed", "6", "--out", other)
    check(corpus_digest(out) != corpus_digest(other), "another seed gives other mixtures")

    # the test split; without --out nothing is written
    rc, _, err = run("--tree", tree, "--split", "test", "--mixtures", "5", "--seed", "1")
    check(rc == 0 and "5 mixtures of 5 classes" in err, f"counting only: {rc} {err!r}")

    # errors: one line naming the problem
    def fails(args, code, must):
        rc, _, err = run(*args)
        check(rc == code and must in err, f"{args}: exit {rc} (want {code}), {err!r} lacks {must!r}")

    base = ["--split", "train", "--mixtures", "3", "--seed", "1"]
    fails(["--tree", os.path.join(d, "nowhere"), *base], 1, "missing")
    fails(["--tree", tree, "--split", "train", "--mixtures", "0", "--seed", "1"], 2, "--mixtures")
    fails(["--tree", tree, *base, "--max-seconds", "0.1"], 2, "--max-seconds")
    bad = os.path.join(d, "bad")
    make_tree(bad)
    with open(os.path.join(bad, "openmic-2018-aggregated-labels.csv"), "w") as f:
        f.write("sample_key,class,relevance\nx,flute,1\n")
    fails(["--tree", bad, *base], 1, "want the columns")
    one = os.path.join(d, "one")
    make_tree(one, classes=["piano"])
    fails(["--tree", one, *base], 1, "a mixture needs 2")
    # unreadable clips are skipped and named; when too few classes are left, it says so
    broken = os.path.join(d, "broken")
    make_tree(broken)
    with open(os.path.join(broken, "audio", "000", "0000a_00.wav"), "wb") as f:
        f.write(b"RIFF0000WAVEjunk")
    rc, _, err = run("--tree", broken, "--split", "train", "--mixtures", "40", "--seed", "1",
                     "--out", os.path.join(d, "b"))
    check(rc == 0 and "skipped" in err and "0000a_00.wav" in err,
          f"an unreadable clip is skipped and named: {rc} {err!r}")
    os.rename(os.path.join(broken, "audio", "001", "0010a_00.wav"),
              os.path.join(broken, "audio", "001", "0010a_00.ogg"))
    rc, _, err = run("--tree", broken, "--split", "train", "--mixtures", "40", "--seed", "1")
    check(rc == 0 and "0010a_00.ogg: not WAV" in err, f"a clip in another format is named: {err!r}")
    for k in ("0000a_00", "0001a_00"):
        with open(os.path.join(broken, "audio", "000", k + ".wav"), "wb") as f:
            f.write(b"RIFF0000WAVEjunk")
    for c in range(2, 5):
        for j in range(2):
            write_wav(os.path.join(broken, "audio", f"{c:03d}", f"{c:03d}{j}a_00.wav"),
                      tone(1.0, 440.0), rate=22050)
    fails(["--tree", broken, *base], 1, "fewer than two classes")
    fails(["--tree", tree, *base, "--match-fraction", "1.5"], 2, "--match-fraction")
    fails(["--tree", tree, *base, "--match-fraction", "0.5", "--match-semitones", "0"], 2,
          "--match-semitones")

    # the pitch estimate: tones with a harmonic within 0.1 semitone, none for noise or silence
    import importlib.util
    spec = importlib.util.spec_from_file_location("mix_real", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    errs = []
    for f in (41.2, 110.0, 261.6, 466.2, 1046.5, 1760.0):
        x = np.array(tone(2.0, f, 0.3), np.float32) + 0.1 * np.array(tone(2.0, 3 * f, 1.0),
                                                                     np.float32)
        p = mod.pitch(x)
        errs.append(abs(p - midi(f)) if p is not None else 99.0)
    check(max(errs) < 0.1, f"pitch of tones 41 Hz-1.76 kHz within 0.1 semitone: {errs}")
    noise = (0.2 * np.random.default_rng(1).standard_normal(44100)).astype(np.float32)
    check(mod.pitch(noise) is None and mod.pitch(np.zeros(44100, np.float32)) is None,
          "no pitch in noise or silence")

    # register-matched mixtures: every part within 2 semitones of the first, never the noise
    ptree = os.path.join(d, "pitched")
    pitched = make_pitched_tree(ptree)
    pout = os.path.join(d, "pmix")
    rc, _, err = run("--tree", ptree, "--split", "train", "--mixtures", "30", "--seed", "2",
                     "--match-fraction", "1", "--match-semitones", "2", "--out", pout)
    check(rc == 0 and "30 register-matched" in err, f"matched mixtures: {rc} {err!r}")
    with open(os.path.join(pout, "mixtures.csv")) as f:
        pm = list(csv.DictReader(f))
    within, noise_used = 0, 0
    for m in pm:
        src = m["note"][len("mixture of "):].split(" + ")
        noise_used += any(pitched[k] is None for k in src)
        notes = [pitched[k] for k in src if pitched[k] is not None]
        within += len(notes) == len(src) and max(abs(n - notes[0]) for n in notes) <= 2
    check(len(pm) == 30 and within == 30 and noise_used == 0,
          f"parts within 2 semitones of the first: {within} of {len(pm)}, noise used {noise_used}")
    rc, _, err = run("--tree", ptree, "--split", "train", "--mixtures", "30", "--seed", "2",
                     "--out", os.path.join(d, "pfree"))
    with open(os.path.join(d, "pfree", "mixtures.csv")) as f:
        notes = [[pitched[k] for k in m["note"][len("mixture of "):].split(" + ")
                  if pitched[k] is not None] for m in csv.DictReader(f)]
    spread = [max(n) - min(n) for n in notes if n]
    check(max(spread) > 2, f"without --match-fraction parts span registers: {max(spread)}")
    run("--tree", ptree, "--split", "train", "--mixtures", "30", "--seed", "2",
        "--match-fraction", "0", "--out", os.path.join(d, "pzero"))
    check(corpus_digest(os.path.join(d, "pfree")) == corpus_digest(os.path.join(d, "pzero")),
          "--match-fraction 0 gives the bytes of a run without it")
    # no two classes with a pitch: said, not looped on; pitches too far apart: said as well
    for i in range(len(CLASSES)):
        for j in range(3):
            k = f"p{i}{j}000_00"
            noise = 0.2 * np.random.default_rng(10 * i + j).standard_normal(44100)
            write_wav(os.path.join(ptree, "audio", k[:3], k + ".wav"),
                      list(np.clip(noise, -0.9, 0.9)))
    fails(["--tree", ptree, "--split", "train", "--mixtures", "5", "--seed", "1",
           "--match-fraction", "1"], 1, "clips with a pitch in fewer than two classes")
    far = os.path.join(d, "far")
    make_tree(far)  # one tone per class, a fifth or more apart
    fails(["--tree", far, "--split", "train", "--mixtures", "5", "--seed", "1",
           "--match-fraction", "1", "--match-semitones", "1"], 1,
          "no register-matched mixture found in 100000 draws in a row")

finish()
