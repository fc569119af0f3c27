#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""test_songs_eval.py: scripts/songs-eval.py on "songs" of sine tones made here, through the
element (instrid-identify) with a small model written here by trainer/import/instrid_file.py
that hears a 440 Hz tone as voice and a 1 kHz tone as piano. A song that sings where its lyrics
lines say is found in its sung windows and not in its instrumental ones; a song whose lines time
a voice that is not there has recall 0; the totals are the songs' windows added up. The window
labelling (sung, instrumental, left out near a line) and the AP on hand-made cases; a song
without an annotation, an annotation with a wrong header or a non-number, and a folder not in
the layout are named and left out or refused.

usage: test_songs_eval.py SONGS_EVAL BUILD_DIR SOURCE_IMPORT_DIR WORKDIR
Exit status: 0 pass, 1 fail, 77 skip (numpy missing).
"""
import importlib.util
import json
import os
import shutil
import subprocess
import sys

try:
    import numpy as np
except ImportError:
    print("numpy missing: skipping")
    sys.exit(77)

script, build, src_dir, work = sys.argv[1:5]
sys.path.insert(0, src_dir)
import instrid_file as F  # noqa: E402
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from checks import check, finish  # noqa: E402
from fixtures import tone, write_wav  # noqa: E402

spec = importlib.util.spec_from_file_location("songs_eval", script)
S = importlib.util.module_from_spec(spec)
spec.loader.exec_module(S)

# The labelling: half inside a line is sung; no overlap and >= margin away is instrumental.
lines = [(10.0, 14.0), (20.0, 21.0)]
check(S.window_label(11.0, 13.0, lines, 1.0) == 1, "inside a line: sung")
check(S.window_label(13.0, 15.0, lines, 1.0) == 1, "half inside: sung")
check(S.window_label(13.5, 15.5, lines, 1.0) is None, "a quarter inside: left out")
check(S.window_label(14.5, 16.0, lines, 1.0) is None, "0.5 s after a line: left out")
check(S.window_label(15.0, 17.0, lines, 1.0) == 0, "1 s after a line: instrumental")
check(S.window_label(17.0, 19.0, lines, 1.0) == 0, "1 s before the next: instrumental")
check(S.window_label(17.0, 19.5, lines, 1.0) is None, "0.5 s before the next: left out")
check(S.window_label(0.0, 2.0, lines, 0.0) == 0, "far from every line: instrumental")

# AP: mean over positives of the precision at their ranks.
check(abs(S.average_precision([1, 0, 1, 0], [0.9, 0.8, 0.7, 0.1]) - (1 + 2 / 3) / 2) < 1e-12,
      "AP of ranks 1 and 3")
check(S.average_precision([1, 1, 0], [0.3, 0.2, 0.1]) == 1.0, "AP 1 when positives lead")
check(S.average_precision([0, 0], [0.3, 0.2]) is None, "AP undefined without a positive")

shutil.rmtree(work, ignore_errors=True)
os.makedirs(work)

# The model: mean log-mel energy over a 0.4-s window per band, a dense layer whose class rows
# pick the bands of 440 Hz (voice) and 1 kHz (piano), a sigmoid; 16 kHz, 32 mels, 0.2-s hop.
RATE = 16000
N_MELS = 32
CLASSES = ["voice", "piano"]
fe = dict(sample_rate=RATE, n_fft=512, win_length=400, hop_samples=160, n_mels=N_MELS,
          fmin_hz=0.0, fmax_hz=8000.0, power=2.0, log_floor=1e-6, feature_mean=-6.0,
          feature_std=4.0)
w = np.zeros((len(CLASSES), N_MELS), dtype=np.float32)
for k, bands in enumerate([(3, 4, 5), (9, 10, 11)]):
    w[k, list(bands)] = 0.6
layers = [F.Layer(F.GLOBAL_POOL, [2, 0]),
          F.Layer(F.DENSE, [len(CLASSES)], tensors=[w, np.array([-0.5, -0.5])]),
          F.Layer(F.SIGMOID)]
model = os.path.join(work, "model.instrid")
with open(model, "wb") as f:
    f.write(F.model_bytes(fe, 40, 20, CLASSES, [0.5, 0.5], "made by test_songs_eval.py\n",
                          layers))

VOICE, PIANO = 440.0, 1000.0


def song(name, parts, line_rows, header="start_time,end_time,lyrics_line"):
    """parts: [(seconds, freq)]; line_rows: CSV rows after the header (None: no file)."""
    samples = []
    for seconds, freq in parts:
        samples += tone(seconds, freq, 0.3, RATE)
    write_wav(os.path.join(work, "set", "mp3", name + ".wav"), samples, RATE)
    if line_rows is not None:
        path = os.path.join(work, "set", "annotations", "lines", name + ".csv")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(header + "\n" + "".join(r + "\n" for r in line_rows))


# a: piano, then 3 s sung (a line from 3 to 6 s), then piano; b: lines timing a voice that is
# not there; c: no annotation; d: a wrong header; e: a line whose end is not a number.
song("a", [(3.0, PIANO), (3.0, VOICE), (3.0, PIANO)], ["3.0,6.0,la la la"])
song("b", [(9.0, PIANO)], ["3.0,6.0,la la la"])
song("c", [(2.0, VOICE)], None)
song("d", [(2.0, VOICE)], ["0.0,2.0,la"], header="begin,end,text")
song("e", [(2.0, VOICE)], ["0.0,two,la"])


def run(*args, env=None):
    return subprocess.run([sys.executable, script, "--model", model, "--build", build, *args],
                          capture_output=True, text=True, timeout=120, env=env)


r = run(os.path.join(work, "set"), "--json")
check(r.returncode == 0, f"exit {r.returncode}: {r.stderr.strip()!r}")
rep = json.loads(r.stdout) if r.returncode == 0 else {}
per = {os.path.splitext(os.path.basename(s["file"]))[0]: s for s in rep.get("per_song", [])}
check(sorted(per) == ["a", "b"], f"songs a and b evaluated, the others left out: {sorted(per)}")
for name, needle in (("c", "no annotation"), ("d", "no header start_time,end_time"),
                     ("e", "line 2: start and end are not numbers")):
    check(f"{name}.wav: {needle}" in r.stderr or f"{name}.csv: {needle}" in r.stderr,
          f"song {name} named with '{needle}': {r.stderr!r}")
if sorted(per) == ["a", "b"]:
    a, b = per["a"], per["b"]
    # 9 s, 0.4-s windows every 0.2 s: the sung ones start from 2.8 to 5.8 s, the instrumental
    # ones end by 2 s or start from 7 s.
    check(a["sung_windows"] >= 12 and a["instrumental_windows"] >= 12,
          f"a: {a['sung_windows']} sung and {a['instrumental_windows']} instrumental windows")
    check(a["recall"] >= 0.8 and a["false_reports"] == 0.0,
          f"a: voice in {a['recall']} of its sung windows, {a['false_reports']} of the others")
    check("voice" in a["summary"] and "piano" in a["summary"], f"a's summary: {a['summary']}")
    check(b["recall"] == 0.0 and b["false_reports"] == 0.0 and "voice" not in b["summary"],
          f"b: recall {b['recall']}, false reports {b['false_reports']}, {b['summary']}")
    sung = a["sung_windows"] + b["sung_windows"]
    check(rep["sung_windows"] == sung and
          rep["instrumental_windows"] == a["instrumental_windows"] + b["instrumental_windows"],
          f"totals add up: {rep['sung_windows']} {rep['instrumental_windows']}")
    check(abs(rep["recall"] - a["recall"] * a["sung_windows"] / sung) < 1e-9,
          f"overall recall {rep['recall']} is a's hits over every sung window")
    check(rep["songs_with_class"] == 1 and rep["songs"] == 2, f"{rep['songs_with_class']} of 2")
    check(0.5 < rep["ap"] < 1.0, f"AP {rep['ap']}: b's silent sung windows rank low")

# The text report says the same, with a caller's GST_PLUGIN_PATH that holds no plugin (a
# relative folder that is not there): --build's plugin comes first, so the caller's entry
# cannot hide it.
r = run(os.path.join(work, "set"),
        env=dict(os.environ, GST_PLUGIN_PATH=os.path.join("no-such-build", "gst-plugin")))
check(r.returncode == 0 and "voice: AP" in r.stdout and "2 songs" in r.stdout,
      f"text report: {r.stdout!r} {r.stderr!r}")

# Refused: a folder not in the layout, a class the model lacks, a negative margin.
os.makedirs(os.path.join(work, "empty"), exist_ok=True)
r = run(os.path.join(work, "empty"))
check(r.returncode == 2 and "not the JamendoLyrics layout" in r.stderr, f"layout: {r.stderr!r}")
r = run(os.path.join(work, "set"), "--class", "oboe")
check(r.returncode != 0 and "no class 'oboe'" in r.stderr, f"unknown class: {r.stderr!r}")
r = run(os.path.join(work, "set"), "--margin", "-1")
check(r.returncode == 2 and "--margin" in r.stderr, f"negative margin: {r.stderr!r}")

sys.exit(finish())
