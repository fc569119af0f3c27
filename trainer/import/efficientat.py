# SPDX-License-Identifier: LGPL-2.1-or-later
"""efficientat.py — EfficientAT's MobileNetV3 audio taggers ("mn*", Schmid et al. 2023) read from
their PyTorch state_dict: a checked description of the network, a PyTorch reference of its
forward pass and of its front end, and the window schedule of instrid's streaming classifier.

Written from the published architecture (MobileNetV3-Large, Howard et al. 2019, Table 1, at a
width multiplier; EfficientAT's front end and classifier as its paper and sources describe
them). Used by instrid-import (the layer list it writes), by the import tests (a tiny random
network with the same key layout) and by the check scripts (scripts/check-mn04.py).

The state_dict layout (EfficientAT's nn.Sequential names):
  features.0          stem: 3x3 conv stride 2 from 1 channel, batch norm, hard-swish
  features.1..15      inverted-residual blocks, each `features.i.block.j`:
                        [1x1 expansion conv + bn + act] (absent when expansion == input)
                        depthwise kxk conv + bn + act
                        [squeeze-excitation: conc_se_layers.0.fc1 / fc2]
                        1x1 projection conv + bn (no activation)
                      plus the block's input when stride 1 and input == output channels
  features.16         1x1 conv + bn + hard-swish
  classifier.2 / .5   global mean pool, Linear, hard-swish, dropout, Linear (logits)
Every convolution is bias-free and every batch norm has eps 0.001.
"""
import math

import torch
import torch.nn.functional as F

# MobileNetV3-Large's 15 blocks: (kernel, stride, activation, squeeze-excitation). Channel
# counts are not listed: they come from the weights (they scale with the width multiplier).
BLOCKS = [
    (3, 1, "relu", False),
    (3, 2, "relu", False),
    (3, 1, "relu", False),
    (5, 2, "relu", True),
    (5, 1, "relu", True),
    (5, 1, "relu", True),
    (3, 2, "hswish", False),
    (3, 1, "hswish", False),
    (3, 1, "hswish", False),
    (3, 1, "hswish", False),
    (3, 1, "hswish", True),
    (3, 1, "hswish", True),
    (5, 2, "hswish", True),
    (5, 1, "hswish", True),
    (5, 1, "hswish", True),
]
BN_EPS = 1e-3

# EfficientAT's front end at inference (models/preprocess.py, eval mode).
FRONTEND = {
    "sample_rate": 32000,
    "preemphasis": 0.97,
    "n_fft": 1024,
    "win_length": 800,  # symmetric Hann, centred in the FFT frame
    "hop": 320,
    "n_mels": 128,
    "fmin": 0.0,
    "fmax": 15000.0,
    "log_offset": 1e-5,  # log(mel + 1e-5)
    "feature_mean": -4.5,  # (x + 4.5) / 5
    "feature_std": 5.0,
}


class FormatError(Exception):
    """The state_dict is not an EfficientAT mn* network this code understands."""


def _tensor(sd, key, shape=None, ndim=None):
    if key not in sd:
        raise FormatError(f"missing key '{key}'")
    t = sd[key]
    if not isinstance(t, torch.Tensor):
        raise FormatError(f"'{key}' is a {type(t).__name__}, not a tensor")
    if ndim is not None and t.dim() != ndim:
        raise FormatError(f"'{key}' has shape {tuple(t.shape)}, expected {ndim} dimensions")
    if shape is not None and tuple(t.shape) != tuple(shape):
        raise FormatError(f"'{key}' has shape {tuple(t.shape)}, expected {tuple(shape)}")
    if not t.is_floating_point():
        raise FormatError(f"'{key}' has dtype {t.dtype}, expected a floating-point tensor")
    if not torch.isfinite(t).all():
        raise FormatError(f"'{key}' holds NaN or infinite values")
    return t.detach().to(torch.float32).contiguous()


def _conv(sd, prefix, c_out, c_in_per_group, k):
    return _tensor(sd, prefix + ".weight", (c_out, c_in_per_group, k, k))


def _bn(sd, prefix, c):
    bn = {n: _tensor(sd, f"{prefix}.{n}", (c,))
          for n in ("weight", "bias", "running_mean", "running_var")}
    if (bn["running_var"] < 0).any():
        raise FormatError(f"'{prefix}.running_var' has negative values")
    return bn


def describe(sd):
    """Checks every key and shape of an EfficientAT mn* state_dict and returns the network as a
    dict: stem, blocks (with channels, kernel, stride, activation, se, residual), last, head.
    Raises FormatError naming the first key that is missing, unexpected or of the wrong shape."""
    if not isinstance(sd, dict):
        raise FormatError(f"expected a state_dict (a dict of tensors), got {type(sd).__name__}")
    used = set()

    class View:  # records which keys the parse reads, to report the ones left over
        def __contains__(self, k):
            return k in sd

        def __getitem__(self, k):
            used.add(k)
            return sd[k]

    v = View()
    w0 = _tensor(v, "features.0.0.weight", ndim=4)
    c0 = w0.shape[0]
    if tuple(w0.shape[1:]) != (1, 3, 3):
        raise FormatError(f"'features.0.0.weight' has shape {tuple(w0.shape)}, "
                          f"expected ({c0}, 1, 3, 3) (a 3x3 stem on a 1-channel spectrogram)")
    net = {"stem": {"weight": w0, "bn": _bn(v, "features.0.1", c0), "stride": 2, "kernel": 3},
           "blocks": []}
    c_in = c0
    for i, (k, stride, act, use_se) in enumerate(BLOCKS, start=1):
        pre = f"features.{i}.block"
        first = _tensor(v, f"{pre}.0.0.weight", ndim=4)
        j = 0
        blk = {"kernel": k, "stride": stride, "act": act, "c_in": c_in}
        if first.shape[2:] == (1, 1) and k != 1:
            c_exp = first.shape[0]
            blk["expand"] = {"weight": _conv(v, f"{pre}.0.0", c_exp, c_in, 1),
                             "bn": _bn(v, f"{pre}.0.1", c_exp)}
            j = 1
        else:
            c_exp = c_in
            blk["expand"] = None
        blk["c_exp"] = c_exp
        blk["dw"] = {"weight": _conv(v, f"{pre}.{j}.0", c_exp, 1, k),
                     "bn": _bn(v, f"{pre}.{j}.1", c_exp)}
        j += 1
        se_key = f"{pre}.{j}.conc_se_layers.0.fc1.weight"
        if se_key in v:
            if not use_se:
                raise FormatError(f"'{se_key}': block {i} of MobileNetV3 has no "
                                  f"squeeze-excitation")
            if f"{pre}.{j}.conc_se_layers.1.fc1.weight" in v:
                raise FormatError(f"'{pre}.{j}.conc_se_layers.1': squeeze-excitation over "
                                  f"frequency or time (se_dims other than 'c') is not supported")
            s = _tensor(v, se_key, ndim=2).shape[0]
            sp = f"{pre}.{j}.conc_se_layers.0"
            blk["se"] = {"w1": _tensor(v, sp + ".fc1.weight", (s, c_exp)),
                         "b1": _tensor(v, sp + ".fc1.bias", (s,)),
                         "w2": _tensor(v, sp + ".fc2.weight", (c_exp, s)),
                         "b2": _tensor(v, sp + ".fc2.bias", (c_exp,))}
            j += 1
        else:
            if use_se:
                raise FormatError(f"missing key '{se_key}' (block {i} has squeeze-excitation; "
                                  f"networks built with se_dims='none' are not supported)")
            blk["se"] = None
        pw = _tensor(v, f"{pre}.{j}.0.weight", ndim=4)
        c_out = pw.shape[0]
        blk["project"] = {"weight": _conv(v, f"{pre}.{j}.0", c_out, c_exp, 1),
                          "bn": _bn(v, f"{pre}.{j}.1", c_out)}
        blk["c_out"] = c_out
        blk["residual"] = stride == 1 and c_in == c_out
        net["blocks"].append(blk)
        c_in = c_out
    n = len(BLOCKS) + 1
    wl = _tensor(v, f"features.{n}.0.weight", ndim=4)
    c_last = wl.shape[0]
    net["last"] = {"weight": _conv(v, f"features.{n}.0", c_last, c_in, 1),
                   "bn": _bn(v, f"features.{n}.1", c_last)}
    h1 = _tensor(v, "classifier.2.weight", ndim=2)
    h2 = _tensor(v, "classifier.5.weight", ndim=2)
    net["head"] = {"w1": _tensor(v, "classifier.2.weight", (h1.shape[0], c_last)),
                   "b1": _tensor(v, "classifier.2.bias", (h1.shape[0],)),
                   "w2": _tensor(v, "classifier.5.weight", (h2.shape[0], h1.shape[0])),
                   "b2": _tensor(v, "classifier.5.bias", (h2.shape[0],))}
    net["n_classes"] = h2.shape[0]
    net["embedding_size"] = h1.shape[0]
    unexpected = sorted(k for k in sd if k not in used and not k.endswith("num_batches_tracked"))
    if unexpected:
        more = f" (and {len(unexpected) - 1} more)" if len(unexpected) > 1 else ""
        raise FormatError(f"unexpected key '{unexpected[0]}'{more}: not an EfficientAT mn* "
                          f"network with the MLP head")
    return net


def load_state_dict(path):
    """torch.load with weights_only=True (never runs code from the file); unwraps a
    {'state_dict': ...} or {'model': ...} checkpoint."""
    sd = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(sd, dict) and "features.0.0.weight" not in sd:
        for k in ("state_dict", "model"):
            if isinstance(sd.get(k), dict):
                return sd[k]
    return sd


# --------------------------------------------------------------------------------------------
# Forward pass (PyTorch, eval mode: batch norm with running statistics, no dropout)


def hardswish(x):
    return x * torch.clamp(x + 3.0, 0.0, 6.0) / 6.0


def _act(x, act):
    return torch.relu(x) if act == "relu" else hardswish(x)


def _conv_bn(x, part, stride=1, groups=1, dtype=torch.float32):
    w = part["weight"].to(dtype)
    k = w.shape[-1]
    y = F.conv2d(x, w, None, stride, (k - 1) // 2, 1, groups)
    bn = {n: t.to(dtype) for n, t in part["bn"].items()}
    return F.batch_norm(y, bn["running_mean"], bn["running_var"], bn["weight"], bn["bias"],
                        False, 0.0, BN_EPS)


def forward(net, x, dtype=torch.float32):
    """x: (B, 1, n_mels, T) normalised log-mel features. Returns (logits (B, n_classes),
    embedding (B, embedding_size): the hard-swish output before the last Linear)."""
    x = x.to(dtype)
    x = hardswish(_conv_bn(x, net["stem"], stride=2, dtype=dtype))
    for b in net["blocks"]:
        inp = x
        if b["expand"] is not None:
            x = _act(_conv_bn(x, b["expand"], dtype=dtype), b["act"])
        x = _act(_conv_bn(x, b["dw"], stride=b["stride"], groups=b["c_exp"], dtype=dtype),
                 b["act"])
        if b["se"] is not None:
            se = {n: t.to(dtype) for n, t in b["se"].items()}
            s = x.mean(dim=(2, 3))
            h = torch.relu(s @ se["w1"].T + se["b1"])
            g = torch.sigmoid(h @ se["w2"].T + se["b2"])  # EfficientAT: logistic gate
            x = x * g[:, :, None, None]
        x = _conv_bn(x, b["project"], dtype=dtype)
        if b["residual"]:
            x = x + inp
    x = hardswish(_conv_bn(x, net["last"], dtype=dtype))
    pooled = x.mean(dim=(2, 3))
    hd = {n: t.to(dtype) for n, t in net["head"].items()}
    emb = hardswish(pooled @ hd["w1"].T + hd["b1"])
    return emb @ hd["w2"].T + hd["b2"], emb


# --------------------------------------------------------------------------------------------
# Front end


def kaldi_mel_banks(n_mels, n_fft, sample_rate, fmin, fmax, dtype=torch.float64):
    """(n_mels, n_fft/2 + 1) triangles on the Kaldi mel scale 1127 ln(1 + f/700), equally
    spaced in mel between fmin and fmax, evaluated at the FFT bins 0..n_fft/2-1 (the Nyquist
    bin gets weight 0), no normalisation: what torchaudio.compliance.kaldi.get_mel_banks gives
    (without VTLN), padded with a zero Nyquist column as EfficientAT does."""
    def mel(f):
        return 1127.0 * torch.log(1.0 + f / 700.0)

    half = n_fft // 2
    lo, hi = mel(torch.tensor(fmin, dtype=dtype)), mel(torch.tensor(fmax, dtype=dtype))
    delta = (hi - lo) / (n_mels + 1)
    b = torch.arange(n_mels, dtype=dtype)[:, None]
    left, centre, right = lo + b * delta, lo + (b + 1) * delta, lo + (b + 2) * delta
    m = mel(torch.arange(half, dtype=dtype) * (sample_rate / n_fft))[None, :]
    w = torch.clamp(torch.minimum((m - left) / (centre - left), (right - m) / (right - centre)),
                    min=0.0)
    return torch.cat([w, torch.zeros(n_mels, 1, dtype=dtype)], dim=1)


def log_mel(samples, fe=FRONTEND, pad_end=True, dtype=torch.float64):
    """Normalised log-mel features (n_mels, T) of mono samples at fe['sample_rate'], as
    EfficientAT's preprocessing computes them: pre-emphasis (the first sample only primes the
    filter: an unpadded conv1d), reflect padding of n_fft/2 at the start and, with pad_end, at
    the end (torch.stft(center=True)), T = 1 + (N - 1) // hop frames. That is also what
    instrid's streaming front end gives for a whole stream (its end-of-stream flush reflects
    the end the same way); pad_end=False gives only the frames a stream has before its end."""
    x = torch.as_tensor(samples).to(dtype).flatten()
    a = fe["preemphasis"]
    y = x[1:] - a * x[:-1] if a else x
    n_fft, hop, wl = fe["n_fft"], fe["hop"], fe["win_length"]
    half = n_fft // 2
    if y.numel() <= half:
        raise ValueError(f"need more than {half + 1} samples for reflect padding")
    if pad_end:
        y = torch.cat([y[1:half + 1].flip(0), y, y[-half - 1:-1].flip(0)])
    else:
        y = torch.cat([y[1:half + 1].flip(0), y])
    n_frames = (y.numel() - n_fft) // hop + 1
    frames = y.unfold(0, n_fft, hop)[:n_frames]
    win = torch.zeros(n_fft, dtype=dtype)
    off = (n_fft - wl) // 2
    # symmetric Hann: 0.5 - 0.5 cos(2 pi n / (N - 1))
    n = torch.arange(wl, dtype=dtype)
    win[off:off + wl] = 0.5 - 0.5 * torch.cos(2.0 * math.pi * n / (wl - 1))
    spec = torch.fft.rfft(frames * win, dim=1)
    power = spec.real ** 2 + spec.imag ** 2
    banks = kaldi_mel_banks(fe["n_mels"], n_fft, fe["sample_rate"], fe["fmin"], fe["fmax"],
                            dtype)
    mel = power @ banks.T  # (T, n_mels)
    feat = (torch.log(mel + fe["log_offset"]) - fe["feature_mean"]) / fe["feature_std"]
    return feat.T.contiguous()


def silence_value(fe=FRONTEND):
    return (math.log(fe["log_offset"]) - fe["feature_mean"]) / fe["feature_std"]


def windows(features, window_frames, hop_frames, silence):
    """instrid's window schedule over a stream of T frames (libcore/stream.c and the element's
    end of stream): full windows at frames 0, H, 2H, ...; then, at the end, the frames after
    the last window's start + H are analysed as one window padded with silence when at least
    half a window of them arrived (plus W - H when a window came before and H < W; any frame
    at all when no window came before).
    Returns a list of (start_frame, n_real, window (n_mels, W))."""
    n_mels, T = features.shape
    W, H = window_frames, hop_frames
    out = []
    s = 0
    while s + W <= T:
        out.append((s, W, features[:, s:s + W]))
        s += H
    min_frames = (W + 1) // 2 if out else 1
    if out and H < W:
        min_frames += W - H
    if out:
        s = out[-1][0] + H
    n_real = min(T - s, W) if T > s else 0
    if n_real >= min_frames and min_frames <= W:
        win = torch.full((n_mels, W), silence, dtype=features.dtype)
        win[:, :n_real] = features[:, s:s + n_real]
        out.append((s, n_real, win))
    return out
