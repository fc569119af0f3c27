#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""test_identify_cli.py — runs the instrid-identify command on generated WAV files: the
timeline and summary on the terminal, --json for machines, and a one-line error for an
unreadable file while the other files are still processed (exit status 1).

usage: test_identify_cli.py INSTRID_IDENTIFY MODEL
"""
import json
import math
import os
import struct
import shutil
import subprocess
import sys
import tempfile
import unittest
import wave

EXE = MODEL = None
NAMES = ["violin", "piano", "flute", "drums", "voice", "guitar"]


def write_wav(path, seconds, rate=22050):
    with wave.open(path, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        frames = bytearray()
        for n in range(int(seconds * rate)):
            v = 0.4 * math.sin(2 * math.pi * 440 * n / rate) + 0.2 * math.sin(2 * math.pi * 1234.5 * n / rate)
            frames += struct.pack("<h", int(v * 32767))
        w.writeframes(bytes(frames))


class Cli(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.TemporaryDirectory()
        cls.wav = os.path.join(cls.dir.name, "tone.wav")
        write_wav(cls.wav, 2.05)
        cls.missing = os.path.join(cls.dir.name, "missing.wav")
        cls.garbage = os.path.join(cls.dir.name, "garbage.wav")
        with open(cls.garbage, "wb") as f:
            f.write(b"not audio at all " * 100)

    @classmethod
    def tearDownClass(cls):
        cls.dir.cleanup()

    def run_cli(self, *args):
        return subprocess.run([EXE, "--model", MODEL] + list(args), capture_output=True,
                              text=True, timeout=60)

    def test_text(self):
        r = self.run_cli("--threshold", "0", self.wav)
        self.assertEqual(r.returncode, 0, r.stderr)
        out = r.stdout
        self.assertIn("tone.wav", out)
        # threshold 0: every class in every window, one segment covering the file.
        self.assertIn("0:00-0:02", out)
        self.assertIn("summary:", out)
        for name in NAMES:
            self.assertIn(name, out)
        self.assertIn("#" * 14, out)  # a full activity row: 14 windows

    def test_json(self):
        r = self.run_cli("--json", self.wav)
        self.assertEqual(r.returncode, 0, r.stderr)
        doc = json.loads(r.stdout)
        self.assertEqual(len(doc), 1)
        f = doc[0]
        self.assertEqual(f["labels"], NAMES)
        self.assertEqual(len(f["windows"]), 14)
        for k, w in enumerate(f["windows"]):
            self.assertAlmostEqual(w["start_s"], 0.128 * k, places=3)
            self.assertEqual(len(w["probabilities"]), len(NAMES))
            for p in w["probabilities"]:
                self.assertTrue(0.0 <= p <= 1.0)
        self.assertAlmostEqual(f["summary"]["duration_s"], 2.05, places=2)

    def test_json_non_utf8_name(self):
        # A file name in another encoding (Latin-1 "caf\xe9") stays valid JSON: the byte that
        # is not UTF-8 is written as U+FFFD.
        name = os.path.join(os.fsencode(self.dir.name), b"caf\xe9.wav")
        shutil.copyfile(self.wav, name)
        r = subprocess.run([os.fsencode(EXE), b"--model", os.fsencode(MODEL), b"--json", name],
                           capture_output=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        doc = json.loads(r.stdout.decode("utf-8"))
        self.assertTrue(doc[0]["file"].endswith("caf\ufffd.wav"), doc[0]["file"])
        self.assertEqual(len(doc[0]["windows"]), 14)

    def test_bad_files(self):
        r = self.run_cli("--json", self.missing, self.wav, self.garbage)
        self.assertEqual(r.returncode, 1)
        errors = [line for line in r.stderr.splitlines() if line.startswith("instrid-identify:")]
        self.assertEqual(len(errors), 2, r.stderr)
        self.assertTrue(errors[0].startswith("instrid-identify: %s: " % self.missing), errors[0])
        self.assertTrue(errors[1].startswith("instrid-identify: %s: " % self.garbage), errors[1])
        doc = json.loads(r.stdout)
        self.assertEqual([("error" in f) for f in doc], [True, False, True])
        self.assertEqual(len(doc[1]["windows"]), 14)

    def test_bad_model(self):
        r = subprocess.run([EXE, "--model", self.garbage, self.wav], capture_output=True,
                           text=True, timeout=60)
        self.assertEqual(r.returncode, 1)
        self.assertIn(self.garbage, r.stderr)
        ours = [line for line in r.stderr.splitlines() if line.startswith("instrid-identify:")]
        self.assertEqual(len(ours), 1, r.stderr)
        self.assertIn("not an instrid model", ours[0])

    def test_bad_model_said_once(self):
        # A model that cannot load fails every file the same way: one line for the model,
        # not one per file, and no file is analysed.
        r = subprocess.run([EXE, "--json", "--model", self.garbage, self.wav, self.wav],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 1)
        ours = [line for line in r.stderr.splitlines() if line.startswith("instrid-identify:")]
        self.assertEqual(ours, ["instrid-identify: Could not load instrument model: %s: not an "
                                "instrid model file (bad magic)" % self.garbage], r.stderr)
        self.assertEqual(json.loads(r.stdout), [])

    def test_bad_values(self):
        # Values the element would ignore or clamp silently are refused before anything runs.
        for args, said in (
                (["--threshold", "-0.5"], "--threshold must be between 0 and 1"),
                (["--threshold", "nan"], "--threshold must be between 0 and 1"),
                (["--threshold", "1.5"], "--threshold must be between 0 and 1"),
                (["--interval", "-1"], "--interval must be between 0 and 3600 seconds"),
                (["--interval", "nan"], "--interval must be between 0 and 3600 seconds"),
                (["--interval", "1e30"], "--interval must be between 0 and 3600 seconds"),
                (["--stall-timeout", "0"], "--stall-timeout must be between 1 and 86400 seconds"),
                (["--stall-timeout", "90000"],
                 "--stall-timeout must be between 1 and 86400 seconds")):
            r = self.run_cli(*(args + [self.wav]))
            self.assertEqual(r.returncode, 2, args)
            self.assertEqual(r.stderr, "instrid-identify: %s\n" % said, args)
            self.assertEqual(r.stdout, "", args)

    def test_stall(self):
        # A source that never delivers data (a FIFO whose only writer is this test) stands for a
        # demuxer that stops without an error or EOS: the file is given up after
        # --stall-timeout and the next file is still analysed. The writer closes long after the
        # 1-s timeout, so that the pipeline's teardown (blocked in the FIFO's read) can end.
        fifo = os.path.join(self.dir.name, "stalled.ogg")
        os.mkfifo(fifo)
        fd = os.open(fifo, os.O_RDWR)
        proc = subprocess.Popen([EXE, "--model", MODEL, "--json", "--stall-timeout", "1", fifo,
                                 self.wav], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
        try:
            try:
                proc.wait(timeout=8)
            except subprocess.TimeoutExpired:
                pass
        finally:
            os.close(fd)
        out, err = proc.communicate(timeout=60)
        self.assertEqual(proc.returncode, 1, err)
        self.assertIn("instrid-identify: %s: the pipeline stalled (no message for 1 s)" % fifo,
                      err)
        results = json.loads(out)
        self.assertEqual([r["file"] for r in results], [fifo, self.wav])
        self.assertTrue(results[0]["error"].startswith("the pipeline stalled"), results[0])
        self.assertNotIn("error", results[1])


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    MODEL = sys.argv.pop(2)
    EXE = sys.argv.pop(1)
    unittest.main(verbosity=2)
