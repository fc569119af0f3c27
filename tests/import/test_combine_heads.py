#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""test_combine_heads.py: scripts/combine-heads.py on a pair of small models written here with
trainer/import/instrid_file.py, shaped as instrid-train writes them: an embedding model (pool ->
DENSE 6 -> HARDSWISH -> DENSE head of 3 target and 2 source rows) and its pool twin (the
embedding layer with 32 identity rows added, bias 3; the target rows on the pool's columns
only). The combined model holds W x the embedding head's target rows and (1 - W) x the pool
head's, the source rows and every other tensor unchanged, one provenance line with the shares
and each head's own command and training lines; through the element (instrid-identify) its
target logits are W and 1 - W of the two models' in every window. With a second pool head and --pool-weight shares the rows and logits
are the three-way weighted sums. Pairs that are not such twins, a weight outside [0, 1], shares
that do not add up to 1 or are not one per pool head, and pool heads that differ outside their
target rows are refused.

usage: test_combine_heads.py COMBINE_HEADS BUILD_DIR SOURCE_IMPORT_DIR WORKDIR
Exit status: 0 pass, 1 fail, 77 skip (numpy missing).
"""
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

shutil.rmtree(work, ignore_errors=True)
os.makedirs(work)

RATE, N_MELS, D, T = 16000, 32, 6, 3
C = N_MELS
CLASSES = ["flute", "piano", "violin", "Speech", "Music"]
fe = dict(sample_rate=RATE, n_fft=512, win_length=400, hop_samples=160, n_mels=N_MELS,
          fmin_hz=0.0, fmax_hz=8000.0, power=2.0, log_floor=1e-6, feature_mean=-6.0,
          feature_std=4.0)
rng = np.random.default_rng(5)
We = (0.3 * rng.standard_normal((D, C))).astype(np.float32)
be = (0.1 * rng.standard_normal(D)).astype(np.float32)
He = (0.15 * rng.standard_normal((len(CLASSES), D))).astype(np.float32)
hb = (0.2 * rng.standard_normal(len(CLASSES))).astype(np.float32)
Hp = np.zeros((len(CLASSES), D + C), np.float32)
Hp[:T, D:] = 0.2 * rng.standard_normal((T, C))
Hp[T:, :D] = He[T:]
hbp = hb.copy()
hbp[:T] = 0.2 * rng.standard_normal(T)


def model(path, e_w, e_b, h_w, h_b, classes=CLASSES, how="made by test_combine_heads.py"):
    layers = [F.Layer(F.GLOBAL_POOL, [2, 0]),  # mean over time: 32 values
              F.Layer(F.DENSE, [e_w.shape[0]], tensors=[e_w, e_b]),
              F.Layer(F.HARDSWISH), F.Layer(F.EMBEDDING),
              F.Layer(F.DENSE, [h_w.shape[0]], tensors=[h_w, h_b]), F.Layer(F.SIGMOID)]
    with open(path, "wb") as f:
        f.write(F.model_bytes(fe, 40, 20, classes, [0.5] * len(classes),
                              how + "\n", layers))


emb_model, pool_model = os.path.join(work, "emb.instrid"), os.path.join(work, "pool.instrid")
model(emb_model, We, be, He, hb, how="command: train EMB\nwritten: then\ntraining: lr 1e-3")
Wp = np.concatenate([We, np.eye(C, dtype=np.float32)])
bp = np.concatenate([be, np.full(C, 3.0, np.float32)])
model(pool_model, Wp, bp, Hp, hbp, how="command: train POOL\ntraining: lr 3e-3")
out = os.path.join(work, "both.instrid")


def run(*args, emb=emb_model, pool=pool_model):
    return subprocess.run([sys.executable, script, "--embedding-head", emb, "--pool-head", pool,
                           "--out", out, *args], capture_output=True, text=True, timeout=60)


def tensors(path):
    p = F.read_parts(open(path, "rb").read())
    return p, {(li, role): np.frombuffer(d, "<f4").reshape(dims) for li, role, dims, d in p.tensors}


WEIGHT = 0.7
r = run("--weight", str(WEIGHT))
check(r.returncode == 0 and "3 target rows, 6 embedding + 32 pool columns" in r.stdout,
      f"combined: exit {r.returncode}, {r.stdout.strip()!r} {r.stderr.strip()!r}")
if r.returncode == 0:
    parts, t = tensors(out)
    pparts, tp = tensors(pool_model)
    w, b = t[(4, 0)], t[(4, 1)]
    check(np.allclose(w[:T, :D], WEIGHT * He[:T]) and np.allclose(w[:T, D:], (1 - WEIGHT) * Hp[:T, D:]) and
          np.allclose(b[:T], WEIGHT * hb[:T] + (1 - WEIGHT) * hbp[:T]),
          "target rows: W x the embedding head's, (1 - W) x the pool head's, the biases alike")
    check(np.array_equal(w[T:], Hp[T:]) and np.array_equal(b[T:], hbp[T:]), "source rows kept")
    check(all(np.array_equal(v, tp[k]) for k, v in t.items() if k[0] != 4),
          "every tensor before the head is the pool model's")
    lines = [ln for ln in parts.provenance.splitlines() if ln.startswith("heads: ")]
    check(lines == ["heads: 0.7 x the embedding head of emb.instrid + 0.3 x the pool head of "
                    "pool.instrid (logits, 3 classes; scripts/combine-heads.py)"],
          f"one provenance line: {lines}")
    check([ln for ln in parts.provenance.splitlines() if ln.startswith(("head: ", "command: "))] ==
          ["command: train POOL",
           "head: 0.7 x the embedding head of emb.instrid: command: train EMB",
           "head: 0.7 x the embedding head of emb.instrid: training: lr 1e-3",
           "head: 0.3 x the pool head of pool.instrid: command: train POOL",
           "head: 0.3 x the pool head of pool.instrid: training: lr 3e-3"],
          f"each head's command and training: {parts.provenance!r}")
    check(parts.class_names == CLASSES and parts.thresholds == pparts.thresholds,
          "classes and thresholds: the pool model's")

    # Through the element: the combined target logits are W and 1 - W of the two models'.
    clip = os.path.join(work, "tone.wav")
    write_wav(clip, tone(1.0, 440.0, 0.3, RATE) + tone(1.0, 1200.0, 0.3, RATE), RATE)
    env = dict(os.environ, GST_PLUGIN_PATH=os.path.join(build, "gst-plugin"))

    def logits(path):
        """Each window's logits and how far the 4 printed decimals leave each from the truth."""
        p = subprocess.run([os.path.join(build, "tools", "identify", "instrid-identify"),
                            "--json", "-m", path, clip], capture_output=True, text=True,
                           env=env, timeout=60)
        ws = json.loads(p.stdout)[0]["windows"] if p.returncode == 0 else []
        q = np.clip(np.array([w["probabilities"] for w in ws]), 1e-4, 1 - 1e-4)
        return np.log(q / (1 - q)), 6e-5 / (q * (1 - q))

    (le, ue), (lp, up), (lc, uc) = logits(emb_model), logits(pool_model), logits(out)
    ok = len(lc) >= 5 and le.shape == lp.shape == lc.shape
    if ok:
        diff = np.abs(lc - (WEIGHT * le + (1 - WEIGHT) * lp))[:, :T]
        slack = (WEIGHT * ue + (1 - WEIGHT) * up + uc)[:, :T]
        ok = bool((diff <= slack).all()) and float(slack.max()) < 0.02
    check(ok, f"{len(lc)} windows: combined logits = W and 1 - W of the two models', within "
          f"the printed precision")
    check(len(lc) and bool((np.abs(lc - le)[:, T:] <= (ue + uc)[:, T:]).all()),
          "source outputs unchanged")

    # Two pool heads (one plain, one standardised, say): 0.6 / 0.25 / 0.15 of the three logits.
    Hp2 = Hp.copy()
    Hp2[:T, D:] = 0.2 * rng.standard_normal((T, C))
    hbp2 = hbp.copy()
    hbp2[:T] = 0.2 * rng.standard_normal(T)
    pool2 = os.path.join(work, "pool2.instrid")
    model(pool2, Wp, bp, Hp2, hbp2, how="command: train POOL2 --standardize")
    r = run("--weight", "0.6", "--pool-weight", "0.25", "--pool-head", pool2, "--pool-weight",
            "0.15")
    check(r.returncode == 0 and "pool heads 0.25 + 0.15" in r.stdout,
          f"three heads: exit {r.returncode}, {r.stdout.strip()!r} {r.stderr.strip()!r}")
    if r.returncode == 0:
        parts3, t3 = tensors(out)
        w3, b3 = t3[(4, 0)], t3[(4, 1)]
        check(np.allclose(w3[:T, :D], 0.6 * He[:T]) and
              np.allclose(w3[:T, D:], 0.25 * Hp[:T, D:] + 0.15 * Hp2[:T, D:]) and
              np.allclose(b3[:T], 0.6 * hb[:T] + 0.25 * hbp[:T] + 0.15 * hbp2[:T]) and
              np.array_equal(w3[T:], Hp[T:]), "three heads: rows 0.6, 0.25 and 0.15 of theirs")
        lines = [ln for ln in parts3.provenance.splitlines() if ln.startswith("heads: ")]
        check(lines == ["heads: 0.6 x the embedding head of emb.instrid + 0.25 x the pool head of "
                        "pool.instrid + 0.15 x the pool head of pool2.instrid (logits, 3 "
                        "classes; scripts/combine-heads.py)"], f"three heads' line: {lines}")
        heads = [ln for ln in parts3.provenance.splitlines() if ln.startswith("head: ")]
        check(heads[-1] == "head: 0.15 x the pool head of pool2.instrid: command: train POOL2 "
              "--standardize" and len(heads) == 5, f"three heads' own lines: {heads}")
        (l2, u2), (l3, u3) = logits(pool2), logits(out)
        ok = len(l3) == len(le) and len(l3) >= 5
        if ok:
            diff = np.abs(l3 - (0.6 * le + 0.25 * lp + 0.15 * l2))[:, :T]
            ok = bool((diff <= (0.6 * ue + 0.25 * up + 0.15 * u2 + u3)[:, :T]).all())
        check(ok, "three heads through the element: the weighted sum of the three models' logits")
    # Shares that do not add up to 1, or not one per pool head; a second pool model that is
    # not the first one's twin outside its head (the identity rows' bias).
    r = run("--weight", "0.6", "--pool-weight", "0.3", "--pool-head", pool2, "--pool-weight",
            "0.3")
    check(r.returncode == 2 and "add up to 1" in r.stderr, f"sum 1.2: {r.stderr.strip()!r}")
    r = run("--weight", "0.6", "--pool-weight", "0.4", "--pool-head", pool2)
    check(r.returncode == 2 and "one weight per pool head" in r.stderr,
          f"one weight for two heads: {r.stderr.strip()!r}")
    model(pool2, Wp, np.concatenate([be, np.full(C, 2.0, np.float32)]), Hp2, hbp2)
    r = run("--weight", "0.6", "--pool-weight", "0.2", "--pool-head", pool2, "--pool-weight",
            "0.2")
    check(r.returncode == 1 and "outside its head's target rows" in r.stderr,
          f"pool twins differ elsewhere: {r.stderr.strip()!r}")

    # Run again: the provenance line is replaced, not repeated.
    shutil.copy(out, pool_model + ".again")
    r = run("--weight", "0.5", pool=pool_model + ".again")
    check(r.returncode != 0 and "not a head on the pool alone" in r.stderr,
          f"a combined model is no pool head: {r.stderr.strip()!r}")

# Refused: a weight outside [0, 1]; different classes; a pool model without identity rows; a
# pool model whose target rows read the embedding; different backbones.
r = run("--weight", "1.5")
check(r.returncode == 2 and "--weight" in r.stderr, f"weight 1.5: {r.stderr.strip()!r}")
other = os.path.join(work, "other.instrid")
model(other, Wp, bp, Hp, hbp, classes=["oboe"] + CLASSES[1:])
r = run("--weight", "0.5", pool=other)
check(r.returncode == 1 and "different classes" in r.stderr, f"classes: {r.stderr.strip()!r}")
model(other, np.concatenate([We, 2 * np.eye(C, dtype=np.float32)]), bp, Hp, hbp)
r = run("--weight", "0.5", pool=other)
check(r.returncode == 1 and "identity rows" in r.stderr, f"no identity: {r.stderr.strip()!r}")
bad = Hp.copy()
bad[0, 0] = 0.5
model(other, Wp, bp, bad, hbp)
r = run("--weight", "0.5", pool=other)
check(r.returncode == 1 and "not a head on the pool alone" in r.stderr,
      f"target rows on the embedding: {r.stderr.strip()!r}")
model(other, Wp + 0.01, bp, Hp, hbp)
r = run("--weight", "0.5", pool=other)
check(r.returncode == 1 and "identity rows" in r.stderr, f"another embedding layer: "
      f"{r.stderr.strip()!r}")
r = run("--weight", "0.5", pool=os.path.join(work, "missing.instrid"))
check(r.returncode == 1 and "missing.instrid" in r.stderr, f"missing file: {r.stderr.strip()!r}")

sys.exit(finish())
