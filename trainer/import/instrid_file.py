# SPDX-License-Identifier: LGPL-2.1-or-later
"""instrid_file.py — writes an instrid model file (libcore/model_file.h, versions 1 and 2) from
Python: the fixed header, class names, thresholds, provenance, layer list, tensor table, the
tensors aligned to 64 bytes and the CRC-32C trailer. libcore's reader is the judge: the import
tests load what this writes.
"""
import struct

MAGIC = b"INSTRID\x1a"
ALIGN = 64

# instrid_layer_type (libcore/instrid.h; new types as agreed in MN04-SPEC.md)
CONV2D, BATCHNORM, RELU, MAXPOOL, AVGPOOL, GLOBAL_POOL, DENSE, SIGMOID, DROPOUT = range(1, 10)
HARDSWISH, SQUEEZE_EXCITE, RESIDUAL_ADD, EMBEDDING = 10, 11, 12, 13

# tensor roles (model_file.h); each type's tensors in file order
WEIGHT, BIAS, GAMMA, BETA, RUNNING_MEAN, RUNNING_VAR = range(6)
ROLES = {
    CONV2D: (WEIGHT, BIAS),
    DENSE: (WEIGHT, BIAS),
    BATCHNORM: (GAMMA, BETA, RUNNING_MEAN, RUNNING_VAR),
    SQUEEZE_EXCITE: (WEIGHT, BIAS, WEIGHT, BIAS),
}

WINDOW_HANN = 0
MEL_KALDI = 2
LOG_ADD = 1
AXIS_BOTH = 3
POOL_MEAN = 0

MAX_CLASS_NAME = 63


def _crc32c_table():
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_TABLE = _crc32c_table()


def crc32c(data):
    """CRC-32C (Castagnoli, reflected, init and final xor 0xFFFFFFFF)."""
    crc = 0xFFFFFFFF
    t = _TABLE
    for b in memoryview(data).cast("B"):
        crc = t[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


class Layer:
    """One layer: type, integer parameters p (up to 10), float parameter f0, tensors (numpy
    float32 arrays in the type's order)."""

    def __init__(self, type_, p=(), f0=0.0, tensors=()):
        if len(p) > 10:
            raise ValueError("at most 10 integer parameters")
        self.type = type_
        self.p = list(p) + [0] * (10 - len(p))
        self.f0 = float(f0)
        self.tensors = list(tensors)
        roles = ROLES.get(type_, ())
        if len(self.tensors) != len(roles):
            raise ValueError(f"layer type {type_} takes {len(roles)} tensors, got "
                             f"{len(self.tensors)}")


def frontend_needs_v2(fe):
    return bool(fe.get("preemphasis", 0) or fe.get("window_symmetric", 0) or fe.get("center", 0)
                or fe.get("log_mode", 0) or fe.get("mel_scale", 0) == MEL_KALDI)


def model_bytes(fe, window_frames, hop_frames, class_names, thresholds, provenance, layers):
    """The whole file as bytes. fe: dict with the instrid_frontend_params fields."""
    import numpy as np

    if len(class_names) != len(thresholds):
        raise ValueError("one threshold per class")
    for n in class_names:
        b = n.encode("ascii")
        if not 1 <= len(b) <= MAX_CLASS_NAME or not n.isprintable():
            raise ValueError(f"class name {n!r}: 1..63 printable ASCII characters")
    for t in thresholds:
        if not 0.0 <= t <= 1.0:
            raise ValueError(f"threshold {t} outside [0, 1]")
    version = 2 if frontend_needs_v2(fe) else 1
    prov = (provenance or "").encode("utf-8")
    if b"\0" in prov:
        raise ValueError("provenance holds a NUL byte")
    tensors = [(li, role, np.ascontiguousarray(t, dtype="<f4"))
               for li, layer in enumerate(layers)
               for role, t in zip(ROLES.get(layer.type, ()), layer.tensors)]
    for li, role, t in tensors:
        if not 1 <= t.ndim <= 4:
            raise ValueError(f"layer {li}: tensor with {t.ndim} dimensions")
        if not np.isfinite(t).all():
            raise ValueError(f"layer {li}: tensor holds NaN or infinite values")

    var = bytearray()
    for n in class_names:
        b = n.encode("ascii")
        var += struct.pack("<B", len(b)) + b
    var += struct.pack(f"<{len(thresholds)}f", *thresholds)
    var += prov
    for layer in layers:
        var += struct.pack("<I10If", layer.type, *layer.p, layer.f0)
    header_bytes = 128 if version == 2 else 112
    table_start = header_bytes + len(var)
    table_end = table_start + 36 * len(tensors)
    data_offset = -(-table_end // ALIGN) * ALIGN
    offsets = []
    pos = data_offset
    for _, _, t in tensors:
        pos = -(-pos // ALIGN) * ALIGN
        offsets.append(pos)
        pos += t.nbytes
    file_bytes = pos + 4
    for (li, role, t), off in zip(tensors, offsets):
        dims = list(t.shape) + [0] * (4 - t.ndim)
        var += struct.pack("<7IQ", li, role, t.ndim, *dims, off)
    out = bytearray()
    out += MAGIC + struct.pack("<IIQ", version, 0, file_bytes)
    out += struct.pack("<8I6f", fe["sample_rate"], fe["n_fft"], fe["win_length"],
                       fe["hop_samples"], fe["n_mels"], fe.get("window", WINDOW_HANN),
                       fe.get("mel_scale", 0), fe.get("mel_norm", 0), fe["fmin_hz"],
                       fe["fmax_hz"], fe["power"], fe["log_floor"], fe["feature_mean"],
                       fe["feature_std"])
    out += struct.pack("<6IQ", window_frames, hop_frames, len(class_names), len(layers),
                       len(tensors), len(prov), data_offset)
    if version == 2:
        out += struct.pack("<f3I", fe.get("preemphasis", 0.0), fe.get("window_symmetric", 0),
                           fe.get("center", 0), fe.get("log_mode", 0))
    assert len(out) == header_bytes
    out += var
    assert len(out) == table_end
    for (_, _, t), off in zip(tensors, offsets):
        out += b"\0" * (off - len(out))
        out += t.tobytes()
    out += struct.pack("<I", crc32c(out))
    assert len(out) == file_bytes
    return bytes(out)
