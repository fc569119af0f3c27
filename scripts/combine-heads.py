#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""combine-heads.py — one model from two heads trained on the same frozen backbone: a head on
the embedding (instrid-train --init ... --keep-source-head) and a head on the global pool
(the same with --head-input pool). Their target classes' logits are averaged, weighted:

    logit = W * (embedding head's row . embedding) + (1 - W) * (pool head's row . pool)

which is one DENSE on the pool model's head input (the embedding's D values, then the pool's C):
the target rows get W times the embedding head's weights on the first D columns and 1 - W times
the pool head's on the last C, the bias W * b_embedding + (1 - W) * b_pool. Everything else
(the backbone, the embedding layer that passes the pool through, the source rows, a
BLEND_MAPPED layer, class names, thresholds) is the pool model's; thresholds are then chosen
anew (scripts/choose-thresholds.py). An ensemble of two linear heads on different views of one
window, at the cost of one.

    combine-heads.py --embedding-head A.instrid --pool-head B.instrid --weight W --out OUT

Both models must be that pair: the same classes, the same layers and tensors before the
embedding layer, the pool model's embedding layer the embedding model's with C identity rows
added, the same source rows; anything else is refused, naming what differs. OUT is written
whole under a temporary name and renamed. Exit status: 0 written, 1 refused, 2 usage.
"""
import argparse
import os
import struct
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "trainer", "import"))
import instrid_file as F  # noqa: E402


def fail(msg):
    print(f"combine-heads: {msg}", file=sys.stderr)
    sys.exit(1)


def load(path):
    try:
        with open(path, "rb") as f:
            return F.read_parts(f.read())
    except (OSError, ValueError) as e:
        fail(f"{path}: {e}")


def layer_types(parts):
    n = len(parts.layers) // F.LAYER_BYTES
    return [struct.unpack_from("<I", parts.layers, i * F.LAYER_BYTES)[0] for i in range(n)]


def tensors_of(parts, layer):
    return {role: np.frombuffer(d, "<f4").reshape(dims) for li, role, dims, d in parts.tensors
            if li == layer}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--embedding-head", required=True, help="the model whose head reads the "
                    "embedding")
    ap.add_argument("--pool-head", required=True, help="the model whose head reads the pool "
                    "(instrid-train --head-input pool)")
    ap.add_argument("--weight", type=float, required=True,
                    help="W in [0, 1]: the embedding head's share of the logit")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    if not 0.0 <= a.weight <= 1.0:
        ap.error(f"--weight {a.weight}: not in [0, 1]")
    E, P = load(a.embedding_head), load(a.pool_head)
    if E.class_names != P.class_names:
        fail("the two models have different classes")
    te, tp = layer_types(E), layer_types(P)
    if te != tp:
        fail("the two models have different layer lists")
    dense = [i for i, t in enumerate(tp) if t == F.DENSE]
    if len(dense) < 2:
        fail(f"{a.pool_head}: no embedding layer and head (two DENSE layers) to combine")
    emb, head = dense[-2], dense[-1]
    if any(t not in (F.HARDSWISH, F.RELU, F.EMBEDDING, F.DROPOUT) for t in tp[emb + 1:head]):
        fail(f"{a.pool_head}: layers other than activations between the embedding layer and the "
             "head")
    if (E.frontend, E.frontend_v2, E.window_frames, E.hop_frames) != \
            (P.frontend, P.frontend_v2, P.window_frames, P.hop_frames):
        fail("the two models have different front ends or windows")
    before_e = [t for t in E.tensors if t[0] < emb]
    before_p = [t for t in P.tensors if t[0] < emb]
    if before_e != before_p:
        fail("the two models differ before the embedding layer: not the same backbone")
    ee, ep = tensors_of(E, emb), tensors_of(P, emb)
    D, C = ee[0].shape
    if ep[0].shape != (D + C, C) or not np.array_equal(ep[0][:D], ee[0]) or \
            not np.array_equal(ep[1][:D], ee[1]) or \
            not np.array_equal(ep[0][D:], np.eye(C, dtype=np.float32)):
        fail(f"{a.pool_head}: its embedding layer is not the embedding model's ({D} outputs on "
             f"{C} values) with {C} identity rows added: not made by --head-input pool from it")
    he, hp = tensors_of(E, head), tensors_of(P, head)
    n_out = he[0].shape[0]
    if he[0].shape != (n_out, D) or hp[0].shape != (n_out, D + C):
        fail(f"heads of {he[0].shape} and {hp[0].shape}: not ({n_out}, {D}) and "
             f"({n_out}, {D + C})")
    # target rows: those the pool head left at zero on the embedding's columns
    targets = [k for k in range(n_out) if not hp[0][k, :D].any() and hp[0][k, D:].any()]
    if not targets or targets != list(range(len(targets))):
        fail(f"{a.pool_head}: its first rows are not a head on the pool alone")
    T = len(targets)
    if not np.array_equal(hp[0][T:, :D], he[0][T:]) or hp[0][T:, D:].any() or \
            not np.array_equal(hp[1][T:], he[1][T:]):
        fail("the source rows after the target classes differ between the two models")
    W = hp[0].copy()
    B = hp[1].copy()
    W[:T, :D] = a.weight * he[0][:T]
    W[:T, D:] = (1.0 - a.weight) * hp[0][:T, D:]
    B[:T] = a.weight * he[1][:T] + (1.0 - a.weight) * hp[1][:T]
    P.tensors = [(li, role, dims, (W if role == 0 else B).astype("<f4").tobytes())
                 if li == head and role in (0, 1) else (li, role, dims, d)
                 for li, role, dims, d in P.tensors]
    line = (f"heads: {a.weight:g} x the embedding head of {os.path.basename(a.embedding_head)} "
            f"+ {1 - a.weight:g} x the pool head of {os.path.basename(a.pool_head)} "
            f"(logits, {T} classes; scripts/combine-heads.py)")
    P.provenance = "".join(ln + "\n" for ln in P.provenance.splitlines()
                           if not ln.startswith("heads: ")) + line + "\n"
    data = F.parts_bytes(P)
    tmp = f"{a.out}.tmp.{os.getpid()}"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, a.out)
    print(f"combine-heads: {a.out}: {T} target rows, {D} embedding + {C} pool columns, weight "
          f"{a.weight:g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
