#!/usr/bin/env bash
# Installs what instrid needs to build, test, train and benchmark on Debian 12.
# Runs apt-get through sudo when not root. Safe to run again.
set -euo pipefail
pkgs=(
  build-essential meson ninja-build pkg-config
  libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev
  gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-libav
  libfftw3-dev libopenblas-dev
  libfluidsynth-dev fluid-soundfont-gm timgm6mb-soundfont musescore-general-soundfont hydrogen-drumkits
  python3-numpy python3-gi python3-gst-1.0
  valgrind time
)
# Optional: only the benchmarks use PyTorch (INSTRID_WITH_TORCH=0 skips its 1 GB install).
if [ "${INSTRID_WITH_TORCH:-1}" = 1 ]; then pkgs+=(python3-torch); fi
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
