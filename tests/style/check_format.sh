#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# Fails when a C source or header of the tree is not formatted per the checked-in .clang-format
# (clang-format --dry-run --Werror, one run over every file); skips (77) when clang-format is
# not installed. Usage: check_format.sh SOURCE_ROOT
root=${1:-.}
fmt=$(command -v clang-format || command -v clang-format-14 || true)
if [ -z "$fmt" ]; then
  echo "clang-format not found: skipping"
  exit 77
fi
cd "$root" || exit 1
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  files=$(git ls-files '*.c' '*.h')
else
  files=$(find . -path ./build -prune -o \( -name '*.c' -o -name '*.h' \) -print)
fi
# shellcheck disable=SC2086
out=$("$fmt" --dry-run --Werror $files 2>&1)
status=$?
if [ $status -ne 0 ]; then
  echo "$out" | grep -o '^[^:]*\.[ch]:' | sort -u | sed 's/:$//' |
    while read -r f; do echo "not formatted per .clang-format: $f (run: clang-format -i $f)"; done
  echo "$out" | head -40
  exit 1
fi
echo "every C file is formatted"
