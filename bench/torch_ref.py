#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
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

from torch_arch import build


def read_model(path):
    """Returns (n_mels, window_frames, n_classes, layers, tensors) where layers is a list of
    (type, p[10], f0) and tensors[i] the list of layer i's float32 arrays in role order."""
    data = open(path, "rb").read()
    if data[:8] != b"INSTRID\x1a":
        raise ValueError("%s: not an instrid model file" % path)
    version, flags, file_bytes = struct.unpack_from("<IIQ", data, 8)
    if version not in (1, 2) or file_bytes != len(data):
        raise ValueError("%s: version %d, %d bytes announced, %d present"
                         % (path, version, file_bytes, len(data)))
    n_mels = struct.unpack_from("<I", data, 40)[0]
    window_frames, _hop, n_classes, n_layers, n_tensors, prov_bytes = \
        struct.unpack_from("<IIIIII", data, 80)
    pos = 112 if version == 1 else 128  # version 2: four front-end fields at 112..127
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
    # The tensor table lists each layer's tensors in the entry's order (SQUEEZE_EXCITE has two
    # WEIGHT/BIAS pairs, so the role alone does not order them).
    return n_mels, window_frames, n_classes, layers, [[a for _, a in t] for t in tensors]


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
            net = build(layers, n_mels, window_frames, tensors, fold_bn=fold).eval()
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
        # A TorchScript variant that disagrees is left out of the comparison (optimize_for_inference
        # has been seen to miscompute the residual adds of an mn04 network); eager must agree.
        if not name.startswith("jit"):
            ok &= agree
        print("torch %-48s %8.3f ms/window  max rel diff vs C %.2e %s"
              % (name, ms, err, "ok" if agree else "MISMATCH"))
        if agree and (best is None or ms < best[1]):
            best = (name, ms)
    if best is None:
        print("torch: no variant agrees with the C network")
        return 1
    print("torch fastest: %s, %.3f ms/window; C %.3f ms/window; ratio torch_ms / c_ms = %.2f"
          % (best[0], best[1], args.c_ms, best[1] / args.c_ms))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
