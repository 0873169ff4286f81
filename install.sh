#!/usr/bin/env bash
# install.sh: installs the Debian packages oneword needs (apt), builds it, installs
# the `oneword` command into ~/.local/bin (and the CLIP vocabulary into
# ~/.local/share/oneword), then runs a short demo on the bundled shapes model and
# says where the picture is.
set -eu
root=$(cd "$(dirname "$0")" && pwd)
cd "$root"
./tools/install-deps.sh
prefix="$HOME/.local"
if [ -d build/release ]; then
    meson setup --reconfigure build/release --buildtype=release --prefix="$prefix" >/dev/null
else
    meson setup build/release --buildtype=release --prefix="$prefix" >/dev/null
fi
meson compile -C build/release
meson install -C build/release --quiet
oneword="$prefix/bin/oneword"
echo
echo "installed: $oneword ($("$oneword" --version))"

# Demo: the shapes model when it is bundled, else the tiny random test model
# (whose pictures are noise: it proves the engine runs, not that it draws).
model=resources/shapes
prompt="an orange circle on a purple background"
demo=(--sampler euler --steps 20 --scale 9 --seed 1012 --n-samples 4 --width 64 --height 64)
if [ ! -f "$model/model_index.json" ]; then
    model=tests/golden/tiny/sd-tiny-a
    prompt="a photo of a cat"
fi
outdir="$root/build/demo"
echo "demo: oneword generate --model $model --prompt \"$prompt\" ${demo[*]} --outdir $outdir"
"$oneword" generate --model "$model" --prompt "$prompt" "${demo[@]}" --outdir "$outdir" >/dev/null
echo "demo pictures: $outdir/samples/ (one PNG per image) and $outdir/grid.png"
case ":$PATH:" in *":$prefix/bin:"*) ;; *) echo "note: add $prefix/bin to your PATH to run 'oneword' by name";; esac
