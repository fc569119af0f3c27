# SPDX-License-Identifier: LGPL-2.1-or-later
"""torch_arch.py — instrid's layer list (libcore/instrid.h) as a PyTorch module, for the
PyTorch side of the benchmarks: torch_ref.py (inference on a model file's weights) and
torch_train.py (training from PyTorch's own initialisation)."""
import torch
import torch.nn as nn

CONV2D, BATCHNORM, RELU, MAXPOOL, AVGPOOL, GLOBAL_POOL, DENSE, SIGMOID, DROPOUT = range(1, 10)
HARDSWISH, SQUEEZE_EXCITE, RESIDUAL_ADD, EMBEDDING = range(10, 14)
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


class SqueezeExcite(nn.Module):
    """SQUEEZE_EXCITE: per-channel mean, dense + ReLU, dense + sigmoid, channel scale."""

    def __init__(self, c, s):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(c, s), nn.Linear(s, c)

    def forward(self, x):
        g = torch.sigmoid(self.fc2(torch.relu(self.fc1(x.mean(dim=(2, 3))))))
        return x * g[:, :, None, None]


class LayerNet(nn.Module):
    """One module per layer, run in order; RESIDUAL_ADD (back) adds the input of layer i - back."""

    def __init__(self, mods, backs):
        super().__init__()
        self.mods = nn.ModuleList(mods)
        self.backs = backs
        self.sources = {i - b for i, b in enumerate(backs) if b}

    def forward(self, x):
        saved = {}
        for i, m in enumerate(self.mods):
            if i in self.sources:
                saved[i] = x
            x = x + saved[i - self.backs[i]] if self.backs[i] else m(x)
        return x


def _tensor(a):
    return torch.from_numpy(a.copy())


def build(layers, n_mels, frames, tensors=None, fold_bn=False, final_sigmoid=True):
    """A LayerNet for layers, a list of (type, p[10], f0), on (1, n_mels, frames) input.

    tensors: each layer's float32 arrays in role order (as in the model file) to load, or None
    to keep PyTorch's initialisation. fold_bn: with tensors, each BATCHNORM right after a conv
    is folded into it. final_sigmoid=False leaves out a SIGMOID that is the last layer (a
    training loss takes logits, as in the C trainer)."""
    mods, backs, c = [], [], 1
    h, w = n_mels, frames
    for i, (t, p, f0) in enumerate(layers):
        ts = tensors[i] if tensors is not None else None
        backs.append(p[0] if t == RESIDUAL_ADD else 0)
        if t == CONV2D:
            c_out, kh, kw, sh, sw, ph, pw, dh, dw, groups = p
            conv = nn.Conv2d(c, c_out, (kh, kw), (sh, sw), (ph, pw), (dh, dw), groups)
            if ts is not None:
                conv.weight.data, conv.bias.data = _tensor(ts[0]), _tensor(ts[1])
            mods.append(conv)
            h = (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1
            w = (w + 2 * pw - dw * (kw - 1) - 1) // sw + 1
            c = c_out
        elif t == BATCHNORM:
            skipped = any(j - b == i for j, (tt, pp, _) in enumerate(layers)
                          for b in [pp[0] if tt == RESIDUAL_ADD else 0] if b)
            if ts is not None and fold_bn and mods and isinstance(mods[-1], nn.Conv2d) \
                    and not skipped:
                gamma, beta, mean, var = (_tensor(a) for a in ts)
                conv = mods[-1]
                scale = gamma / torch.sqrt(var + f0)
                conv.weight.data = conv.weight.data * scale.reshape(-1, 1, 1, 1)
                conv.bias.data = (conv.bias.data - mean) * scale + beta
                mods.append(nn.Identity())
                continue
            bn = nn.BatchNorm2d(c, eps=f0)
            if ts is not None:
                gamma, beta, mean, var = (_tensor(a) for a in ts)
                bn.weight.data, bn.bias.data = gamma, beta
                bn.running_mean.data, bn.running_var.data = mean, var
            mods.append(bn)
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
            lin = nn.Linear(c * h * w, p[0])
            if ts is not None:
                lin.weight.data, lin.bias.data = _tensor(ts[0]), _tensor(ts[1])
            mods.append(nn.Sequential(nn.Flatten(), lin))
            c, h, w = p[0], 1, 1
        elif t == DROPOUT:
            mods.append(nn.Dropout(f0))
        elif t == SIGMOID:
            keep = final_sigmoid or i != len(layers) - 1
            mods.append(nn.Sigmoid() if keep else nn.Identity())
        elif t == HARDSWISH:
            mods.append(nn.Hardswish())
        elif t == SQUEEZE_EXCITE:
            se = SqueezeExcite(c, p[0])
            if ts is not None:
                se.fc1.weight.data, se.fc1.bias.data = _tensor(ts[0]), _tensor(ts[1])
                se.fc2.weight.data, se.fc2.bias.data = _tensor(ts[2]), _tensor(ts[3])
            mods.append(se)
        elif t in (RESIDUAL_ADD, EMBEDDING):
            mods.append(nn.Identity())
        else:
            raise ValueError("unknown layer type %d" % t)
    return LayerNet(mods, backs)
