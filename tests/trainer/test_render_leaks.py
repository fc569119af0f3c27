#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""test_render_leaks.py — instrid-render frees its MIDI list on every early exit: a MIDI path
that cannot be read after others were collected, and a missing --philharmonia folder after the
list is complete. Before the fix the list was lost on those paths. Runs the command under
valgrind (definite leaks are errors); skips (77) when valgrind is absent.

usage: test_render_leaks.py INSTRID_RENDER
"""
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from checks import check, finish, valgrind_leak_check  # noqa: E402


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    valgrind = valgrind_leak_check()
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
        base = valgrind + [sys.argv[1], "--no-fluidsynth", "--no-kits", "--out",
                           os.path.join(tmp, "out")]
        for args, said in ((["--philharmonia", missing, midi], "no such directory"),
                           ([midi, missing], "cannot read")):
            r = subprocess.run(base + args, capture_output=True, text=True, env=env, timeout=120)
            check(r.returncode == 2 and said in r.stderr and "definitely lost" not in r.stderr,
                  f"{args}: status {r.returncode}\n{r.stderr}")
    finish()


if __name__ == "__main__":
    main()
