#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""mel_reference.py: checks libinstrid's front end (through frontend_dump) against an
independent double-precision numpy log-mel computation, for five parameter sets (two with
EfficientAT's pre-emphasis, symmetric window, centring with reflected ends and Kaldi mel
banks); and, where torch is installed, EfficientAT's whole front end against one written with
torch.stft and torchaudio.compliance.kaldi.get_mel_banks (or, without torchaudio, a torch
transcription of Kaldi's banks), on the final normalised features.

usage: mel_reference.py FRONTEND_DUMP WORKDIR
Exit status: 0 pass, 1 fail, 77 skip (numpy missing).

Rule: mel energies (before the log) agree within 1e-4 relative error in every band whose
reference energy is at least 1e-6 of the largest band energy of its frame (power 2) or 1e-3
(power 1). Below that the float FFT's rounding, which is relative to the frame's largest
bins, not to the band, dominates; those bands are a few percent of the total. Against torch
(float32 both): the normalised features (log(mel + 1e-5) + 4.5) / 5 agree within 1e-4 in the
bands within 60 dB of their frame's loudest, within 5e-4 in all.
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


def kaldi_mel_matrix(p):
    """(n_mels, n_fft//2+1) Kaldi banks: triangles in mel (1127 ln(1 + f/700)) over the bins
    below Nyquist; the Nyquist column is 0 (EfficientAT pads get_mel_banks' output with it)."""
    mel = lambda f: 1127.0 * np.log(1.0 + np.asarray(f, dtype=np.float64) / 700.0)
    n_bins = p["n_fft"] // 2
    lo, hi = mel(p["fmin"]), mel(p["fmax"])
    delta = (hi - lo) / (p["n_mels"] + 1)
    left = lo + np.arange(p["n_mels"])[:, None] * delta
    bins_mel = mel(np.arange(n_bins) * p["sample_rate"] / p["n_fft"])[None, :]
    up = (bins_mel - left) / delta
    down = (left + 2 * delta - bins_mel) / delta
    weights = np.maximum(0.0, np.minimum(up, down))
    return np.concatenate([weights, np.zeros((p["n_mels"], 1))], axis=1)


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
    if p["mel_scale"] == "kaldi":
        return kaldi_mel_matrix(p)
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
    denominator = p["win_length"] - 1 if p.get("symmetric") else p["win_length"]
    w = a0 - (1.0 - a0) * np.cos(2.0 * np.pi * n / denominator)
    padded = np.zeros(p["n_fft"])
    offset = (p["n_fft"] - p["win_length"]) // 2
    padded[offset:offset + p["win_length"]] = w
    return padded


def reference_energies(x, p):
    a = p.get("preemphasis", 0.0)
    if a:
        x = x[1:] - a * x[:-1]  # conv1d with kernel (-a, 1), no padding: one sample fewer
    if p.get("center"):
        x = np.pad(x, p["n_fft"] // 2, mode="reflect")
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
            "--preemphasis", repr(p.get("preemphasis", 0.0)),
            "--symmetric", str(int(p.get("symmetric", 0))),
            "--center", str(int(p.get("center", 0))),
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
    "efficientat": dict(sample_rate=32000, n_fft=1024, win_length=800, hop=320, n_mels=128,
                        window="hann", mel_scale="kaldi", mel_norm="none", fmin=0.0,
                        fmax=15000.0, power=2, preemphasis=0.97, symmetric=1, center=1),
    # Odd FFT, Hamming, power 1, Slaney norm on Kaldi triangles, fmin > 0: the other branches.
    "kaldi-odd": dict(sample_rate=16000, n_fft=511, win_length=400, hop=160, n_mels=40,
                      window="hamming", mel_scale="kaldi", mel_norm="none", fmin=64.0,
                      fmax=7800.0, power=1, preemphasis=0.5, symmetric=1, center=1),
}


def torch_efficientat(x):
    """EfficientAT's AugmentMelSTFT at inference, written with torch from its description:
    conv1d pre-emphasis, torch.stft(center=True) with a symmetric Hann window, power, Kaldi
    banks with a zero Nyquist column, log(x + 1e-5), (x + 4.5) / 5. Returns (frames, 128) or
    None when torch is missing."""
    try:
        import torch
    except ImportError:
        return None
    p = CASES["efficientat"]
    t = torch.from_numpy(x.astype(np.float32))[None, None, :]
    t = torch.nn.functional.conv1d(t, torch.tensor([[[-0.97, 1.0]]])).squeeze(1)
    spec = torch.stft(t, 1024, hop_length=320, win_length=800, center=True,
                      window=torch.hann_window(800, periodic=False), return_complex=True)
    power = spec.real ** 2 + spec.imag ** 2  # (1, 513, frames)
    try:
        import torchaudio
        banks, _ = torchaudio.compliance.kaldi.get_mel_banks(128, 1024, 32000.0, 0.0, 15000.0,
                                                              100.0, -500.0, 1.0)
        banks = torch.nn.functional.pad(banks, (0, 1), value=0.0)
        source = "torchaudio"
    except ImportError:
        banks = torch.from_numpy(kaldi_mel_matrix(p).astype(np.float32))
        source = "numpy Kaldi banks"
    mel = torch.matmul(banks, power[0])
    return ((torch.log(mel + 1e-5) + 4.5) / 5.0).T.numpy(), source


def run_torch_case(tool, workdir):
    x = test_signal(32000, 2.0)
    got = torch_efficientat(x)
    if got is None:
        print("efficientat vs torch: torch missing, skipped")
        return True
    reference, source = got
    audio_path = os.path.join(workdir, "torch.f32")
    features_path = os.path.join(workdir, "torch.features.f32")
    x.tofile(audio_path)
    subprocess.run([tool, "--efficientat", "--chunk", "1000", audio_path, features_path],
                   check=True)
    features = np.fromfile(features_path, dtype=np.float32).reshape(-1, 128)
    if features.shape != reference.shape:
        print(f"efficientat vs torch: {features.shape} features, torch {reference.shape}")
        return False
    diff = np.abs(features.astype(np.float64) - reference)
    # Both are float32: bands 9 or more orders of magnitude below the frame's loudest are
    # at the FFT's rounding (each differs from the float64 reference by up to 2e-4 there).
    energies = reference_energies(x.astype(np.float64), CASES["efficientat"])
    compared = energies >= 1e-6 * energies.max(axis=1, keepdims=True)
    worst, worst_all = diff[compared].max(), diff.max()
    print(f"efficientat vs torch.stft + {source}: {features.shape[0]} frames, max |diff| "
          f"{worst:.3g} on the {100 * compared.mean():.1f}% of bands within 60 dB of their "
          f"frame's loudest, {worst_all:.3g} on all (normalised features)")
    return bool(worst <= 1e-4 and worst_all <= 5e-4)


def main():
    if len(sys.argv) != 3:
        print(__doc__)
        return 2
    tool, workdir = sys.argv[1], sys.argv[2]
    os.makedirs(workdir, exist_ok=True)
    ok = True
    for name, p in CASES.items():
        ok &= run_case(tool, workdir, name, p, chunk=333)
    ok &= run_torch_case(tool, workdir)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
