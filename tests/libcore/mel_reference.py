#!/usr/bin/python3
"""mel_reference.py: checks libinstrid's front end (through frontend_dump) against an
independent double-precision numpy log-mel computation, for three parameter sets.

usage: mel_reference.py FRONTEND_DUMP WORKDIR
Exit status: 0 pass, 1 fail, 77 skip (numpy missing).

Rule: mel energies (before the log) agree within 1e-4 relative error in every band whose
reference energy is at least 1e-6 of the largest band energy of its frame (power 2) or 1e-3
(power 1). Below that the float FFT's rounding, which is relative to the frame's largest
bins, not to the band, dominates; those bands are a few percent of the total.
"""
import os
import subprocess
import sys

try:
    import numpy as np
except ImportError:
    print("numpy missing: skipping")
    sys.exit(77)

RELATIVE_TOLERANCE = 1e-4
LOG_FLOOR = 1e-30  # so that exp(feature) is the energy itself for every compared band


def hz_to_mel(hz, htk):
    hz = np.asarray(hz, dtype=np.float64)
    if htk:
        return 2595.0 * np.log10(1.0 + hz / 700.0)
    linear = hz / (200.0 / 3.0)
    logarithmic = 15.0 + np.log(np.maximum(hz, 1e-300) / 1000.0) / (np.log(6.4) / 27.0)
    return np.where(hz >= 1000.0, logarithmic, linear)


def mel_to_hz(mel, htk):
    mel = np.asarray(mel, dtype=np.float64)
    if htk:
        return 700.0 * (10.0 ** (mel / 2595.0) - 1.0)
    linear = mel * (200.0 / 3.0)
    logarithmic = 1000.0 * np.exp((np.log(6.4) / 27.0) * (mel - 15.0))
    return np.where(mel >= 15.0, logarithmic, linear)


def mel_matrix(p):
    """(n_mels, n_fft//2+1) triangular filters on the mel scale, as librosa.filters.mel."""
    htk = p["mel_scale"] == "htk"
    bins_hz = np.arange(p["n_fft"] // 2 + 1) * p["sample_rate"] / p["n_fft"]
    edges_mel = np.linspace(hz_to_mel(p["fmin"], htk), hz_to_mel(p["fmax"], htk),
                            p["n_mels"] + 2)
    edges_hz = mel_to_hz(edges_mel, htk)
    lo, centre, hi = edges_hz[:-2, None], edges_hz[1:-1, None], edges_hz[2:, None]
    rising = (bins_hz[None, :] - lo) / (centre - lo)
    falling = (hi - bins_hz[None, :]) / (hi - centre)
    weights = np.maximum(0.0, np.minimum(rising, falling))
    if p["mel_norm"] == "slaney":
        weights *= 2.0 / (hi - lo)
    return weights


def window(p):
    n = np.arange(p["win_length"])
    a0 = 0.54 if p["window"] == "hamming" else 0.5
    w = a0 - (1.0 - a0) * np.cos(2.0 * np.pi * n / p["win_length"])  # periodic
    padded = np.zeros(p["n_fft"])
    offset = (p["n_fft"] - p["win_length"]) // 2
    padded[offset:offset + p["win_length"]] = w
    return padded


def reference_energies(x, p):
    n_frames = 1 + (len(x) - p["n_fft"]) // p["hop"]
    starts = np.arange(n_frames) * p["hop"]
    frames = np.stack([x[s:s + p["n_fft"]] for s in starts]).astype(np.float64)
    spectrum = np.abs(np.fft.rfft(frames * window(p)[None, :], axis=1)) ** p["power"]
    return spectrum @ mel_matrix(p).T  # (frames, n_mels)


def test_signal(sample_rate, seconds):
    """A log chirp 40 Hz..0.45 sr plus a steady tone and quiet white noise: energy in every
    band at some point, and a wide range of band levels within a frame."""
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    f0, f1 = 40.0, 0.45 * sample_rate
    phase = 2 * np.pi * f0 * seconds / np.log(f1 / f0) * ((f1 / f0) ** (t / seconds) - 1)
    rng = np.random.default_rng(20240611)
    x = 0.5 * np.sin(phase) + 0.2 * np.sin(2 * np.pi * 440.0 * t)
    x += 0.01 * rng.standard_normal(len(t))
    return x.astype(np.float32)


def run_case(tool, workdir, name, p, chunk):
    x = test_signal(p["sample_rate"], 2.0)
    audio_path = os.path.join(workdir, name + ".f32")
    features_path = os.path.join(workdir, name + ".features.f32")
    x.tofile(audio_path)
    args = [tool, "--sample-rate", str(p["sample_rate"]), "--n-fft", str(p["n_fft"]),
            "--win-length", str(p["win_length"]), "--hop", str(p["hop"]),
            "--n-mels", str(p["n_mels"]), "--window", p["window"],
            "--mel-scale", p["mel_scale"], "--mel-norm", p["mel_norm"],
            "--fmin", repr(p["fmin"]), "--fmax", repr(p["fmax"]),
            "--power", str(p["power"]), "--log-floor", repr(LOG_FLOOR),
            "--chunk", str(chunk), audio_path, features_path]
    subprocess.run(args, check=True)
    features = np.fromfile(features_path, dtype=np.float32)

    reference = reference_energies(x.astype(np.float64), p)
    if features.size != reference.size:
        print(f"{name}: {features.size // p['n_mels']} frames from C, "
              f"{reference.shape[0]} expected")
        return False
    energies = np.exp(features.reshape(reference.shape).astype(np.float64))

    threshold = 1e-6 if p["power"] == 2 else 1e-3
    compared = reference >= threshold * reference.max(axis=1, keepdims=True)
    relative = np.abs(energies - reference)[compared] / reference[compared]
    worst = relative.max()
    share = compared.mean()
    print(f"{name}: {reference.shape[0]} frames x {p['n_mels']} mels, "
          f"{100 * share:.1f}% of bands compared, max relative error {worst:.3g}")
    if share < 0.5:
        print(f"{name}: too few bands above the comparison threshold")
        return False
    if not worst <= RELATIVE_TOLERANCE:
        i = np.argmax(np.where(compared, np.abs(energies - reference) / reference, 0))
        frame, band = np.unravel_index(i, reference.shape)
        print(f"{name}: frame {frame} band {band}: {energies[frame, band]!r} vs "
              f"{reference[frame, band]!r}")
        return False
    return True


CASES = {
    "slaney": dict(sample_rate=22050, n_fft=1024, win_length=1024, hop=512, n_mels=128,
                   window="hann", mel_scale="slaney", mel_norm="slaney", fmin=0.0,
                   fmax=11025.0, power=2),
    "htk": dict(sample_rate=16000, n_fft=512, win_length=400, hop=160, n_mels=64,
                window="hamming", mel_scale="htk", mel_norm="none", fmin=20.0, fmax=7600.0,
                power=1),
    # fmin > 0 exercises the linear part of the Slaney scale's hz_to_mel; odd hop and window.
    "slaney-band": dict(sample_rate=44100, n_fft=2048, win_length=1764, hop=441, n_mels=96,
                        window="hann", mel_scale="slaney", mel_norm="slaney", fmin=30.0,
                        fmax=16000.0, power=2),
}


def main():
    if len(sys.argv) != 3:
        print(__doc__)
        return 2
    tool, workdir = sys.argv[1], sys.argv[2]
    os.makedirs(workdir, exist_ok=True)
    ok = True
    for name, p in CASES.items():
        ok &= run_case(tool, workdir, name, p, chunk=333)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
