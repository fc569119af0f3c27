#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""bench_tag.py — instrid-tag's throughput on a generated library: files per second with
--jobs 1 and --jobs 2 (the scaling), then a run killed part-way (SIGKILL) and resumed, checking
that every file ends tagged once, that none was left half-written and that the audio of a
sample of files is bit-identical to the original. Prints figures; never run by the tests.

    GST_PLUGIN_PATH=build/gst-plugin bench/bench_tag.py --tool build/tools/tag/instrid-tag \\
        --files 2000 --dir /tmp/instrid-tag-bench

The library (short clips of tones and noise in FLAC, Ogg Vorbis, MP3 and Opus, 100 per folder)
is generated once into DIR/library and reused; each run tags a fresh copy of it.
"""
import argparse
import hashlib
import json
import os
import random
import resource
import shutil
import signal
import subprocess
import sys
import time

import gi

gi.require_version("Gst", "1.0")
from gi.repository import Gst  # noqa: E402

FORMATS = [("flac", "audioconvert ! flacenc"),
           ("ogg", "audioconvert ! vorbisenc ! oggmux"),
           ("mp3", "audioconvert ! lamemp3enc ! id3v2mux"),
           ("opus", "audioconvert ! audioresample ! opusenc ! oggmux")]
WAVES = ["sine", "square", "saw", "triangle", "pink-noise", "ticks"]


def generate(lib, n, seconds):
    """Makes the clips that do not exist yet (each written aside and renamed, so an interrupted
    generation is simply continued)."""
    t0 = time.time()
    made = 0
    for i in range(n):
        ext, chain = FORMATS[i % len(FORMATS)]
        folder = os.path.join(lib, "%02d" % (i // 100))
        os.makedirs(folder, exist_ok=True)
        final = os.path.join(folder, "clip%05d.%s" % (i, ext))
        if os.path.exists(final):
            continue
        path = os.path.join(folder, ".partial")
        line = ("audiotestsrc wave=%s freq=%d num-buffers=%d samplesperbuffer=1024 ! "
                "audio/x-raw,rate=44100,channels=2 ! taginject tags=\"title=clip %d\" ! %s ! "
                "filesink location=%s" % (WAVES[i % len(WAVES)], 110 + (i * 37) % 1500,
                                          int(seconds * 44100 / 1024), i, chain, path))
        p = Gst.parse_launch(line)
        p.set_state(Gst.State.PLAYING)
        m = p.get_bus().timed_pop_filtered(60 * Gst.SECOND,
                                           Gst.MessageType.EOS | Gst.MessageType.ERROR)
        p.set_state(Gst.State.NULL)
        if m is None or m.type != Gst.MessageType.EOS:
            sys.exit("cannot generate %s" % final)
        os.rename(path, final)
        made += 1
    if made:
        print("generated %d files of %.1f s in %.0f s" % (made, seconds, time.time() - t0))


def pcm_digest(path):
    p = Gst.parse_launch("filesrc name=s ! decodebin ! appsink name=k sync=false")
    p.get_by_name("s").set_property("location", path)
    k = p.get_by_name("k")
    p.set_state(Gst.State.PLAYING)
    h = hashlib.sha256()
    while True:
        sample = k.emit("pull-sample")
        if sample is None:
            break
        buf = sample.get_buffer()
        h.update(buf.extract_dup(0, buf.get_size()))
    p.set_state(Gst.State.NULL)
    return h.hexdigest()


def fresh_copy(lib, dest):
    shutil.rmtree(dest, ignore_errors=True)
    shutil.copytree(lib, dest)


def run(tool, args, out_path):
    """Runs the tool; returns (wall seconds, CPU seconds of the run, the result)."""
    with open(out_path, "w") as out:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.time()
        r = subprocess.run([tool, "--no-progress"] + args, stdout=out, stderr=subprocess.PIPE,
                           text=True)
        dt = time.time() - t0
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        return dt, cpu, r


def count(jsonl, status=None):
    with open(jsonl) as f:
        recs = [json.loads(line) for line in f if line.strip().endswith("}")]
    return sum(1 for r in recs if status is None or r["status"] == status)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tool", required=True)
    ap.add_argument("--files", type=int, default=2000)
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--dir", default="/tmp/instrid-tag-bench")
    ap.add_argument("--jobs", default="1,2")
    ap.add_argument("--kill-after", type=float, default=0.4,
                    help="kill the resume run after this fraction of the -j 2 time")
    ap.add_argument("--model", help="model file (default: the element's)")
    ap.add_argument("--generate-only", action="store_true", help="make the library and stop")
    a = ap.parse_args()
    Gst.init(None)
    extra = ["--model", a.model] if a.model else []
    lib = os.path.join(a.dir, "library")
    generate(lib, a.files, a.seconds)
    if a.generate_only:
        return
    work = os.path.join(a.dir, "work")

    # On a machine shared with other work the wall-clock figures depend on the load (a process
    # with more threads gets a larger share of contended cores); CPU time per file does not.
    print("cores: %d (os.sched_getaffinity)" % len(os.sched_getaffinity(0)))
    times = {}
    for jobs in [int(j) for j in a.jobs.split(",")]:
        fresh_copy(lib, work)
        out = os.path.join(a.dir, "run-j%d.jsonl" % jobs)
        load = os.getloadavg()[0]
        dt, cpu, r = run(a.tool, extra + ["-j", str(jobs), work], out)
        tagged = count(out, "tagged")
        times[jobs] = dt
        print("-j %d: %d files tagged in %.1f s = %.1f files/s, %.1f ms CPU per file (exit %d; "
              "load average %.1f -> %.1f)" % (jobs, tagged, dt, tagged / dt, 1000 * cpu / tagged,
                                               r.returncode, load, os.getloadavg()[0]))
    if 1 in times and 2 in times:
        print("scaling 1 -> 2 jobs: %.2fx" % (times[1] / times[2]))

    # Kill part-way, then resume.
    fresh_copy(lib, work)
    first = os.path.join(a.dir, "killed.jsonl")
    kill_at = a.kill_after * times.get(2, times[min(times)])
    with open(first, "w") as out:
        p = subprocess.Popen([a.tool, "--no-progress", "-j", "2"] + extra + [work], stdout=out,
                             stderr=subprocess.DEVNULL)
        time.sleep(kill_at)
        p.send_signal(signal.SIGKILL)
        p.wait()
    before = count(first, "tagged")
    second = os.path.join(a.dir, "resumed.jsonl")
    dt, _, r = run(a.tool, extra + ["-j", "2", work], second)
    print("killed after %.1f s with %d files tagged; resume: %d skipped, %d tagged in %.1f s "
          "(exit %d)" % (kill_at, before, count(second, "skipped"), count(second, "tagged"), dt,
                         r.returncode))
    merged = subprocess.run([a.tool, "--merge", first, second], capture_output=True, text=True)
    recs = [json.loads(line) for line in merged.stdout.splitlines()]
    statuses = {}
    for rec in recs:
        statuses[rec["status"]] = statuses.get(rec["status"], 0) + 1
    print("merged: %d files %s; partial lines reported: %d" % (
        len(recs), statuses, merged.stderr.count("not a record")))
    leftovers = [f for _, _, files in os.walk(work) for f in files if ".instrid-tag." in f]
    print("temp files left: %d" % len(leftovers))
    rng = random.Random(1)
    all_files = sorted(os.path.relpath(os.path.join(d, f), work)
                       for d, _, files in os.walk(work) for f in files)
    sample = rng.sample(all_files, min(40, len(all_files)))
    same = sum(pcm_digest(os.path.join(work, f)) == pcm_digest(os.path.join(lib, f))
               for f in sample)
    print("decoded audio identical to the original: %d of %d sampled files" % (same, len(sample)))


if __name__ == "__main__":
    main()
