#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""songs-eval.py — singing inside real songs: in which analysis windows of a song the element
reports a class (voice by default), against the song's time-aligned lyrics.

    songs-eval.py --model MODEL DIR [--class voice] [--margin S] [--build build] [--json]

DIR is in the JamendoLyrics layout (Stoller, Durand, Ewert 2019; f90/jamendolyrics on GitHub:
mp3/NAME.mp3 and annotations/lines/NAME.csv with columns start_time,end_time,lyrics_line, in
seconds). Every song goes through instrid-identify --json (filesrc ! decodebin ! audioconvert !
instridentify); each of its analysis windows is
    sung          when at least half of it lies inside lyrics lines,
    instrumental  when none of it does and it is at least --margin seconds (default 1) from
                  every line (a held note or a breath may outlast a line's timing),
    left out      otherwise.
Reported, over the windows of every song: the AP of the class's window probability (sung
windows positive), the share of sung windows in which the element reports the class (recall at
the model's threshold) and the share of instrumental windows in which it does (false reports);
per song the same shares and every instrument its end-of-stream summary names. A song without
an annotation file, with an annotation that is not as described, or that the element cannot
read is named on stderr and left out; the others are evaluated.

Exit status: 0 evaluated, 1 no song could be evaluated, 2 usage.
"""
import argparse
import csv
import glob
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import identify_json  # noqa: E402

AUDIO_EXT = (".mp3", ".wav", ".flac", ".ogg")


def warn(msg):
    print(f"songs-eval: {msg}", file=sys.stderr)


def read_lines(path):
    """[(start, end)] of a lines CSV; raises ValueError naming what is wrong."""
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    if not rows or [c.strip() for c in rows[0][:2]] != ["start_time", "end_time"]:
        raise ValueError("no header start_time,end_time")
    spans = []
    for n, r in enumerate(rows[1:], start=2):
        if not r:
            continue
        try:
            s, e = float(r[0]), float(r[1])
        except (ValueError, IndexError):
            raise ValueError(f"line {n}: start and end are not numbers")
        if not (0.0 <= s <= e):
            raise ValueError(f"line {n}: start {s} and end {e} are not 0 <= start <= end")
        spans.append((s, e))
    if not spans:
        raise ValueError("no lyrics line")
    return spans


def window_label(start, end, spans, margin):
    """1 sung, 0 instrumental, None left out."""
    inside = sum(max(0.0, min(end, e) - max(start, s)) for s, e in spans)
    if inside >= 0.5 * (end - start):
        return 1
    if inside == 0.0 and all(s - end >= margin or start - e >= margin for s, e in spans):
        return 0
    return None


def average_precision(y, s):
    """AP of scores s for binary labels y (ties broken by input order); None without a
    positive."""
    order = sorted(range(len(s)), key=lambda i: -s[i])
    hits, total = 0, 0.0
    for rank, i in enumerate(order, start=1):
        if y[i]:
            hits += 1
            total += hits / rank
    return total / hits if hits else None


def identify(build, model, files):
    objects, errors = identify_json.identify(build, model, files, "songs-eval")
    for line in errors:
        warn(line)
    return {os.path.abspath(o["file"]): o for o in objects if "windows" in o}


def share(flags):
    return sum(flags) / len(flags) if flags else None


def fmt(x):
    return "-" if x is None else f"{x:.3f}"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dir", help="the dataset folder (mp3/, annotations/lines/)")
    ap.add_argument("--model", required=True, help="the model (.instrid) the element loads")
    ap.add_argument("--class", dest="cls", default="voice", help="the class the lines time")
    ap.add_argument("--margin", type=float, default=1.0,
                    help="seconds between an instrumental window and every line (default 1)")
    ap.add_argument("--build", default=os.path.join(HERE, "..", "build"))
    ap.add_argument("--json", action="store_true", help="the report as JSON on stdout")
    a = ap.parse_args()
    if a.margin < 0:
        ap.error(f"--margin {a.margin}: not a duration >= 0")
    if not os.path.isfile(a.model):
        ap.error(f"--model {a.model}: no such file")
    audio_dir = os.path.join(a.dir, "mp3")
    lines_dir = os.path.join(a.dir, "annotations", "lines")
    if not os.path.isdir(audio_dir) or not os.path.isdir(lines_dir):
        ap.error(f"{a.dir}: not the JamendoLyrics layout (no mp3/ or annotations/lines/)")

    songs = {}
    for path in sorted(glob.glob(os.path.join(audio_dir, "*"))):
        stem, ext = os.path.splitext(os.path.basename(path))
        if ext.lower() not in AUDIO_EXT:
            continue
        ann = os.path.join(lines_dir, stem + ".csv")
        if not os.path.isfile(ann):
            warn(f"{path}: no annotation {ann}: left out")
            continue
        try:
            songs[os.path.abspath(path)] = read_lines(ann)
        except (OSError, UnicodeDecodeError, ValueError) as e:
            warn(f"{ann}: {e}: left out")
    if not songs:
        warn(f"{a.dir}: no song with an annotation")
        return 1
    results = identify(a.build, a.model, list(songs))

    y_all, s_all, per_song = [], [], []
    flags = {1: [], 0: []}  # reported or not, per sung (1) and instrumental (0) window
    for path, spans in songs.items():
        r = results.get(path)
        if r is None:
            warn(f"{path}: not analysed: left out")
            continue
        if a.cls not in r["labels"]:
            sys.exit(f"songs-eval: the model has no class '{a.cls}'")
        k = r["labels"].index(a.cls)
        sung, instr = [], []
        for w in r["windows"]:
            lab = window_label(w["start_s"], w["start_s"] + w["duration_s"], spans, a.margin)
            if lab is None:
                continue
            y_all.append(lab)
            s_all.append(w["probabilities"][k])
            (sung if lab else instr).append(a.cls in w["instruments"])
        flags[1] += sung
        flags[0] += instr
        per_song.append({"file": path, "duration_s": r["summary"]["duration_s"],
                         "sung_windows": len(sung), "instrumental_windows": len(instr),
                         "recall": share(sung), "false_reports": share(instr),
                         "summary": r["summary"]["instruments"]})
    if not per_song:
        warn("no song could be analysed")
        return 1
    report = {
        "model": a.model, "class": a.cls, "songs": len(per_song),
        "sung_windows": len(flags[1]), "instrumental_windows": len(flags[0]),
        "ap": average_precision(y_all, s_all), "recall": share(flags[1]),
        "false_reports": share(flags[0]),
        "songs_with_class": sum(a.cls in s["summary"] for s in per_song), "per_song": per_song,
    }
    if a.json:
        json.dump(report, sys.stdout, indent=1)
        print()
        return 0
    print(f"{a.model}: {report['songs']} songs, {report['sung_windows']} sung and "
          f"{report['instrumental_windows']} instrumental windows")
    print(f"  {a.cls}: AP {fmt(report['ap'])}, reported in {fmt(report['recall'])} of the sung "
          f"windows and {fmt(report['false_reports'])} of the instrumental ones; named by the "
          f"summary of {report['songs_with_class']} of {report['songs']} songs")
    for s in per_song:
        print(f"  {os.path.basename(s['file'])[:40]:40s} sung {s['sung_windows']:3d} recall "
              f"{fmt(s['recall'])}  instrumental {s['instrumental_windows']:3d} reported "
              f"{fmt(s['false_reports'])}  summary: {', '.join(s['summary']) or '-'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
