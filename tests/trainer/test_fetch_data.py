#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""test_fetch_data.py — scripts/fetch-data on a git repository and a manifest made here: clips
silence-trimmed and cut, labels with every class known (or only the clip's class), non-music
negative for every class, validation held out by path, validation.csv, the SFZ export, resuming,
and the messages for a missing mirror and a bad manifest. Skips (77) without numpy or PyGObject.
"""
import os
import subprocess
import sys
import tempfile
import wave

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from checks import check, finish  # noqa: E402
from fixtures import tone, write_wav  # noqa: E402
from fetch_data_util import MANIFEST_DEFAULTS, run, skip_without_dependencies  # noqa: E402

skip_without_dependencies()


def git(repo, *args):
    return subprocess.run(["git", "-C", repo, *args], check=True, capture_output=True,
                          text=True).stdout.strip()


def wav_seconds(path):
    with wave.open(path, "rb") as w:
        return w.getnframes() / w.getframerate()


with tempfile.TemporaryDirectory() as d:
    repo = os.path.join(d, "mirrors", "someone+lib")
    os.makedirs(repo)
    git(repo, "init", "-q")
    # a note: 0.5 s silence, 1 s of 440 Hz, 0.5 s silence -> trimmed to about 1 s
    write_wav(f"{repo}/notes/a4.wav", tone(0.5, 0) + tone(1.0, 440) + tone(0.5, 0))
    write_wav(f"{repo}/notes/held/b4.wav", tone(1.0, 494))  # held out by path
    write_wav(f"{repo}/noise/rain.wav", tone(25.0, 3000, 0.2))  # 25 s of "non-music"
    write_wav(f"{repo}/band/song.wav", tone(2.0, 330, 0.4))  # voice known, the rest not
    with open(f"{repo}/lib.sfz", "w") as f:
        f.write("<region> sample=notes/a4.wav pitch_keycenter=69\n")
    with open(f"{repo}/README", "w") as f:
        f.write("not audio\n")
    git(repo, "add", "-A")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "samples")
    commit = git(repo, "rev-parse", "HEAD")
    manifest = os.path.join(d, "sources.toml")
    with open(manifest, "w") as f:
        f.write(MANIFEST_DEFAULTS + f"""
[[source]]
name = "lib"
kind = "github"
repo = "someone/lib"
commit = "{commit}"
paths = ["notes/*.wav", "notes/*/*.wav"]
class = "flute"
roles = [["notes/held/*", "validation"]]
licence = "CC0-1.0"
role = "train"
sfz = ["lib.sfz"]

[[source]]
name = "rain"
kind = "github"
repo = "someone/lib"
commit = "{commit}"
paths = ["noise/*.wav"]
class = "none"
cut = "phrases"
licence = "CC0-1.0"
role = "validation"

[[source]]
name = "band"
kind = "github"
repo = "someone/lib"
commit = "{commit}"
paths = ["band/*.wav"]
class = "voice"
known = "class"
licence = "CC-BY-NC-4.0"
ship = false
role = "train"
""")
    out = os.path.join(d, "out")
    rc, so, se = run("--manifest", manifest, "--mirrors", os.path.join(d, "mirrors"),
                     "--out", out)
    check(rc == 0, f"first run: rc {rc}: {se}")
    real = os.path.join(out, "real")
    rows = {}
    for name in ("lib", "rain", "band"):
        p = os.path.join(real, "sources", name + ".csv")
        check(os.path.exists(p), f"{p} written")
        if os.path.exists(p):
            with open(p) as f:
                for line in f:
                    if not line.startswith("#"):
                        key, origin, cls, role, secs = line.rstrip("\n").split("\t")
                        rows[origin] = (key, cls, role, float(secs))
    a4 = rows.get("notes/a4.wav")
    check(a4 and a4[1:3] == ("flute", "train") and abs(a4[3] - 1.0) < 0.03,
          f"a4 trimmed to its second of sound: {a4}")
    b4 = rows.get("notes/held/b4.wav")
    check(b4 and b4[2] == "validation", f"held-out path: {b4}")
    rain = [v for k, v in rows.items() if k == "noise/rain.wav"]
    check(len(rain) == 1, "rain: one origin row per clip... " + str(rain))
    rain_clips = sorted(k for k in os.listdir(os.path.join(real, "audio", rain[0][0][:3]))
                        if k.startswith(rain[0][0][:12])) if rain else []
    check(len(rain_clips) == 3, f"25 s of phrases -> 3 clips: {rain_clips}")
    if a4:
        wav = os.path.join(real, "audio", a4[0][:3], a4[0] + ".wav")
        check(os.path.exists(wav) and abs(wav_seconds(wav) - 1.0) < 0.03, f"{wav}")
    with open(os.path.join(real, "openmic-2018-aggregated-labels.csv")) as f:
        labels = f.read().splitlines()
    check(labels[0] == "sample_key,instrument,relevance,num_responses", labels[0])
    if a4:
        mine = [l for l in labels if l.startswith(a4[0] + ",")]
        check(len(mine) == 25 and f"{a4[0]},flute,1.0,1" in mine and
              f"{a4[0]},piano,0.0,1" in mine, f"a note: every class known: {mine[:3]}")
    band = rows.get("band/song.wav")
    if band:
        mine = [l for l in labels if l.startswith(band[0] + ",")]
        check(mine == [f"{band[0]},voice,1.0,1"], f"known = class: {mine}")
    if rain:
        mine = [l for l in labels if l.startswith(rain[0][0][:12])]
        check(len(mine) == 75 and all(l.endswith(",0.0,1") for l in mine),
              f"non-music: negative for every class: {len(mine)}")
    with open(os.path.join(real, "partitions", "split01_test.csv")) as f:
        test = f.read().split()
    check(b4 and b4[0] in test and a4 and a4[0] not in test, "partitions follow the roles")
    with open(os.path.join(real, "validation.csv")) as f:
        val = f.read().splitlines()
    check(val[0] == "path,labels,kind,note" and len(val) == 1 + 1 + 3,
          f"validation.csv: the held-out note and 3 rain clips: {val}")
    check(any(l.startswith(f"audio/{b4[0][:3]}/{b4[0]}.wav,flute,") for l in val) if b4 else 0,
          "validation.csv row of the note")
    check(any(",,real non-music," in l for l in val), "a non-music row has no labels")
    with open(os.path.join(real, "summary.txt")) as f:
        summary = f.read()
    check("flute" in summary and "none (non-music)" in summary, summary)
    with open(os.path.join(out, "sfz", "lib.args")) as f:
        args = f.read().strip()
    check(args == f"--sfz flute={out}/sfz/lib/lib.sfz", f"sfz args: {args}")
    check(os.path.exists(f"{out}/sfz/lib/notes/a4.wav"), "sfz samples exported")

    # Resuming: nothing is decoded again.
    rc, so, se = run("--manifest", manifest, "--mirrors", os.path.join(d, "mirrors"),
                     "--out", out)
    check(rc == 0 and so.count("up to date") == 3, f"second run: {so} {se}")
    # --shippable leaves the non-commercial source out of the tables.
    rc, so, se = run("--manifest", manifest, "--mirrors", os.path.join(d, "mirrors"),
                     "--out", out, "--shippable")
    with open(os.path.join(real, "openmic-2018-aggregated-labels.csv")) as f:
        check(band and band[0] not in f.read(), "--shippable drops ship = false sources")

    # A missing mirror is named, the command fails, the others are still done.
    rc, so, se = run("--manifest", manifest, "--mirrors", os.path.join(d, "nothing"),
                     "--out", out)
    check(rc != 0 and "no such folder" in se, f"missing mirrors folder: {rc} {se}")
    os.makedirs(os.path.join(d, "empty"))
    rc, so, se = run("--manifest", manifest, "--mirrors", os.path.join(d, "empty"),
                     "--out", os.path.join(d, "out2"))
    check(rc == 1 and "no mirror or clone of someone/lib" in se and "fetch it first" in se,
          f"missing mirror: {rc} {se}")
    # A bad manifest says which source and what.
    bad = os.path.join(d, "bad.toml")
    with open(bad, "w") as f:
        f.write('[[source]]\nname = "x"\nkind = "github"\nrepo = "a/b"\ncommit = "0"\n'
                'paths = ["*"]\nclass = "kazoo"\nlicence = "?"\nrole = "train"\n')
    rc, so, se = run("--manifest", bad, "--out", out)
    check(rc != 0 and "source 1 (x)" in se and "'kazoo' is not in the taxonomy" in se,
          f"bad class: {se}")

finish()
