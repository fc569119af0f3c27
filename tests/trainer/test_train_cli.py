#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""test_train_cli.py — instrid-train's command line: bad usage is one line on stderr and exit
status 2, --help documents every option it accepts."""
import os
import re
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from checks import check, finish  # noqa: E402
from fixtures import tone, write_wav  # noqa: E402

BIN = sys.argv[1]


def run(*args):
    p = subprocess.run([BIN, *args], capture_output=True, text=True, timeout=30)
    return p.returncode, p.stdout, p.stderr


def usage_error(args, must_mention):
    rc, out, err = run(*args)
    lines = err.splitlines()
    check(rc == 2, f"{args}: exit status {rc}, want 2")
    check(len(lines) == 1, f"{args}: {len(lines)} stderr lines, want 1: {err!r}")
    check(out == "", f"{args}: stdout not empty: {out!r}")
    check(must_mention in err, f"{args}: stderr does not mention {must_mention!r}: {err!r}")


with tempfile.TemporaryDirectory() as d:
    usage_error(["--bogus"], "--bogus")
    usage_error(["--musicnet", d, "--out", d + "/m.instrid", "--frobnicate", "3"], "--frobnicate")
    usage_error(["--musicnet", d + "/missing", "--out", d + "/m.instrid"], d + "/missing")
    usage_error(["--openmic", d, "--out", d + "/no/such/dir/m.instrid"], "does not exist")
    usage_error(["--musicnet", d, "--out", d + "/m.instrid", "--epochs", "zero"], "--epochs")
    usage_error(["--musicnet", d, "--out", d + "/m.instrid", "--loss", "hinge"], "hinge")
    usage_error(["--musicnet", d, "--out", d + "/m.instrid", "--arch", "nosuch"], "nosuch")
    usage_error(["--out", d + "/m.instrid"], "no data")
    usage_error(["--musicnet", d], "--out")
    usage_error(["--batch"], "--batch")
    # --out naming a folder, or a place no file can be created in, is refused at start-up (it was
    # found only when the model was written, after the whole training).
    usage_error(["--musicnet", d, "--out", d], "is a folder")
    usage_error(["--musicnet", d, "--out", d + "/"], "is a folder")
    usage_error(["--musicnet", d, "--out", "/proc/instrid-test.instrid"], "cannot create a file there")
    # Fine-tuning options: --init excludes --arch, the others need --init.
    usage_error(["--musicnet", d, "--out", d + "/m.instrid", "--init", d + "/a.instrid",
                 "--arch", "tiny"], "--arch")
    usage_error(["--musicnet", d, "--out", d + "/m.instrid", "--freeze-until", "3"], "--init")
    usage_error(["--musicnet", d, "--out", d + "/m.instrid", "--init", d + "/a.instrid",
                 "--freeze-until", "some"], "--freeze-until")
    usage_error(["--musicnet", d, "--out", d + "/m.instrid", "--init", d + "/a.instrid",
                 "--lr-backbone", "-1"], "--lr-backbone")
    # Clip-level head training: a known pooling, distillation needs the source's outputs, the
    # whole backbone frozen, and --init; a provenance note is one line.
    usage_error(["--musicnet", d, "--out", d + "/m.instrid", "--pool", "max"], "--init")
    usage_error(["--musicnet", d, "--out", d + "/m.instrid", "--init", d + "/a.instrid",
                 "--pool", "sum"], "--pool")
    usage_error(["--musicnet", d, "--out", d + "/m.instrid", "--init", d + "/a.instrid",
                 "--distill", "0.5"], "--keep-source-head")
    usage_error(["--musicnet", d, "--out", d + "/m.instrid", "--init", d + "/a.instrid",
                 "--pool", "mean", "--freeze-until", "3"], "frozen")
    usage_error(["--musicnet", d, "--out", d + "/m.instrid", "--provenance-note", "a\nb"],
                "--provenance-note")
    # The blend's mode: linear or noisy-or, and only with a blend.
    usage_error(["--musicnet", d, "--out", d + "/m.instrid", "--init", d + "/a.instrid",
                 "--keep-source-head", "--blend-source-head", "0.3", "--blend-mode", "max"],
                "--blend-mode max")
    usage_error(["--musicnet", d, "--out", d + "/m.instrid", "--init", d + "/a.instrid",
                 "--blend-mode", "noisy-or"], "--blend-mode needs --blend-source-head")
    # The loss through the blend: a blend with a head weight above 0, at a window (--pool window
    # or max; a mean-pooled logit has no one window's source outputs to blend with).
    usage_error(["--musicnet", d, "--out", d + "/m.instrid", "--init", d + "/a.instrid",
                 "--keep-source-head", "--pool", "window", "--blend-loss"],
                "--blend-loss needs --blend-source-head")
    usage_error(["--musicnet", d, "--out", d + "/m.instrid", "--init", d + "/a.instrid",
                 "--keep-source-head", "--blend-source-head", "0", "--pool", "window",
                 "--blend-loss"], "G > 0")
    usage_error(["--musicnet", d, "--out", d + "/m.instrid", "--init", d + "/a.instrid",
                 "--keep-source-head", "--blend-source-head", "0.3", "--pool", "mean",
                 "--blend-loss"], "--blend-loss needs --pool window or --pool max")
    usage_error(["--musicnet", d, "--out", d + "/m.instrid", "--init", d + "/a.instrid",
                 "--keep-source-head", "--blend-source-head", "0.3", "--blend-loss"],
                "--blend-loss needs --pool window or --pool max")
    # Standardised inputs are the clip-level trainer's (the head on the cached vectors).
    usage_error(["--musicnet", d, "--out", d + "/m.instrid", "--init", d + "/a.instrid",
                 "--keep-source-head", "--standardize"], "--standardize needs --pool or --distill")
    usage_error(["--musicnet", d, "--out", d + "/m.instrid", "--standardize", "--pool", "max"],
                "--init")
    # --frozen-eval runs the frozen layers of --freeze-until N as at inference: it needs N > 0.
    usage_error(["--musicnet", d, "--out", d + "/m.instrid", "--frozen-eval"], "--init")
    usage_error(["--musicnet", d, "--out", d + "/m.instrid", "--init", d + "/a.instrid",
                 "--frozen-eval"], "--frozen-eval needs --freeze-until N")
    usage_error(["--musicnet", d, "--out", d + "/m.instrid", "--init", d + "/a.instrid",
                 "--frozen-eval", "--freeze-until", "0"], "--frozen-eval needs --freeze-until N")
    # The head's own copy of the embedding layer: with --init, the source's outputs kept, no
    # other layer unfrozen, and window by window (the clip-level trainer's head is one DENSE).
    usage_error(["--musicnet", d, "--out", d + "/m.instrid", "--own-embedding"], "--init")
    usage_error(["--musicnet", d, "--out", d + "/m.instrid", "--init", d + "/a.instrid",
                 "--own-embedding"], "--own-embedding needs --keep-source-head")
    usage_error(["--musicnet", d, "--out", d + "/m.instrid", "--init", d + "/a.instrid",
                 "--keep-source-head", "--own-embedding", "--freeze-until", "3"],
                "exclude each other")
    usage_error(["--musicnet", d, "--out", d + "/m.instrid", "--init", d + "/a.instrid",
                 "--keep-source-head", "--own-embedding", "--pool", "max"], "--own-embedding:")
    usage_error(["--musicnet", d, "--out", d + "/m.instrid", "--init", d + "/a.instrid",
                 "--keep-source-head", "--embedding-max"], "--embedding-max needs --own-embedding")
    # The pool beside the embedding: a known input, with --init, the source's outputs kept, the
    # backbone frozen, not with the head's own embedding layer.
    usage_error(["--musicnet", d, "--out", d + "/m.instrid", "--init", d + "/a.instrid",
                 "--keep-source-head", "--head-input", "bands"], "not embedding, both or pool")
    usage_error(["--musicnet", d, "--out", d + "/m.instrid", "--head-input", "both"], "--init")
    usage_error(["--musicnet", d, "--out", d + "/m.instrid", "--init", d + "/a.instrid",
                 "--head-input", "pool"], "--head-input needs --keep-source-head")
    usage_error(["--musicnet", d, "--out", d + "/m.instrid", "--init", d + "/a.instrid",
                 "--keep-source-head", "--head-input", "both", "--freeze-until", "3"],
                "--head-input and --freeze-until exclude each other")
    usage_error(["--musicnet", d, "--out", d + "/m.instrid", "--init", d + "/a.instrid",
                 "--keep-source-head", "--head-input", "both", "--own-embedding"],
                "--head-input and --own-embedding exclude each other")
    # The head trained on cached vectors has one loss and no clipping: options it would ignore
    # are refused (--loss focal once trained exactly as without it); --loss balanced is its own.
    usage_error(["--musicnet", d, "--out", d + "/m.instrid", "--init", d + "/a.instrid",
                 "--pool", "window", "--loss", "focal"], "balanced BCE only")
    usage_error(["--musicnet", d, "--out", d + "/m.instrid", "--init", d + "/a.instrid",
                 "--vector-cache", d + "/v.bin", "--loss", "bce"], "--loss bce")
    usage_error(["--musicnet", d, "--out", d + "/m.instrid", "--init", d + "/a.instrid",
                 "--pool", "max", "--clip-norm", "1"], "--clip-norm")
    # Gain copies: a list of gains in dB, each named when wrong; with --init and the whole
    # backbone frozen (the head on its cached output).
    usage_error(["--musicnet", d, "--out", d + "/m.instrid", "--gain-copies", "-12"], "--init")
    usage_error(["--musicnet", d, "--out", d + "/m.instrid", "--init", d + "/a.instrid",
                 "--gain-copies", "-12,loud"], "'loud' is not a gain")
    usage_error(["--musicnet", d, "--out", d + "/m.instrid", "--init", d + "/a.instrid",
                 "--gain-copies", "75"], "'75' is not a gain")
    usage_error(["--musicnet", d, "--out", d + "/m.instrid", "--init", d + "/a.instrid",
                 "--gain-copies", "-12,+12", "--freeze-until", "3"],
                "--gain-copies needs the whole backbone frozen")
    check(os.listdir(d) == [], f"the start-up check left files in {d}: {os.listdir(d)}")

# More threads than decoding takes (the default on a machine with over 64 cores) still
# trains: a one-recording MusicNet tree, one epoch of the tiny architecture.
with tempfile.TemporaryDirectory() as d:
    os.makedirs(os.path.join(d, "mn", "train_labels"))
    write_wav(os.path.join(d, "mn", "train_data", "1.wav"), tone(3.0, 350.0, 0.25, 22050), 22050)
    with open(os.path.join(d, "mn", "train_labels", "1.csv"), "w") as f:
        f.write("start_time,end_time,instrument,note,start_beat,end_beat,note_value\n"
                "0,132300,41,60,0,4,Whole\n")
    rc, out, err = run("--musicnet", d + "/mn", "--out", d + "/m.instrid", "--arch", "tiny",
                       "--epochs", "1", "--threads", "100", "--quiet")
    check(rc == 0 and os.path.exists(d + "/m.instrid"),
          f"--threads 100: exit status {rc}: {err!r}")

rc, out, err = run("--help")
check(rc == 0 and err == "", f"--help: status {rc}, stderr {err!r}")
src = open(sys.argv[2]).read()
options = sorted(set(re.findall(r'\{"([a-z-]+)", (?:required|no)_argument', src)))
check(len(options) >= 20, f"found only {len(options)} options in the source")
for name in options:
    check(re.search(r"--" + re.escape(name) + r"\b", out) is not None,
          f"--help does not document --{name}")
for needle in ["default", "balanced", "focal", "--resume"]:
    check(needle in out, f"--help lacks {needle!r}")

finish()
