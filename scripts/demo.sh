#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The main job: installs dependencies, builds, renders the built-in example and shows which
# instruments play in it over time, using the shipped default model.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps-debian.sh
[ -d build ] || meson setup build
meson compile -C build
example=build/example.wav
[ -f "$example" ] || ./build/trainer/render/instrid-render --example "$example"
export GST_PLUGIN_PATH="$PWD/build/gst-plugin${GST_PLUGIN_PATH:+:$GST_PLUGIN_PATH}"
./build/tools/identify/instrid-identify "$example" "$@"
