#!/usr/bin/env bash
# test_cli_hostile.sh: `oneword` given odd options and files crafted as an attacker
# would (issue 18): numbers out of range refused with the accepted range (not a black
# image), an empty --outdir named as such, a refused write reported with errno's
# reason (RLIMIT_FSIZE: "File too large"; a full tmpfs, when this user may mount one:
# "No space left on device"), a seed range that would wrap refused, a --rename that can
# tell apart the same file given twice, stale temporaries of killed writes removed,
# and nothing from a file (names, tokens, tensor names, file names) reaching the
# terminal as a control sequence or a fake line. Files are crafted here with the shell.
# usage: test_cli_hostile.sh ONEWORD_BINARY SOURCE_ROOT
set -u
export LC_ALL=C
oneword=$(cd "$(dirname "$1")" && pwd)/$(basename "$1") # absolute: some checks run in another folder
root=$2
tiny="$root/tests/golden/tiny/sd-tiny-a"
embeddings="$root/tests/golden/embeddings"
work=$(mktemp -d)
mounted=""
cleanup() {
    [ -n "$mounted" ] && umount "$mounted" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT
. "$(dirname "$0")/cli_checks.sh"




# no_raw_controls NAME FILE...: none of ESC, DEL or a C1 control (U+0080..U+009F) in the files.
no_raw_controls() {
    local name=$1
    shift
    if cat "$@" | grep -q $'\x1b\|\x7f\|\xc2[\x80-\x9f]'; then
        fail "$name: a raw control character reached the terminal: $(cat "$@" | grep -a $'\x1b\|\x7f\|\xc2[\x80-\x9f]' | head -2 | od -c | head -4)"
    else
        pass "$name"
    fi
}

gen=(generate --model "$tiny" --prompt "a cat" --steps 2 --n-samples 1 --width 64 --height 64 --threads 2)

# A diffusers folder of Stable Diffusion 2.x shape (1024-wide cross-attention and text
# encoder): refused by name before its weights are read.
mkdir -p "$work/sd2"
for part in text_encoder unet vae scheduler tokenizer; do
    [ -d "$tiny/$part" ] && cp -r "$tiny/$part" "$work/sd2/"
done
cp "$tiny/model_index.json" "$work/sd2/" 2>/dev/null
sed -i 's/"cross_attention_dim": *[0-9]*/"cross_attention_dim": 1024/' "$work/sd2/unet/config.json"
sed -i 's/"hidden_size": *[0-9]*/"hidden_size": 1024/' "$work/sd2/text_encoder/config.json"
expect_fail "an SD 2.x diffusers folder" "Stable Diffusion 2.x model" generate --model "$work/sd2" --prompt "a cat" \
    --steps 2 --n-samples 1 --width 64 --height 64 --outdir "$work/o2"

# ---- 1. numbers out of range: refused with the range, before anything is loaded ----
expect_fail "--scale 1e38 (finite, absurd: a black image before)" "--scale must be a number from 0 to 100" \
    "${gen[@]}" --outdir "$work/o" --scale 1e38
expect_fail "--scale inf" "--scale must be a number from 0 to 100" "${gen[@]}" --outdir "$work/o" --scale inf
expect_fail "--scale nan" "--scale must be a number from 0 to 100" "${gen[@]}" --outdir "$work/o" --scale nan
expect_fail "--scale -1" "--scale must be a number from 0 to 100" "${gen[@]}" --outdir "$work/o" --scale -1
expect_fail "--eta 2" "--eta must be a number from 0 to 1" "${gen[@]}" --outdir "$work/o" --eta 2
expect_fail "--steps 0" "--steps must be a whole number from 1 to 1000" "${gen[@]}" --outdir "$work/o" --steps 0
expect_fail "--n-iter 0" "--n-iter must be a whole number from 1 to 10000" "${gen[@]}" --outdir "$work/o" --n-iter 0
expect_fail "--width 99999" "--width must be a whole number from 8 to 8192" "${gen[@]}" --outdir "$work/o" --width 99999
expect_fail "--clip-skip 13" "--clip-skip must be a whole number from 1 to 12" "${gen[@]}" --outdir "$work/o" --clip-skip 13
expect_fail "--seed ' -1' (strtoull made it 2^64-1 before)" "--seed must be a whole number" "${gen[@]}" --outdir "$work/o" --seed " -1"
[ ! -e "$work/o" ] && pass "refused options create no output folder" || fail "refused options created $work/o"
expect_ok "--scale 100 (the top of the range) generates" "${gen[@]}" --outdir "$work/scale100" --scale 100
if "$oneword" --help | grep -qF -- "--scale 0..100"; then pass "--help states the ranges"; else fail "--help lacks the ranges"; fi

# ---- 2. --outdir "" ----
expect_fail "--outdir '' (said 'cannot create output folder '/samples': File name too long' before)" \
    "--outdir is empty" "${gen[@]}" --outdir ""

# ---- 4. seed + n_iter - 1 must fit in 64 bits ----
expect_fail "--seed 2^64-1 --n-iter 2 (wrapped to seed 0 before)" "use a --seed of at most 18446744073709551614" \
    "${gen[@]}" --outdir "$work/wrap" --seed 18446744073709551615 --n-iter 2
expect_ok "--seed 2^64-2 --n-iter 2 (the last batch gets 2^64-1)" "${gen[@]}" --outdir "$work/edge" \
    --seed 18446744073709551614 --n-iter 2
if grep -aq "Seed: 18446744073709551615," "$work/edge/samples/00001.png"; then
    pass "batch 2 records seed 18446744073709551615"
else
    fail "batch 2 seed: $(grep -ao 'Seed: [0-9]*' "$work/edge/samples/00001.png")"
fi

# ---- 3. a write the system refuses: errno's reason, not "cannot encode PNG" ----
# RLIMIT_FSIZE (works for any user): writes past 1 KiB fail with EFBIG, SIGXFSZ ignored.
mkdir -p "$work/limit"
(trap '' XFSZ; ulimit -f 1; exec "$oneword" "${gen[@]}" --outdir "$work/limit") >"$work/out" 2>"$work/err"
rc=$?
if [ $rc -eq 1 ] && grep -q "cannot write PNG .*File too large" "$work/err" && ! grep -q "libpng error" "$work/err"; then
    pass "PNG past RLIMIT_FSIZE: $(grep '^oneword:' "$work/err" | head -1)"
else
    fail "PNG past RLIMIT_FSIZE: exit $rc; stderr: $(tail -c 300 "$work/err")"
fi
[ -z "$(ls -A "$work/limit/samples" 2>/dev/null)" ] && pass "the refused PNG leaves no temporary" \
    || fail "left in samples/: $(ls -A "$work/limit/samples")"
for ext in pt json safetensors; do
    (trap '' XFSZ; ulimit -f 1; exec "$oneword" convert "$embeddings/a1111_f32.pt" "$work/limit/big.$ext") >"$work/out" 2>"$work/err"
    rc=$?
    if [ $rc -eq 1 ] && grep -q "File too large" "$work/err"; then
        pass "convert to .$ext past RLIMIT_FSIZE: $(head -1 "$work/err")"
    else
        fail "convert to .$ext past RLIMIT_FSIZE: exit $rc; stderr: $(tail -c 300 "$work/err")"
    fi
done
# A full file system (ENOSPC): a small tmpfs, where this user may mount one (root with CAP_SYS_ADMIN).
mkdir -p "$work/full"
if mount -t tmpfs -o size=256k tmpfs "$work/full" 2>/dev/null; then
    mounted="$work/full"
    mkdir -p "$work/full/out/samples"
    cat /dev/zero >"$work/full/filler" 2>/dev/null
    "$oneword" "${gen[@]}" --outdir "$work/full/out" >"$work/out" 2>"$work/err"
    rc=$?
    if [ $rc -eq 1 ] && grep -q "No space left on device" "$work/err"; then
        pass "PNG on a full tmpfs: $(grep '^oneword:' "$work/err" | head -1)"
    else
        fail "PNG on a full tmpfs: exit $rc; stderr: $(tail -c 300 "$work/err")"
    fi
    umount "$work/full" && mounted=""
else
    echo "skip full-disk (ENOSPC) check: cannot mount a tmpfs here (needs root with CAP_SYS_ADMIN);"
    echo "     the RLIMIT_FSIZE checks above take the same errno path"
fi

# ---- 5. merge the same file twice ----
cp "$embeddings/a1111_f32.pt" "$work/a.pt" # one token, 'my-cat' (its A1111 name), kept under '*' in the file
(cd "$work" && "$oneword" merge a.pt a.pt -o two.pt) >"$work/out" 2>"$work/err"
if grep -qF "e.g. --rename '#2:my-cat=NEW'" "$work/err"; then
    pass "the clash message says how to resolve it: $(head -1 "$work/err")"
else
    fail "clash message: $(cat "$work/err")"
fi
(cd "$work" && "$oneword" merge a.pt a.pt --rename 'a.pt:*=@' -o two.pt) >"$work/out" 2>"$work/err"
if [ $? -eq 0 ] && grep -q "^  @ .*from a.pt" "$work/out" && grep -q "^  my-cat .*from a.pt" "$work/out"; then
    pass "merge a.pt a.pt --rename 'a.pt:*=@' renames the first a.pt"
else
    fail "merge a.pt a.pt --rename 'a.pt:*=@': $(cat "$work/out" "$work/err")"
fi
(cd "$work" && "$oneword" merge a.pt a.pt --rename 'a.pt:*=cat-1' --rename 'a.pt:*=cat-2' -o two.pt) >"$work/out" 2>"$work/err"
if [ $? -eq 0 ] && grep -q "^  cat-1 " "$work/out" && grep -q "^  cat-2 " "$work/out"; then
    pass "a second --rename of the same FILE takes the second a.pt"
else
    fail "two renames of a.pt: $(cat "$work/out" "$work/err")"
fi
(cd "$work" && "$oneword" merge a.pt a.pt --rename '#2:my-cat=second' -o two.pt) >"$work/out" 2>"$work/err"
if [ $? -eq 0 ] && grep -q "^  my-cat " "$work/out" && grep -q "^  second " "$work/out"; then
    pass "--rename '#2:my-cat=second' addresses the second input"
else
    fail "--rename '#2:...': $(cat "$work/out" "$work/err")"
fi
(cd "$work" && "$oneword" merge a.pt a.pt --rename '#3:my-cat=x' -o two.pt) >"$work/out" 2>"$work/err"
[ $? -eq 2 ] && grep -qF "inputs: #1 a.pt, #2 a.pt" "$work/err" && pass "an unknown #N lists the inputs: $(cat "$work/err")" \
    || fail "--rename '#3:...': $(cat "$work/err")"

# ---- 6. stale temporaries of a killed write are removed by the next write ----
mkdir -p "$work/stale/samples"
touch -d '2 hours ago' "$work/stale/samples/.00000.png.oneword-tmp-Stale1" "$work/stale/samples/notes.txt" \
    "$work/stale/samples/.00000.png.tmp-Stale1"
touch "$work/stale/samples/.00000.png.oneword-tmp-Fresh1"
expect_ok "generate beside leftovers" "${gen[@]}" --outdir "$work/stale"
[ ! -e "$work/stale/samples/.00000.png.oneword-tmp-Stale1" ] && pass "a 2-hour-old temporary of ours is removed" \
    || fail "the stale temporary is still there"
[ -e "$work/stale/samples/.00000.png.oneword-tmp-Fresh1" ] && pass "a fresh temporary (maybe a live writer's) is kept" \
    || fail "the fresh temporary was removed"
[ -e "$work/stale/samples/notes.txt" ] && [ -e "$work/stale/samples/.00000.png.tmp-Stale1" ] \
    && pass "files outside our exact pattern are kept" || fail "a file outside the pattern was removed"

# ---- 7. text from files is shown escaped ----
vector=$(printf '0.25, %.0s' $(seq 1 767))0.25
printf '{"format": "oneword-embedding", "name": "evil\\u001b[2J\\nfake: line\\u007f\\u009b", "step": 1, "tokens": [{"token": "<ok>", "dtype": "F32", "vectors": [[%s]]}]}\n' \
    "$vector" >"$work/evil-name.json"
expect_ok "inspect an embedding whose name holds ESC [2J, a newline, DEL and C1 CSI" inspect "$work/evil-name.json"
no_raw_controls "inspect shows the name escaped" "$work/out" "$work/err"
grep -q '^fake: line' "$work/out" && fail "the name's newline made a fake line" || pass "no fake line from the name"
grep -qF 'evil\x1b[2J\nfake: line\x7f\u009b' "$work/out" && pass "the name is shown as evil\\x1b[2J\\nfake: line\\x7f\\u009b" \
    || fail "name shown as: $(grep '^name:' "$work/out")"
expect_ok "inspect --json of it" inspect "$work/evil-name.json" --json
no_raw_controls "inspect --json escapes ESC, DEL and C1 (\\u001b, \\u007f, \\u009b)" "$work/out"
grep -qF '"name": "evil\u001b[2J\nfake: line\u007f\u009b"' "$work/out" && pass "the JSON string is exact (same text once parsed)" \
    || fail "JSON name: $(grep '"name"' "$work/out")"
printf '{"format": "oneword-embedding", "name": "n", "step": 1, "tokens": [{"token": "<c1\\u009b2J>", "dtype": "F32", "vectors": [[%s]]}]}\n' \
    "$vector" >"$work/evil-token.json"
"$oneword" inspect "$work/evil-token.json" >"$work/out" 2>"$work/err"
no_raw_controls "a token with C1 CSI (shown or refused) stays escaped" "$work/out" "$work/err"
cp "$work/evil-name.json" "$work/"$'esc\x1b[2J.json'
(cd "$work" && "$oneword" merge $'esc\x1b[2J.json' -o merged.pt) >"$work/out" 2>"$work/err"
grep -qF 'from esc\x1b[2J.json' "$work/out" && pass "merge lists the source as esc\\x1b[2J.json" \
    || fail "merge output: $(cat "$work/out" "$work/err")"
no_raw_controls "merge output names its source file escaped" "$work/out" "$work/err"
expect_fail "a model path with ESC in an error" 'x\x1b[2J' "${gen[@]}" --outdir "$work/o" --model "$work/x"$'\x1b[2J'
no_raw_controls "the error shows the path escaped" "$work/err"
mkdir -p "$work/edir"
printf 'junk' >"$work/edir/"$'bad\x1b[2J.pt'
"$oneword" "${gen[@]}" --outdir "$work/edir-out" --embedding-dir "$work/edir" >"$work/out" 2>"$work/err"
grep -q "skipping embedding" "$work/err" && pass "a bad file in --embedding-dir is skipped with a warning" \
    || fail "no skip warning: $(tail -c 300 "$work/err")"
no_raw_controls "the engine's warning (a log line) shows the file name escaped" "$work/err"

# A checkpoint with one more tensor, named "ESC[2J<newline>fake: line" (first in its header):
# `inspect` quotes it as an example of the ignored tensors.
src="$root/tests/golden/tiny/sd-tiny-a.safetensors"
header_len=$(od -An -t u8 -N8 "$src" | tr -d ' ')
data_len=$(($(stat -c %s "$src") - 8 - header_len))
header=$(tail -c +9 "$src" | head -c "$header_len")
header="{\"\\u001b[2J\\nfake: line\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[$data_len,$((data_len + 4))]},${header#\{}"
while [ $((${#header} % 8)) -ne 0 ]; do header+=" "; done
length_bytes=""
for shift in 0 8 16 24 32 40 48 56; do length_bytes+=$(printf '\\x%02x' $(((${#header} >> shift) & 255))); done
{ printf "$length_bytes"; printf '%s' "$header"; tail -c +$((9 + header_len)) "$src"; printf '\0\0\0\0'; } >"$work/evil-names.safetensors"
expect_ok "inspect a checkpoint with an ESC in a tensor name" inspect "$work/evil-names.safetensors"
grep -qF '\x1b[2J' "$work/out" && pass "the tensor name is quoted: $(grep -F 'e.g.' "$work/out")" \
    || fail "the crafted tensor name is not quoted: $(tail -3 "$work/out")"
no_raw_controls "checkpoint inspect shows the tensor name escaped" "$work/out"
grep -q '^fake: line' "$work/out" && fail "fake line from a tensor name" || pass "no fake line from a tensor name"

echo "$passed passed, $failed failed"
[ $failed -eq 0 ]
