#!/bin/sh
# Fails when a C source or header of the tree is not formatted per the checked-in .clang-format
# (clang-format --dry-run --Werror); skips (77) when clang-format is not installed.
# Usage: check_format.sh SOURCE_ROOT
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
bad=0
for f in $files; do
  if ! "$fmt" --dry-run --Werror "$f" >/dev/null 2>&1; then
    echo "not formatted per .clang-format: $f (run: clang-format -i $f)"
    bad=$((bad + 1))
  fi
done
echo "$bad file(s) not formatted"
[ "$bad" -eq 0 ]
