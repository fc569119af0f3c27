#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Installs what instrid needs on Debian 12. Runs apt-get through sudo when not root; safe to
# run again.
#   bash scripts/deps-debian.sh            everything: build, all tools, tests, training, CI
#   bash scripts/deps-debian.sh --element  only what building and using the element needs
#                                          (the tools that need more are then left out)
set -euo pipefail
set_name=full
case "${1:-}" in
  --element) set_name=element ;;
  --full|"") ;;
  *) echo "usage: $0 [--element|--full]" >&2; exit 2 ;;
esac
# The element, its library and instrid-identify: a C compiler, meson, GStreamer's core and
# base plugins (decoders for Ogg/Vorbis/Opus/WAV), FFTW and OpenBLAS.
pkgs=(
  build-essential meson ninja-build pkg-config
  libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev
  gstreamer1.0-tools gstreamer1.0-plugins-base
  libfftw3-dev libopenblas-dev
)
if [ "$set_name" = full ]; then
  pkgs+=(
    # more decoders and encoders (FLAC, MP3, AAC/M4A): the tools and tests read and make them
    gstreamer1.0-plugins-good gstreamer1.0-libav
    # instrid-tag: TagLib (C++) for the tags, json-glib for --merge
    libtag1-dev libjson-glib-dev
    # instrid-render: FluidSynth, General MIDI SoundFonts and drum kits (~460 MB)
    libfluidsynth-dev fluid-soundfont-gm timgm6mb-soundfont musescore-general-soundfont
    hydrogen-drumkits
    # tests: Python through PyGObject, the GTK 4 example under Xvfb, GNU parallel for the
    # sharding example, valgrind
    python3-numpy python3-gi python3-gst-1.0 gir1.2-gtk-4.0 xvfb xauth parallel
    valgrind time
  )
  # Optional: only the benchmarks use PyTorch (INSTRID_WITH_TORCH=0 skips its 1 GB install).
  if [ "${INSTRID_WITH_TORCH:-1}" = 1 ]; then pkgs+=(python3-torch); fi
  # Optional: libFuzzer comes with clang (INSTRID_WITH_FUZZ=1, set by scripts/fuzz.sh).
  if [ "${INSTRID_WITH_FUZZ:-0}" = 1 ]; then pkgs+=(clang-14 libclang-rt-14-dev); fi
fi
SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "instrid: installing ${missing[*]}" >&2
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
