# SPDX-License-Identifier: LGPL-2.1-or-later
"""fetch_data_util.py — what the two tests of scripts/fetch-data share: the script (the test's
first argument), the skip when it cannot run (no numpy or PyGObject), running it, and the
[defaults] its test manifests start with."""
import subprocess
import sys

SCRIPT = sys.argv[1]

# A manifest's defaults: every class known, notes cut at silences into clips of at most 10 s.
MANIFEST_DEFAULTS = """
[defaults]
known = "all"
cut = "notes"
max_clip_s = 10.0
min_active = 0.3
ship = true
"""


def skip_without_dependencies():
    """Exits 77 (skipped) when fetch-data's own imports, numpy and gi, are missing."""
    try:
        import gi  # noqa: F401
        import numpy  # noqa: F401
    except ImportError:
        print("skipped: fetch-data needs python3-numpy and python3-gi", file=sys.stderr)
        sys.exit(77)


def run(*args):
    """fetch-data with args: (exit status, stdout, stderr)."""
    p = subprocess.run([SCRIPT, *args], capture_output=True, text=True, timeout=120)
    return p.returncode, p.stdout, p.stderr
