#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""test_fetch_data_local.py — scripts/fetch-data's local sources (--local NAME=DIR: a folder the
user has, such as the Philharmonia samples) and two decoding repairs, on fixtures made here:
files mapped to classes by folder, unmapped and skipped files left out, instruments held out by
path, the messages for a missing, wrong or unnamed folder; a 24-bit WAV whose writer left out
the pad byte after its odd data chunk (decoded whole, not padded with junk) and a chained Ogg
file (decoded link by link). Skips (77) without numpy or PyGObject.
"""
import importlib.machinery
import importlib.util
import math
import os
import struct
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from checks import check, finish  # noqa: E402
from fixtures import tone, write_wav  # noqa: E402
from fetch_data_util import MANIFEST_DEFAULTS, SCRIPT, run, skip_without_dependencies  # noqa: E402

skip_without_dependencies()
import gi  # noqa: E402


def index_rows(real, name):
    rows = {}
    p = os.path.join(real, "sources", name + ".csv")
    if os.path.exists(p):
        with open(p) as f:
            for line in f:
                if not line.startswith("#"):
                    key, origin, cls, role, secs = line.rstrip("\n").split("\t")
                    rows[origin] = (key, cls, role, float(secs))
    return rows


def load_script():
    loader = importlib.machinery.SourceFileLoader("fetch_data", SCRIPT)
    spec = importlib.util.spec_from_loader("fetch_data", loader)
    mod = importlib.util.module_from_spec(spec)
    loader.exec_module(mod)
    return mod


MANIFEST = MANIFEST_DEFAULTS + """
[[source]]
name = "orch"
kind = "local"
marker = "data.csv"
local_hint = "a folder with data.csv"
version = "test"
paths = ["*/*/*.wav"]
classes = [["woodwind/cor anglais/english-horn_*", "skip"], ["woodwind/oboe/*", "oboe"],
           ["woodwind/cor anglais/*", "oboe"], ["strings/viola/*", "viola"],
           ["strings/cello/*", "cello"], ["percussion/snare drum/*", "drums"]]
roles = [["strings/cello/*", "validation"]]
licence = "CC-BY-SA-3.0"
role = "train"

[[source]]
name = "repo"
kind = "github"
repo = "someone/odd"
commit = "{commit}"
paths = ["*.wav", "*.ogg"]
class = "none"
cut = "phrases"
min_active = 0.0
licence = "CC0-1.0"
role = "train"
"""

with tempfile.TemporaryDirectory() as d:
    # -------------------------------------------------------------- a local folder
    orch = os.path.join(d, "orch")
    write_wav(f"{orch}/woodwind/oboe/oboe_A4.wav", [0.0] * 4410 + tone(0.8, 440))
    write_wav(f"{orch}/woodwind/cor anglais/cor-anglais_E4.wav", tone(0.6, 330))
    write_wav(f"{orch}/woodwind/cor anglais/english-horn_E4.wav", tone(0.6, 330))  # a copy
    write_wav(f"{orch}/strings/viola/viola_C4.wav", tone(1.2, 262))
    write_wav(f"{orch}/strings/cello/cello_C3.wav", tone(0.7, 131))
    write_wav(f"{orch}/percussion/snare drum/snare.wav", tone(0.3, 200))
    write_wav(f"{orch}/percussion/guiro/guiro.wav", tone(0.3, 900))  # no class: left out
    with open(f"{orch}/data.csv", "w") as f:
        f.write("file\n")

    # -------------------------------------------------------------- a git repository
    repo = os.path.join(d, "mirrors", "someone+odd")
    os.makedirs(repo)

    def git(*args):
        return subprocess.run(["git", "-C", repo, *args], check=True, capture_output=True,
                              text=True).stdout.strip()

    git("init", "-q")
    # A 24-bit mono WAV as Logic writes it: an odd-sized data chunk with no pad byte, then
    # another chunk. Walking the chunks with the pad reads a huge size out of that chunk.
    n = 44100 + 1  # odd: 3 * n bytes of data
    pcm = b"".join(int(0.5 * 8388607 * math.sin(2 * math.pi * 440 * i / 44100))
                   .to_bytes(3, "little", signed=True) for i in range(n))
    extra_body = b"\x19" + b"\0" * 3063  # its first byte lands in the misread size
    body = (b"WAVE" + b"fmt " + struct.pack("<IHHIIHH", 16, 1, 1, 44100, 3 * 44100, 3, 24) +
            b"data" + struct.pack("<I", len(pcm)) + pcm +
            b"EAPD" + struct.pack("<I", len(extra_body)) + extra_body)
    with open(f"{repo}/logic.wav", "wb") as f:
        f.write(b"RIFF" + struct.pack("<I", len(body)) + body)
    # A chained Ogg Vorbis file: two complete streams one after another (1 s + 0.5 s).
    have_vorbis = False
    try:
        gi.require_version("Gst", "1.0")
        from gi.repository import Gst
        Gst.init(None)
        have_vorbis = Gst.ElementFactory.find("vorbisenc") is not None and \
            Gst.ElementFactory.find("oggmux") is not None
    except (ValueError, ImportError):
        pass
    if have_vorbis:
        links = []
        for i, secs in enumerate((1.0, 0.5)):
            part = os.path.join(d, f"link{i}.ogg")
            pipe = Gst.parse_launch(
                f"audiotestsrc num-buffers={int(secs * 10)} samplesperbuffer=4410 freq=440 ! "
                "audio/x-raw,rate=44100,channels=1 ! audioconvert ! vorbisenc ! oggmux ! "
                f"filesink location={part}")
            pipe.set_state(Gst.State.PLAYING)
            msg = pipe.get_bus().timed_pop_filtered(
                30 * Gst.SECOND, Gst.MessageType.EOS | Gst.MessageType.ERROR)
            pipe.set_state(Gst.State.NULL)
            check(msg is not None and msg.type == Gst.MessageType.EOS, f"encoding {part}")
            with open(part, "rb") as f:
                links.append(f.read())
        with open(f"{repo}/chained.ogg", "wb") as f:
            f.write(b"".join(links))
    else:
        print("note: no vorbisenc/oggmux: the chained Ogg case is not run", file=sys.stderr)
    git("add", "-A")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "odd files")
    commit = git("rev-parse", "HEAD")

    manifest = os.path.join(d, "sources.toml")
    with open(manifest, "w") as f:
        f.write(MANIFEST.replace("{commit}", commit))
    mirrors = os.path.join(d, "mirrors")

    # Not given: named, with the option to give; the other source is still extracted.
    out = os.path.join(d, "out")
    rc, so, se = run("--manifest", manifest, "--mirrors", mirrors, "--out", out)
    check(rc == 1 and "orch: a local source: give its folder with --local orch=DIR" in se and
          "a folder with data.csv" in se, f"no --local: {rc} {se}")
    check(os.path.exists(os.path.join(out, "real", "sources", "repo.csv")),
          "the github source is extracted all the same")
    # A folder that is not there, a folder without the marker, a name that is not local.
    rc, so, se = run("--manifest", manifest, "--out", out, "--local", f"orch={d}/nowhere")
    check(rc != 0 and f"--local orch={d}/nowhere: no such folder" in se, f"no folder: {se}")
    rc, so, se = run("--manifest", manifest, "--out", out, "--only", "orch",
                     "--local", f"orch={mirrors}")
    check(rc == 1 and "no data.csv there" in se, f"wrong folder: {rc} {se}")
    rc, so, se = run("--manifest", manifest, "--out", out, "--local", f"repo={orch}")
    check(rc != 0 and "--local repo: no local source of that name" in se, f"not local: {se}")
    rc, so, se = run("--manifest", manifest, "--out", out, "--local", orch)
    check(rc != 0 and "wants NAME=DIR" in se, f"no name: {se}")
    rc, so, se = run("--manifest", manifest, "--out", out, "--philharmonia", orch)
    check(rc != 0 and "--local philharmonia: no local source of that name" in se,
          f"--philharmonia is --local philharmonia=DIR: {se}")

    rc, so, se = run("--manifest", manifest, "--mirrors", mirrors, "--out", out,
                     "--local", f"orch={orch}")
    check(rc == 0, f"with --local: rc {rc}: {se}")
    real = os.path.join(out, "real")
    rows = index_rows(real, "orch")
    got = {o: (c, r) for o, (k, c, r, s) in rows.items()}
    check(got == {"woodwind/oboe/oboe_A4.wav": ("oboe", "train"),
                  "woodwind/cor anglais/cor-anglais_E4.wav": ("oboe", "train"),
                  "strings/viola/viola_C4.wav": ("viola", "train"),
                  "strings/cello/cello_C3.wav": ("cello", "validation"),
                  "percussion/snare drum/snare.wav": ("drums", "train")},
          f"classes and roles by folder; copies and unmapped files left out: {got}")
    oboe = rows.get("woodwind/oboe/oboe_A4.wav")
    check(oboe and abs(oboe[3] - 0.8) < 0.03, f"the note's leading silence trimmed: {oboe}")
    with open(os.path.join(real, "validation.csv")) as f:
        val = f.read()
    cello = rows.get("strings/cello/cello_C3.wav")
    check(cello and f"audio/{cello[0][:3]}/{cello[0]}.wav,cello,real notes," in val,
          "the held-out instrument is in validation.csv")
    with open(os.path.join(real, "openmic-2018-aggregated-labels.csv")) as f:
        labels = f.read().splitlines()
    if oboe:
        mine = [l for l in labels if l.startswith(oboe[0] + ",")]
        check(len(mine) == 25 and f"{oboe[0]},oboe,1.0,1" in mine and
              f"{oboe[0]},viola,0.0,1" in mine, f"every class known: {mine[:3]}")
    leftovers = [os.path.join(dp, n) for dp, _, ns in os.walk(out) for n in ns
                 if n.endswith(".part")]
    check(not leftovers, f"no half-written tables or clips left: {leftovers}")
    with open(os.path.join(real, "summary.txt")) as f:
        summary = f.read()
    check("sources extracted: orch, repo" in summary, summary)
    # Resuming: the local source is up to date, and stays listed without --local.
    rc, so, se = run("--manifest", manifest, "--mirrors", mirrors, "--out", out,
                     "--local", f"orch={orch}")
    check(rc == 0 and "orch: up to date" in so, f"second run: {so} {se}")
    rc, so, se = run("--manifest", manifest, "--mirrors", mirrors, "--out", out)
    check(rc == 0 and "orch: up to date" in so, f"up to date without --local: {rc} {so} {se}")

    # -------------------------------------------------------------- the repairs
    rows = index_rows(real, "repo")
    logic = rows.get("logic.wav")
    check(logic and abs(logic[3] - 1.0) < 0.03,
          f"the unpadded 24-bit WAV decodes whole: {logic}")
    if have_vorbis:
        chained = rows.get("chained.ogg")
        check(chained and abs(chained[3] - 1.5) < 0.1,
              f"both links of the chained Ogg decoded: {chained}")
        mod = load_script()
        with open(f"{repo}/chained.ogg", "rb") as f:
            data = f.read()
        check(mod.ogg_chain_parts(data) == [(0, len(links[0])), (len(links[0]), len(data))],
              "ogg_chain_parts splits at the second stream's first page")
        check(mod.ogg_chain_parts(links[0]) == [(0, len(links[0]))], "one link: one part")

# Page headers alone: a second BOS page after a data page starts a link; BOS pages in a row
# (multiplexed streams) do not; "OggS" with a version other than 0 is packet data, not a page.
mod = load_script()
page = lambda flags, version=0: b"OggS" + bytes([version, flags]) + b"\0" * 30  # noqa: E731
two = page(2) + page(0) + page(2) + page(0)
check(mod.ogg_chain_parts(two) == [(0, 72), (72, 144)], f"two links: {mod.ogg_chain_parts(two)}")
muxed = page(2) + page(2) + page(0) + page(0)
check(mod.ogg_chain_parts(muxed) == [(0, 144)], "multiplexed BOS pages: one link")
fake = page(2) + page(0) + page(2, version=1)
check(mod.ogg_chain_parts(fake) == [(0, 108)], "a version-1 'page' is data")

finish()
