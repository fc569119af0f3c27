#!/usr/bin/python3
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

CONV2D, BATCHNORM, RELU, MAXPOOL, AVGPOOL, GLOBAL_POOL, DENSE, SIGMOID, DROPOUT = range(1, 10)
AXIS_FREQ, AXIS_TIME = 1, 2
POOL_MEAN, POOL_MAX, POOL_MEAN_MAX_CONCAT, POOL_MEAN_PLUS_MAX = range(4)


class GlobalPool(nn.Module):
    """instrid's GLOBAL_POOL over frequency (dim 2) and/or time (dim 3), keeping the dims."""

    def __init__(self, axes, mode):
        super().__init__()
        self.dims = tuple(d for bit, d in ((AXIS_FREQ, 2), (AXIS_TIME, 3)) if axes & bit)
        self.mode = mode

    def forward(self, x):
        mean = x.mean(dim=self.dims, keepdim=True)
        if self.mode == POOL_MEAN:
            return mean
        mx = x.amax(dim=self.dims, keepdim=True)
        if self.mode == POOL_MAX:
            return mx
        if self.mode == POOL_MEAN_MAX_CONCAT:
            return torch.cat([mean, mx], dim=1)
        return mean + mx


def build(layers, n_mels, frames):
    """nn.Sequential for the layer list; the final SIGMOID is left out (the loss takes
    logits), as in the C trainer."""
    mods, c = [], 1
    h, w = n_mels, frames
    for i, (t, p, f0) in enumerate(layers):
        if t == CONV2D:
            c_out, kh, kw, sh, sw, ph, pw, dh, dw, groups = p
            mods.append(nn.Conv2d(c, c_out, (kh, kw), (sh, sw), (ph, pw), (dh, dw), groups))
            h = (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1
            w = (w + 2 * pw - dw * (kw - 1) - 1) // sw + 1
            c = c_out
        elif t == BATCHNORM:
            mods.append(nn.BatchNorm2d(c, eps=f0))
        elif t == RELU:
            mods.append(nn.ReLU())
        elif t in (MAXPOOL, AVGPOOL):
            kh, kw, sh, sw = p[:4]
            cls = nn.MaxPool2d if t == MAXPOOL else nn.AvgPool2d
            mods.append(cls((kh, kw), (sh, sw)))
            h, w = (h - kh) // sh + 1, (w - kw) // sw + 1
        elif t == GLOBAL_POOL:
            axes, mode = p[:2]
            mods.append(GlobalPool(axes, mode))
            if axes & AXIS_FREQ:
                h = 1
            if axes & AXIS_TIME:
                w = 1
            if mode == POOL_MEAN_MAX_CONCAT:
                c *= 2
        elif t == DENSE:
            mods.append(nn.Flatten())
            mods.append(nn.Linear(c * h * w, p[0]))
            c, h, w = p[0], 1, 1
        elif t == DROPOUT:
            mods.append(nn.Dropout(f0))
        elif t == SIGMOID:
            if i != len(layers) - 1:
                mods.append(nn.Sigmoid())
        else:
            raise ValueError("layer type %d" % t)
    return nn.Sequential(*mods)


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
    net = build(parse_layers(a.layers), a.n_mels, a.frames)
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
