/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* model_file.h — the instrid model file, versions 1 and 2, written out field by field, and the
 * constants model.c and the tests share. Not installed.
 *
 * Version 2 differs from version 1 only by four front-end fields after the fixed header (the
 * variable header then starts at 128, not 112). A writer writes version 1 when the front end
 * uses none of version 2's features (preemphasis 0, window_symmetric 0, center 0, log_mode 0,
 * mel_scale not kaldi) and version 2 otherwise, so every model has one file; a reader refuses
 * a version-1 file with mel_scale kaldi and a version-2 file that needed none of them.
 *
 * Every integer is little-endian, every float IEEE-754 binary32 little-endian, whatever the
 * host. Offsets are bytes from the start of the file.
 *
 *   offset  size  field
 *   ---- prologue: read before anything else ------------------------------------------------
 *        0     8  magic "INSTRID" 0x1A   (49 4E 53 54 52 49 44 1A; ^Z stops `type` on DOS)
 *        8     4  u32 version = 1 or 2
 *       12     4  u32 flags = 0           (reserved; version 1 readers refuse anything else)
 *       16     8  u64 file_bytes          length of the whole file, checksum included
 *   ---- fixed header: front end, windowing, counts --------------------------------------------
 *       24     4  u32 sample_rate         instrid_frontend_params, in declaration order
 *       28     4  u32 n_fft
 *       32     4  u32 win_length
 *       36     4  u32 hop_samples
 *       40     4  u32 n_mels
 *       44     4  u32 window              instrid_window_kind
 *       48     4  u32 mel_scale           instrid_mel_scale (2 = kaldi: version 2 only)
 *       52     4  u32 mel_norm            instrid_mel_norm
 *       56     4  f32 fmin_hz
 *       60     4  f32 fmax_hz
 *       64     4  f32 power
 *       68     4  f32 log_floor
 *       72     4  f32 feature_mean
 *       76     4  f32 feature_std
 *       80     4  u32 window_frames       W, 1..65536
 *       84     4  u32 hop_frames          H, 1..65536
 *       88     4  u32 n_classes           1..INSTRID_MAX_CLASSES
 *       92     4  u32 n_layers            1..INSTRID_MAX_LAYERS
 *       96     4  u32 n_tensors           must equal the count the layers imply
 *      100     4  u32 provenance_bytes    0..MODEL_FILE_MAX_PROVENANCE
 *      104     8  u64 tensor_data_offset  where the first tensor starts (see below)
 *   ---- version 2 only: the rest of instrid_frontend_params ----------------------------------
 *      112     4  f32 preemphasis         [0, 1)
 *      116     4  u32 window_symmetric    0 or 1
 *      120     4  u32 center              0 or 1
 *      124     4  u32 log_mode            instrid_log_mode
 *   ---- variable header, from offset 112 (version 1) or 128 (version 2), packed ---------------
 *           class names   n_classes x { u8 length (1..63); length bytes, printable ASCII }
 *           thresholds    n_classes x f32, each in [0, 1]
 *           provenance    provenance_bytes bytes of text, no NUL (not NUL-terminated)
 *           layers        n_layers x 48 bytes { u32 type; u32 p[10]; f32 f0 }
 *                         (instrid_layer_desc; parameters a type does not use are 0)
 *           tensor table  n_tensors x 36 bytes
 *                         { u32 layer; u32 role (MODEL_TENSOR_*); u32 ndims (1..4);
 *                           u32 dims[4] (unused ones 0); u64 offset }
 *           zero bytes up to tensor_data_offset = (end of the table) rounded up to 64
 *   ---- tensor data ---------------------------------------------------------------------------
 *           Tensors in table order, which is the order of instrid_model_desc.params: layer
 *           after layer, each layer's tensors in the order instrid_layer_type lists them.
 *           Each is product(dims) f32, row-major, starting at its table offset, which is
 *           (end of the previous tensor, or tensor_data_offset) rounded up to 64; the gaps
 *           are zero bytes. No tensor may be NaN or infinite; running_var is >= 0.
 *   ---- trailer -------------------------------------------------------------------------------
 *   file_bytes-4  4  u32 CRC-32C (Castagnoli, reflected, init and final xor 0xFFFFFFFF) of
 *                    bytes [0, file_bytes - 4); it follows the last tensor directly.
 *
 * The layout is canonical: a reader refuses a file whose offsets differ from the ones above,
 * so one model has exactly one file, and any corruption shows up as a specific error.
 * Tensor dims are checked against the shapes the layers imply for an input of
 * (1, n_mels, window_frames); see instrid_arch_shapes.
 */
#ifndef INSTRID_MODEL_FILE_H
#define INSTRID_MODEL_FILE_H

#include <stddef.h>
#include <stdint.h>

#define MODEL_FILE_MAGIC "INSTRID\x1a"
#define MODEL_FILE_MAGIC_BYTES 8
#define MODEL_FILE_VERSION 2u     /* the newest version this library reads and writes */
#define MODEL_FILE_VERSION_MIN 1u /* the oldest it reads */

#define MODEL_FILE_OFFSET_VERSION 8
#define MODEL_FILE_OFFSET_FLAGS 12
#define MODEL_FILE_OFFSET_FILE_BYTES 16
#define MODEL_FILE_PROLOGUE_BYTES 24
#define MODEL_FILE_OFFSET_SAMPLE_RATE 24
#define MODEL_FILE_OFFSET_N_MELS 40
#define MODEL_FILE_OFFSET_WINDOW_FRAMES 80
#define MODEL_FILE_OFFSET_N_CLASSES 88
#define MODEL_FILE_OFFSET_N_LAYERS 92
#define MODEL_FILE_OFFSET_N_TENSORS 96
#define MODEL_FILE_OFFSET_PROVENANCE_BYTES 100
#define MODEL_FILE_OFFSET_TENSOR_DATA 104
#define MODEL_FILE_FIXED_HEADER_BYTES 112 /* where the class names start in version 1 */
#define MODEL_FILE_OFFSET_PREEMPHASIS 112 /* version 2 */
#define MODEL_FILE_V2_HEADER_BYTES 128    /* where the class names start in version 2 */

#define MODEL_FILE_LAYER_BYTES 48
#define MODEL_FILE_TENSOR_ENTRY_BYTES 36
#define MODEL_FILE_ALIGNMENT 64
#define MODEL_FILE_CHECKSUM_BYTES 4

/* Limits a reader enforces (the writer refuses to write what a reader would refuse). */
#define MODEL_FILE_MAX_BYTES ((uint64_t)1 << 30) /* 1 GiB */
#define MODEL_FILE_MAX_PROVENANCE (1u << 20)     /* 1 MiB of text */
#define MODEL_MAX_WINDOW_FRAMES 65536u
#define MODEL_MAX_DIM (1u << 20)                 /* any of C, H, W of an activation */
#define MODEL_MAX_ACTIVATION ((uint64_t)1 << 28) /* C*H*W floats per example */
#define MODEL_MAX_PARAMS ((uint64_t)1 << 28)     /* floats in one layer, and in all */
#define MODEL_MAX_CHANNELS 4096u                 /* conv c_out */
#define MODEL_MAX_KERNEL 64u                     /* kernel, stride and dilation */
#define MODEL_MAX_DENSE_OUT 65536u
#define MODEL_MAX_N_MELS 4096u

/* Tensor roles, per layer type (instrid_layer_type lists the order):
 * CONV2D, DENSE: WEIGHT, BIAS. BATCHNORM: GAMMA, BETA, RUNNING_MEAN, RUNNING_VAR. */
enum {
  MODEL_TENSOR_WEIGHT = 0,
  MODEL_TENSOR_BIAS = 1,
  MODEL_TENSOR_GAMMA = 2,
  MODEL_TENSOR_BETA = 3,
  MODEL_TENSOR_RUNNING_MEAN = 4,
  MODEL_TENSOR_RUNNING_VAR = 5,
};

/* CRC-32C of n bytes (the file's checksum); exposed so tests can re-seal a patched file. */
uint32_t instrid_crc32c(const void *data, size_t n);

#endif /* INSTRID_MODEL_FILE_H */
