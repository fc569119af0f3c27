# SPDX-License-Identifier: LGPL-2.1-or-later
"""checks.py — the one assertion of the Python tests (check.h's counterpart): check(cond, what)
prints "ok   what" on stdout or "FAIL what" on stderr and counts the failure, so that one run
shows every broken check; a test ends with finish(). valgrind_leak_check() gives the valgrind
command the leak tests run programs under; require_modules() skips a test whose Python modules
are missing. A test imports it with its folder's parent on
sys.path:

    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    from checks import check, finish
"""
import shutil
import sys

SKIP = 77  # the exit status meson reads as "skipped"
failures = 0


def check(cond, what):
    """Counts a failure when cond is false; returns cond as a bool (for follow-up checks)."""
    global failures
    if cond:
        print("ok   " + what)
    else:
        failures += 1
        print("FAIL " + what, file=sys.stderr)
    return bool(cond)


def valgrind_leak_check():
    """The command prefix that runs a program under valgrind with definite leaks as errors
    (exit status 99); exits SKIP when valgrind is absent."""
    valgrind = shutil.which("valgrind")
    if not valgrind:
        print("valgrind not found: skipped")
        sys.exit(SKIP)
    return [valgrind, "--leak-check=full", "--errors-for-leak-kinds=definite",
            "--show-leak-kinds=definite", "--error-exitcode=99", "-q"]


def require_modules(*names):
    """Exits SKIP, naming it, when one of the modules cannot be imported (numpy, gi, ...)."""
    import importlib
    for name in names:
        try:
            importlib.import_module(name)
        except ImportError:
            print(f"{name} missing: skipped")
            sys.exit(SKIP)


def finish():
    """Exits 1 after any failed check (their count on stderr), else 0."""
    if failures:
        print(f"{failures} check(s) failed", file=sys.stderr)
    sys.exit(1 if failures else 0)
