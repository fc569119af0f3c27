#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""test_import.py: instrid-import on a tiny random EfficientAT-layout network built here (same
state_dict keys as mn04, widths of 4..24 channels), then libcore (run_model) against the
PyTorch reference (trainer/import/efficientat.py) on 2.6 s of audio: logits and probabilities
of every window within 1e-4, whatever the chunking. Then the importer's errors: a missing
file, a missing key, a wrong shape, an unexpected key, a class list of the wrong length.

usage: test_import.py INSTRID_IMPORT RUN_MODEL SOURCE_IMPORT_DIR WORKDIR
Exit status: 0 pass, 1 fail, 77 skip (PyTorch or numpy missing).
"""
import os
import subprocess
import sys

try:
    import numpy as np
    import torch
except ImportError:
    print("PyTorch or numpy missing: skipping")
    sys.exit(77)

TOLERANCE = 1e-4
N_CLASSES = 5
W, H, N_MELS = 48, 40, 32

importer, run_model, src_dir, work = sys.argv[1:5]
sys.path.insert(0, src_dir)
import efficientat as E  # noqa: E402
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from checks import check, finish  # noqa: E402

os.makedirs(work, exist_ok=True)


def tiny_state_dict(seed):
    """The mn* key layout with tiny widths: stem 4, blocks 4..16 channels, expansion x2 (none
    in block 1), squeeze 4, last conv 24, embedding 12, N_CLASSES outputs."""
    g = torch.Generator().manual_seed(seed)

    def rnd(*shape, scale=1.0):
        return torch.randn(*shape, generator=g) * scale

    sd = {}

    def conv_bn(prefix, c_out, c_in_per_group, k):
        sd[f"{prefix}.0.weight"] = rnd(c_out, c_in_per_group, k, k,
                                       scale=(2.0 / (c_in_per_group * k * k)) ** 0.5)
        sd[f"{prefix}.1.weight"] = 1.0 + 0.2 * rnd(c_out)
        sd[f"{prefix}.1.bias"] = 0.1 * rnd(c_out)
        sd[f"{prefix}.1.running_mean"] = 0.1 * rnd(c_out)
        sd[f"{prefix}.1.running_var"] = 0.5 + torch.rand(c_out, generator=g)
        sd[f"{prefix}.1.num_batches_tracked"] = torch.tensor(100)

    conv_bn("features.0", 4, 1, 3)
    outs = [4, 8, 8, 8, 8, 8, 12, 12, 12, 12, 16, 16, 16, 16, 16]
    c_in = 4
    for i, (k, stride, act, se) in enumerate(E.BLOCKS, start=1):
        c_out = outs[i - 1]
        c_exp = c_in if i == 1 else 2 * c_in
        j = 0
        pre = f"features.{i}.block"
        if c_exp != c_in:
            conv_bn(f"{pre}.0", c_exp, c_in, 1)
            j = 1
        conv_bn(f"{pre}.{j}", c_exp, 1, k)
        j += 1
        if se:
            sp = f"{pre}.{j}.conc_se_layers.0"
            sd[sp + ".fc1.weight"] = rnd(4, c_exp, scale=c_exp ** -0.5)
            sd[sp + ".fc1.bias"] = 0.1 * rnd(4)
            sd[sp + ".fc2.weight"] = rnd(c_exp, 4, scale=0.5)
            sd[sp + ".fc2.bias"] = 0.1 * rnd(c_exp)
            j += 1
        conv_bn(f"{pre}.{j}", c_out, c_exp, 1)
        c_in = c_out
    conv_bn("features.16", 24, c_in, 1)
    sd["classifier.2.weight"] = rnd(12, 24, scale=24 ** -0.5)
    sd["classifier.2.bias"] = 0.1 * rnd(12)
    sd["classifier.5.weight"] = rnd(N_CLASSES, 12, scale=12 ** -0.5)
    sd["classifier.5.bias"] = 0.1 * rnd(N_CLASSES)
    return sd


def run_import(pt, classes, out, *extra):
    return subprocess.run([importer, pt, classes, "-o", out, "--window-frames", str(W),
                           "--hop-frames", str(H), "--n-mels", str(N_MELS), *extra],
                          capture_output=True, text=True)


sd = tiny_state_dict(1)
pt = os.path.join(work, "tiny.pt")
torch.save(sd, pt)
classes = os.path.join(work, "classes.csv")
with open(classes, "w") as f:
    f.write("index,mid,display_name\n")
    for i in range(N_CLASSES):
        f.write(f'{i},/m/{i},"Class {i}, a name with a comma"\n')

# Audio: 2.8 s at 32 kHz (280 frames: windows at 0, 40, .. 200, then 40 frames flushed), a chirp plus noise, with silence in the middle.
rate = E.FRONTEND["sample_rate"]
t = np.arange(int(2.8 * rate)) / rate
x = 0.3 * np.sin(2 * np.pi * (200 + 800 * t) * t) + 0.05 * np.random.default_rng(2).standard_normal(t.size)
x[rate // 2: rate] = 0.0
x = x.astype("<f4")
raw = os.path.join(work, "audio.f32")
x.tofile(raw)

fe = dict(E.FRONTEND, n_mels=N_MELS)
net = E.describe(sd)
feat = E.log_mel(x, fe)
wins = E.windows(feat, W, H, E.silence_value(fe))
batch = torch.stack([w for _, _, w in wins])[:, None]
ref_logits, _ = E.forward(net, batch, dtype=torch.float64)
ref_logits = ref_logits.numpy()
check(len(wins) >= 5 and wins[-1][1] < W, f"reference: {len(wins)} windows, the last partial")

for mode, ref in (("logits", ref_logits), ("probabilities", 1 / (1 + np.exp(-ref_logits)))):
    model = os.path.join(work, f"tiny-{mode}.instrid")
    r = run_import(pt, classes, model, *(["--logits"] if mode == "logits" else []))
    check(r.returncode == 0, f"import ({mode}): {r.stdout.strip()} {r.stderr.strip()}")
    if r.returncode:
        continue
    for chunk in ("4096", "1", "777"):
        if chunk == "1" and mode == "probabilities":
            continue
        p = subprocess.run([run_model, model, raw, chunk], capture_output=True, text=True)
        check(p.returncode == 0, f"run_model {mode} chunk {chunk} {p.stderr.strip()}")
        if p.returncode:
            continue
        rows = [list(map(float, ln.split())) for ln in p.stdout.splitlines()]
        out = np.array([r[2:] for r in rows])
        n_frames = [int(r[1]) for r in rows]
        check(out.shape == ref.shape, f"{mode} chunk {chunk}: {out.shape} windows x classes, "
              f"reference {ref.shape}")
        if out.shape == ref.shape:
            check(n_frames == [n for _, n, _ in wins], f"{mode}: frames per window {n_frames}")
            err = float(np.abs(out - ref).max())
            check(err <= TOLERANCE, f"{mode} chunk {chunk}: max |libcore - reference| {err:.2e} "
                  f"<= {TOLERANCE:g} (values up to {np.abs(ref).max():.2f})")

# The provenance names the source file's sha256 and the licence.
import hashlib  # noqa: E402
digest = hashlib.sha256(open(pt, "rb").read()).hexdigest()
data = open(os.path.join(work, "tiny-logits.instrid"), "rb").read()
check(digest.encode() in data and b"licence of the weights: MIT" in data,
      "provenance holds the sha256 and the licence")

# Errors. The checks of the state_dict run in process (the importer calls the same
# describe()); two go through the command to see its exit status and message, and that it
# writes nothing. Each import costs a PyTorch start-up, hence so few.


def expect_format_error(what, bad, needle):
    try:
        E.describe(bad)
        msg = "no error"
    except E.FormatError as e:
        msg = str(e)
    check(needle in msg, f"{what}: {msg!r}")


bad = dict(sd)
del bad["features.7.block.1.0.weight"]
expect_format_error("missing key", bad, "missing key 'features.7.block.1.0.weight'")
bad = dict(sd)
bad["features.4.block.2.conc_se_layers.0.fc2.weight"] = torch.zeros(3, 4)
expect_format_error("wrong shape", bad, "'features.4.block.2.conc_se_layers.0.fc2.weight' has "
                    "shape (3, 4), expected (16, 4)")
bad = dict(sd)
bad["features.17.0.weight"] = torch.zeros(1)
expect_format_error("unexpected key", bad, "unexpected key 'features.17.0.weight'")
bad = dict(sd)
bad["features.0.1.running_var"] = -bad["features.0.1.running_var"]
expect_format_error("negative variance", bad, "'features.0.1.running_var' has negative values")
bad = dict(sd)
bad["classifier.5.bias"] = torch.full((N_CLASSES,), float("nan"))
expect_format_error("NaN", bad, "'classifier.5.bias' holds NaN")
bad = {k: v for k, v in sd.items() if "conc_se_layers" not in k}
expect_format_error("no squeeze-excitation", bad, "missing key 'features.4.block.2.conc_se_layers"
                    ".0.fc1.weight'")
not_pt = os.path.join(work, "not.pt")
with open(not_pt, "w") as f:
    f.write("this is not a torch file\n")
try:
    E.load_state_dict(not_pt)
    check(False, "a text file loads as a state_dict")
except Exception as e:  # noqa: BLE001 (torch raises several kinds)
    check(True, f"a text file is refused: {type(e).__name__}")


def expect_cli_error(what, path, needle, classes_path=classes):
    out = os.path.join(work, "bad.instrid")
    if os.path.exists(out):
        os.unlink(out)
    r = run_import(path, classes_path, out)
    check(r.returncode == 1 and needle in r.stderr and not os.path.exists(out),
          f"{what}: exit {r.returncode}, {r.stderr.strip()!r}")


expect_cli_error("missing file", os.path.join(work, "absent.pt"), "absent.pt: no such file")
bad = dict(sd)
del bad["features.15.block.3.1.bias"]
bad_pt = os.path.join(work, "bad.pt")
torch.save(bad, bad_pt)
expect_cli_error("missing key", bad_pt, "bad.pt: missing key 'features.15.block.3.1.bias'")
short = os.path.join(work, "short.csv")
with open(short, "w") as f:
    f.write("one\ntwo\n")
expect_cli_error("class count", pt, "2 class names, but the network has 5 outputs", short)

finish()
