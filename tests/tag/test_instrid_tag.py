#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""instrid-tag: tags written in place without touching the audio (decoded PCM identical), the
files' other tags kept, results equal to the element's summary, resume, --dry-run, --jobs,
--shard, --merge, bad files, usage errors, and a kill at every step of a file's replacement and
at seeded random moments leaving the old file or the new one, whole.

Usage: test_instrid_tag.py INSTRID_TAG TINY_MODEL   (GST_PLUGIN_PATH set by meson)
"""
import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

import gi

gi.require_version("Gst", "1.0")
from gi.repository import Gst  # noqa: E402

EXE, MODEL = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
del sys.argv[1:3]
Gst.init(None)

TAGS = 'taginject tags="title=Song,artist=Someone"'
# name -> (encoder chain, elements it needs)
FORMATS = {
    "a.flac": ("audioconvert ! flacenc", ["flacenc"]),
    "a.ogg": ("audioconvert ! vorbisenc ! oggmux", ["vorbisenc", "oggmux"]),
    "a.opus": ("audioconvert ! audioresample ! opusenc ! oggmux", ["opusenc", "oggmux"]),
    "a.mp3": ("audioconvert ! lamemp3enc ! id3v2mux", ["lamemp3enc", "id3v2mux"]),
    "a.m4a": ("audioconvert ! avenc_aac ! mp4mux", ["avenc_aac", "mp4mux"]),
}
XIPH = ("a.flac", "a.ogg", "a.opus")


def have(*elements):
    return all(Gst.ElementFactory.find(e) is not None for e in elements)


def make_clip(path, chain, freq=440, seconds=2.5, tags=True):
    """A short clip: a chord of sines and noise, so the network has something to say."""
    buffers = int(seconds * 44100 / 1024)
    line = ("audiotestsrc num-buffers=%d wave=sine freq=%d samplesperbuffer=1024 ! "
            "audio/x-raw,rate=44100,channels=2 ! %s%s ! filesink location=%s"
            % (buffers, freq, TAGS + " ! " if tags else "", chain, path))
    subprocess.run(["gst-launch-1.0", "-q"] + line.split(), check=True, timeout=60)


def pcm_digest(path):
    """SHA-256 of the decoded audio: what a player hears."""
    p = Gst.parse_launch("filesrc name=s ! decodebin ! appsink name=k sync=false")
    p.get_by_name("s").set_property("location", path)
    sink = p.get_by_name("k")
    p.set_state(Gst.State.PLAYING)
    h = hashlib.sha256()
    n = 0
    while True:
        sample = sink.emit("pull-sample")
        if sample is None:
            break
        buf = sample.get_buffer()
        data = buf.extract_dup(0, buf.get_size())
        h.update(data)
        n += len(data)
    p.set_state(Gst.State.NULL)
    assert n > 0, path
    return h.hexdigest()


def gst_tags(path):
    """The tags GStreamer's own demuxers read: {name: set of values}."""
    p = Gst.parse_launch("filesrc name=s ! decodebin ! fakesink")
    p.get_by_name("s").set_property("location", path)
    bus = p.get_bus()
    p.set_state(Gst.State.PLAYING)
    tags = {}
    while True:
        m = bus.timed_pop_filtered(5 * Gst.SECOND, Gst.MessageType.TAG | Gst.MessageType.EOS
                                   | Gst.MessageType.ERROR)
        if m is None or m.type != Gst.MessageType.TAG:
            break
        tl = m.parse_tag()
        for i in range(tl.n_tags()):
            name = tl.nth_tag_name(i)
            tags.setdefault(name, set()).update(
                str(tl.get_value_index(name, j)) for j in range(tl.get_tag_size(name)))
    p.set_state(Gst.State.NULL)
    return tags


def element_summary(path):
    """The element's own summary of path: (instruments, {label: probability})."""
    p = Gst.parse_launch("filesrc name=s ! decodebin ! audioconvert ! instridentify name=id "
                         "! fakesink sync=false")
    p.get_by_name("s").set_property("location", path)
    p.get_by_name("id").set_property("model-location", MODEL)
    bus = p.get_bus()
    p.set_state(Gst.State.PLAYING)
    out = None
    while True:
        m = bus.timed_pop_filtered(30 * Gst.SECOND, Gst.MessageType.ELEMENT
                                   | Gst.MessageType.EOS | Gst.MessageType.ERROR)
        assert m is not None and m.type != Gst.MessageType.ERROR, path
        if m.type == Gst.MessageType.EOS:
            break
        s = m.get_structure()
        if s.get_name() == "instridentify-summary":
            labels = list(s.get_value("labels"))
            probs = list(s.get_value("probabilities"))
            out = (list(s.get_value("instruments")), dict(zip(labels, probs)))
    p.set_state(Gst.State.NULL)
    return out


def read_bytes(path):
    with open(path, "rb") as f:
        return f.read()


def fnv1a64(text):
    h = 14695981039346656037
    for b in text.encode():
        h = ((h ^ b) * 1099511628211) % (1 << 64)
    return h


class InstridTag(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="instrid-tag-test-")
        cls.originals = os.path.join(cls.tmp, "originals")
        os.makedirs(os.path.join(cls.originals, "sub"))
        cls.names = []
        for i, (name, (chain, needs)) in enumerate(sorted(FORMATS.items())):
            if have(*needs):
                make_clip(os.path.join(cls.originals, name), chain, freq=300 + 150 * i)
                cls.names.append(name)
        assert "a.flac" in cls.names and "a.ogg" in cls.names, "flacenc and vorbisenc needed"
        # One more file in a subfolder, and things the walk must leave alone.
        make_clip(os.path.join(cls.originals, "sub", "b.ogg"), FORMATS["a.ogg"][0], freq=880,
                  tags=False)
        with open(os.path.join(cls.originals, "notes.txt"), "w") as f:
            f.write("not audio\n")
        cls.pcm = {n: pcm_digest(os.path.join(cls.originals, n)) for n in cls.names}
        cls.model_id = None

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def fresh(self, name):
        """A copy of the originals folder for one test."""
        d = os.path.join(self.tmp, name)
        shutil.rmtree(d, ignore_errors=True)
        shutil.copytree(self.originals, d)
        return d

    def run_tag(self, *args, env=None, check_rc=None):
        r = subprocess.run([EXE, "--model", MODEL] + list(args), capture_output=True, text=True,
                           timeout=120, env=env)
        if check_rc is not None:
            self.assertEqual(r.returncode, check_rc, r.stderr)
        return r

    @staticmethod
    def records(stdout):
        return [json.loads(line) for line in stdout.splitlines()]

    def test_tags_written_audio_untouched(self):
        d = self.fresh("inplace")
        r = self.run_tag("--no-progress", d, check_rc=0)
        recs = {os.path.relpath(x["file"], d): x for x in self.records(r.stdout)}
        self.assertEqual(sorted(recs), sorted(self.names + ["sub/b.ogg"]))
        labels = None
        for name in self.names:
            path = os.path.join(d, name)
            rec = recs[name]
            self.assertEqual(rec["status"], "tagged", rec)
            # The audio is bit-identical, the file's own tags are still there.
            self.assertEqual(pcm_digest(path), self.pcm[name], name)
            tags = gst_tags(path)
            self.assertEqual(tags.get("title"), {"Song"}, name)
            self.assertEqual(tags.get("artist"), {"Someone"}, name)
            # What was written is what the element reported for the original file.
            instruments, probs = element_summary(os.path.join(self.originals, name))
            self.assertEqual(rec["instruments"], instruments, name)
            self.assertEqual(set(rec["probabilities"]), set(probs), name)
            for label, p in probs.items():
                self.assertAlmostEqual(rec["probabilities"][label], p, delta=0.0005)
            ordered = list(rec["probabilities"].values())
            self.assertEqual(ordered, sorted(ordered, reverse=True), name)
            labels = labels or set(probs)
            model = rec["model"]
            self.assertRegex(model, r"^tiny\.instrid sha256:[0-9a-f]{16} instrid \S+$")
            with open(MODEL, "rb") as f:
                self.assertIn(hashlib.sha256(f.read()).hexdigest()[:16], model)
            if name in XIPH:
                # GStreamer's Vorbis-comment reader sees the fields as written.
                comments = tags.get("extended-comment", set())
                self.assertIn("INSTRID_MODEL=" + model, comments, name)
                self.assertEqual({c[len("INSTRUMENTS="):] for c in comments
                                  if c.startswith("INSTRUMENTS=")}, set(instruments), name)
                probs_tag = [c for c in comments if c.startswith("INSTRID_PROBABILITIES=")]
                self.assertEqual(len(probs_tag), 1, name)
                self.assertEqual(len(probs_tag[0].split(",")), len(labels))
            else:
                # ID3v2 TXXX / MP4 freeform: the key and the value are in the file's bytes.
                with open(path, "rb") as f:
                    data = f.read()
                self.assertIn(b"INSTRID_MODEL", data, name)
                self.assertIn(model.encode(), data, name)
        # The text file was not touched nor listed.
        self.assertNotIn("notes.txt", recs)

    def test_resume_force_dry_run(self):
        d = self.fresh("resume")
        first = self.records(self.run_tag("--no-progress", d, check_rc=0).stdout)
        snapshot = {n: read_bytes(os.path.join(d, n)) for n in self.names}
        again = self.records(self.run_tag("--no-progress", d, check_rc=0).stdout)
        self.assertEqual({x["status"] for x in again}, {"skipped"})
        # A skipped file's record repeats what its tags hold.
        key = lambda x: x["file"]  # noqa: E731
        for a, b in zip(sorted(first, key=key), sorted(again, key=key)):
            self.assertEqual((a["instruments"], a["model"]), (b["instruments"], b["model"]))
            self.assertEqual(a["probabilities"], b["probabilities"])
        for n in self.names:
            self.assertEqual(read_bytes(os.path.join(d, n)), snapshot[n], n)
        # --force analyses again and writes the very same bytes.
        forced = self.records(self.run_tag("--no-progress", "--force", d, check_rc=0).stdout)
        self.assertEqual({x["status"] for x in forced}, {"tagged"})
        for n in self.names:
            self.assertEqual(read_bytes(os.path.join(d, n)), snapshot[n], n)
        # --dry-run reports and writes nothing.
        d2 = self.fresh("dry")
        before = {n: read_bytes(os.path.join(d2, n)) for n in self.names}
        dry = self.records(self.run_tag("--no-progress", "--dry-run", d2, check_rc=0).stdout)
        self.assertEqual({x["status"] for x in dry}, {"would-tag"})
        for n in self.names:
            self.assertEqual(read_bytes(os.path.join(d2, n)), before[n], n)
        self.assertEqual(sorted(os.listdir(d2)), sorted(os.listdir(self.originals)))

    def test_jobs_same_results(self):
        d1, d3 = self.fresh("jobs1"), self.fresh("jobs3")
        one = self.records(self.run_tag("--no-progress", "-j", "1", d1, check_rc=0).stdout)
        three = self.records(self.run_tag("--no-progress", "-j", "3", d3, check_rc=0).stdout)
        strip = lambda recs, d: sorted(  # noqa: E731
            (os.path.relpath(x["file"], d), x["instruments"], sorted(x["probabilities"].items()))
            for x in recs)
        self.assertEqual(strip(one, d1), strip(three, d3))
        for n in self.names:
            self.assertEqual(read_bytes(os.path.join(d1, n)),
                             read_bytes(os.path.join(d3, n)), n)

    def test_bad_files_reported_rest_done(self):
        d = self.fresh("bad")
        garbage = os.path.join(d, "garbage.mp3")
        with open(garbage, "wb") as f:
            f.write(b"\x00not an mp3 at all\xff" * 50)
        truncated = os.path.join(d, "cut.ogg")
        with open(os.path.join(d, "a.ogg"), "rb") as f:
            data = f.read()
        with open(truncated, "wb") as f:
            f.write(data[:200])
        missing = os.path.join(d, "missing.flac")
        good = os.path.join(d, "a.flac")
        # GStreamer's Ogg demuxer sometimes stops on the truncated file without an error: the
        # stall timeout turns that into a reported failure too.
        r = self.run_tag("--no-progress", "--stall-timeout", "20", missing, garbage, truncated,
                         good, check_rc=1)
        recs = {x["file"]: x for x in self.records(r.stdout)}
        self.assertEqual(recs[good]["status"], "tagged")
        for bad in (missing, garbage, truncated):
            self.assertEqual(recs[bad]["status"], "failed", bad)
            self.assertTrue(recs[bad]["error"], bad)
            self.assertIn("instrid-tag: %s: " % bad, r.stderr)
        self.assertIn("No such file", recs[missing]["error"])
        with open(garbage, "rb") as f:
            self.assertEqual(f.read(), b"\x00not an mp3 at all\xff" * 50)

    @unittest.skipUnless(shutil.which("script"), "script(1) not installed")
    def test_progress_bar_only_on_a_terminal(self):
        d = self.fresh("progress")
        r = self.run_tag("--dry-run", d, check_rc=0)
        self.assertNotIn("\r", r.stderr)  # not a terminal: no bar
        log = os.path.join(self.tmp, "typescript")
        cmd = "%s --dry-run --model %s %s > /dev/null" % (EXE, MODEL, d)
        subprocess.run(["script", "-qec", cmd, log], stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, timeout=120, check=True)
        with open(log, errors="replace") as f:
            text = f.read()
        n = len(self.names) + 1
        self.assertIn("] %d/%d files" % (n, n), text)
        self.assertIn("[" + "#" * 30 + "]", text)

    def test_usage_and_version(self):
        for args, said in ((["--jobs", "0", "x"], "--jobs must be between 1 and"),
                           (["--shard", "3/2", "x"], "--shard wants K/N"),
                           (["--shard", "0/2", "x"], "--shard wants K/N"),
                           (["--shard", "1/x", "x"], "--shard wants K/N"),
                           (["--stall-timeout", "0", "x"], "--stall-timeout must be between"),
                           (["--no-such-option"], "Unknown option"),
                           ([], "usage:")):
            r = subprocess.run([EXE] + args, capture_output=True, text=True, timeout=30)
            self.assertEqual(r.returncode, 2, args)
            self.assertIn(said, r.stderr, args)
            self.assertEqual(r.stdout, "", args)
        r = subprocess.run([EXE, "--version"], capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0)
        self.assertRegex(r.stdout, r"^instrid-tag \d+\.\d+\.\d+\n")
        # A model that cannot load: said once, exit 2, no file touched.
        d = self.fresh("badmodel")
        junk = os.path.join(d, "notes.txt")
        r = subprocess.run([EXE, "--model", junk, d], capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertEqual(r.stdout, "")
        self.assertEqual(len([x for x in r.stderr.splitlines() if "model" in x]), 1, r.stderr)

    def test_shards_and_merge(self):
        d = self.fresh("shards")
        all_rel = sorted(self.names + ["sub/b.ogg"])
        outs = []
        for k in (1, 2, 3):
            r = self.run_tag("--no-progress", "--dry-run", "--shard", "%d/3" % k, d, check_rc=0)
            got = sorted(os.path.relpath(x["file"], d) for x in self.records(r.stdout))
            # The share is FNV-1a 64 of the path relative to the folder given, modulo N.
            self.assertEqual(got, [p for p in all_rel if fnv1a64(p) % 3 == k - 1], k)
            path = os.path.join(self.tmp, "shard%d.jsonl" % k)
            with open(path, "w") as f:
                f.write(r.stdout)
            outs.append(path)
        m = subprocess.run([EXE, "--merge"] + outs, capture_output=True, text=True, timeout=30)
        self.assertEqual(m.returncode, 0, m.stderr)
        merged = self.records(m.stdout)
        self.assertEqual([os.path.relpath(x["file"], d) for x in merged], all_rel)
        # A later failure does not hide a success, nor a later skip the run that tagged; a cut
        # line is named and counted.
        extra = os.path.join(self.tmp, "extra.jsonl")
        with open(extra, "w") as f:
            f.write(json.dumps({"file": merged[0]["file"], "status": "failed", "error": "x"})
                    + "\n" + json.dumps({"file": merged[1]["file"], "status": "skipped"})
                    + "\n" + '{"file": "cut')
        m = subprocess.run([EXE, "--merge"] + outs + [extra], capture_output=True, text=True,
                           timeout=30)
        self.assertEqual(m.returncode, 1)
        self.assertIn("extra.jsonl:3: not a record", m.stderr)
        self.assertEqual(self.records(m.stdout), merged)

    @unittest.skipUnless(shutil.which("parallel"), "GNU parallel not installed")
    def test_gnu_parallel_example(self):
        # The example of docs/TAGGING.md, as written there (with this build's paths).
        d = self.fresh("parallel")
        work = os.path.join(self.tmp, "par")
        os.makedirs(work, exist_ok=True)
        cmd = ("parallel --halt never -j 2 '%s --model %s --no-progress --shard {}/2 %s "
               "> shard{}.jsonl' ::: 1 2 && %s --merge shard*.jsonl > all.jsonl"
               % (EXE, MODEL, d, EXE))
        r = subprocess.run(["bash", "-c", cmd], cwd=work, capture_output=True, text=True,
                           timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(os.path.join(work, "all.jsonl")) as f:
            merged = self.records(f.read())
        self.assertEqual(sorted(os.path.relpath(x["file"], d) for x in merged),
                         sorted(self.names + ["sub/b.ogg"]))
        self.assertEqual({x["status"] for x in merged}, {"tagged"})

    def check_old_or_new(self, path, old, new, pcm, expect=None):
        with open(path, "rb") as f:
            now = f.read()
        self.assertIn(now, (old, new), path)
        if expect is not None:
            self.assertEqual(now, expect, path)
        self.assertEqual(pcm_digest(path), pcm, path)

    def test_kill_at_every_step_and_random_moments(self):
        """SIGKILL at each step of a replacement (INSTRID_TAG_KILL_AT) and at seeded random
        moments: the file is always the old one or the new one, whole, and decodes to the same
        audio; a run after the kill finishes the job and leaves no temp file behind."""
        ref = self.fresh("kill-ref")
        self.run_tag("--no-progress", ref, check_rc=0)
        rng = random.Random(1)
        for name in [n for n in ("a.flac", "a.mp3", "a.opus", "a.m4a") if n in self.names]:
            src = os.path.join(self.originals, name)
            old = read_bytes(src)
            new = read_bytes(os.path.join(ref, name))
            self.assertNotEqual(old, new)
            work = os.path.join(self.tmp, "kill-" + name)
            os.makedirs(work, exist_ok=True)
            path = os.path.join(work, name)
            # Steps: create the copy, copy, close, tag, sync, rename. Killed before the rename
            # (steps 1-5) the old file is there; after it (step 6), the new one.
            # Every step for two formats, one seeded step for the others (kept fast).
            steps = range(1, 8) if name in ("a.flac", "a.mp3") else [rng.randint(1, 6)]
            for step in steps:
                shutil.copyfile(src, path)
                env = dict(os.environ, INSTRID_TAG_KILL_AT=str(step))
                r = self.run_tag("--no-progress", path, env=env)
                if step <= 6:
                    self.assertEqual(r.returncode, -signal.SIGKILL, (name, step, r.stderr))
                    self.check_old_or_new(path, old, new, self.pcm[name],
                                          expect=old if step <= 5 else new)
                else:
                    self.assertEqual(r.returncode, 0, (name, r.stderr))  # 6 steps per file
                    self.check_old_or_new(path, old, new, self.pcm[name], expect=new)
                # The next run completes it and removes the dead run's copy.
                self.run_tag("--no-progress", path, check_rc=0)
                self.check_old_or_new(path, old, new, self.pcm[name], expect=new)
                self.assertEqual(os.listdir(work), [name], (name, step))
        # From outside, at seeded random moments of a run over the whole folder.
        for seed in range(4):
            rng = random.Random(seed)
            d = self.fresh("kill-random")
            p = subprocess.Popen([EXE, "--model", MODEL, "--no-progress", "-j", "2", d],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(rng.uniform(0.0, 0.8))
            p.send_signal(signal.SIGKILL)
            p.wait()
            for name in self.names:
                self.check_old_or_new(os.path.join(d, name),
                                      read_bytes(os.path.join(self.originals, name)),
                                      read_bytes(os.path.join(ref, name)), self.pcm[name])
            self.run_tag("--no-progress", d, check_rc=0)
            for name in self.names:
                self.assertEqual(read_bytes(os.path.join(d, name)),
                                 read_bytes(os.path.join(ref, name)), (seed, name))
            leftovers = [f for f in os.listdir(d) if "instrid-tag" in f]
            self.assertEqual(leftovers, [], seed)


if __name__ == "__main__":
    unittest.main(verbosity=2)
