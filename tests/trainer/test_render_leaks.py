#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""test_render_leaks.py — instrid-render frees its MIDI list on every early exit: a MIDI path
that cannot be read after others were collected, and a missing --philharmonia folder after the
list is complete. Before the fix the list was lost on those paths. Runs the command under
valgrind (definite leaks are errors); skips (77) when valgrind is absent.

usage: test_render_leaks.py INSTRID_RENDER
"""
import os
import shutil
import subprocess
import sys
import tempfile


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    valgrind = shutil.which("valgrind")
    if not valgrind:
        print("valgrind not found: skipped")
        return 77
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        midi = os.path.join(tmp, "midi")
        os.mkdir(midi)
        for name in ("a.mid", "b.mid"):
            with open(os.path.join(midi, name), "wb") as f:
                f.write(b"MThd")  # never read: the exits under test come before
        missing = os.path.join(tmp, "missing")
        # No plugins to scan: GStreamer starts fast under valgrind.
        env = dict(os.environ, GST_REGISTRY=os.path.join(tmp, "registry.bin"),
                   GST_PLUGIN_SYSTEM_PATH_1_0=missing, GST_PLUGIN_PATH_1_0=missing)
        base = [valgrind, "--leak-check=full", "--errors-for-leak-kinds=definite",
                "--show-leak-kinds=definite", "--error-exitcode=99", "-q", sys.argv[1],
                "--no-fluidsynth", "--no-kits", "--out", os.path.join(tmp, "out")]
        for args, said in ((["--philharmonia", missing, midi], "no such directory"),
                           ([midi, missing], "cannot read")):
            r = subprocess.run(base + args, capture_output=True, text=True, env=env, timeout=120)
            if r.returncode != 2 or said not in r.stderr or "definitely lost" in r.stderr:
                print("FAIL %s: status %d\n%s" % (args, r.returncode, r.stderr))
                failures += 1
            else:
                print("ok   %s" % (args,))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
