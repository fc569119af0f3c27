#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""`meson install --destdir` into a temporary folder: the plugin lands in the plugin folder the
build was configured for, the model beside the other data, and the installed commands find
their own plugin with no GST_PLUGIN_PATH (they scan the prefix they run from).

Usage: test_install.py MESON BUILD_DIR PREFIX PLUGIN_DIR DATADIR TINY_MODEL
"""
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

MESON, BUILD, PREFIX, PLUGIN_DIR, DATADIR, MODEL = sys.argv[1:7]
del sys.argv[1:7]


def under(root, path):
    return os.path.join(root, path.lstrip("/"))


class Install(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.root = tempfile.mkdtemp(prefix="instrid-install-")
        r = subprocess.run([MESON, "install", "-C", BUILD, "--no-rebuild", "--destdir",
                            cls.root], capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stdout + r.stderr
        cls.bindir = under(cls.root, os.path.join(PREFIX, "bin"))
        cls.env = {k: v for k, v in os.environ.items() if not k.startswith("GST_PLUGIN_PATH")}
        cls.env["GST_REGISTRY"] = os.path.join(cls.root, "registry.bin")
        cls.wav = os.path.join(cls.root, "clip.wav")
        subprocess.run(["gst-launch-1.0", "-q", "audiotestsrc", "num-buffers=40",
                        "wave=saw", "!", "audio/x-raw,rate=16000,channels=1", "!", "wavenc",
                        "!", "filesink", "location=" + cls.wav], check=True, timeout=60)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.root, ignore_errors=True)

    def test_files_in_place(self):
        self.assertTrue(os.path.isfile(under(self.root, os.path.join(PLUGIN_DIR,
                                                                     "libgstinstrid.so"))))
        for tool in ("instrid-identify", "instrid-eval"):
            self.assertTrue(os.access(os.path.join(self.bindir, tool), os.X_OK), tool)
        src_model = os.path.join(os.path.dirname(__file__), "..", "..", "models",
                                 "default.instrid")
        if os.path.isfile(src_model):
            self.assertTrue(os.path.isfile(under(self.root, os.path.join(
                DATADIR, "instrid", "default.instrid"))))

    def test_version_names_plugin_folder(self):
        r = subprocess.run([os.path.join(self.bindir, "instrid-identify"), "--version"],
                           capture_output=True, text=True, timeout=30, env=self.env)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("plugin folder when installed: %s\n" % PLUGIN_DIR, r.stdout)

    def test_installed_tools_find_their_plugin(self):
        r = subprocess.run([os.path.join(self.bindir, "instrid-identify"), "--json", "--model",
                            MODEL, self.wav], capture_output=True, text=True, timeout=60,
                           env=self.env)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn('"summary"', r.stdout)
        tag = os.path.join(self.bindir, "instrid-tag")
        if os.path.exists(tag):
            r = subprocess.run([tag, "--version"], capture_output=True, text=True, timeout=30,
                               env=self.env)
            self.assertEqual(r.returncode, 0, r.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
