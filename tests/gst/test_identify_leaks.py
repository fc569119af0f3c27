#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""test_identify_leaks.py — instrid-identify frees what it allocated on every early exit
(status 2: an option that does not parse, no file, a value out of range). Before the fix the
file list and the JSON buffer were lost on those paths, which made test_bad_values fail under
AddressSanitizer. Runs the command under valgrind; skips (77) when valgrind is absent.

usage: test_identify_leaks.py INSTRID_IDENTIFY
"""
import shutil
import subprocess
import sys

# Each run costs seconds under valgrind: two cases reach every early exit's frees (the file
# list and model path after a value out of range; the JSON buffer and the parser after usage).
CASES = (
    ["--model", "m.instrid", "--threshold", "1.5", "a.wav", "b.wav"],
    ["--json"],
)


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    valgrind = shutil.which("valgrind")
    if not valgrind:
        print("valgrind not found: skipped")
        return 77
    failures = 0
    for args in CASES:
        r = subprocess.run([valgrind, "--leak-check=full", "--errors-for-leak-kinds=definite",
                            "--show-leak-kinds=definite", "--error-exitcode=99", "-q",
                            sys.argv[1]] + args, capture_output=True, text=True, timeout=120)
        if r.returncode != 2 or "definitely lost" in r.stderr:
            print("FAIL %s: status %d\n%s" % (args, r.returncode, r.stderr))
            failures += 1
        else:
            print("ok   %s" % (args,))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
