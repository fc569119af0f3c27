#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""test_messages.py — reads instridentify's bus messages from Python through PyGObject and
checks that the arrays arrive as plain Python values: labels and instruments as str,
probabilities as float, aligned, in [0, 1]; and the summary at the end.

usage: test_messages.py MODEL  (GST_PLUGIN_PATH must hold the built plugin)
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

import gi

gi.require_version("Gst", "1.0")
from gi.repository import Gst  # noqa: E402

MODEL = None
NAMES = ["violin", "piano", "flute", "drums", "voice", "guitar"]


def as_list(value):
    """A GST_TYPE_ARRAY as a Python list (Gst.ValueArray supports len and indexing)."""
    return [value[i] for i in range(len(value))]


def run(description):
    pipeline = Gst.parse_launch(description)
    bus = pipeline.get_bus()
    pipeline.set_state(Gst.State.PLAYING)
    windows, summaries = [], []
    while True:
        msg = bus.timed_pop_filtered(
            10 * Gst.SECOND, Gst.MessageType.ELEMENT | Gst.MessageType.EOS | Gst.MessageType.ERROR)
        if msg is None:
            raise AssertionError("no EOS within 10 s")
        if msg.type == Gst.MessageType.ERROR:
            err, debug = msg.parse_error()
            pipeline.set_state(Gst.State.NULL)
            raise AssertionError("pipeline error: %s (%s)" % (err.message, debug))
        if msg.type == Gst.MessageType.EOS:
            break
        s = msg.get_structure()
        if s.get_name() == "instridentify":
            windows.append(s)
        elif s.get_name() == "instridentify-summary":
            summaries.append(s)
    pipeline.set_state(Gst.State.NULL)
    return windows, summaries


class Messages(unittest.TestCase):
    def check(self, s, threshold):
        labels = as_list(s.get_value("labels"))
        probs = as_list(s.get_value("probabilities"))
        instruments = as_list(s.get_value("instruments"))
        self.assertEqual(labels, NAMES)
        self.assertEqual(len(probs), len(labels))
        for p in probs:
            self.assertIsInstance(p, float)
            self.assertGreaterEqual(p, 0.0)
            self.assertLessEqual(p, 1.0)
        expected = sorted((i for i, p in enumerate(probs) if p >= threshold),
                          key=lambda i: -probs[i])
        self.assertEqual(instruments, [labels[i] for i in expected])
        for name in ("timestamp", "stream-time", "running-time", "duration"):
            ok, value = s.get_uint64(name)
            self.assertTrue(ok, name)
            self.assertIsInstance(value, int)

    def test_windows_and_summary(self):
        # 1.3 s at 16 kHz: 9 windows of 272 ms every 128 ms (the tiny model's hop).
        windows, summaries = run(
            "audiotestsrc num-buffers=13 samplesperbuffer=1600 wave=pink-noise ! "
            "audio/x-raw,rate=16000,channels=2 ! "
            "instridentify threshold=0.5 model-location=\"%s\" ! fakesink" % MODEL)
        self.assertEqual(len(windows), 9)
        for k, s in enumerate(windows):
            self.check(s, 0.5)
            self.assertEqual(s.get_uint64("timestamp")[1], k * 128 * Gst.MSECOND)
            self.assertEqual(s.get_uint64("duration")[1], 272 * Gst.MSECOND)
        self.assertEqual(len(summaries), 1)
        self.check(summaries[0], 0.5)
        self.assertEqual(summaries[0].get_uint64("duration")[1], 1300 * Gst.MSECOND)

    def test_readme_snippet(self):
        # README.md, "From Python": the arrays are Gst.ValueArray, which json.dumps refuses;
        # list() turns one into a list of plain Python values. The snippet as documented:
        windows, summaries = run(
            "audiotestsrc num-buffers=13 samplesperbuffer=1600 wave=pink-noise ! "
            "audio/x-raw,rate=16000,channels=1 ! "
            "instridentify model-location=\"%s\" ! fakesink" % MODEL)
        s = summaries[0]
        raw = s.get_value("probabilities")
        self.assertIsInstance(raw, Gst.ValueArray)
        with self.assertRaises(TypeError):
            json.dumps(raw)
        # -- begin README snippet
        probabilities = list(s.get_value("probabilities"))  # floats, aligned with labels
        labels = list(s.get_value("labels"))
        instruments = list(s.get_value("instruments"))
        print(json.dumps(dict(zip(labels, probabilities))), instruments)
        # -- end README snippet
        self.assertEqual(probabilities, as_list(raw))
        self.assertTrue(all(isinstance(p, float) for p in probabilities))
        self.assertEqual(labels, NAMES)
        self.assertEqual(json.loads(json.dumps(dict(zip(labels, probabilities)))),
                         dict(zip(NAMES, probabilities)))

    def test_labels_property(self):
        element = Gst.ElementFactory.make("instridentify", None)
        element.set_property("model-location", MODEL)
        self.assertEqual(list(element.get_property("labels")), NAMES)

    def test_default_model_next_to_plugin(self):
        # Without model-location the element loads default.instrid from the plugin's folder,
        # as it does from the build tree: copy the plugin and the model into a folder of their
        # own and read the labels in a fresh process that sees only that copy.
        plugin = Gst.ElementFactory.find("instridentify").get_plugin().get_filename()
        with tempfile.TemporaryDirectory() as d:
            shutil.copy(plugin, d)
            shutil.copy(MODEL, os.path.join(d, "default.instrid"))
            env = dict(os.environ, GST_PLUGIN_PATH=d, GST_REGISTRY=os.path.join(d, "reg.bin"))
            code = ("import gi; gi.require_version('Gst', '1.0'); from gi.repository import Gst; "
                    "Gst.init(None); e = Gst.ElementFactory.make('instridentify', None); "
                    "print(','.join(e.get_property('labels')))")
            out = subprocess.run(["/usr/bin/python3", "-c", code], env=env, capture_output=True,
                                 text=True, timeout=30)
            self.assertEqual(out.returncode, 0, out.stderr)
            self.assertEqual(out.stdout.strip(), ",".join(NAMES))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    MODEL = sys.argv.pop(1)
    Gst.init(None)
    if Gst.ElementFactory.find("instridentify") is None:
        sys.exit("instridentify not found: set GST_PLUGIN_PATH to the build's gst-plugin folder")
    unittest.main(verbosity=2)
