#!/usr/bin/env bash
# install.sh: installs the Debian packages oneword needs (apt), builds it, installs
# the `oneword` command into ~/.local/bin (and the CLIP vocabulary into
# ~/.local/share/oneword), the GIMP 3 plug-in into ~/.config/GIMP/3.0/plug-ins/ when
# GIMP 3 is installed (or says what to do when it is not), then runs a short demo on
# the bundled shapes model and says where the picture is.
set -eu
root=$(cd "$(dirname "$0")" && pwd)
cd "$root"
./tools/install-deps.sh

# GIMP 3: the plug-in needs libgimp-3.0-dev to build; install it when GIMP 3 is there.
gimp3=no
if command -v gimp-3.0 >/dev/null || command -v gimp-console-3.0 >/dev/null || pkg-config --exists gimp-3.0; then
    gimp3=yes
    if ! pkg-config --exists gimp-3.0; then
        echo "GIMP 3 found; installing libgimp-3.0-dev to build the plug-in"
        sudo_cmd=()
        [ "$(id -u)" -ne 0 ] && sudo_cmd=(sudo)
        DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends libgimp-3.0-dev ||
            gimp3=no-dev
    fi
fi
gimp_option=-Dgimp=disabled
[ "$gimp3" = yes ] && gimp_option=-Dgimp=enabled

prefix="$HOME/.local"
if [ -d build/release ]; then
    meson setup --reconfigure build/release --buildtype=release --prefix="$prefix" "$gimp_option" >/dev/null
else
    meson setup build/release --buildtype=release --prefix="$prefix" "$gimp_option" >/dev/null
fi
meson compile -C build/release
meson install -C build/release --quiet
oneword="$prefix/bin/oneword"
echo
echo "installed: $oneword ($("$oneword" --version))"

# GIMP looks for plug-ins in folders named like their executable.
plugin_dir="${XDG_CONFIG_HOME:-$HOME/.config}/GIMP/3.0/plug-ins/oneword-gimp"
case $gimp3 in
    yes)
        mkdir -p "$plugin_dir"
        install -m 755 build/release/plugin/oneword-gimp "$plugin_dir/oneword-gimp"
        echo "installed the GIMP 3 plug-in: $plugin_dir/oneword-gimp (restart GIMP; menus under Filters > Concepts)"
        ;;
    no-dev)
        echo "GIMP 3 is installed but libgimp-3.0-dev could not be installed, so the plug-in was not built:"
        echo "  install libgimp-3.0-dev and run ./install.sh again"
        ;;
    *)
        if command -v gimp >/dev/null || command -v gimp-2.10 >/dev/null; then
            echo "GIMP plug-in not installed: the GIMP here is $(gimp --version 2>/dev/null | head -n 1 || echo 2.10),"
        else
            echo "GIMP plug-in not installed: GIMP 3 is not installed."
        fi
        echo "  The plug-in needs GIMP 3 (gimp-3.0 and libgimp-3.0-dev); Debian 12 ships GIMP 2.10, which cannot"
        echo "  load it. Debian 13 (trixie) and later ship GIMP 3: there, 'apt install gimp libgimp-3.0-dev' and"
        echo "  run ./install.sh again. The oneword command works without it; tests/gimp/run tests the plug-in"
        echo "  in a Debian 13 root with GIMP 3."
        ;;
esac

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
