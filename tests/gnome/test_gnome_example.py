#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The GTK 4 example (examples/gnome/instrid-player.py) under Xvfb: it plays a generated clip
through playbin with audio-filter=instridentify and quits at the end; the state it displayed,
read back from its widgets, must be what the element reported for the same clip through the
same playbin (the summary: every bar, every value shown, the detected instruments in bold).
Skips (exit 77) when Xvfb or GTK 4's introspection data are not installed.

Usage: test_gnome_example.py PLAYER TINY_MODEL   (GST_PLUGIN_PATH set by meson)
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

PLAYER, MODEL = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
del sys.argv[1:3]
SKIP = 77


def gtk4_available():
    r = subprocess.run(["/usr/bin/python3", "-c",
                        "import gi; gi.require_version('Gtk', '4.0')"], capture_output=True)
    return r.returncode == 0


def reference_summary(path):
    """The summary the element posts for path through playbin, as the player runs it."""
    playbin = Gst.ElementFactory.make("playbin", None)
    identify = Gst.ElementFactory.make("instridentify", None)
    identify.set_property("model-location", MODEL)
    playbin.set_property("uri", Gst.filename_to_uri(path))
    playbin.set_property("audio-filter", identify)
    playbin.set_property("audio-sink", Gst.parse_bin_from_description("fakesink sync=false",
                                                                      True))
    playbin.set_property("video-sink", Gst.ElementFactory.make("fakesink", None))
    bus = playbin.get_bus()
    playbin.set_state(Gst.State.PLAYING)
    summary, windows = None, 0
    while True:
        m = bus.timed_pop_filtered(30 * Gst.SECOND, Gst.MessageType.ELEMENT
                                   | Gst.MessageType.EOS | Gst.MessageType.ERROR)
        assert m is not None and m.type != Gst.MessageType.ERROR
        if m.type == Gst.MessageType.EOS:
            break
        s = m.get_structure()
        if s.get_name() == "instridentify":
            windows += 1
        elif s.get_name() == "instridentify-summary":
            summary = (list(s.get_value("labels")), list(s.get_value("probabilities")),
                       list(s.get_value("instruments")))
    playbin.set_state(Gst.State.NULL)
    return summary, windows


class GnomeExample(unittest.TestCase):
    def test_shows_what_the_element_reported(self):
        with tempfile.TemporaryDirectory() as d:
            clip = os.path.join(d, "clip.ogg")
            subprocess.run(["gst-launch-1.0", "-q", "audiotestsrc", "num-buffers=60",
                            "wave=saw", "freq=330", "!", "audio/x-raw,rate=22050,channels=2",
                            "!", "audioconvert", "!", "vorbisenc", "!", "oggmux", "!",
                            "filesink", "location=" + clip], check=True, timeout=60)
            (labels, probs, detected), windows = reference_summary(clip)
            self.assertGreater(windows, 2)
            dump = os.path.join(d, "shown.json")
            env = dict(os.environ, INSTRID_PLAYER_DUMP=dump, GDK_BACKEND="x11",
                       GSK_RENDERER="cairo", NO_AT_BRIDGE="1")
            r = subprocess.run(["xvfb-run", "-a", "-s", "-screen 0 800x700x24",
                                "/usr/bin/python3", PLAYER, "--model", MODEL, "--audio-sink",
                                "fakesink sync=false", "--quit-at-eos", clip],
                               capture_output=True, text=True, timeout=120, env=env)
            self.assertEqual(r.returncode, 0, r.stderr)
            with open(dump) as f:
                shown = json.load(f)
        self.assertEqual(shown["title"], "clip.ogg")
        self.assertEqual(shown["status"], "summary of %d windows" % windows)
        self.assertEqual(shown["instruments"],
                         ", ".join(detected) if detected else "(no instrument)")
        self.assertEqual([row["label"] for row in shown["rows"]], labels)
        for row, p in zip(shown["rows"], probs):
            self.assertAlmostEqual(row["bar"], p, places=12, msg=row["label"])
            self.assertEqual(row["text"], "%.2f" % p, row["label"])
            self.assertEqual(row["bold"], row["label"] in detected, row["label"])


if __name__ == "__main__":
    if shutil.which("xvfb-run") is None or shutil.which("Xvfb") is None:
        print("Xvfb not installed (Debian: xvfb); skipped")
        sys.exit(SKIP)
    if not gtk4_available():
        print("GTK 4 introspection data not installed (Debian: gir1.2-gtk-4.0); skipped")
        sys.exit(SKIP)
    Gst.init(None)
    unittest.main(verbosity=2)
