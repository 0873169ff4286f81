#!/usr/bin/env bash
# tools/install-deps.sh: installs the Debian packages the build and the tests need.
# Used by install.sh and tests/run; does nothing when everything is present.
# --check: exit 0 if all are installed, 1 otherwise (installs nothing).
# --test:  also what only the test suite needs (clang + libFuzzer for tests/fuzz, unzip,
#          debootstrap for the Debian 13 root the GIMP 3 tests run in: tests/gimp/root.sh).
# --list:  print the build packages, one a line, and exit (tests/gimp/root.sh installs
#          the same ones inside its GIMP 3 root).
set -eu
packages=(meson ninja-build pkg-config gcc libopenblas-dev libdnnl-dev libjson-c-dev libzip-dev libpng-dev libjpeg-dev libwebp-dev
          libtiff-dev zlib1g-dev libyaml-dev)
if [ "${1:-}" = "--list" ]; then
    printf '%s\n' "${packages[@]}"
    exit 0
fi
if [ "${1:-}" = "--test" ]; then
    packages+=(clang libclang-rt-14-dev unzip debootstrap)
    shift
fi
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${1:-}" = "--check" ]; then
    [ ${#missing[@]} -eq 0 ]
    exit
fi
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing: ${missing[*]}"
sudo_cmd=()
[ "$(id -u)" -ne 0 ] && sudo_cmd=(sudo)
"${sudo_cmd[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
