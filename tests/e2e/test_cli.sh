#!/usr/bin/env bash
# test_cli.sh: `oneword` end to end on the tiny model: a generation writes its PNGs,
# and every kind of bad input ends with a clear message and a non-zero exit, never
# a crash (under the sanitizer build, a crash or leak would fail the exit check).
# usage: test_cli.sh ONEWORD_BINARY SOURCE_ROOT
set -u
oneword=$1
root=$2
tiny="$root/tests/golden/tiny/sd-tiny-a"
work=$(mktemp -d)
trap 'chmod -R u+w "$work"; rm -rf "$work"' EXIT
. "$(dirname "$0")/cli_checks.sh"



gen=(generate --steps 2 --n-samples 1 --width 64 --height 64 --threads 2)

# A generation that works, with an empty prompt (allowed, as in diffusers).
expect_ok "generate with empty prompt" "${gen[@]}" --model "$tiny" --prompt "" --outdir "$work/ok"
if [ -s "$work/ok/samples/00000.png" ] && [ -s "$work/ok/grid.png" ] && head -c 8 "$work/ok/samples/00000.png" | grep -q PNG; then
    echo "ok   sample and grid PNGs written"; passed=$((passed + 1))
else
    echo "FAIL sample/grid PNGs missing in $work/ok"; failed=$((failed + 1))
fi
if grep -aq "Steps: 2, Sampler: ddim" "$work/ok/samples/00000.png"; then
    echo "ok   parameters text chunk present"; passed=$((passed + 1))
else
    echo "FAIL parameters text chunk missing"; failed=$((failed + 1))
fi
# --device: cpu runs; cuda runs on a GPU or, without a usable one, ends with exit 1 and the
# reason (never a crash); a malformed name is refused with the names to use.
expect_ok "generate --device cpu" "${gen[@]}" --model "$tiny" --prompt "a cat" --device cpu --outdir "$work/cpu"
"$oneword" "${gen[@]}" --model "$tiny" --prompt "a cat" --device cuda --outdir "$work/cuda" >/dev/null 2>"$work/err"
rc=$?
if [ $rc -eq 0 ]; then pass "--device cuda: generated on the GPU"
elif [ $rc -eq 1 ] && grep -q "device cuda: ..*" "$work/err"; then pass "--device cuda without a usable GPU (exit 1): $(tail -1 "$work/err")"
else fail "--device cuda: exit $rc: $(tail -c 300 "$work/err")"; fi
expect_fail "a malformed --device" "use auto, cpu, cuda or cuda:N" "${gen[@]}" --model "$tiny" --prompt "a cat" \
    --device gpu0 --outdir "$work/bad-device"

# Without --width/--height the model's own size, as diffusers (UNet sample_size x the
# VAE factor): the tiny SD folder's 8 x 8, the LDM checkpoint's 32 (txt2img-1p4B's image
# size, the file has no .yaml) x 2; one given side wins for that side.
png_size() { od -An -tu1 -j16 -N8 "$1" | awk '{ printf "%dx%d", $1*16777216+$2*65536+$3*256+$4, $5*16777216+$6*65536+$7*256+$8 }'; }
expect_ok "generate without a size (SD)" generate --steps 1 --n-samples 1 --model "$tiny" --prompt "a cat" --outdir "$work/ds"
expect_ok "generate without a size (LDM)" generate --steps 1 --n-samples 1 --model "$root/tests/golden/ldm/ldm-tiny.ckpt" \
    --prompt "a cat" --height 32 --outdir "$work/dl"
sizes="$(png_size "$work/ds/samples/00000.png") $(png_size "$work/dl/samples/00000.png")"
[ "$sizes" = "64x64 64x32" ] && pass "default sizes from the model: $sizes" || fail "default sizes: got '$sizes', want '64x64 64x32'"

expect_ok "single-file checkpoint, euler-a, 2 images, outdir with missing parents" generate --steps 2 --n-samples 2 --width 64 --height 64 \
    --sampler euler-a --model "$root/tests/golden/tiny/sd-tiny-a.safetensors" --prompt "a cat" --outdir "$work/new/nested/ok2"

# A prompt longer than CLIP's 77 tokens still generates, with a warning that shows what was cut.
long_prompt="a photo of a cat$(for i in $(seq 1 40); do printf ' and a dog'; done) and finally a zebra"
expect_ok "prompt over 77 tokens" "${gen[@]}" --model "$tiny" --prompt "$long_prompt" --outdir "$work/long"
if grep -q "was cut: .*finally a zebra" "$work/err"; then
    echo "ok   truncation warning: $(grep -o 'the prompt is [0-9]* tokens long[^"]*' "$work/err" | head -1)"; passed=$((passed + 1))
else
    echo "FAIL truncation warning missing: $(tail -c 300 "$work/err")"; failed=$((failed + 1))
fi

# --precision bf16 generates and says which kernels its products run on.
expect_ok "generate --precision bf16" "${gen[@]}" --model "$tiny" --prompt "a cat" --precision bf16 --outdir "$work/bf16"
if [ -s "$work/bf16/samples/00000.png" ] && grep -q "precision bf16; matrix products: .*bf16: oneDNN" "$work/err"; then
    echo "ok   bf16: $(grep -o 'precision bf16; .*' "$work/err" | head -1)"; passed=$((passed + 1))
else
    echo "FAIL bf16: no sample, or no precision line: $(tail -c 300 "$work/err")"; failed=$((failed + 1))
fi
expect_fail "unknown precision" "fp32, bf16 or auto" "${gen[@]}" --model "$tiny" --prompt x --precision fp16 --outdir "$work/o"

# Bad input.
expect_fail "missing model" "no-such-model" "${gen[@]}" --model "$work/no-such-model" --prompt x --outdir "$work/o"
head -c 5000 "$root/tests/golden/tiny/sd-tiny-a.safetensors" >"$work/truncated.safetensors"
expect_fail "truncated checkpoint" "truncated.safetensors" "${gen[@]}" --model "$work/truncated.safetensors" --prompt x --outdir "$work/o"
printf 'hello, I am not a checkpoint\n' >"$work/notes.ckpt"
expect_fail "not a checkpoint" "notes.ckpt" "${gen[@]}" --model "$work/notes.ckpt" --prompt x --outdir "$work/o"
for bad in "$root"/tests/golden/tiny/variants/bad-sdxl*.safetensors "$root"/tests/golden/tiny/variants/bad-sd2*.safetensors; do
    [ -e "$bad" ] || continue
    expect_fail "other architecture: $(basename "$bad")" "supports Stable Diffusion 1" "${gen[@]}" --model "$bad" --prompt x --outdir "$work/o"
done
expect_fail "width not a multiple of 8" "multiples of 8" "${gen[@]}" --model "$tiny" --prompt x --width 100 --outdir "$work/o"
expect_fail "unknown sampler" "ddim, plms, euler, euler-a, dpm++2m-karras" "${gen[@]}" --model "$tiny" --prompt x --sampler k_lms --outdir "$work/o"
mkdir -p "$work/readonly" && chmod 555 "$work/readonly"
if [ "$(id -u)" -eq 0 ]; then
    # root writes anywhere: use a path below a regular file instead
    : >"$work/a-file"
    expect_fail "unwritable outdir" "a-file" "${gen[@]}" --model "$tiny" --prompt x --outdir "$work/a-file/out"
else
    expect_fail "unwritable outdir" "readonly" "${gen[@]}" --model "$tiny" --prompt x --outdir "$work/readonly/out"
fi
expect_fail "missing prompt" "--prompt" "${gen[@]}" --model "$tiny" --outdir "$work/o"
expect_fail "bad number" "--steps" "${gen[@]}" --model "$tiny" --prompt x --steps many --outdir "$work/o"
# A single file's original .yaml: --config names one, NAME.yaml beside the file is read.
cp "$root/tests/golden/tiny/sd-tiny-a.safetensors" "$work/tiny.safetensors"
printf 'model:\n  params:\n    unet_config:\n      params:\n        num_heads: 1\n        context_dim: 32\n' >"$work/one-head.yaml"
expect_ok "inspect --config" inspect "$work/tiny.safetensors" --config "$work/one-head.yaml"
if grep -q "config: $work/one-head.yaml" "$work/out" && grep -q "heads (1, 1)" "$work/out"; then
    echo "ok   --config: the yaml's heads are used over the file's metadata"; passed=$((passed + 1))
else
    echo "FAIL --config: $(grep -E 'config:|heads \(' "$work/out" | tr '\n' ' ')"; failed=$((failed + 1))
fi
printf 'model:\n  params:\n    unet_config:\n      params:\n        context_dim: 768\n' >"$work/tiny.yaml"
expect_fail "a yaml beside the file that is not its model's" "its context_dim is 768 where the checkpoint's UNet has 32" \
    "${gen[@]}" --model "$work/tiny.safetensors" --prompt x --outdir "$work/o"
expect_fail "--config that is not there" "no-such.yaml" "${gen[@]}" --model "$work/tiny.safetensors" \
    --config "$work/no-such.yaml" --prompt x --outdir "$work/o"
expect_fail "--config on a diffusers folder" "a .yaml config (--config) is for single-file checkpoints" \
    "${gen[@]}" --model "$tiny" --config "$work/one-head.yaml" --prompt x --outdir "$work/o"
rm -f "$work/tiny.yaml"
expect_fail "unknown command" "unknown command" frobnicate
expect_fail "inspect a text file" "notes.ckpt" inspect "$work/notes.ckpt"

# The matrix products never run on OpenBLAS's generic kernels on a processor with AVX2:
# when OpenBLAS does not know the processor, oneword restarts itself with the right core.
line=$("$oneword" version | grep '^matrix products:')
if grep -qw avx2 /proc/cpuinfo && echo "$line" | grep -qE ', (Prescott|Core2|Penryn|Dunnington|Nehalem|Atom|Katmai) kernels'; then
    echo "FAIL generic BLAS kernels on an AVX2 processor: $line"; failed=$((failed + 1))
elif [ -z "$line" ]; then
    echo "FAIL oneword version names no matrix-product kernels"; failed=$((failed + 1))
else
    echo "ok   $line"; passed=$((passed + 1))
fi
echo "$passed passed, $failed failed"
[ $failed -eq 0 ]
