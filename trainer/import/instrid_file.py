# SPDX-License-Identifier: LGPL-2.1-or-later
"""instrid_file.py — writes an instrid model file (libcore/model_file.h, versions 1 and 2) from
Python: the fixed header, class names, thresholds, provenance, layer list, tensor table, the
tensors aligned to 64 bytes and the CRC-32C trailer. It also reads a file back into its parts
(read_parts) so that a tool can change the thresholds or the provenance and write the file again
in the same canonical layout (parts_bytes), whatever its layer types. libcore's reader is the
judge: the import tests load what this writes.
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
MAX_PROVENANCE = 1 << 20  # MODEL_FILE_MAX_PROVENANCE
HEADER_V1, HEADER_V2 = 112, 128  # where the class names start
LAYER_BYTES, TENSOR_ENTRY_BYTES = 48, 36


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


class ModelParts:
    """A model file's parts, as read_parts finds them and parts_bytes lays them out.
    frontend: the 56 bytes at offset 24 (sample_rate .. feature_std); frontend_v2: the 16 bytes
    at 112 in version 2, b"" in version 1; layers: the n_layers 48-byte records; tensors: a list
    of (layer, role, dims (1..4 ints), data bytes, little-endian float32)."""

    def __init__(self, version, frontend, frontend_v2, window_frames, hop_frames, class_names,
                 thresholds, provenance, layers, tensors):
        self.version = version
        self.frontend = bytes(frontend)
        self.frontend_v2 = bytes(frontend_v2)
        self.window_frames = window_frames
        self.hop_frames = hop_frames
        self.class_names = list(class_names)
        self.thresholds = list(thresholds)
        self.provenance = provenance
        self.layers = bytes(layers)
        self.tensors = list(tensors)


def parts_bytes(m):
    """The whole file for ModelParts m: counts, sizes, offsets and the checksum computed here."""
    if len(m.class_names) != len(m.thresholds):
        raise ValueError("one threshold per class")
    for n in m.class_names:
        b = n.encode("ascii")
        if not 1 <= len(b) <= MAX_CLASS_NAME or not n.isprintable():
            raise ValueError(f"class name {n!r}: 1..63 printable ASCII characters")
    for t in m.thresholds:
        if not 0.0 <= t <= 1.0:
            raise ValueError(f"threshold {t} outside [0, 1]")
    prov = (m.provenance or "").encode("utf-8")
    if b"\0" in prov or len(prov) > MAX_PROVENANCE:
        raise ValueError("provenance holds a NUL byte or is over 1 MiB")
    if m.version not in (1, 2) or len(m.frontend) != 56 or \
            len(m.frontend_v2) != (16 if m.version == 2 else 0):
        raise ValueError(f"version {m.version} with a front end of {len(m.frontend)} + "
                         f"{len(m.frontend_v2)} bytes")
    if len(m.layers) % LAYER_BYTES:
        raise ValueError("layer records are 48 bytes each")
    for li, _, dims, data in m.tensors:
        if not 1 <= len(dims) <= 4:
            raise ValueError(f"layer {li}: tensor with {len(dims)} dimensions")
        count = 1
        for d in dims:
            count *= d
        if len(data) != 4 * count:
            raise ValueError(f"layer {li}: tensor of {len(data)} bytes for dims {tuple(dims)}")

    var = bytearray()
    for n in m.class_names:
        b = n.encode("ascii")
        var += struct.pack("<B", len(b)) + b
    var += struct.pack(f"<{len(m.thresholds)}f", *m.thresholds)
    var += prov
    var += m.layers
    header_bytes = HEADER_V2 if m.version == 2 else HEADER_V1
    table_end = header_bytes + len(var) + TENSOR_ENTRY_BYTES * len(m.tensors)
    data_offset = -(-table_end // ALIGN) * ALIGN
    offsets = []
    pos = data_offset
    for _, _, _, data in m.tensors:
        pos = -(-pos // ALIGN) * ALIGN
        offsets.append(pos)
        pos += len(data)
    file_bytes = pos + 4
    for (li, role, dims, _), off in zip(m.tensors, offsets):
        var += struct.pack("<7IQ", li, role, len(dims), *(list(dims) + [0] * (4 - len(dims))), off)
    out = bytearray()
    out += MAGIC + struct.pack("<IIQ", m.version, 0, file_bytes)
    out += m.frontend
    out += struct.pack("<6IQ", m.window_frames, m.hop_frames, len(m.class_names),
                       len(m.layers) // LAYER_BYTES, len(m.tensors), len(prov), data_offset)
    out += m.frontend_v2
    assert len(out) == header_bytes
    out += var
    assert len(out) == table_end
    for (_, _, _, data), off in zip(m.tensors, offsets):
        out += b"\0" * (off - len(out))
        out += data
    out += struct.pack("<I", crc32c(out))
    assert len(out) == file_bytes
    return bytes(out)


def read_parts(data):
    """ModelParts of a whole model file (bytes). Checks what the rewrite relies on: magic,
    version, length, checksum, and that every section and tensor lies inside the file; libcore
    checks the rest when it loads the result. Raises ValueError naming the problem."""
    data = bytes(data)
    if len(data) < HEADER_V1 + 4 or data[:8] != MAGIC:
        raise ValueError("not an instrid model file (magic)")
    version, flags, file_bytes = struct.unpack_from("<IIQ", data, 8)
    if version not in (1, 2) or flags != 0:
        raise ValueError(f"version {version}, flags {flags}: not a file this writer knows")
    if file_bytes != len(data):
        raise ValueError(f"file_bytes {file_bytes}, but the file has {len(data)} bytes")
    if struct.unpack_from("<I", data, len(data) - 4)[0] != crc32c(data[:-4]):
        raise ValueError("checksum mismatch: the file is corrupt")
    window_frames, hop_frames, n_classes, n_layers, n_tensors, prov_bytes, _ = \
        struct.unpack_from("<6IQ", data, 80)
    pos = HEADER_V2 if version == 2 else HEADER_V1
    if pos > len(data):
        raise ValueError("truncated header")

    def take(n, what):
        nonlocal pos
        if n < 0 or pos + n > len(data) - 4:
            raise ValueError(f"{what} runs past the end of the file")
        b = data[pos:pos + n]
        pos += n
        return b

    names = []
    for _ in range(n_classes):
        ln = take(1, "class names")[0]
        names.append(take(ln, "class names").decode("ascii"))
    thresholds = list(struct.unpack(f"<{n_classes}f", take(4 * n_classes, "thresholds")))
    provenance = take(prov_bytes, "provenance").decode("utf-8")
    layers = take(LAYER_BYTES * n_layers, "layers")
    tensors = []
    for _ in range(n_tensors):
        li, role, ndim, d0, d1, d2, d3, off = struct.unpack("<7IQ",
                                                            take(TENSOR_ENTRY_BYTES, "tensor table"))
        dims = [d0, d1, d2, d3][:ndim]
        count = 1
        for d in dims:
            count *= d
        if not 1 <= ndim <= 4 or off + 4 * count > len(data) - 4:
            raise ValueError(f"tensor of layer {li}: {ndim} dimensions at {off} outside the file")
        tensors.append((li, role, dims, data[off:off + 4 * count]))
    return ModelParts(version, data[24:80], data[112:128] if version == 2 else b"",
                      window_frames, hop_frames, names, thresholds, provenance, layers, tensors)


def model_bytes(fe, window_frames, hop_frames, class_names, thresholds, provenance, layers):
    """The whole file as bytes. fe: dict with the instrid_frontend_params fields."""
    import numpy as np

    version = 2 if frontend_needs_v2(fe) else 1
    tensors = []
    for li, layer in enumerate(layers):
        for role, t in zip(ROLES.get(layer.type, ()), layer.tensors):
            t = np.ascontiguousarray(t, dtype="<f4")
            if not 1 <= t.ndim <= 4:
                raise ValueError(f"layer {li}: tensor with {t.ndim} dimensions")
            if not np.isfinite(t).all():
                raise ValueError(f"layer {li}: tensor holds NaN or infinite values")
            tensors.append((li, role, list(t.shape), t.tobytes()))
    frontend = struct.pack("<8I6f", fe["sample_rate"], fe["n_fft"], fe["win_length"],
                           fe["hop_samples"], fe["n_mels"], fe.get("window", WINDOW_HANN),
                           fe.get("mel_scale", 0), fe.get("mel_norm", 0), fe["fmin_hz"],
                           fe["fmax_hz"], fe["power"], fe["log_floor"], fe["feature_mean"],
                           fe["feature_std"])
    frontend_v2 = struct.pack("<f3I", fe.get("preemphasis", 0.0), fe.get("window_symmetric", 0),
                              fe.get("center", 0), fe.get("log_mode", 0)) if version == 2 else b""
    layer_records = b"".join(struct.pack("<I10If", layer.type, *layer.p, layer.f0)
                             for layer in layers)
    return parts_bytes(ModelParts(version, frontend, frontend_v2, window_frames, hop_frames,
                                  class_names, thresholds, provenance, layer_records, tensors))
