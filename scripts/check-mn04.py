#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""check-mn04.py — checks an imported EfficientAT mn* model against the PyTorch reference
(trainer/import/efficientat.py) on the real clips of the dev-eval set, and reproduces the
mapped-AudioSet Medley-solos mAP.

usage: check-mn04.py DATA_DIR [--weights PT] [--model M.instrid --run-model BIN]
                     [--element] [--build BUILD] [--work DIR]

  DATA_DIR     the shared data folder (dev-eval/ and pretrained/ in it)
  --model      an .instrid file written by instrid-import from the same weights
  --run-model  build/tests/trainer/import_run_model (runs libcore's stream over raw samples)
  --logits     the model was imported with --logits (no final sigmoid): compare logits
  --element    also run the instridentify element (GST_PLUGIN_PATH from --build) on the same
               samples and compare the probabilities it posts
  --contract M the element's message contract with model M (e.g. a fine-tuned one) on 30 s of
               the clips at 44.1 kHz stereo (resampled by the element): a message per window
               with the model's labels, probabilities in [0, 1], instruments = the classes at
               or over threshold=0.5 by falling probability, timestamps every interval, one
               summary at EOS

Each clip is decoded once to 32 kHz mono float (gst-launch: decodebin, audioconvert,
audioresample) into --work; the reference, libcore and the element all see those samples.
Clip score = mean over the clip's windows (W, H and the end-of-stream rule of the element).
"""
import argparse
import csv
import os
import re
import subprocess
import sys
import time

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "trainer", "import"))
import efficientat as E  # noqa: E402
sys.path.insert(0, HERE)
import identify_json  # noqa: E402

TAXONOMY = ("accordion banjo bass bassoon cello clarinet cymbals drums flute guitar harpsichord "
            "horn mallet_percussion mandolin oboe organ piano saxophone synthesizer trombone "
            "trumpet ukulele viola violin voice").split()


def audioset_map():
    """The AudioSet -> taxonomy table of trainer/audioset_map.c (the one table)."""
    src = open(os.path.join(HERE, "..", "trainer", "audioset_map.c")).read()
    pairs = re.findall(r'^\s*\{"([^"]+)", "([a-z_]+)"\},\s*$', src, re.M)
    if not pairs:
        sys.exit("no pairs found in trainer/audioset_map.c")
    return dict(pairs)


def audioset_names(path):
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    return [r["display_name"] for r in rows]


def mapped_scores(p, names, amap):
    """p: (..., 527) -> (..., 25): max over the AudioSet classes naming each class; 0 where
    none does."""
    out = np.zeros(p.shape[:-1] + (len(TAXONOMY),), dtype=np.float64)
    for t, c in enumerate(TAXONOMY):
        idx = [i for i, n in enumerate(names) if amap.get(n) == c]
        if idx:
            out[..., t] = p[..., idx].max(axis=-1)
    return out


def average_precision(y, s):
    order = np.argsort(-s, kind="stable")
    y = y[order]
    hits = np.cumsum(y)
    prec = hits / np.arange(1, len(y) + 1)
    return float((prec * y).sum() / y.sum())


def mean_ap(targets, scores):
    aps = {}
    for t, c in enumerate(TAXONOMY):
        if targets[:, t].sum() > 0:
            aps[c] = average_precision(targets[:, t], scores[:, t])
    return float(np.mean(list(aps.values()))), aps


def decode(path, out, rate):
    if not os.path.exists(out):
        tmp = out + ".tmp"
        subprocess.run(["gst-launch-1.0", "-q", "filesrc", f"location={path}", "!", "decodebin",
                        "!", "audioconvert", "!", "audioresample", "!",
                        f"audio/x-raw,format=F32LE,channels=1,rate={rate}", "!",
                        "filesink", f"location={tmp}"], check=True)
        os.rename(tmp, out)
    return np.fromfile(out, dtype="<f4")


def write_wav(path, x, rate):
    import wave
    # 32-bit float WAV (format 3) by hand: the wave module writes PCM only.
    data = x.astype("<f4").tobytes()
    import struct
    with open(path, "wb") as f:
        f.write(b"RIFF" + struct.pack("<I", 36 + len(data)) + b"WAVE")
        f.write(b"fmt " + struct.pack("<IHHIIHH", 16, 3, 1, rate, rate * 4, 4, 32))
        f.write(b"data" + struct.pack("<I", len(data)) + data)
    del wave


def run_libcore(run_model, model, raw):
    """Per-window outputs of libcore's stream over raw samples (with the element's end of
    stream rule): (n_windows, n_classes)."""
    r = subprocess.run([run_model, model, raw], check=True, capture_output=True, text=True)
    rows = [list(map(float, line.split()[2:])) for line in r.stdout.splitlines() if line]
    return np.array(rows, dtype=np.float64)


def use_build_plugin(build):
    """The build's plugin folder first in GST_PLUGIN_PATH, before GStreamer is initialised."""
    if os.path.isdir(os.path.join(build, "gst-plugin")):
        os.environ["GST_PLUGIN_PATH"] = identify_json.plugin_path(build)


def run_element(build, model, wav):
    use_build_plugin(build)
    import gi
    gi.require_version("Gst", "1.0")
    from gi.repository import Gst
    Gst.init(None)
    pipe = Gst.parse_launch(f'filesrc location="{wav}" ! wavparse ! audioconvert ! '
                            f'instridentify model-location="{model}" ! fakesink')
    bus = pipe.get_bus()
    pipe.set_state(Gst.State.PLAYING)
    rows = []
    while True:
        msg = bus.timed_pop_filtered(Gst.SECOND * 60, Gst.MessageType.ELEMENT |
                                     Gst.MessageType.EOS | Gst.MessageType.ERROR)
        if msg is None:
            raise RuntimeError("element run timed out")
        if msg.type == Gst.MessageType.ERROR:
            raise RuntimeError(msg.parse_error()[0].message)
        if msg.type == Gst.MessageType.EOS:
            break
        st = msg.get_structure()
        if st.get_name() == "instridentify":
            v = st.get_value("probabilities")
            rows.append([float(x) for x in v])
    pipe.set_state(Gst.State.NULL)
    return np.array(rows, dtype=np.float64)


def check_contract(build, model, clips, work):
    """Runs the element with `model` over clips concatenated at 44.1 kHz stereo; returns a
    list of problems (empty when the contract holds) and the number of windows."""
    use_build_plugin(build)
    import gi
    gi.require_version("Gst", "1.0")
    from gi.repository import Gst
    Gst.init(None)
    parts = []
    for i, path in enumerate(clips):
        raw = os.path.join(work, f"contract{i:03d}.f32")
        parts.append(decode(path, raw, 44100))
    x = np.concatenate(parts)
    stereo = np.stack([x, 0.5 * x], axis=1).reshape(-1)
    wav = os.path.join(work, "contract.wav")
    import struct
    data = stereo.astype("<f4").tobytes()
    with open(wav, "wb") as f:
        f.write(b"RIFF" + struct.pack("<I", 36 + len(data)) + b"WAVE")
        f.write(b"fmt " + struct.pack("<IHHIIHH", 16, 3, 2, 44100, 44100 * 8, 8, 32))
        f.write(b"data" + struct.pack("<I", len(data)) + data)
    pipe = Gst.parse_launch(f'filesrc location="{wav}" ! wavparse ! audioconvert ! '
                            f'instridentify name=id threshold=0.5 model-location="{model}" ! '
                            f'fakesink')
    names = list(pipe.get_by_name("id").get_property("labels"))
    bus = pipe.get_bus()
    pipe.set_state(Gst.State.PLAYING)
    wins, sums, problems = [], [], []
    while True:
        msg = bus.timed_pop_filtered(Gst.SECOND * 120, Gst.MessageType.ELEMENT |
                                     Gst.MessageType.EOS | Gst.MessageType.ERROR)
        if msg is None or msg.type == Gst.MessageType.ERROR:
            problems.append("no EOS" if msg is None else msg.parse_error()[0].message)
            break
        if msg.type == Gst.MessageType.EOS:
            break
        st = msg.get_structure()
        if st.get_name() in ("instridentify", "instridentify-summary"):
            rec = {k: st.get_value(k) for k in ("labels", "probabilities", "instruments")}
            for k in ("timestamp", "duration"):
                rec[k] = st.get_uint64(k)[1]
            (wins if st.get_name() == "instridentify" else sums).append(rec)
    pipe.set_state(Gst.State.NULL)
    seconds = len(x) / 44100.0
    for k, w in enumerate(wins + sums):
        labels = [w["labels"][i] for i in range(len(w["labels"]))]
        probs = [w["probabilities"][i] for i in range(len(w["probabilities"]))]
        inst = [w["instruments"][i] for i in range(len(w["instruments"]))]
        if labels != names:
            problems.append(f"message {k}: labels differ from the element's")
        if len(probs) != len(labels) or not all(0.0 <= p <= 1.0 for p in probs):
            problems.append(f"message {k}: probabilities not aligned or outside [0, 1]")
        want = [labels[i] for i in sorted((i for i, p in enumerate(probs) if p >= 0.5),
                                          key=lambda i: -probs[i])]
        if inst != want:
            problems.append(f"message {k}: instruments {inst}, expected {want}")
    starts = [w["timestamp"] / 1e9 for w in wins]
    if any(b <= a for a, b in zip(starts, starts[1:])):
        problems.append(f"window timestamps not increasing: {starts}")
    if len(wins) < int(seconds / 3.2) or len(wins) > int(seconds / 3.2) + 2:
        problems.append(f"{len(wins)} windows for {seconds:.1f} s at one per 3.2 s")
    if len(sums) != 1:
        problems.append(f"{len(sums)} summaries")
    elif abs(sums[0]["duration"] / 1e9 - seconds) > 0.05:
        problems.append(f"summary duration {sums[0]['duration'] / 1e9:.3f} s, audio {seconds:.3f}")
    return problems, len(wins), len(names), seconds


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("data")
    ap.add_argument("--weights")
    ap.add_argument("--model")
    ap.add_argument("--run-model")
    ap.add_argument("--logits", action="store_true")
    ap.add_argument("--element", action="store_true")
    ap.add_argument("--contract", metavar="MODEL")
    ap.add_argument("--build", default=os.path.join(HERE, "..", "build"))
    ap.add_argument("--work", default="/tmp/check-mn04")
    ap.add_argument("--window-frames", type=int, default=320)
    ap.add_argument("--hop-frames", type=int, default=320)
    ap.add_argument("--limit", type=int, default=0, help="only the first N clips")
    ap.add_argument("--whole-clip", action="store_true",
                    help="also score EfficientAT's own whole-clip preprocessing")
    a = ap.parse_args()
    os.makedirs(a.work, exist_ok=True)
    if a.contract:
        with open(os.path.join(a.data, "dev-eval", "labels.csv"), newline="") as f:
            medley = [os.path.join(a.data, "dev-eval", r["path"]) for r in csv.DictReader(f)
                      if r["path"].startswith("medley-solos/")]
        problems, n_win, n_cls, secs = check_contract(a.build, a.contract, medley[::8], a.work)
        print(f"contract: {a.contract}: {n_cls} classes, {n_win} windows over {secs:.1f} s of "
              f"44.1 kHz stereo: " + ("holds" if not problems else "; ".join(problems)))
        sys.exit(1 if problems else 0)
    weights = a.weights or os.path.join(a.data, "pretrained", "mn04_as_mAP_432.pt")
    names = audioset_names(os.path.join(a.data, "pretrained",
                                        "audioset_class_labels_indices.csv"))
    amap = audioset_map()
    net = E.describe(E.load_state_dict(weights))
    fe = E.FRONTEND
    with open(os.path.join(a.data, "dev-eval", "labels.csv"), newline="") as f:
        rows = list(csv.DictReader(f))
    if a.limit:
        rows = rows[:a.limit]
    torch.set_num_threads(1)
    clip_ref, clip_whole, targets, kinds = [], [], [], []
    worst_lib = worst_el = 0.0
    n_win = 0
    t0 = time.time()
    for i, r in enumerate(rows):
        path = os.path.join(a.data, "dev-eval", r["path"])
        raw = os.path.join(a.work, f"clip{i:03d}.f32")
        x = decode(path, raw, fe["sample_rate"])
        feat = E.log_mel(x, fe)
        wins = E.windows(feat, a.window_frames, a.hop_frames, E.silence_value(fe))
        batch = torch.stack([w for _, _, w in wins])[:, None]
        logits, _ = E.forward(net, batch, dtype=torch.float64)
        probs = torch.sigmoid(logits).numpy()
        clip_ref.append(probs.mean(axis=0))
        if a.whole_clip:
            whole = E.log_mel(x, fe)[None, None]
            lw, _ = E.forward(net, whole, dtype=torch.float64)
            clip_whole.append(torch.sigmoid(lw).numpy()[0])
        t = np.zeros(len(TAXONOMY))
        for lab in r["labels"].split(";"):
            if lab in TAXONOMY:
                t[TAXONOMY.index(lab)] = 1
        targets.append(t)
        kinds.append(r["kind"] + ":" + r["path"].split("/")[0])
        n_win += len(wins)
        if a.model and a.run_model:
            out = run_libcore(a.run_model, a.model, raw)
            ref = logits.numpy() if a.logits else probs
            if out.shape != ref.shape:
                sys.exit(f"{r['path']}: libcore gave {out.shape}, reference {ref.shape}")
            worst_lib = max(worst_lib, float(np.abs(out - ref).max()))
        if a.model and a.element:
            wav = os.path.join(a.work, f"clip{i:03d}.wav")
            write_wav(wav, x, fe["sample_rate"])
            out = run_element(a.build, a.model, wav)
            if out.shape != probs.shape:
                sys.exit(f"{r['path']}: element posted {out.shape}, reference {probs.shape}")
            worst_el = max(worst_el, float(np.abs(out - probs).max()))
    targets = np.array(targets)
    medley = np.array([k.endswith("medley-solos") for k in kinds])
    print(f"{len(rows)} clips, {n_win} windows (W {a.window_frames}, H {a.hop_frames}), "
          f"{time.time() - t0:.1f} s")
    for label, clips in ((f"windows of {a.window_frames} frames", clip_ref),
                         ("whole clip (EfficientAT)", clip_whole)):
        if not clips:
            continue
        m = mapped_scores(np.array(clips), names, amap)
        mm, aps = mean_ap(targets[medley], m[medley])
        print(f"reference, {label}: Medley-solos mapped mAP {mm:.4f} over {len(aps)} classes "
              + " ".join(f"{c} {v:.3f}" for c, v in aps.items()))
    if a.model and a.run_model:
        print(f"libcore vs reference: max |difference| of {'logits' if a.logits else 'probabilities'}"
              f" over all windows {worst_lib:.3g}")
    if a.model and a.element:
        print(f"element vs reference: max |difference| of probabilities over all windows "
              f"{worst_el:.3g}")


if __name__ == "__main__":
    main()
