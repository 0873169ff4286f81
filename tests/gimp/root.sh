#!/usr/bin/env bash
# tests/gimp/root.sh: a Debian 13 "trixie" root with GIMP 3 (libgimp-3.0-dev) and the
# engine's build dependencies, made with debootstrap and cached, for building and
# running the plug-in against a real GIMP 3 on a Debian 12 host (../shared/GIMP3-TESTING.md).
#
#   tests/gimp/root.sh path
#       builds the root when missing and prints its path (last line of stdout)
#   tests/gimp/root.sh run [--bind HOST_DIR:ROOT_DIR]... -- COMMAND [ARG]...
#       runs COMMAND inside the root with a clean environment (PATH, HOME=/tmp,
#       LANG=C.UTF-8 and the OW_/OMP_ variables of the caller), proc and /dev mounted
#       and the given folders bind-mounted; everything is unmounted on exit, also
#       on failure or Ctrl-C.
#
# The cache: $ONEWORD_CACHE (default ~/.cache/oneword)/gimp3-root-HASH, where HASH
# covers the package list, the suite and the mirror, so the root is rebuilt only when
# one of them changes; a root is built under a temporary name and renamed when
# complete, so a half-built root is never used. Older roots are removed.
# The mirror is the one the host's apt sources use ($ONEWORD_DEBIAN_MIRROR overrides).
# Needs root (debootstrap, chroot, mount). Exit status 3: the root cannot be built
# here (no debootstrap, no mirror, no network); the message says why.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)

suite=trixie
# xvfb, xauth, imagemagick: the interactive dialogs under a virtual X server
# (tests/gimp/screenshots.sh).
gimp_packages=(gimp libgimp-3.0-dev ca-certificates xvfb xauth imagemagick)
mapfile -t engine_packages < <("$repo/tools/install-deps.sh" --list)
packages=("${gimp_packages[@]}" "${engine_packages[@]}")

die() { echo "tests/gimp/root.sh: $*" >&2; exit 3; }

host_mirror() {
    if [ -n "${ONEWORD_DEBIAN_MIRROR:-}" ]; then echo "$ONEWORD_DEBIAN_MIRROR"; return; fi
    local f uri
    # deb822 sources: the first URIs line of a stanza that is not the security archive.
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        uri=$(awk '/^URIs:/ { for (i = 2; i <= NF; i++) if ($i !~ /security/) { print $i; exit } }' "$f")
        [ -n "$uri" ] && { echo "$uri"; return; }
    done
    # one-line sources: "deb [options] URI suite components"
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -f "$f" ] || continue
        uri=$(awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { if ($i !~ /security/) print $i; break } }' "$f" | head -n 1)
        [ -n "$uri" ] && { echo "$uri"; return; }
    done
    return 1
}

cache=${ONEWORD_CACHE:-$HOME/.cache/oneword}
mirror=$(host_mirror) || die "cannot find a Debian mirror in the host's apt sources (/etc/apt/sources.list*); set ONEWORD_DEBIAN_MIRROR"
hash=$( { echo "$suite $mirror"; printf '%s\n' "${packages[@]}" | sort; } | sha256sum | cut -c1-16)
root_dir="$cache/gimp3-root-$hash"

# The mount points under a folder, deepest first (from /proc/self/mountinfo).
mounts_under() {
    awk -v p="$1" '$5 == p || index($5, p "/") == 1 { print $5 }' /proc/self/mountinfo | sort -r
}

unmount_under() {
    local m
    for m in $(mounts_under "$1"); do
        umount "$m" 2>/dev/null || umount -l "$m" || true
    done
    [ -z "$(mounts_under "$1")" ] || { echo "tests/gimp/root.sh: mounts left under $1" >&2; return 1; }
}

# Removes a root folder, never through a mount point (a bind-mounted /dev or source tree).
remove_root() {
    unmount_under "$1" || die "refusing to remove $1: it still has mounts"
    rm -rf --one-file-system "$1"
}

mount_root() {  # ROOT
    mount -t proc proc "$1/proc"
    mount --bind /dev "$1/dev"
    cp -L /etc/resolv.conf "$1/etc/resolv.conf" 2>/dev/null || true
}

in_root() {  # ROOT COMMAND...: a clean environment inside the root
    local r=$1; shift
    local envs=(PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/tmp LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive)
    local v
    for v in $(compgen -e); do
        case $v in OW_*|OMP_*|ONEWORD_*) envs+=("$v=${!v}") ;; esac
    done
    chroot "$r" /usr/bin/env -i "${envs[@]}" "$@"
}

build_root() {
    command -v debootstrap >/dev/null || die "debootstrap is not installed (tools/install-deps.sh --test installs it): cannot build the GIMP 3 root"
    [ "$(id -u)" -eq 0 ] || die "building the GIMP 3 root needs root (debootstrap, chroot)"
    mkdir -p "$cache"
    tmp="$root_dir.partial"  # global: the EXIT trap needs it
    [ -e "$tmp" ] && remove_root "$tmp"
    local t0=$SECONDS
    echo "tests/gimp/root.sh: building the Debian 13 root with GIMP 3 in $root_dir (mirror $mirror; a few minutes, once)" >&2
    debootstrap --variant=minbase --include=ca-certificates "$suite" "$tmp" "$mirror" >"$cache/debootstrap.log" 2>&1 ||
        { tail -n 5 "$cache/debootstrap.log" >&2; remove_root "$tmp"
          die "debootstrap $suite from $mirror failed (network? see $cache/debootstrap.log)"; }
    trap 'unmount_under "$tmp"' EXIT
    mount_root "$tmp"
    if ! { in_root "$tmp" apt-get update -qq &&
           in_root "$tmp" apt-get install -y -qq --no-install-recommends "${packages[@]}"; } >"$cache/apt.log" 2>&1; then
        tail -n 5 "$cache/apt.log" >&2
        remove_root "$tmp"
        die "installing GIMP 3 in the root failed (see $cache/apt.log)"
    fi
    in_root "$tmp" apt-get clean
    unmount_under "$tmp"
    trap - EXIT
    printf '%s\n' "${packages[@]}" >"$tmp/oneword-packages.txt"
    mv "$tmp" "$root_dir"
    # Older roots (another package list) are 1.8 GB each: keep only this one.
    local old
    for old in "$cache"/gimp3-root-*; do
        [ "$old" = "$root_dir" ] || [ ! -d "$old" ] || remove_root "$old"
    done
    echo "tests/gimp/root.sh: root ready in $((SECONDS - t0)) s" >&2
}

ensure_root() {
    mkdir -p "$cache"
    exec 9>"$cache/gimp3-root.lock"
    flock 9
    [ -f "$root_dir/oneword-packages.txt" ] || build_root
}

case "${1:-}" in
    path)
        ensure_root
        echo "$root_dir"
        ;;
    run)
        shift
        binds=()
        while [ $# -gt 0 ] && [ "$1" != "--" ]; do
            case $1 in
                --bind) binds+=("$2"); shift 2 ;;
                *) die "run: unknown option $1" ;;
            esac
        done
        [ "${1:-}" = "--" ] && shift
        [ $# -gt 0 ] || die "run: no command"
        ensure_root
        unmount_under "$root_dir"  # left by a killed run
        trap 'unmount_under "$root_dir"' EXIT
        trap 'exit 130' INT TERM
        mount_root "$root_dir"
        for b in "${binds[@]}"; do
            src=${b%%:*}
            dst=$root_dir${b#*:}
            mkdir -p "$dst"
            mount --bind "$src" "$dst"
        done
        status=0
        in_root "$root_dir" "$@" || status=$?
        exit "$status"
        ;;
    *)
        sed -n '2,20s/^# \{0,1\}//p' "$0" >&2
        exit 2
        ;;
esac
