#!/usr/bin/env bash
# test_cli_learn.sh: `oneword learn` end to end on the tiny model: a short run writes
# embeddings_gs-N.pt every --save-every steps, embeddings.pt and log.csv; the result
# loads in inspect and generate; --alpha-mask weighs the loss by alpha; PNG, JPEG, WebP and
# TIFF images; --masks DIR weighs it by mask images (= --alpha-mask when the masks are the
# alphas; black: loss 0); --center-crop views and resumes; --template FILE;
# SIGKILL at any moment leaves a run that loads and resumes; bad input (no images, a file that is not an image, a
# multi-token init word, a placeholder that is a word, a size the model cannot take,
# an unwritable run folder) ends with a clear message and exit 1 or 2.
# usage: test_cli_learn.sh ONEWORD_BINARY SOURCE_ROOT
set -u
oneword=$1
root=$2
tiny="$root/tests/golden/tiny/sd-tiny-b"
work=$(mktemp -d)
trap 'chmod -R u+w "$work"; rm -rf "$work"' EXIT
. "$(dirname "$0")/cli_checks.sh"


# Training images: two samples of the tiny model itself.
"$oneword" generate --model "$tiny" --prompt "a red square" --steps 2 --n-samples 2 --width 32 --height 32 \
    --outdir "$work/gen" >/dev/null 2>"$work/err" || fail "making training images: $(tail -3 "$work/err")"
mkdir -p "$work/images"
cp "$work"/gen/samples/*.png "$work/images/"

"$oneword" learn --model "$tiny" --images "$work/images" --init-word square --out "$work/run" --steps 4 \
    --save-every 2 --size 32 --seed 7 >"$work/out" 2>"$work/err"
rc=$?
[ $rc -eq 0 ] && pass "learn 4 steps: $(tr '\r' '\n' <"$work/err" | grep -v '^$' | tail -1)" \
    || fail "learn: exit $rc: $(tail -c 400 "$work/err")"
for f in embeddings_gs-2.pt embeddings_gs-4.pt embeddings.pt log.csv loss.png; do
    [ -s "$work/run/$f" ] && pass "run folder holds $f" || fail "run folder lacks $f"
done
lines=$(wc -l <"$work/run/log.csv" 2>/dev/null || echo 0)
[ "$lines" -eq 5 ] && pass "log.csv: a header and 4 steps ($(sed -n 5p "$work/run/log.csv"))" || fail "log.csv has $lines lines"
"$oneword" inspect "$work/run/embeddings.pt" >"$work/out" 2>&1
grep -q '^  \*  *1 vector ' "$work/out" && grep -q '^step: *4' "$work/out" \
    && pass "inspect: token '*', 1 vector, step 4" || fail "inspect: $(cat "$work/out")"
"$oneword" generate --model "$tiny" --embedding "$work/run/embeddings.pt" --prompt "a photo of *" --steps 2 \
    --n-samples 1 --width 32 --height 32 --outdir "$work/gen2" >/dev/null 2>"$work/err" \
    && [ -s "$work/gen2/samples/00000.png" ] && pass "generate with the learned token" \
    || fail "generate with the learned token: $(tail -3 "$work/err")"

mkdir -p "$work/empty"
# --resume continues exactly: 4 steps + 2 resumed = 6 steps in one go, byte for byte.
[ -s "$work/run/state.safetensors" ] && pass "run folder holds state.safetensors" || fail "run folder lacks state.safetensors"
"$oneword" learn --resume "$work/run" --model "$tiny" --images "$work/images" --steps 6 >"$work/out" 2>"$work/err" \
    && pass "resume to step 6" || fail "resume: $(tail -c 300 "$work/err")"
"$oneword" learn --model "$tiny" --images "$work/images" --init-word square --out "$work/whole" --steps 6 \
    --save-every 2 --size 32 --seed 7 >/dev/null 2>&1
cmp -s "$work/run/embeddings.pt" "$work/whole/embeddings.pt" && pass "4 steps + resume 2 = 6 steps, byte for byte" \
    || fail "the resumed run differs from the uninterrupted one"
lines=$(wc -l <"$work/run/log.csv")
[ "$lines" -eq 7 ] && pass "log.csv continued to step 6" || fail "log.csv has $lines lines after the resume"
other="$root/tests/golden/tiny/sd-tiny-a"
expect_fail "resume on another model" "another model" learn --resume "$work/run" --model "$other" \
    --images "$work/images" --steps 8
expect_fail "resume without a state" "cannot resume" learn --resume "$work/empty" --model "$tiny" --images "$work/images"
# A bf16 run resumes in bf16 without --precision (the state records it); fp32 is refused by name.
"$oneword" learn --model "$tiny" --images "$work/images" --init-word square --out "$work/b16" --steps 1 \
    --size 32 --precision bf16 >/dev/null 2>"$work/err" || fail "bf16 learn: $(tail -c 300 "$work/err")"
"$oneword" learn --resume "$work/b16" --model "$tiny" --images "$work/images" --steps 2 >/dev/null 2>"$work/err" \
    && pass "a bf16 run resumes in bf16 without --precision" || fail "bf16 resume: $(tail -c 300 "$work/err")"
expect_fail "resume a bf16 run in fp32" "computed in bf16" learn --resume "$work/b16" --model "$tiny" \
    --images "$work/images" --steps 3 --precision fp32

# Bad input.
printf 'not a picture' >"$work/fake.png"
# SIGKILL at any moment (also during a save) leaves a run that resumes: every kill of a run
# saving each step leaves a state that --resume continues and embeddings that load.
for delay in 0.3 0.5 0.7 0.9 1.1; do
    rm -rf "$work/killed"
    "$oneword" learn --model "$tiny" --images "$work/images" --init-word square --out "$work/killed" --steps 100000 \
        --save-every 1 --size 32 >/dev/null 2>&1 &
    pid=$!
    sleep "$delay"
    kill -9 "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    if [ ! -e "$work/killed/state.safetensors" ]; then
        pass "killed after ${delay}s before the first save: no state, nothing half-written ($(ls "$work/killed" 2>/dev/null | tr '\n' ' '))"
        continue
    fi
    bad=0
    for f in "$work"/killed/embeddings_gs-*.pt; do
        [ -e "$f" ] || continue
        "$oneword" inspect "$f" >/dev/null 2>&1 || { bad=1; echo "  $f does not load"; }
    done
    at=$(ls "$work"/killed/embeddings_gs-*.pt 2>/dev/null | sed 's/.*gs-\([0-9]*\)\.pt/\1/' | sort -n | tail -1)
    "$oneword" learn --resume "$work/killed" --model "$tiny" --images "$work/images" --steps $((at + 1)) \
        >/dev/null 2>"$work/err" || { bad=1; echo "  resume: $(tail -c 200 "$work/err")"; }
    # A kill inside a write leaves that write's hidden temporary (.NAME.oneword-tmp-XXXXXX,
    # removed by a later write once stale), never a partial file under a real name.
    stray=$(ls -A "$work/killed" | grep -vE '^(embeddings_gs-[0-9]+\.pt|embeddings\.pt|state\.safetensors|log\.csv|loss\.png|\..+\.oneword-tmp-[A-Za-z0-9]{6})$' | tr '\n' ' ')
    [ "$bad" -eq 0 ] && [ -z "$stray" ] \
        && pass "killed after ${delay}s (step $at saved): every checkpoint loads, --resume continues, nothing half-written under a real name" \
        || fail "killed after ${delay}s: a checkpoint does not load, or resume fails, or stray files: $stray"
done

# --alpha-mask: a fully transparent image is not learned from (loss 0 every step).
"$oneword" learn --model "$tiny" --images "$root/tests/golden/e2e/transparent-32.png" --init-word square \
    --out "$work/masked" --steps 3 --size 32 --alpha-mask >/dev/null 2>"$work/err"
losses=$(tail -n +2 "$work/masked/log.csv" 2>/dev/null | cut -d, -f2 | sort -u | tr '\n' ' ')
[ "$losses" = "0.000000 " ] && pass "--alpha-mask on a transparent image: loss 0 at every step" \
    || fail "--alpha-mask: losses '$losses': $(tail -c 300 "$work/err")"
expect_fail "resuming a masked run without its masks" "learned with loss masks" learn --resume "$work/masked" \
    --model "$tiny" --images "$root/tests/golden/e2e/transparent-32.png" --steps 4
"$oneword" learn --model "$tiny" --images "$root/tests/golden/e2e/transparent-32.png" --init-word square \
    --out "$work/unmasked" --steps 1 --size 32 >/dev/null 2>&1
loss=$(sed -n 2p "$work/unmasked/log.csv" 2>/dev/null | cut -d, -f2)
[ -n "$loss" ] && [ "$loss" != "0.000000" ] && pass "without --alpha-mask the same image is learned from (loss $loss)" \
    || fail "without --alpha-mask: loss '$loss'"

# --preview-every: preview-N.png at steps 2 and 4, and the run learns exactly what it learns without them.
"$oneword" learn --model "$tiny" --images "$work/images" --init-word square --out "$work/previewed" --steps 4 \
    --save-every 2 --size 32 --seed 7 --preview-every 2 --preview-prompt "a photo of *" >/dev/null 2>"$work/err"
[ -s "$work/previewed/preview-2.png" ] && [ -s "$work/previewed/preview-4.png" ] \
    && cmp -s "$work/previewed/embeddings.pt" "$work/run/embeddings_gs-4.pt" \
    && pass "--preview-every 2: preview-2.png and preview-4.png, and the same rows as the run without previews" \
    || fail "--preview-every: $(ls "$work/previewed" | tr '\n' ' ') $(tr '\r' '\n' <"$work/err" | tail -2)"

# --gradient-checkpointing recomputes instead of keeping: the same rows, byte for byte.
"$oneword" learn --model "$tiny" --images "$work/images" --init-word square --out "$work/ckpt" --steps 4 \
    --save-every 2 --size 32 --seed 7 --gradient-checkpointing >/dev/null 2>"$work/err"
cmp -s "$work/ckpt/embeddings.pt" "$work/run/embeddings_gs-4.pt" \
    && pass "--gradient-checkpointing: the same rows as without it, byte for byte" \
    || fail "--gradient-checkpointing: $(ls "$work/ckpt" 2>/dev/null | tr '\n' ' ') $(tr '\r' '\n' <"$work/err" | tail -2)"

# --dry-run: the views as PNG and the captions, without a model and without training.
"$oneword" learn --images "$work/images" --init-word square --out "$work/dry" --size 32 --dry-run \
    >/dev/null 2>"$work/err"
rc=$?
[ $rc -eq 0 ] && [ -s "$work/dry/views.png" ] && [ ! -e "$work/dry/embeddings.pt" ] && grep -q '4 training views of 32x32' "$work/err" \
    && grep -q "captions: 'a photo of a \*'" "$work/err" \
    && pass "--dry-run: $(head -1 "$work/err" | sed 's/.*: //'), no training" \
    || fail "--dry-run: exit $rc: $(cat "$work/err")"

# Without --size and --batch a run takes the reference's values for the model: 512 and 2
# for SD 1.x (no note), 256 and 4 for the LDM text2img model (said in a note); a value given
# on the command line wins.
ldm="$root/tests/golden/ldm/ldm-tiny.ckpt"
"$oneword" learn --model "$tiny" --images "$work/images" --init-word square --out "$work/dsd" --dry-run \
    >/dev/null 2>"$work/err"
rc=$?
[ $rc -eq 0 ] && grep -q '4 training views of 512x512' "$work/err" && ! grep -q 'LDM' "$work/err" \
    && pass "SD 1.x without --size: $(grep -o '4 training views of [0-9x]*' "$work/err")" \
    || fail "SD 1.x default size: exit $rc: $(cat "$work/err")"
"$oneword" learn --model "$ldm" --images "$work/images" --init-word sculpture --out "$work/dldm" --dry-run \
    >/dev/null 2>"$work/err"
rc=$?
[ $rc -eq 0 ] && grep -q '4 training views of 256x256' "$work/err" && grep -q 'training at 256x256, batch 4' "$work/err" \
    && pass "LDM without --size/--batch: $(grep -o 'training at [^,]*, batch [0-9]*' "$work/err")" \
    || fail "LDM default size and batch: exit $rc: $(cat "$work/err")"
"$oneword" learn --model "$ldm" --images "$work/images" --init-word sculpture --out "$work/dldm2" --size 64 --dry-run \
    >/dev/null 2>"$work/err"
rc=$?
[ $rc -eq 0 ] && grep -q '4 training views of 64x64' "$work/err" && grep -q 'training at 64x64, batch 4' "$work/err" \
    && pass "LDM with --size 64: batch 4, size 64" || fail "LDM --size 64: exit $rc: $(cat "$work/err")"
"$oneword" learn --model "$ldm" --images "$work/images" --init-word sculpture --out "$work/dldm3" --size 64 \
    --batch 1 --dry-run >/dev/null 2>"$work/err"
rc=$?
[ $rc -eq 0 ] && ! grep -q 'LDM' "$work/err" && pass "LDM with --size and --batch: no note" \
    || fail "LDM --size --batch: exit $rc: $(cat "$work/err")"

# JPEG training images (a folder of them, EXIF-rotated ones among them).
"$oneword" learn --model "$tiny" --images "$root/tests/golden/e2e/jpeg" --init-word square --out "$work/jpeg" \
    --steps 1 --size 32 >/dev/null 2>"$work/err" && [ -s "$work/jpeg/embeddings.pt" ] \
    && pass "learn from a folder of 11 JPEGs" || fail "learn from JPEGs: $(tr '\r' '\n' <"$work/err" | tail -2)"

# WebP and TIFF training images (folders of them; the multi-page TIFF says its first page is used).
"$oneword" learn --model "$tiny" --images "$root/tests/golden/e2e/webp" --init-word square --out "$work/webp" \
    --steps 1 --size 32 >/dev/null 2>"$work/err" && [ -s "$work/webp/embeddings.pt" ] \
    && pass "learn from a folder of 4 WebPs (lossy, lossless, alpha)" || fail "learn from WebPs: $(tr '\r' '\n' <"$work/err" | tail -2)"
"$oneword" learn --model "$tiny" --images "$root/tests/golden/e2e/tiff" --init-word square --out "$work/tiff" \
    --steps 1 --size 32 >/dev/null 2>"$work/err" && [ -s "$work/tiff/embeddings.pt" ] \
    && grep -q "multipage.tif': a TIFF of 2 pages; the first is used" "$work/err" \
    && pass "learn from a folder of $(ls "$root"/tests/golden/e2e/tiff/*.tif | wc -l) TIFFs: $(grep -o 'note: .*multipage.*' "$work/err")" \
    || fail "learn from TIFFs: $(tr '\r' '\n' <"$work/err" | tail -3)"
expect_fail "an animated WebP" "an animated WebP: oneword learns from still pictures" learn --model "$tiny" \
    --images "$root/tests/golden/e2e/refused/animated.webp" --init-word square --out "$work/anim" --size 32
head -c 150 "$root/tests/golden/e2e/tiff/rgba16.tif" >"$work/cut.tif"
expect_fail "a TIFF cut short" "cannot be read: not a readable TIFF" learn --model "$tiny" --images "$work/cut.tif" \
    --init-word square --out "$work/cut" --size 32

# --masks DIR: a mask per image by file name stem (kohya's mask images: red channel, white = learned).
masks="$root/tests/golden/e2e/masks"
"$oneword" learn --model "$tiny" --images "$masks/images" --init-word square --out "$work/by-mask" --steps 3 \
    --save-every 3 --size 32 --masks "$masks/by-alpha" >/dev/null 2>"$work/err"
"$oneword" learn --model "$tiny" --images "$masks/images" --init-word square --out "$work/by-alpha" --steps 3 \
    --save-every 3 --size 32 --alpha-mask >/dev/null 2>>"$work/err"
cut -d, -f1,2 "$work/by-mask/log.csv" >"$work/mask-losses" 2>/dev/null
cut -d, -f1,2 "$work/by-alpha/log.csv" >"$work/alpha-losses" 2>/dev/null
[ -s "$work/by-mask/embeddings.pt" ] && cmp -s "$work/by-mask/embeddings.pt" "$work/by-alpha/embeddings.pt" \
    && cmp -s "$work/mask-losses" "$work/alpha-losses" \
    && pass "--masks with the image's alpha as a gray mask = --alpha-mask: losses ($(tail -n +2 "$work/mask-losses" | cut -d, -f2 | tr '\n' ' ')) and vectors byte for byte" \
    || fail "--masks vs --alpha-mask: $(paste -d' ' "$work/mask-losses" "$work/alpha-losses" | tr '\n' ';') $(tail -c 300 "$work/err")"
"$oneword" learn --model "$tiny" --images "$masks/images" --init-word square --out "$work/black" --steps 3 --size 32 \
    --masks "$masks/black" >/dev/null 2>"$work/err"
losses=$(tail -n +2 "$work/black/log.csv" 2>/dev/null | cut -d, -f2 | sort -u | tr '\n' ' ')
[ "$losses" = "0.000000 " ] && pass "--masks, an all-black mask (figure.tif for figure.png): loss 0 at every step" \
    || fail "--masks black: losses '$losses': $(tail -c 300 "$work/err")"
"$oneword" learn --model "$tiny" --images "$masks/images" --init-word square --out "$work/unmasked" --steps 1 \
    --size 32 >/dev/null 2>&1
loss=$(sed -n 2p "$work/unmasked/log.csv" 2>/dev/null | cut -d, -f2)
[ -n "$loss" ] && [ "$loss" != "0.000000" ] && [ "$loss" != "$(sed -n 2p "$work/by-mask/log.csv" | cut -d, -f2)" ] \
    && pass "without a mask the same image gives another loss ($loss)" || fail "unmasked loss '$loss'"
expect_fail "--resume without the run's --masks" "learned with loss masks" learn --resume "$work/by-mask" \
    --model "$tiny" --images "$masks/images" --steps 4
expect_ok "--resume with them" learn --resume "$work/by-mask" --model "$tiny" --images "$masks/images" --steps 4 \
    --masks "$masks/by-alpha"
expect_fail "an image without a mask" "has no mask for training image" learn --model "$tiny" --images "$masks/images" \
    --images "$work/images" --init-word square --out "$work/m1" --size 32 --masks "$masks/by-alpha"
expect_fail "a mask of another size" "is 16x16 pixels, its training image" learn --model "$tiny" \
    --images "$masks/images" --init-word square --out "$work/m2" --size 32 --masks "$masks/small"
mkdir -p "$work/bad-masks" "$work/two-masks"
printf 'not a picture' >"$work/bad-masks/figure.png"
expect_fail "an unreadable mask" "bad-masks/figure.png' cannot be read: not a PNG, JPEG, WebP or TIFF file" learn \
    --model "$tiny" --images "$masks/images" --init-word square --out "$work/m3" --size 32 --masks "$work/bad-masks"
cp "$masks/by-alpha/figure.png" "$masks/black/figure.tif" "$work/two-masks/"
expect_fail "two masks for one image" "two masks for training image" learn --model "$tiny" --images "$masks/images" \
    --init-word square --out "$work/m4" --size 32 --masks "$work/two-masks"
expect_fail "--masks and --alpha-mask together" "choose one" learn --model "$tiny" --images "$masks/images" \
    --init-word square --out "$work/m5" --size 32 --masks "$masks/by-alpha" --alpha-mask
expect_fail "--masks naming a file" "is not a folder" learn --model "$tiny" --images "$masks/images" \
    --init-word square --out "$work/m6" --size 32 --masks "$masks/by-alpha/figure.png"
cp "$masks/by-alpha/figure.png" "$work/bad-masks/figure.png"
cp "$masks/by-alpha/figure.png" "$work/bad-masks/other.png"
"$oneword" learn --images "$masks/images" --init-word square --out "$work/m7" --size 32 --dry-run \
    --masks "$work/bad-masks" >/dev/null 2>"$work/err"
grep -q "note: 1 file in --masks .* matches no training image (e.g. 'other.png')" "$work/err" \
    && pass "a mask no image uses is named: $(grep note "$work/err")" || fail "unused mask: $(cat "$work/err")"

# --center-crop: the largest centred square is resized. A 64x32 picture, blue with red left and
# right quarters: its cropped view is the blue alone (byte for byte the view of a blue 32x32
# picture); without the crop the red shows.
crop="$root/tests/golden/e2e/crop"
"$oneword" learn --images "$crop/centre-32.png" --init-word square --out "$work/blue" --size 32 --flip 0 --dry-run \
    >/dev/null 2>&1
"$oneword" learn --images "$crop/wide-64x32.png" --init-word square --out "$work/cropped" --size 32 --flip 0 \
    --dry-run --center-crop >/dev/null 2>"$work/err"
"$oneword" learn --images "$crop/wide-64x32.png" --init-word square --out "$work/squeezed" --size 32 --flip 0 \
    --dry-run >/dev/null 2>>"$work/err"
[ -s "$work/blue/views.png" ] && cmp -s "$work/cropped/views.png" "$work/blue/views.png" \
    && [ -s "$work/squeezed/views.png" ] && ! cmp -s "$work/squeezed/views.png" "$work/blue/views.png" \
    && pass "--center-crop: the 64x32 picture's view is its blue centre (= the blue picture's view, byte for byte); without it the red quarters show" \
    || fail "--center-crop views: $(ls -l "$work"/{blue,cropped,squeezed}/views.png 2>&1 | tr '\n' ' ') $(cat "$work/err")"
"$oneword" learn --model "$tiny" --images "$crop/wide-64x32.png" --init-word square --out "$work/crop-run" --steps 2 \
    --save-every 1 --size 32 --center-crop >/dev/null 2>&1
"$oneword" learn --model "$tiny" --images "$crop/wide-64x32.png" --init-word square --out "$work/crop-1" --steps 1 \
    --save-every 1 --size 32 --center-crop >/dev/null 2>&1
"$oneword" learn --resume "$work/crop-1" --model "$tiny" --images "$crop/wide-64x32.png" --steps 2 >/dev/null 2>&1
cmp -s "$work/crop-run/embeddings.pt" "$work/crop-1/embeddings.pt" \
    && pass "--center-crop is kept by the state: 1 step + resume 1 (without the flag) = 2 steps, byte for byte" \
    || fail "--center-crop resume differs"

# --template FILE (A1111 template lines with [name]): trains, resumes exactly, is kept by the state.
printf 'a [name] on a white background\r\n\na large [name]\n' >"$work/templates.txt"
"$oneword" learn --model "$tiny" --images "$work/images" --init-word square --template "$work/templates.txt" \
    --out "$work/t4" --steps 4 --save-every 2 --size 32 >/dev/null 2>&1
"$oneword" learn --model "$tiny" --images "$work/images" --init-word square --template "$work/templates.txt" \
    --out "$work/t2" --steps 2 --save-every 2 --size 32 >/dev/null 2>&1
"$oneword" learn --resume "$work/t2" --model "$tiny" --images "$work/images" --steps 4 >/dev/null 2>&1
cmp -s "$work/t4/embeddings.pt" "$work/t2/embeddings.pt" \
    && pass "--template FILE: 2 steps + resume 2 = 4 steps, byte for byte" || fail "--template FILE: resume differs"
expect_fail "--resume with other templates" "the run used other caption templates" \
    learn --resume "$work/t2" --model "$tiny" --images "$work/images" --steps 6 --template object
printf 'a photo of a cat\n' >"$work/no-token.txt"
expect_fail "a template line without [name]" "line 1 has no [name]" learn --model "$tiny" --images "$work/images" \
    --init-word square --template "$work/no-token.txt" --out "$work/t3" --size 32
expect_fail "a template file that does not exist" "cannot open template file" learn --model "$tiny" \
    --images "$work/images" --init-word square --template "$work/none.txt" --out "$work/t3" --size 32

mkdir -p "$work/empty"
expect_fail "no images" "holds no .png" learn --model "$tiny" --images "$work/empty" --init-word square --out "$work/r1"
expect_fail "a file that is not an image" "cannot be read" learn --model "$tiny" --images "$work/fake.png" \
    --init-word square --out "$work/r2" --size 32
expect_fail "a multi-token init word" "it must be one token" learn --model "$tiny" --images "$work/images" \
    --init-word glorpwizzle --out "$work/r3" --size 32 --steps 1
expect_fail "a placeholder that is a word" "ordinary word" learn --model "$tiny" --images "$work/images" \
    --init-word square --placeholder dog --out "$work/r4" --size 32 --steps 1
expect_fail "a size the model cannot take" "multiple of" learn --model "$tiny" --images "$work/images" \
    --init-word square --out "$work/r5" --size 36 --steps 1
mkdir -p "$work/locked" && chmod a-w "$work/locked"
if [ "$(id -u)" -ne 0 ]; then
    expect_fail "an unwritable run folder" "cannot create the run folder" learn --model "$tiny" \
        --images "$work/images" --init-word square --out "$work/locked/run" --size 32 --steps 1
else
    expect_fail "a run folder under a file" "cannot create the run folder" learn --model "$tiny" \
        --images "$work/images" --init-word square --out "$work/fake.png/run" --size 32 --steps 1
fi
expect_fail "missing options" "learn needs" learn --model "$tiny"

echo "$passed passed, $failed failed"
[ $failed -eq 0 ]
