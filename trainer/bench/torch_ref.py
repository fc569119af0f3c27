#!/usr/bin/python3
"""torch_ref.py — runs an instrid model file's network in PyTorch, one thread, for
instrid-bench-core: checks that PyTorch computes what libinstrid computes on the same window and
times PyTorch's fastest CPU path for the speed comparison.

Reads the model file itself (layout in libcore/model_file.h), so both sides use the very same
weights. Usage:
  torch_ref.py --model M.instrid --features F.f32 --expect OUT.f32 --c-ms 5.1 [--runs 15]
F.f32 is (n_mels, W) float32, OUT.f32 the C network's n_classes outputs for it.
Exit status 0 when every variant agrees with the C output to 1e-4, 1 otherwise.
"""
import argparse
import statistics
import struct
import sys
import time

import numpy as np
import torch

CONV2D, BATCHNORM, RELU, MAXPOOL, AVGPOOL, GLOBAL_POOL, DENSE, SIGMOID, DROPOUT = range(1, 10)
AXIS_FREQ, AXIS_TIME = 1, 2
POOL_MEAN, POOL_MAX, POOL_MEAN_MAX_CONCAT, POOL_MEAN_PLUS_MAX = range(4)


def read_model(path):
    """Returns (n_mels, window_frames, n_classes, layers, tensors) where layers is a list of
    (type, p[10], f0) and tensors[i] the list of layer i's float32 arrays in role order."""
    data = open(path, "rb").read()
    if data[:8] != b"INSTRID\x1a":
        raise ValueError("%s: not an instrid model file" % path)
    version, flags, file_bytes = struct.unpack_from("<IIQ", data, 8)
    if version != 1 or file_bytes != len(data):
        raise ValueError("%s: version %d, %d bytes announced, %d present"
                         % (path, version, file_bytes, len(data)))
    n_mels = struct.unpack_from("<I", data, 40)[0]
    window_frames, _hop, n_classes, n_layers, n_tensors, prov_bytes = \
        struct.unpack_from("<IIIIII", data, 80)
    pos = 112
    for _ in range(n_classes):
        pos += 1 + data[pos]
    pos += 4 * n_classes + prov_bytes
    layers = []
    for _ in range(n_layers):
        fields = struct.unpack_from("<11If", data, pos)
        layers.append((fields[0], list(fields[1:11]), fields[11]))
        pos += 48
    tensors = [[] for _ in range(n_layers)]
    for _ in range(n_tensors):
        layer, role, ndims, d0, d1, d2, d3, offset = struct.unpack_from("<7IQ", data, pos)
        pos += 36
        dims = [d0, d1, d2, d3][:ndims]
        count = int(np.prod(dims))
        arr = np.frombuffer(data, dtype="<f4", count=count, offset=offset).reshape(dims)
        tensors[layer].append((role, arr.astype(np.float32)))
    for t in tensors:
        t.sort(key=lambda rt: rt[0])
    return n_mels, window_frames, n_classes, layers, [[a for _, a in t] for t in tensors]


class GlobalPool(torch.nn.Module):
    def __init__(self, axes, mode):
        super().__init__()
        self.dims = [d for d, bit in ((2, AXIS_FREQ), (3, AXIS_TIME)) if axes & bit]
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


def build(layers, tensors, n_mels, window_frames, fold_bn):
    """nn.Sequential of the layers; with fold_bn, each BN after a conv is folded into it."""
    mods = []
    c, h, w = 1, n_mels, window_frames
    for (kind, p, f0), ts in zip(layers, tensors):
        if kind == CONV2D:
            c_out, kh, kw, sh, sw, ph, pw, dh, dw, groups = p
            conv = torch.nn.Conv2d(c, c_out, (kh, kw), (sh, sw), (ph, pw), (dh, dw), groups)
            conv.weight.data = torch.from_numpy(ts[0].copy())
            conv.bias.data = torch.from_numpy(ts[1].copy())
            mods.append(conv)
            c = c_out
            h = (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1
            w = (w + 2 * pw - dw * (kw - 1) - 1) // sw + 1
        elif kind == BATCHNORM:
            gamma, beta, mean, var = (torch.from_numpy(t.copy()) for t in ts)
            if fold_bn and mods and isinstance(mods[-1], torch.nn.Conv2d):
                conv = mods[-1]
                scale = gamma / torch.sqrt(var + f0)
                conv.weight.data = conv.weight.data * scale.reshape(-1, 1, 1, 1)
                conv.bias.data = (conv.bias.data - mean) * scale + beta
            else:
                bn = torch.nn.BatchNorm2d(c, eps=f0)
                bn.weight.data, bn.bias.data = gamma, beta
                bn.running_mean.data, bn.running_var.data = mean, var
                mods.append(bn)
        elif kind == RELU:
            mods.append(torch.nn.ReLU())
        elif kind in (MAXPOOL, AVGPOOL):
            kh, kw, sh, sw = p[:4]
            cls = torch.nn.MaxPool2d if kind == MAXPOOL else torch.nn.AvgPool2d
            mods.append(cls((kh, kw), (sh, sw)))
            h, w = (h - kh) // sh + 1, (w - kw) // sw + 1
        elif kind == GLOBAL_POOL:
            mods.append(GlobalPool(p[0], p[1]))
            if p[0] & AXIS_FREQ:
                h = 1
            if p[0] & AXIS_TIME:
                w = 1
            if p[1] == POOL_MEAN_MAX_CONCAT:
                c *= 2
        elif kind == DENSE:
            lin = torch.nn.Linear(c * h * w, p[0])
            lin.weight.data = torch.from_numpy(ts[0].copy())
            lin.bias.data = torch.from_numpy(ts[1].copy())
            mods += [torch.nn.Flatten(), lin]
            c, h, w = p[0], 1, 1
        elif kind == SIGMOID:
            mods.append(torch.nn.Sigmoid())
        elif kind == DROPOUT:
            mods.append(torch.nn.Dropout(f0))
        else:
            raise ValueError("unknown layer type %d" % kind)
    return torch.nn.Sequential(*mods).eval()


def time_ms(fn, x, runs):
    with torch.no_grad():
        for _ in range(3):
            fn(x)
        times = []
        for _ in range(runs):
            # CPU time of this thread, as the C side measures: with one thread PyTorch runs its
            # kernels on the caller's thread, and the machine may be shared.
            t = time.thread_time()
            y = fn(x)
            times.append((time.thread_time() - t) * 1e3)
    return statistics.median(times), y


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--features", required=True)
    ap.add_argument("--expect", required=True)
    ap.add_argument("--c-ms", type=float, required=True)
    ap.add_argument("--runs", type=int, default=15)
    args = ap.parse_args()

    torch.set_num_threads(1)
    n_mels, window_frames, n_classes, layers, tensors = read_model(args.model)
    feats = np.fromfile(args.features, dtype="<f4").reshape(1, 1, n_mels, window_frames)
    expect = np.fromfile(args.expect, dtype="<f4")
    x = torch.from_numpy(feats.copy())

    variants = []
    for fold in (False, True):
        for cl in (False, True):
            net = build(layers, tensors, n_mels, window_frames, fold)
            xin = x
            if cl:
                net = net.to(memory_format=torch.channels_last)
                xin = x.contiguous(memory_format=torch.channels_last)
            name = "eager%s%s" % (", BN folded" if fold else "", ", channels-last" if cl else "")
            variants.append((name, net, xin))
            if fold:
                try:
                    with torch.no_grad():
                        frozen = torch.jit.optimize_for_inference(
                            torch.jit.freeze(torch.jit.trace(net, xin)))
                    variants.append(("jit.freeze + optimize_for_inference%s"
                                     % (", channels-last" if cl else ""), frozen, xin))
                except Exception as e:  # noqa: BLE001 - report and go on with the others
                    print("torch: jit variant failed: %s" % e, file=sys.stderr)

    ok = True
    best = None
    for name, net, xin in variants:
        ms, y = time_ms(net, xin, args.runs)
        y = y.reshape(-1).numpy()
        err = float(np.max(np.abs(y - expect) / np.maximum(np.abs(expect), 1e-2)))
        agree = err <= 1e-4
        ok &= agree
        print("torch %-48s %8.3f ms/window  max rel diff vs C %.2e %s"
              % (name, ms, err, "ok" if agree else "MISMATCH"))
        if best is None or ms < best[1]:
            best = (name, ms)
    print("torch fastest: %s, %.3f ms/window; C %.3f ms/window; ratio torch_ms / c_ms = %.2f"
          % (best[0], best[1], args.c_ms, best[1] / args.c_ms))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
