#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""combine-heads.py — one model from heads trained on the same frozen backbone: a head on the
embedding (instrid-train --init ... --keep-source-head) and one or more heads on the global pool
(the same with --head-input pool, e.g. one trained plainly and one with --standardize). Their
target classes' logits are averaged, weighted:

    logit = W * (embedding head's row . embedding) + sum_i W_i * (pool head i's row . pool)

which is one DENSE on the pool models' head input (the embedding's D values, then the pool's
C): the target rows get W times the embedding head's weights on the first D columns and the
W_i-weighted sum of the pool heads' on the last C, the bias likewise. Everything else (the
backbone, the embedding layer that passes the pool through, the source rows, a BLEND_MAPPED
layer, class names, thresholds, provenance) is the first pool model's; the provenance gains a
"heads:" line with the shares and, per head, its own "command:" and "training:" lines (as
"head: W x the embedding head of A.instrid: command: ..."), replacing those an earlier run
wrote; thresholds are then chosen anew (scripts/choose-thresholds.py). An ensemble of linear
heads on different views of one window, at the cost of one.

    combine-heads.py --embedding-head A.instrid --pool-head B.instrid --weight W --out OUT
    combine-heads.py --embedding-head A.instrid --pool-head B.instrid --pool-weight WB \
        --pool-head C.instrid --pool-weight WC --weight W --out OUT      (W + WB + WC = 1)

With one pool head its weight is 1 - W. Every pool model must be the embedding model's twin:
the same classes, the same layers and tensors before the embedding layer, its embedding layer
the embedding model's with C identity rows added, the same source rows and the same layers
after the head; anything else is refused, naming what differs. OUT is written whole under a
temporary name and renamed. Exit status: 0 written, 1 refused, 2 usage.
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


def pool_twin(E, P, path):
    """The head of pool model P (read from path) checked as the embedding model E's twin:
    returns (head layer, D, C, T, its head's weights and bias), or refuses."""
    if E.class_names != P.class_names:
        fail(f"{path} and the embedding model have different classes")
    te, tp = layer_types(E), layer_types(P)
    if te != tp:
        fail(f"{path} and the embedding model have different layer lists")
    dense = [i for i, t in enumerate(tp) if t == F.DENSE]
    if len(dense) < 2:
        fail(f"{path}: no embedding layer and head (two DENSE layers) to combine")
    emb, head = dense[-2], dense[-1]
    if any(t not in (F.HARDSWISH, F.RELU, F.EMBEDDING, F.DROPOUT) for t in tp[emb + 1:head]):
        fail(f"{path}: layers other than activations between the embedding layer and the head")
    if (E.frontend, E.frontend_v2, E.window_frames, E.hop_frames) != \
            (P.frontend, P.frontend_v2, P.window_frames, P.hop_frames):
        fail(f"{path} and the embedding model have different front ends or windows")
    before_e = [t for t in E.tensors if t[0] < emb]
    before_p = [t for t in P.tensors if t[0] < emb]
    if before_e != before_p:
        fail(f"{path}: differs from the embedding model before the embedding layer: not the "
             "same backbone")
    ee, ep = tensors_of(E, emb), tensors_of(P, emb)
    D, C = ee[0].shape
    if ep[0].shape != (D + C, C) or not np.array_equal(ep[0][:D], ee[0]) or \
            not np.array_equal(ep[1][:D], ee[1]) or \
            not np.array_equal(ep[0][D:], np.eye(C, dtype=np.float32)):
        fail(f"{path}: its embedding layer is not the embedding model's ({D} outputs on "
             f"{C} values) with {C} identity rows added: not made by --head-input pool from it")
    he, hp = tensors_of(E, head), tensors_of(P, head)
    n_out = he[0].shape[0]
    if he[0].shape != (n_out, D) or hp[0].shape != (n_out, D + C):
        fail(f"heads of {he[0].shape} and {hp[0].shape}: not ({n_out}, {D}) and "
             f"({n_out}, {D + C})")
    # target rows: those the pool head left at zero on the embedding's columns
    targets = [k for k in range(n_out) if not hp[0][k, :D].any() and hp[0][k, D:].any()]
    if not targets or targets != list(range(len(targets))):
        fail(f"{path}: its first rows are not a head on the pool alone")
    T = len(targets)
    if not np.array_equal(hp[0][T:, :D], he[0][T:]) or hp[0][T:, D:].any() or \
            not np.array_equal(hp[1][T:], he[1][T:]):
        fail(f"{path}: the source rows after the target classes differ from the embedding "
             "model's")
    return head, D, C, T, hp


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--embedding-head", required=True, help="the model whose head reads the "
                    "embedding")
    ap.add_argument("--pool-head", required=True, action="append",
                    help="a model whose head reads the pool (instrid-train --head-input pool); "
                    "repeatable")
    ap.add_argument("--pool-weight", type=float, action="append", default=[],
                    help="the share of the logit of the --pool-head given in the same place "
                    "(one per pool head; with one pool head, 1 - W by default)")
    ap.add_argument("--weight", type=float, required=True,
                    help="W in [0, 1]: the embedding head's share of the logit")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    if not 0.0 <= a.weight <= 1.0:
        ap.error(f"--weight {a.weight}: not in [0, 1]")
    shares = a.pool_weight or ([1.0 - a.weight] if len(a.pool_head) == 1 else [])
    if len(shares) != len(a.pool_head):
        ap.error(f"{len(a.pool_head)} pool heads and {len(a.pool_weight)} --pool-weight: one "
                 "weight per pool head")
    if any(not 0.0 <= w <= 1.0 for w in shares) or abs(a.weight + sum(shares) - 1.0) > 1e-6:
        ap.error(f"--weight {a.weight:g} and --pool-weight {', '.join(f'{w:g}' for w in shares)}: "
                 "shares in [0, 1] that add up to 1")
    E = load(a.embedding_head)
    pools = [load(p) for p in a.pool_head]
    heads = [pool_twin(E, P, path) for P, path in zip(pools, a.pool_head)]
    head, D, C, T, first = heads[0]
    P = pools[0]
    for Q, path, h in zip(pools[1:], a.pool_head[1:], heads[1:]):
        if h[:4] != heads[0][:4] or \
                [t for t in Q.tensors if t[0] != head] != [t for t in P.tensors if t[0] != head]:
            fail(f"{path}: differs from {a.pool_head[0]} outside its head's target rows")
    he = tensors_of(E, head)
    W = first[0].copy()
    B = first[1].copy()
    W[:T, :D] = a.weight * he[0][:T]
    W[:T, D:] = sum(w * h[4][0][:T, D:] for w, h in zip(shares, heads))
    B[:T] = a.weight * he[1][:T] + sum(w * h[4][1][:T] for w, h in zip(shares, heads))
    P.tensors = [(li, role, dims, (W if role == 0 else B).astype("<f4").tobytes())
                 if li == head and role in (0, 1) else (li, role, dims, d)
                 for li, role, dims, d in P.tensors]
    line = (f"heads: {a.weight:g} x the embedding head of {os.path.basename(a.embedding_head)} " +
            "".join(f"+ {w:g} x the pool head of {os.path.basename(p)} "
                    for w, p in zip(shares, a.pool_head)) +
            f"(logits, {T} classes; scripts/combine-heads.py)")
    # each head's own command and training lines: the first pool model's provenance, kept as
    # the file's, says how that head alone was trained
    said = [line]
    for share, kind, path, parts in [(a.weight, "embedding", a.embedding_head, E)] + \
            [(w, "pool", p, Q) for w, p, Q in zip(shares, a.pool_head, pools)]:
        said += [f"head: {share:g} x the {kind} head of {os.path.basename(path)}: {ln}"
                 for ln in parts.provenance.splitlines()
                 if ln.startswith(("command: ", "training: "))]
    P.provenance = "".join(ln + "\n" for ln in P.provenance.splitlines()
                           if not ln.startswith(("heads: ", "head: "))) + \
        "".join(ln + "\n" for ln in said)
    data = F.parts_bytes(P)
    tmp = f"{a.out}.tmp.{os.getpid()}"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, a.out)
    pools_said = "" if len(shares) == 1 else \
        f", pool heads {' + '.join(f'{w:g}' for w in shares)}"
    print(f"combine-heads: {a.out}: {T} target rows, {D} embedding + {C} pool columns, weight "
          f"{a.weight:g}{pools_said}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
