#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Reproduces models/default.instrid (v9, docs/MODEL.md): imports EfficientAT mn04 (AudioSet),
# trains a 25-class head on its frozen backbone's output over the real recordings that
# scripts/fetch-data extracts (every window of a clip an example with the clip's labels: on this
# data that measured better than clip-level pooling or distillation, docs/MODEL.md; INSTRID_POOL
# and INSTRID_DISTILL choose those), and blends the head with mn04's own AudioSet outputs
# mapped onto the taxonomy by a noisy-OR, 1 - (1 - head)^0.3 (1 - mapped)^0.7, so that either
# can report an instrument the other misses (a BLEND_MAPPED layer in the model);
# thresholds are chosen on the held-out real validation set (validation.csv, through the
# element) together with 1,000 mixtures of its recordings (weight 0.2: instruments inside a mix
# score lower than alone). The model's licence and its training sources' attributions are
# written into its provenance, from data/sources.toml and the tree's per-source lists.
# Beside the real recordings, the head learns from three rendered corpora (instrid-render):
# isolated notes played through the installed GM SoundFonts and Hydrogen drum kits, isolated
# notes of the renderer's built-in synthesizer (electronic and synthetic timbres the real
# sources lack: synth basses, electric pianos, organ presets, synthetic flutes and voices), and
# mixtures of up to four parts rendered from MIDI scores, half of them over a generated drum
# part (instruments inside a mix; the real sources are solo). The kit that is a held-out
# validation source (Colombo's acoustic kit) is left out of all three. And mixtures of the real
# recordings themselves (scripts/mix-real.py): 2 to 4 training clips of different classes summed
# with exact labels, so that the head hears real instruments inside a mix too.
# Two more heads are trained on the same vectors' source, the global pool's 384 values before the
# embedding (instrid-train --head-input pool): one plainly (learning rate 3e-3), one on its
# standardised inputs (--standardize, 3e-4); the three heads' logits are averaged 0.6 / 0.1 / 0.3
# (scripts/combine-heads.py): the pool heads hear timbres the embedding, made for AudioSet's
# classes, flattens; the plain one keeps NSynth's synthetic timbres, the standardised one fits
# the real recordings closer (docs/MODEL.md, v8 and v9).
# Resumable: each stage skips what is done (the import when its file exists, a corpus when its
# label files exist, decoding through the feature cache, the backbone's output through the
# vector file, training through its checkpoint).
#   usage: INSTRID_MIDI=SCORES bash scripts/train-default.sh REAL PRETRAINED [WORKDIR] [OUT]
#     REAL        the `real` tree scripts/fetch-data writes (e.g. --out DIR gives DIR/real)
#     PRETRAINED  a folder with mn04_as_mAP_432.pt and audioset_class_labels_indices.csv
#                 (../shared/data/pretrained in the project's workplace)
#     SCORES      MIDI files the mixtures are rendered from, whose licence lets the model ship:
#                 the MIT-licensed MusicNet scores (midi/musicnet-scores in the project's
#                 workplace, from destin-v/music_identifier)
#   environment: INSTRID_EPOCHS (15), INSTRID_BLEND (gamma, 0.3), INSTRID_BLEND_MODE (noisy-or
#                or linear), INSTRID_POOL (window),
#                INSTRID_DISTILL (distillation weight, 0), INSTRID_NOTES (GM isolated notes,
#                4000; 0: none), INSTRID_SYNTH_NOTES (synthesizer notes, 9000; 0: none),
#                INSTRID_MIX_HOURS (mixtures, 2; 0: none, and no INSTRID_MIDI needed),
#                INSTRID_MIX_MATCH (the share of them register-matched, instrid-render
#                --match-register, 0; read only when WORKDIR/render-mix is made),
#                INSTRID_REAL_MIXES (mixtures of real recordings, 4000; 0: none),
#                INSTRID_REAL_MIX_MATCH (the share of them register-matched, mix-real.py
#                --match-fraction, 0; read only when WORKDIR/real-mix is made),
#                INSTRID_THRESHOLD_MIXES (mixtures of the held-out recordings the thresholds are
#                chosen on beside them, 1000; 0: the held-out clips alone),
#                INSTRID_POOL_SHARE and INSTRID_STD_POOL_SHARE (the plain and the standardised
#                pool heads' shares of the logits, 0.1 and 0.3; 0: no such head; v8: 0.3 and 0),
#                INSTRID_MIDI (the scores), INSTRID_DRUMKITS (Hydrogen's kits folder)
set -euo pipefail
cd "$(dirname "$0")/.."
usage="usage: INSTRID_MIDI=SCORES train-default.sh REAL PRETRAINED [WORKDIR] [OUT]"
real=${1:?$usage}
pre=${2:?$usage}
work=${3:-work/default-model}
out=${4:-models/default.instrid}
epochs=${INSTRID_EPOCHS:-15}
blend=${INSTRID_BLEND:-0.3}
blend_mode=${INSTRID_BLEND_MODE:-noisy-or}
pool=${INSTRID_POOL:-window}
distill=${INSTRID_DISTILL:-0}
notes=${INSTRID_NOTES:-4000}
kits=${INSTRID_DRUMKITS:-/usr/share/hydrogen/data/drumkits}
synth_notes=${INSTRID_SYNTH_NOTES:-9000}
mix_hours=${INSTRID_MIX_HOURS:-2}
real_mixes=${INSTRID_REAL_MIXES:-4000}
real_match=${INSTRID_REAL_MIX_MATCH:-0}
mix_match=${INSTRID_MIX_MATCH:-0}
threshold_mixes=${INSTRID_THRESHOLD_MIXES:-1000}
pool_share=${INSTRID_POOL_SHARE:-0.1}
std_pool_share=${INSTRID_STD_POOL_SHARE:-0.3}
midi=${INSTRID_MIDI:-}
for f in "$real/openmic-2018-aggregated-labels.csv" "$real/partitions/split01_test.csv" \
    "$real/validation.csv" "$pre/mn04_as_mAP_432.pt" "$pre/audioset_class_labels_indices.csv"; do
  [ -f "$f" ] || { echo "train-default.sh: $f: missing" >&2; exit 2; }
done
if ! [[ "$real_mixes" =~ ^[0-9]+$ ]]; then
  echo "train-default.sh: INSTRID_REAL_MIXES='$real_mixes': not a count (0: no mixtures of" \
      "real recordings)" >&2
  exit 2
fi
for v in INSTRID_REAL_MIX_MATCH:"$real_match":real INSTRID_MIX_MATCH:"$mix_match":rendered; do
  share=${v#*:}
  share=${share%:*}
  if ! [[ "$share" =~ ^(0(\.[0-9]+)?|1(\.0*)?)$ ]]; then
    echo "train-default.sh: ${v%%:*}='$share': not a share in [0, 1] (of the ${v##*:}" \
        "mixtures made register-matched; 0: none)" >&2
    exit 2
  fi
done
for v in INSTRID_POOL_SHARE:"$pool_share" INSTRID_STD_POOL_SHARE:"$std_pool_share"; do
  if ! [[ "${v#*:}" =~ ^0(\.[0-9]+)?$ ]]; then
    echo "train-default.sh: ${v%%:*}='${v#*:}': not a share in [0, 1) (0: no such head on the" \
        "pool)" >&2
    exit 2
  fi
done
# the embedding head's share of the logits: what the pool heads leave
embedding_share=$(/usr/bin/python3 -c "print(round(1 - $pool_share - $std_pool_share, 6))")
if ! /usr/bin/python3 -c "import sys; sys.exit(not $embedding_share > 0)"; then
  echo "train-default.sh: INSTRID_POOL_SHARE + INSTRID_STD_POOL_SHARE = $pool_share +" \
      "$std_pool_share: the pool heads' shares leave the embedding head none (they must add" \
      "up to less than 1)" >&2
  exit 2
fi
if ! [[ "$threshold_mixes" =~ ^[0-9]+$ ]]; then
  echo "train-default.sh: INSTRID_THRESHOLD_MIXES='$threshold_mixes': not a count (0: thresholds" \
      "on the held-out clips alone)" >&2
  exit 2
fi
if [ "$mix_hours" != 0 ] && [ ! -d "$midi" ]; then
  echo "train-default.sh: INSTRID_MIDI='$midi': not a folder; the mixtures are rendered from MIDI" \
      "scores whose licence lets the model ship (the MIT-licensed MusicNet scores," \
      "docs/DATA.md), or INSTRID_MIX_HOURS=0 leaves them out" >&2
  exit 2
fi
[ -d build ] || meson setup build
meson compile -C build
mkdir -p "$work/cache"
if [ ! -f "$work/mn04.instrid" ]; then
  ./build/trainer/import/instrid-import "$pre/mn04_as_mAP_432.pt" \
      "$pre/audioset_class_labels_indices.csv" -o "$work/mn04.instrid.tmp"
  mv "$work/mn04.instrid.tmp" "$work/mn04.instrid"
fi
# The rendered corpora, each in $work/NAME and rendered again only when its label files are
# missing (instrid-render writes them last): the same seed, the same installed SoundFonts and
# kits and the same MIDI files give the same bytes. Every corpus uses the drum kits in
# $work/kits: the installed ones but the held-out validation source's (Colombo's acoustic kit).
link_kits() {
  [ -d "$work/kits" ] && return 0
  rm -rf "$work/kits.tmp" && mkdir -p "$work/kits.tmp"
  for k in "$kits"/*; do
    [ -d "$k" ] || continue
    case "$(basename "$k")" in *[Cc]olombo*) continue ;; esac  # colombo-adk: held out
    ln -s "$(realpath "$k")" "$work/kits.tmp/"
  done
  mv "$work/kits.tmp" "$work/kits"
}
extra=()
render() {  # render NAME instrid-render-arguments...
  local name=$1
  shift
  if [ ! -f "$work/$name/openmic/openmic-2018-aggregated-labels.csv" ]; then
    link_kits
    echo "train-default.sh: rendering $work/$name" >&2
    ./build/trainer/render/instrid-render --out "$work/$name" --drumkits "$work/kits" --jobs 2 \
        --quiet "$@"
  fi
  extra+=(--corpus-openmic "$work/$name/openmic")
}
# isolated notes through the GM SoundFonts and kits
[ "$notes" -gt 0 ] && render render-notes --notes "$notes" --seed 2
# isolated notes through the built-in synthesizer: every pitched class it has patches for but
# voice (its formant voices halved the held-out singer's AP, docs/MODEL.md); the drums and
# cymbals of the notes above suffice
[ "$synth_notes" -gt 0 ] && render render-synth --notes "$synth_notes" --synth-prob 1 \
    --class-weight drums=0 --class-weight cymbals=0 --class-weight voice=0 --seed 3
# mixtures of up to 4 parts from the MIDI scores, half of them over a generated drum part,
# classes drawn for 80% of the parts with the odds that balance the narrow-range classes
[ "$mix_hours" != 0 ] && render render-mix --layout openmic --hours "$mix_hours" \
    --drums-prob 0.5 --reassign-prob 0.8 --max-instruments 4 --class-weight flute=3 \
    --class-weight trumpet=2.5 --class-weight trombone=2 --class-weight saxophone=2 \
    --class-weight voice=2 --class-weight banjo=2 --class-weight ukulele=3 \
    --class-weight guitar=1.5 --match-register "$mix_match" --seed 7 "$midi"
# The shippable view of the tree ($work/real-ship): the same audio (linked), the partitions
# and validation.csv without the clips of sources whose licence does not allow shipping a model
# trained on them (ship = false in data/sources.toml, or not in the manifest at all). The
# licence line: the model is shared under CC BY-SA 4.0 (see docs/MODEL.md), with the
# attribution of mn04 and of every source with training clips in the view.
note=$(NOTES=$notes SYNTH=$synth_notes MIX=$mix_hours REAL_MIXES=$real_mixes \
    /usr/bin/python3 - "$real" "$work/real-ship" <<'EOF'
import csv, glob, os, sys, tomllib
real, view = sys.argv[1], sys.argv[2]
with open("data/sources.toml", "rb") as f:
    manifest = tomllib.load(f)
ship_default = manifest.get("defaults", {}).get("ship", True)
sources = {s["name"]: s for s in manifest["source"]}
dropped, train = set(), []
for path in sorted(glob.glob(os.path.join(real, "sources", "*.csv"))):
    name = os.path.basename(path)[:-4]
    with open(path) as f:
        rows = [r for r in csv.reader(f, delimiter="\t") if r and not r[0].startswith("#")]
    s = sources.get(name)
    if s is None or not s.get("ship", ship_default):
        dropped.update(r[0] for r in rows)
        print(f"train-default.sh: {name}: not shippable, left out", file=sys.stderr)
    elif any(len(r) > 3 and r[3] == "train" for r in rows):
        train.append(f"{name} ({s['licence']})")
os.makedirs(os.path.join(view, "partitions"), exist_ok=True)
for name in ("audio", "sources", "class-map.json", "openmic-2018-aggregated-labels.csv"):
    link = os.path.join(view, name)
    if not os.path.islink(link):
        os.symlink(os.path.abspath(os.path.join(real, name)), link)
for name in ("split01_train.csv", "split01_test.csv"):
    with open(os.path.join(real, "partitions", name)) as f:
        keys = [k.strip() for k in f if k.strip() and k.strip() not in dropped]
    with open(os.path.join(view, "partitions", name), "w") as f:
        f.write("".join(k + "\n" for k in keys))
with open(os.path.join(real, "validation.csv"), newline="") as f:
    rows = list(csv.reader(f))
with open(os.path.join(view, "validation.csv"), "w", newline="") as f:
    csv.writer(f).writerows([r for i, r in enumerate(rows)
                             if i == 0 or os.path.basename(r[0]).split(".")[0] not in dropped])
rendered = []
if os.environ.get("NOTES", "0") != "0":
    rendered.append("isolated notes rendered from the GM SoundFonts FluidR3_GM (MIT), TimGM6mb "
                    "(GPL-2) and MuseScore_General (MIT) and Hydrogen's drum kits (GPL-2+)")
if os.environ.get("SYNTH", "0") != "0":
    rendered.append("isolated notes of instrid-render's built-in synthesizer")
if os.environ.get("MIX", "0") != "0":
    rendered.append("mixtures rendered from the MusicNet scores (destin-v/music_identifier, MIT) "
                    "through those SoundFonts and kits")
if os.environ.get("REAL_MIXES", "0") != "0":
    rendered.append(f"{os.environ['REAL_MIXES']} mixtures of 2 to 4 of those recordings "
                    "(scripts/mix-real.py)")
rendered = "; and on " + "; ".join(rendered) if rendered else ""
print("licence: CC BY-SA 4.0 (instrid default model). Attribution: EfficientAT mn04 "
      "(Schmid, Koutini, Widmer; MIT; trained on AudioSet, labels CC BY 4.0); head trained on "
      + ", ".join(train) + rendered + "; see docs/MODEL.md")
EOF
)
# mixtures of the shippable view's training clips: viola's clips are not used as parts (with
# them the head heard a viola in every violin, docs/MODEL.md); viola stays labelled
if [ "$real_mixes" -gt 0 ]; then
  if [ ! -f "$work/real-mix/openmic-2018-aggregated-labels.csv" ]; then
    echo "train-default.sh: mixing $work/real-mix" >&2
    /usr/bin/python3 scripts/mix-real.py --tree "$work/real-ship" --split train \
        --mixtures "$real_mixes" --seed 1 --exclude viola --match-fraction "$real_match" \
        --out "$work/real-mix"
  fi
  extra+=(--corpus-openmic "$work/real-mix")
fi
./build/trainer/instrid-train --init "$work/mn04.instrid" --keep-source-head \
    --blend-source-head "$blend" --blend-mode "$blend_mode" \
    --unblended-out "$work/head-unblended.instrid" \
    --pool "$pool" --distill "$distill" --vector-cache "$work/vectors.bin" \
    --corpus-openmic "$work/real-ship" "${extra[@]}" --cache "$work/cache" --out "$out" --threads 2 \
    --epochs "$epochs" --lr 1e-3 --weight-decay 1e-4 --seed 1 --checkpoint "$work/train.ckpt" \
    --resume --provenance-note "$note"
# The heads on the pool: plainly (learning rate 3e-3) and with standardised inputs (3e-4), each
# trained when its share is above 0 (0, 0.0, 0.00: none), then every head's logits averaged.
pool_heads=()
pool_head() {  # pool_head NAME SHARE instrid-train-options...
  local name=$1 share=$2
  shift 2
  [[ "$share" =~ [1-9] ]] || return 0
  ./build/trainer/instrid-train --init "$work/mn04.instrid" --keep-source-head \
      --head-input pool --blend-source-head "$blend" --blend-mode "$blend_mode" \
      --pool "$pool" --distill "$distill" --vector-cache "$work/pool-vectors.bin" \
      --corpus-openmic "$work/real-ship" "${extra[@]}" --cache "$work/cache" \
      --out "$work/$name-head.instrid" --threads 2 --epochs "$epochs" "$@" \
      --weight-decay 1e-4 --seed 1 --checkpoint "$work/$name-train.ckpt" --resume \
      --provenance-note "$note"
  pool_heads+=(--pool-head "$work/$name-head.instrid" --pool-weight "$share")
}
pool_head pool "$pool_share" --lr 3e-3
pool_head pool-std "$std_pool_share" --standardize --lr 3e-4
if [ ${#pool_heads[@]} -gt 0 ]; then
  /usr/bin/python3 scripts/combine-heads.py --embedding-head "$out" "${pool_heads[@]}" \
      --out "$out" --weight "$embedding_share"
fi
# Thresholds: per class, F1-maximising at clip level through the element on the held-out real
# validation set (validation.csv: whole sources held out, non-music clips included), weighted
# 0.8 / 0.2 with F1 on mixtures of those held-out clips (seed 3: docs/MODEL.md measures on
# another draw, seed 2), raised above each class's 98th-percentile score on the held-out clips
# that do not hold it.
mix_args=()
if [ "$threshold_mixes" -gt 0 ]; then
  if [ ! -f "$work/heldout-mix/mixtures.csv" ]; then
    echo "train-default.sh: mixing $work/heldout-mix" >&2
    /usr/bin/python3 scripts/mix-real.py --tree "$work/real-ship" --split test \
        --mixtures "$threshold_mixes" --seed 3 --out "$work/heldout-mix"
  fi
  mix_args=(--mix-csv "$work/heldout-mix/mixtures.csv" --mix-weight 0.2)
fi
/usr/bin/python3 scripts/choose-thresholds.py --model "$out" --csv "$work/real-ship/validation.csv" \
    "${mix_args[@]}" --write
