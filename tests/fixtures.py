# SPDX-License-Identifier: LGPL-2.1-or-later
"""fixtures.py — files the Python tests make (fixtures.c's counterpart): tones and mono 16-bit
PCM WAVs. Imported like checks.py (the tests folder on sys.path)."""
import math
import os
import struct
import wave


def tone(seconds, freq, amp=0.5, rate=44100):
    """amp * sin(2 pi freq t) for seconds at rate, as floats (freq 0 or amp 0: silence)."""
    return [amp * math.sin(2 * math.pi * freq * i / rate) for i in range(int(seconds * rate))]


def write_wav(path, samples, rate=44100):
    """samples (floats in [-1, 1], scaled by 32767 and truncated) as a mono 16-bit PCM WAV at
    rate; the folders on the way are made."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with wave.open(path, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(struct.pack(f"<{len(samples)}h", *(int(v * 32767) for v in samples)))
