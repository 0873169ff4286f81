#!/usr/bin/env bash
# install.sh: installs the Debian packages oneword needs, builds it, installs the
# `oneword` command into ~/.local/bin, and runs a short check of the engine.
set -eu
root=$(cd "$(dirname "$0")" && pwd)
cd "$root"
./tools/install-deps.sh
meson setup build/release --buildtype=release --prefix="$HOME/.local" --reconfigure 2>/dev/null \
    || meson setup build/release --buildtype=release --prefix="$HOME/.local"
meson compile -C build/release
meson install -C build/release --quiet
echo
echo "installed: $HOME/.local/bin/oneword"
"$HOME/.local/bin/oneword" --version
case ":$PATH:" in *":$HOME/.local/bin:"*) ;; *) echo "note: add $HOME/.local/bin to your PATH";; esac
