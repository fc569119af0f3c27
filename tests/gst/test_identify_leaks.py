#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""test_identify_leaks.py — instrid-identify frees what it allocated on every early exit
(status 2: an option that does not parse, no file, a value out of range). Before the fix the
file list and the JSON buffer were lost on those paths, which made test_bad_values fail under
AddressSanitizer. Runs the command under valgrind; skips (77) when valgrind is absent.

usage: test_identify_leaks.py INSTRID_IDENTIFY
"""
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from checks import check, finish, valgrind_leak_check  # noqa: E402

# Each run costs seconds under valgrind: two cases reach every early exit's frees (the file
# list and model path after a value out of range; the JSON buffer and the parser after usage).
CASES = (
    ["--model", "m.instrid", "--threshold", "1.5", "a.wav", "b.wav"],
    ["--json"],
)


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    valgrind = valgrind_leak_check()
    for args in CASES:
        r = subprocess.run(valgrind + [sys.argv[1]] + args, capture_output=True, text=True,
                           timeout=120)
        check(r.returncode == 2 and "definitely lost" not in r.stderr,
              f"{args}: status {r.returncode}\n{r.stderr}")
    finish()


if __name__ == "__main__":
    main()
