#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""torch_train.py — the PyTorch side of instrid-bench-train: builds the same layer list as the C
trainer (passed on the command line by bench_train.c), trains it on random windows with the same
batch, AdamW and masked pos_weight BCE, and prints the median training throughput.

  torch_train.py --n-mels 64 --frames 64 --classes 25 --layers 'TYPE:p0,..,p9:f0;...'
                 --batch 64 --steps 20 --runs 5 --threads 2 [--lr 2e-3 --weight-decay 1e-2]
Last line: "windows_per_second X".
"""
import argparse
import statistics
import time

import torch
import torch.nn as nn

from torch_arch import build


def parse_layers(text):
    out = []
    for item in text.split(";"):
        t, p, f0 = item.split(":")
        out.append((int(t), [int(v) for v in p.split(",")], float(f0)))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n-mels", type=int, required=True)
    ap.add_argument("--frames", type=int, required=True)
    ap.add_argument("--classes", type=int, required=True)
    ap.add_argument("--layers", required=True)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--weight-decay", type=float, default=1e-2)
    a = ap.parse_args()

    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    net = build(parse_layers(a.layers), a.n_mels, a.frames, final_sigmoid=False)
    net.train()
    # Decay on conv and dense weights only, as the C trainer.
    decay = [m.weight for m in net.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    ids = {id(p) for p in decay}
    rest = [p for p in net.parameters() if id(p) not in ids]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": a.weight_decay},
                             {"params": rest, "weight_decay": 0.0}], lr=a.lr)
    x = torch.rand(a.batch, 1, a.n_mels, a.frames) * 2 - 1
    target = (torch.rand(a.batch, a.classes) < 0.2).float()
    mask = (torch.rand(a.batch, a.classes) < 0.75).float()
    pos_weight = torch.full((a.classes,), 3.0)
    bce = nn.BCEWithLogitsLoss(pos_weight=pos_weight, reduction="none")

    def step():
        opt.zero_grad(set_to_none=False)
        logits = net(x)
        loss = (bce(logits, target) * mask).sum() / mask.sum().clamp(min=1)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 5.0)
        opt.step()

    step()  # first-call set-up (allocator, kernels) is not training speed
    rates = []
    for _ in range(a.runs):
        t0 = time.perf_counter()
        for _ in range(a.steps):
            step()
        rates.append(a.batch * a.steps / (time.perf_counter() - t0))
    print("windows_per_second %.3f" % statistics.median(rates))


if __name__ == "__main__":
    main()
