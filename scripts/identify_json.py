# SPDX-License-Identifier: LGPL-2.1-or-later
"""identify_json.py — this build's instrid-identify --json over many files, for the scripts
beside it (choose-thresholds.py, songs-eval.py; check-mn04.py's plugin path)."""

import json
import os
import subprocess
import sys


def plugin_path(build):
    """GST_PLUGIN_PATH with the build's plugin folder first (absolute, so a caller's relative
    or stale entry cannot hide it) and the caller's own entries after it."""
    own = os.path.abspath(os.path.join(build, "gst-plugin"))
    rest = os.environ.get("GST_PLUGIN_PATH", "")
    if own in rest.split(os.pathsep):
        return rest
    return own + (os.pathsep + rest if rest else "")


def identify(build, model, files, prog, jobs=1, chunk=200):
    """instrid-identify --json -m MODEL over files, `jobs` processes of at most `chunk` files at
    a time, with the build's element. Returns its JSON objects (one a file; a file it could not
    read has an "error" in place of "summary" and "windows") and its stderr lines; exits naming
    `prog` when instrid-identify itself fails."""
    env = dict(os.environ, GST_PLUGIN_PATH=plugin_path(build))
    tool = os.path.join(build, "tools", "identify", "instrid-identify")
    objects, errors = [], []
    chunks = [files[i:i + chunk] for i in range(0, len(files), chunk)]
    while chunks:
        running = [subprocess.Popen([tool, "--json", "-m", model] + c, env=env,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                   for c in chunks[:jobs]]
        chunks = chunks[jobs:]
        for p in running:
            stdout, stderr = p.communicate()
            if p.returncode not in (0, 1):
                sys.exit(f"{prog}: instrid-identify failed: {stderr.strip()}")
            objects += json.loads(stdout)
            errors += stderr.splitlines()
    return objects, errors
