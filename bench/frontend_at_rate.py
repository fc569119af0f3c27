#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""frontend_at_rate.py: how far the at-input-rate front end's features are from the resampled
path's, on real clips and on synthetic signals.

usage: frontend_at_rate.py FRONTEND_DUMP [CLIP ...]
  FRONTEND_DUMP: the build's tests/libcore/frontend_dump.
  CLIP: audio files at 44.1 kHz (e.g. ../shared/data/dev-eval/medley-solos/*.flac).

For each clip: decode to mono float at its own rate (gst-launch-1.0: decodebin, audioconvert)
and, separately, resampled to 32 kHz by GStreamer's audioresample (default quality); run
EfficientAT's front end on the 32 kHz audio and the at-input-rate front end on the 44.1 kHz
audio; compare the normalised log-mel features frame by frame (both have a 10 ms hop and
frame k centred on the same instant). As a baseline, the resampled path with audioresample's
quality 10 against its default (4). Prints the mean and largest absolute difference per
clip and over all, and the mean by band group. Synthetic signals (white noise, pink-ish noise,
a harmonic tone with vibrato) are generated at both rates from the same continuous formula.
"""
import os
import subprocess
import sys
import tempfile

import numpy as np


def decode(path, rate, out, quality=None):
    caps = "audio/x-raw,format=F32LE,channels=1" + (f",rate={rate}" if rate else "")
    resample = ["audioresample"] + ([f"quality={quality}"] if quality is not None else [])
    subprocess.run(["gst-launch-1.0", "-q", "filesrc", f"location={path}", "!", "decodebin",
                    "!", "audioconvert", "!"] + resample + ["!", caps, "!", "filesink",
                    f"location={out}"], check=True)
    return np.fromfile(out, dtype=np.float32)


def features(tool, x, args, work):
    src, dst = os.path.join(work, "in.f32"), os.path.join(work, "out.f32")
    x.astype(np.float32).tofile(src)
    subprocess.run([tool, "--efficientat"] + args + [src, dst], check=True)
    return np.fromfile(dst, dtype=np.float32).reshape(-1, 128)


def compare(a, b):
    n = min(len(a), len(b))
    # The first and last frames reflect the clip's edges, which fall on different samples.
    d = np.abs(a[1:n - 1].astype(np.float64) - b[1:n - 1])
    return d


def synthetic(rate, seconds, kind):
    t = np.arange(int(rate * seconds)) / rate
    rng = np.random.default_rng(7)
    if kind == "harmonic":
        f0 = 220.0 * (1 + 0.01 * np.sin(2 * np.pi * 5 * t))
        phase = 2 * np.pi * np.cumsum(f0) / rate
        return sum(0.3 / k * np.sin(k * phase) for k in range(1, 40) if 220 * k < 15000)
    # Band-limited noise (20 Hz .. 14 kHz) with the same random spectrum at both rates: the
    # signal is periodic in `seconds`, so its spectrum lies on a 1/seconds grid that an inverse
    # FFT of either length holds exactly. White, or falling 3 dB per octave.
    n = len(t)
    freqs = np.arange(n // 2 + 1) / seconds
    keep = (freqs >= 20.0) & (freqs <= 14000.0)
    m = int(round(14000.0 * seconds)) + 1
    amp = np.ones(m) if kind == "white" else 1.0 / np.sqrt(np.maximum(np.arange(m), 1) / seconds / 20.0)
    ph = rng.uniform(0, 2 * np.pi, m)
    spectrum = np.zeros(n // 2 + 1, dtype=complex)
    idx = np.nonzero(keep)[0]
    spectrum[idx] = amp[idx] * np.exp(1j * ph[idx])
    x = np.fft.irfft(spectrum, n)
    return 0.1 * x / np.sqrt(np.mean(x ** 2))


def report(name, d):
    groups = [(0, 16), (16, 48), (48, 96), (96, 128)]
    by = " ".join(f"{lo}-{hi - 1}:{d[:, lo:hi].mean():.4f}" for lo, hi in groups)
    print(f"{name}: {d.shape[0]} frames, mean |diff| {d.mean():.4f}, max {d.max():.4f}; "
          f"by bands {by}")


def main():
    if len(sys.argv) < 2:
        print(__doc__)
        return 2
    tool, clips = sys.argv[1], sys.argv[2:]
    with tempfile.TemporaryDirectory() as work:
        for kind in ("white", "pink", "harmonic"):
            a = features(tool, synthetic(32000, 2.0, kind), [], work)
            b = features(tool, synthetic(44100, 2.0, kind), ["--input-rate", "44100"], work)
            report(f"synthetic {kind}", compare(a, b))
        all_d, base_d = [], []
        for path in clips:
            x32 = decode(path, 32000, os.path.join(work, "a.f32"))
            x44 = decode(path, None, os.path.join(work, "b.f32"))
            a = features(tool, x32, [], work)
            b = features(tool, x44, ["--input-rate", "44100"], work)
            d = compare(a, b)
            all_d.append(d)
            # Baseline: the same resampled path with audioresample's best quality (10) instead
            # of its default (4): how much the choice of resampler alone moves the features.
            x32q = decode(path, 32000, os.path.join(work, "c.f32"), quality=10)
            base_d.append(compare(a, features(tool, x32q, [], work)))
            if len(clips) <= 10:
                report(os.path.basename(path), d)
        if all_d:
            d = np.concatenate(all_d)
            per_clip_mean = [x.mean() for x in all_d]
            report(f"{len(clips)} clips", d)
            print(f"per-clip mean |diff|: median {np.median(per_clip_mean):.4f}, "
                  f"worst {max(per_clip_mean):.4f}; 99th percentile of |diff| "
                  f"{np.percentile(d, 99):.4f}")
            b = np.concatenate(base_d)
            report("baseline, audioresample quality 4 vs 10 (both at 32 kHz)", b)
            print(f"baseline 99th percentile of |diff| {np.percentile(b, 99):.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
