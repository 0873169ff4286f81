#!/bin/bash
# test_cli_embeddings.sh: `oneword inspect | convert | merge` on embedding files and
# `oneword generate --embedding/--embedding-dir` on the tiny model: what is printed,
# exit codes, files written, and errors for hostile, mismatched and clashing files.
# usage: test_cli_embeddings.sh ONEWORD_BINARY SOURCE_ROOT
set -u
oneword=$1
root=$2
golden="$root/tests/golden/embeddings"
tiny="$root/tests/golden/tiny/sd-tiny-a"
work=$(mktemp -d /tmp/ow_cli_emb_XXXXXX)
trap 'rm -rf "$work"' EXIT
failures=0
checks=0

ok() { checks=$((checks + 1)); echo "ok   $1"; }
bad() { checks=$((checks + 1)); failures=$((failures + 1)); echo "FAIL $1" >&2; sed 's/^/     | /' "$work/err" "$work/out" >&2; }

# A sanitizer report anywhere is a failure, whatever the exit code.
clean() { ! grep -qE "Sanitizer|runtime error" "$work/err"; }

# expect_ok NAME PATTERN ARGS...: exit 0 and stdout matches PATTERN (grep -E)
expect_ok() {
    local name=$1 pattern=$2; shift 2
    if "$oneword" "$@" >"$work/out" 2>"$work/err" && grep -qE -- "$pattern" "$work/out" && clean; then ok "$name"; else bad "$name"; fi
}
# expect_fail NAME PATTERN ARGS...: non-zero exit (not a crash) and stderr matches PATTERN
expect_fail() {
    local name=$1 pattern=$2; shift 2
    "$oneword" "$@" >"$work/out" 2>"$work/err"
    local rc=$?
    if [ $rc -ne 0 ] && [ $rc -lt 128 ] && grep -qE -- "$pattern" "$work/err" && clean; then
        ok "$name (exit $rc): $(head -c 200 "$work/err" | tr '\n' ' ')"
    else
        echo "     exit $rc" >&2; bad "$name"
    fi
}

# ---- inspect ----
expect_ok "inspect A1111 .pt" "format: +A1111 .pt" inspect "$golden/a1111_f32.pt"
expect_ok "inspect shows step" "step: +3000" inspect "$golden/a1111_f32.pt"
expect_ok "inspect shows the checkpoint" "checkpoint: a9e5b1f6 \(v1-5-pruned-emaonly\)" inspect "$golden/a1111_f32.pt"
expect_ok "inspect shows tokens and vectors" "my-cat +4 vectors x 768  F32" inspect "$golden/a1111_f32.pt"
expect_ok "inspect bf16" "dtype: +BF16" inspect "$golden/a1111_bf16.pt"
expect_ok "inspect LDM 1280" "made for: +LDM text-to-image \(BERT text encoder, 1280\)" inspect "$golden/ref_ldm.pt"
expect_ok "inspect SDXL" "made for: +SDXL" inspect "$golden/sdxl-style.safetensors"
expect_ok "inspect PNG" "A1111 .png" inspect "$golden/png-cat.png"
expect_ok "inspect --json" '"step": 3000' inspect "$golden/a1111_f32.pt" --json
expect_ok "inspect --json first" '"token": "<cat-toy>"' inspect --json "$golden/learned_embeds.bin"
if "$oneword" inspect --json "$golden/sdxl-style.safetensors" | python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["sdxl"] and d["dim_clip_g"] == 1280' 2>/dev/null \
   || ! command -v python3 >/dev/null; then ok "inspect --json is JSON"; else bad "inspect --json is JSON"; fi
expect_ok "inspect a checkpoint still describes the model" "text encoder" inspect "$root/tests/golden/tiny/sd-tiny-a.safetensors"
expect_fail "inspect os.system pickle" "posix.system.*never runs code" inspect "$golden/evil_os_system_zip.pt"
expect_fail "inspect eval pickle (legacy)" "eval" inspect "$golden/evil_builtins_eval_legacy.pt"
expect_fail "inspect truncated" "truncated|damaged" inspect "$golden/truncated_zip.pt"
expect_fail "inspect lying safetensors" "more data than the file holds" inspect "$golden/lie_offsets.safetensors"
expect_fail "inspect deep pickle" "deep" inspect "$golden/deep_legacy.pt"
expect_fail "inspect a plain PNG" "no embedding.*plain image" inspect "$golden/png_plain.png"
expect_ok "inspect a PNG with the embedding in its pixels" "pixel-cat +3 vectors x 768" inspect "$golden/png-pixels.png"
expect_fail "inspect missing file" "no such file|cannot" inspect "$work/missing.pt"
[ ! -e /tmp/oneword_embedding_pwned ] && ok "no hostile file ran code" || bad "a hostile file ran code"

# ---- convert ----
for out in a.pt a.bin a.safetensors a.json; do
    expect_ok "convert A1111 f16 -> $out" "wrote .*$out: style-f16 \(2 vectors\)" convert "$golden/a1111_f16.pt" "$work/$out"
    expect_ok "read back $out" "style-f16 +2 vectors x 768  F16" inspect "$work/$out"
done
expect_ok "convert --layout diffusers" "wrote" convert "$golden/a1111_f32.pt" "$work/d.safetensors" --layout diffusers
expect_ok "diffusers layout read back" "format: +diffusers .safetensors" inspect "$work/d.safetensors"
expect_ok "convert PNG -> .pt" "wrote" convert "$golden/png-cat.png" "$work/png.pt"
expect_ok "PNG's name kept" "png-cat +2 vectors" inspect "$work/png.pt"
expect_fail "convert to an unknown extension" "name it .pt, .bin, .safetensors or .json" convert "$golden/a1111_f32.pt" "$work/x.txt"
expect_fail "convert SDXL to .pt" "SDXL" convert "$golden/sdxl-style.safetensors" "$work/sdxl.pt"
expect_fail "convert bad layout" "--layout must be" convert "$golden/a1111_f32.pt" "$work/y.pt" --layout foo
expect_fail "convert into a missing folder" "cannot write" convert "$golden/a1111_f32.pt" "$work/no/such/dir/z.pt"

# ---- merge ----
expect_fail "merge clash listed" "'\\*' \(in .*tiny_star_1.pt and .*tiny_star_2.pt\)" merge "$golden/tiny_star_1.pt" "$golden/tiny_star_2.pt" -o "$work/m.pt"
[ ! -e "$work/m.pt" ] && ok "nothing written on a clash" || bad "a clash wrote a file"
expect_ok "merge with --rename" "wrote .*m.pt: 2 tokens" merge "$golden/tiny_star_1.pt" "$golden/tiny_star_2.pt" --rename "tiny_star_2.pt:*=@" -o "$work/m.pt"
expect_ok "merged file holds both" "@ +2 vectors x 32" inspect "$work/m.pt"
expect_ok "merge --rename with the path as given" "2 tokens" merge "$golden/tiny_star_1.pt" "$golden/tiny_star_2.pt" --rename "$golden/tiny_star_1.pt:*=<first>" -o "$work/m2.safetensors"
expect_fail "merge --rename of an absent token" "no token 'nope'" merge "$golden/tiny_star_1.pt" "$golden/tiny_star_2.pt" --rename "tiny_star_2.pt:nope=@" -o "$work/m3.pt"
expect_fail "merge --rename of an unknown file" "no input file matches" merge "$golden/tiny_star_1.pt" --rename "other.pt:*=@" -o "$work/m3.pt"
expect_fail "merge 768 with 1280" "different text encoders" merge "$golden/ref_sd.pt" "$golden/ref_ldm.pt" -o "$work/m4.pt"
expect_fail "merge needs -o" "-o OUT" merge "$golden/ref_sd.pt"
expect_fail "merge a hostile file" "posix.system" merge "$golden/ref_sd.pt" "$golden/evil_os_system_legacy.pt" -o "$work/m5.pt"

# ---- generate with embeddings ----
gen=(generate --model "$tiny" --steps 2 --n-samples 1 --width 64 --height 64 --threads 2 --seed 3)
expect_ok "generate '* in the style of @' with the merged file" "00000.png" "${gen[@]}" --embedding "$work/m.pt" \
    --prompt "* in the style of @" --outdir "$work/gen"
[ -s "$work/gen/samples/00000.png" ] && ok "image written" || bad "image written"
mkdir -p "$work/emb"
cp "$golden/tiny_b.safetensors" "$work/emb/bee.safetensors"
cp "$golden/ref_sd.pt" "$work/emb/wide.pt"
expect_ok "generate with --embedding-dir (file-name tokens)" "00000.png" "${gen[@]}" --embedding-dir "$work/emb" \
    --embedding "$golden/tiny_a.bin" --prompt "<tiny-a> by bee" --outdir "$work/gen2"
grep -q "skipping embedding '.*wide.pt'.*768" "$work/err" && ok "a 768-wide file in the folder is skipped with a warning" \
    || bad "a 768-wide file in the folder is skipped with a warning"
expect_fail "generate with a 768-wide embedding" "768-wide.*32-wide" "${gen[@]}" --embedding "$golden/ref_sd.pt" --prompt "*" --outdir "$work/gen3"
expect_fail "generate with an SDXL embedding" "SDXL" "${gen[@]}" --embedding "$golden/sdxl-style.safetensors" --prompt "x" --outdir "$work/gen3"
expect_fail "generate with a clashing embedding" "already loaded" "${gen[@]}" --embedding "$golden/tiny_star_1.pt" --embedding "$golden/tiny_star_2.pt" --prompt "*" --outdir "$work/gen3"
expect_fail "generate with a hostile embedding" "posix.system" "${gen[@]}" --embedding "$golden/evil_os_system_zip.pt" --prompt "*" --outdir "$work/gen3"
expect_fail "generate with a missing embedding folder" "embeddings folder" "${gen[@]}" --embedding-dir "$work/nope" --prompt "*" --outdir "$work/gen3"

echo "$checks checks, $failures failed"
[ $failures -eq 0 ]
