#!/usr/bin/env bash
# Removes what `make install` copied: the files CMake listed in install_manifest.txt, and nothing else.
# Every listed path must lie under PREFIX, or nothing is removed (a manifest left by an install to
# another prefix). Folders stay: include/, lib/, share/man/man1/ are shared with other software.
# (CMake writes the manifest without a newline after the last path: the loops read that line too.)
# usage: scripts/uninstall.sh BUILD/install_manifest.txt PREFIX
set -euo pipefail
manifest=${1:?usage: scripts/uninstall.sh MANIFEST PREFIX}
prefix=${2:?usage: scripts/uninstall.sh MANIFEST PREFIX}
prefix=${prefix%/}
while IFS= read -r f || [ -n "$f" ]; do
  case $f in
    "$prefix"/*) ;;
    *) echo "uninstall: $manifest lists $f, which is not under $prefix (installed with another PREFIX?)" >&2
       exit 1 ;;
  esac
done <"$manifest"
n=0
while IFS= read -r f || [ -n "$f" ]; do
  if [ -e "$f" ] || [ -L "$f" ]; then
    rm -f -- "$f"
    echo "removed $f"
    n=$((n + 1))
  fi
done <"$manifest"
echo "uninstall: $n files removed from $prefix"
