#!/usr/bin/env bash
# tests/gimp/checks.sh: the GIMP 3 plug-in checks, run INSIDE the Debian 13 root by
# tests/gimp/run (the source tree mounted at /src). Builds the plug-in, the CLI and the
# shapes judge (out of tree: /src/build/gimp3), installs the plug-in into a throw-away
# HOME's GIMP profile and drives it headless through Script-Fu with the bundled shapes
# model. Each check prints what it compared; the last line is "N passed, N failed".
set -u
src=/src
build=$src/build/gimp3
fixtures=$src/tests/gimp/fixtures
model=$src/resources/shapes
export OMP_WAIT_POLICY=PASSIVE

passed=0
failed=0
pass() { echo "ok   $1: $2"; passed=$((passed + 1)); }
fail() {
    echo "FAIL $1: $2"
    failed=$((failed + 1))
    if [ -s "${work:-/nonexistent}/err" ]; then  # the lines that explain it
        grep -i -e "error" -e "critical" -e "warning" "$work/err" | grep -v -e "gimp_wire_read" -e "Broken pipe" \
            -e "cannot open display" -e "Welcome to GIMP" | head -n 6 | cut -c1-400 | sed 's/^/       | /'
    fi
}
finish() {
    echo "$passed passed, $failed failed"
    [ "$failed" -eq 0 ]
    exit
}

# ---- build ----
t0=$SECONDS
if [ ! -f "$build/build.ninja" ]; then
    meson setup "$build" "$src" --buildtype=release -Dwerror=true -Dgimp=enabled >/tmp/oneword-setup.log 2>&1 ||
        { tail -n 20 /tmp/oneword-setup.log; fail build "meson setup of the whole project in the GIMP 3 root"; finish; }
fi
if ! meson compile -C "$build" plugin/oneword-gimp engine/cli/oneword tests/judge/judge_png tests/plugin/test_library \
        tests/plugin/test_learn_checks \
        >/tmp/oneword-build.log 2>&1; then
    grep -E "error|FAILED" /tmp/oneword-build.log | head -n 20
    fail build "meson compile of plugin/oneword-gimp, the CLI and the judge (-Werror, gcc $(gcc -dumpversion))"
    finish
fi
cc -O2 -Wall -Wextra -Werror -o "$build/png_diff" "$src/tests/gimp/png_diff.c" $(pkg-config --cflags --libs libpng) ||
    { fail build "png_diff"; finish; }
pass build "plug-in, CLI and judge built with -Werror against GIMP $(pkg-config --modversion gimp-3.0) in $((SECONDS - t0)) s"
cli=$build/engine/cli/oneword
judge=$build/tests/judge/judge_png
# The profile storage's own test, here with Debian 13's gcc and json-c.
if (cd /tmp && OW_SOURCE_ROOT=$src "$build/tests/plugin/test_library" >/tmp/oneword-test-library.log 2>&1); then
    pass storage "tests/plugin/test_library with json-c $(pkg-config --modversion json-c): $(tail -n 1 /tmp/oneword-test-library.log)"
else
    grep FAIL /tmp/oneword-test-library.log | head -n 5
    fail storage "tests/plugin/test_library: $(tail -n 1 /tmp/oneword-test-library.log)"
fi
# What the Learn dialog says as the user types (the init word, an unfinished run).
if (cd /tmp && OW_SOURCE_ROOT=$src "$build/tests/plugin/test_learn_checks" >/tmp/oneword-test-learn-checks.log 2>&1); then
    pass learn-checks "tests/plugin/test_learn_checks: $(grep -c "^ok" /tmp/oneword-test-learn-checks.log) words and runs, $(tail -n 1 /tmp/oneword-test-learn-checks.log); e.g. $(grep -m1 -o "'purpleorange' is 2 CLIP tokens.*" /tmp/oneword-test-learn-checks.log)"
else
    grep FAIL /tmp/oneword-test-learn-checks.log | head -n 5
    fail learn-checks "tests/plugin/test_learn_checks: $(tail -n 1 /tmp/oneword-test-learn-checks.log)"
fi

# ---- a throw-away profile ----
work=$(mktemp -d /tmp/oneword-gimp-test.XXXXXX)
# ONEWORD_KEEP_WORK=1 keeps the folder (for looking into a failure).
[ "${ONEWORD_KEEP_WORK:-}" = 1 ] && echo "keeping $work" || trap 'rm -rf "$work"' EXIT
export HOME=$work/home
profile=$HOME/.config/GIMP/3.0
mkdir -p "$profile/plug-ins/oneword-gimp"
install -m 755 "$build/plugin/oneword-gimp" "$profile/plug-ins/oneword-gimp/oneword-gimp"
library=$profile/oneword
cd "$work"

# gimp SCHEME...: runs the expressions in a headless GIMP; sets rc, $work/out, $work/err.
gimp() {
    local args=()
    for e in "$@"; do args+=(-b "$e"); done
    gimp-console-3.0 -i -n --quit --batch-interpreter=plug-in-script-fu-eval "${args[@]}" >"$work/out" 2>"$work/err"
    rc=$?
}
out_value() { sed -n "s/^$1=//p" "$work/out" | head -n 1; }
err_has() { grep -qF -- "$1" "$work/err"; }
# Script-Fu's report of a failed call: "Procedure execution of NAME failed: MESSAGE" for
# GIMP_PDB_EXECUTION_ERROR, "... failed on invalid input arguments: MESSAGE" for CALLING_ERROR.
execution_error() { grep -F "Procedure execution of" "$work/err" | grep -v "invalid input arguments" | grep -qF -- "$1"; }
calling_error() { grep -F "failed on invalid input arguments:" "$work/err" | grep -qF -- "$1"; }
NI='#:run-mode RUN-NONINTERACTIVE'
prompt="an orange circle on a purple background"
sampling='#:sampler "euler" #:steps 20 #:guidance-scale 9'

# ---- no model set ----
gimp "(plug-in-oneword-generate $NI #:prompt \"$prompt\")"
if [ $rc -ne 0 ] && execution_error "No model is set" && err_has "plug-in-oneword-set-model #:run-mode"; then
    pass no-model/generate "exit $rc, execution error 'No model is set. ... (plug-in-oneword-set-model ...)'"
else fail no-model/generate "expected an execution error explaining how to set a model, got exit $rc"; fi
gimp "(plug-in-oneword-library-list $NI)"
if [ $rc -ne 0 ] && execution_error "No model is set" && err_has "Set Model"; then
    pass no-model/library-list "exit $rc, execution error 'No model is set' with the menu path and the Script-Fu call"
else fail no-model/library-list "expected the same explanation, got exit $rc"; fi

# ---- set-model ----
gimp "(plug-in-oneword-set-model $NI #:model \"$src/README.md\")"
if [ $rc -ne 0 ] && calling_error "'$src/README.md' is not a model oneword can read"; then
    pass set-model/not-a-model "exit $rc, calling error naming README.md"
else fail set-model/not-a-model "expected a calling error, got exit $rc"; fi
gimp "(plug-in-oneword-set-model $NI #:model \"$model\")"
if [ $rc -eq 0 ] && grep -qF "\"model\":\"$model\"" "$library/config.json"; then
    pass set-model/shapes "exit 0, config.json holds \"model\":\"$model\""
else fail set-model/shapes "exit $rc, config.json: $(cat "$library/config.json" 2>/dev/null | tr -d '\n ')"; fi

# ---- generate into an image ----
# A 64x64 image with one layer; 2 images at seed 1012 -> 2 new layers on top; each
# exported to PNG for the judge and for a comparison with the CLI at the same seeds.
gimp "(let* ((img (car (gimp-image-new 64 64 RGB)))
             (bg (car (gimp-layer-new img \"background\" 64 64 RGB-IMAGE 100 LAYER-MODE-NORMAL)))
             (dummy (gimp-image-insert-layer img bg 0 0))
             (r (plug-in-oneword-generate $NI #:image img #:prompt \"$prompt\" $sampling
                   #:seed 1012 #:n-images 2 #:width 64 #:height 64))
             (layers (car r))
             (stack (car (gimp-image-get-layers img))))
        (display (string-append \"returned=\" (number->string (vector-length layers)) \"\n\"))
        (display (string-append \"stack=\" (number->string (vector-length stack)) \"\n\"))
        (display (string-append \"top-is-last=\" (if (= (vector-ref stack 0) (vector-ref layers 1)) \"yes\" \"no\") \"\n\"))
        (display (string-append \"seed=\" (number->string (caddr r)) \"\n\"))
        (let loop ((k 0))
          (if (< k 2) (begin
            (let* ((l (vector-ref layers k))
                   (h (gimp-drawable-histogram l HISTOGRAM-VALUE 0.0 1.0))
                   (out (car (gimp-image-new 64 64 RGB)))
                   (copy (car (gimp-layer-new-from-drawable l out))))
              (display (string-append \"size\" (number->string k) \"=\" (number->string (car (gimp-drawable-get-width l)))
                                      \"x\" (number->string (car (gimp-drawable-get-height l))) \"\n\"))
              (display (string-append \"name\" (number->string k) \"=\" (car (gimp-item-get-name l)) \"\n\"))
              (display (string-append \"stddev\" (number->string k) \"=\" (number->string (cadr h)) \"\n\"))
              (display (string-append \"parasite\" (number->string k) \"=\" (caddr (car (gimp-item-get-parasite l \"oneword-generation\"))) \"\n\"))
              (gimp-image-insert-layer out copy 0 0)
              (gimp-file-save RUN-NONINTERACTIVE out (string-append \"$work/gen-\" (number->string k) \".png\") -1)
              (gimp-image-delete out))
            (loop (+ k 1)))))
        (gimp-image-delete img))"
if [ $rc -ne 0 ]; then
    fail generate/into-image "the batch failed (exit $rc)"
else
    [ "$(out_value returned)" = 2 ] && [ "$(out_value stack)" = 3 ] && [ "$(out_value top-is-last)" = yes ] &&
        pass generate/layers "2 layers returned, image stack 1 + 2 = $(out_value stack), the last generated on top" ||
        fail generate/layers "returned $(out_value returned), stack $(out_value stack), top-is-last $(out_value top-is-last)"
    [ "$(out_value size0)" = 64x64 ] && [ "$(out_value size1)" = 64x64 ] &&
        pass generate/size "layer sizes $(out_value size0) and $(out_value size1) (asked 64x64)" ||
        fail generate/size "layer sizes $(out_value size0) $(out_value size1)"
    [ "$(out_value name0)" = "$prompt (seed 1012)" ] && [ "$(out_value name1)" = "$prompt (seed 1013)" ] &&
        pass generate/names "'$(out_value name0)', '$(out_value name1)'" ||
        fail generate/names "'$(out_value name0)', '$(out_value name1)'"
    p0=$(out_value parasite0)
    case $p0 in *"\"prompt\":\"$prompt\""*'"sampler":"euler","steps":20,"guidance_scale":9.0'*'"seed":1012,"width":64,"height":64'*"\"model\":\"$model\""*)
        pass generate/parasite "oneword-generation parasite: $p0" ;;
    *) fail generate/parasite "parasite 0: $p0" ;;
    esac
    s0=$(out_value stddev0) s1=$(out_value stddev1)
    awk -v a="$s0" -v b="$s1" 'BEGIN { exit !(a > 5 && b > 5) }' &&
        pass generate/non-constant "value standard deviation $s0 and $s1 (of 255; > 5 required)" ||
        fail generate/non-constant "value standard deviation $s0 and $s1"
    verdicts=$("$judge" gen-0.png "$prompt"; "$judge" gen-1.png "$prompt")
    [ "$(grep -c '^accept' <<<"$verdicts")" = 2 ] &&
        pass generate/judge "the shapes judge accepts both layers as '$prompt'" ||
        fail generate/judge "$(tr '\n' ' ' <<<"$verdicts")"
    "$cli" generate --model "$model" --prompt "$prompt" --sampler euler --steps 20 --scale 9 --seed 1012 \
        --n-samples 1 --n-iter 2 --width 64 --height 64 --outdir cli >/dev/null 2>&1
    d0=$("$build/png_diff" gen-0.png cli/samples/00000.png) d1=$("$build/png_diff" gen-1.png cli/samples/00001.png)
    case "$d0 / $d1" in *"max difference "[01]","*" / "*"max difference "[01]","*)
        pass generate/same-as-cli "layer vs oneword generate at seeds 1012, 1013: $d0 / $d1 (at most 1 of 255: 8-bit rounding)" ;;
    *) fail generate/same-as-cli "$d0 / $d1" ;;
    esac
fi

# ---- model settings: threads and precision reach the engine; bad values are refused ----
gimp "(plug-in-oneword-set-model $NI #:model \"$model\" #:precision \"fp16\")"
if [ $rc -ne 0 ] && calling_error "precision 'fp16': use fp32, bf16 or auto"; then
    pass set-model/bad-precision "exit $rc, calling error: precision 'fp16': use fp32, bf16 or auto"
else fail set-model/bad-precision "expected a calling error, got exit $rc"; fi
gimp "(plug-in-oneword-set-model $NI #:model \"$model\" #:threads 2 #:precision \"bf16\")"
if [ $rc -eq 0 ] && grep -qF '"precision":"bf16"' "$library/config.json" && grep -qF '"threads":2' "$library/config.json"; then
    pass set-model/settings "exit 0, config.json: $(tr -d '\n ' <"$library/config.json")"
else fail set-model/settings "exit $rc, config.json: $(tr -d '\n ' <"$library/config.json" 2>/dev/null)"; fi
gimp "(let* ((r (plug-in-oneword-generate $NI #:prompt \"$prompt\" $sampling #:seed 1012 #:width 64 #:height 64))
             (l (vector-ref (car r) 0)) (img (cadr r)))
        (gimp-file-save RUN-NONINTERACTIVE img \"$work/gen-bf16.png\" -1)
        (gimp-image-delete img))"
"$cli" generate --model "$model" --prompt "$prompt" --sampler euler --steps 20 --scale 9 --seed 1012 --precision bf16 \
    --n-samples 1 --width 64 --height 64 --outdir cli-bf16 >/dev/null 2>&1
d=$([ -s gen-bf16.png ] && "$build/png_diff" gen-bf16.png cli-bf16/samples/00000.png)
d32=$([ -s gen-bf16.png ] && "$build/png_diff" gen-bf16.png gen-0.png)
case "$d" in *"max difference "[01]","*)
    pass generate/bf16 "with precision bf16 set: the layer vs oneword generate --precision bf16: $d; vs the fp32 layer: $d32" ;;
*) fail generate/bf16 "exit $rc; vs the CLI in bf16: $d" ;;
esac
gimp "(plug-in-oneword-set-model $NI #:model \"$model\")"
grep -qF '"precision":"fp32"' "$library/config.json" && grep -qF '"threads":0' "$library/config.json" &&
    pass set-model/defaults "set again with the model only: fp32 and all cores" ||
    fail set-model/defaults "config.json: $(tr -d '\n ' <"$library/config.json")"

# ---- generate without an image: a new one; sizes from arguments ----
gimp "(let* ((r (plug-in-oneword-generate $NI #:prompt \"$prompt\" #:steps 4 #:seed 5 #:width 64 #:height 32))
             (img (cadr r)))
        (display (string-append \"image=\" (number->string (car (gimp-image-get-width img))) \"x\"
                                (number->string (car (gimp-image-get-height img))) \"\n\"))
        (display (string-append \"layers=\" (number->string (vector-length (car (gimp-image-get-layers img)))) \"\n\"))
        (gimp-image-delete img))"
[ $rc -eq 0 ] && [ "$(out_value image)" = 64x32 ] && [ "$(out_value layers)" = 1 ] &&
    pass generate/new-image "no image given: a new $(out_value image) image with $(out_value layers) layer" ||
    fail generate/new-image "exit $rc, image $(out_value image), layers $(out_value layers)"

# no image and no size: the model's own (the shapes UNet's sample_size 16 x its VAE's factor 4)
gimp "(let* ((r (plug-in-oneword-generate $NI #:prompt \"$prompt\" #:steps 2 #:seed 5)) (img (cadr r)))
        (display (string-append \"image=\" (number->string (car (gimp-image-get-width img))) \"x\"
                                (number->string (car (gimp-image-get-height img))) \"\n\"))
        (gimp-image-delete img))"
[ $rc -eq 0 ] && [ "$(out_value image)" = 64x64 ] &&
    pass generate/model-size "no image and no size: a $(out_value image) image, the model's own size" ||
    fail generate/model-size "exit $rc, image $(out_value image) (want 64x64, the model's sample_size x factor)"

# generate again like this layer: its own seed re-makes it; -2 a random seed, a variation
save_layer() {  # Scheme that saves layer $1 alone as PNG $2
    echo "(let* ((o (car (gimp-image-new 64 64 RGB))) (c (car (gimp-layer-new-from-drawable $1 o))))
            (gimp-image-insert-layer o c 0 0) (gimp-file-save RUN-NONINTERACTIVE o \"$2\" -1) (gimp-image-delete o))"
}
gimp "(let* ((r (plug-in-oneword-generate $NI #:prompt \"$prompt\" $sampling #:seed 21 #:width 64 #:height 64))
             (img (cadr r)) (l (vector-ref (car r) 0))
             (same (plug-in-oneword-generate-again $NI #:image img #:drawables (vector l)))
             (other (plug-in-oneword-generate-again $NI #:image img #:drawables (vector l) #:seed -2)))
        $(save_layer l "$work/again-0.png")
        $(save_layer "(car same)" "$work/again-same.png")
        $(save_layer "(car other)" "$work/again-other.png")
        (display (string-append \"same-seed=\" (number->string (cadr same)) \"\n\"))
        (display (string-append \"other-seed=\" (number->string (cadr other)) \"\n\"))
        (display (string-append \"layers=\" (number->string (vector-length (car (gimp-image-get-layers img)))) \"\n\"))
        (gimp-image-delete img))"
same=$("$build/png_diff" again-0.png again-same.png 2>&1) other=$("$build/png_diff" again-0.png again-other.png 2>&1)
case "$rc|$(out_value same-seed)|$same|$other" in "0|21|"*"max difference 0,"*"|"*"max difference "[1-9]*)
    pass generate/again "again with the layer's seed 21: $same; with a random seed $(out_value other-seed): $other; the image has $(out_value layers) layers" ;;
*) fail generate/again "exit $rc, seeds $(out_value same-seed) $(out_value other-seed); same: $same; other: $other" ;;
esac
gimp "(let* ((img (car (gimp-image-new 64 64 RGB)))
             (l (car (gimp-layer-new img \"plain\" 64 64 RGB-IMAGE 100 LAYER-MODE-NORMAL))))
        (gimp-image-insert-layer img l 0 0)
        (plug-in-oneword-generate-again $NI #:image img #:drawables (vector l)))"
[ $rc -ne 0 ] && calling_error "the layer 'plain' was not made by Generate from Prompt" &&
    pass generate/again-plain-layer "a layer without the record: calling error" || fail generate/again-plain-layer "exit $rc"

# the parameters travel with the picture: saved as .xcf and opened again (the README's example)
gimp "(let* ((r (plug-in-oneword-generate $NI #:prompt \"$prompt\" #:steps 4 #:seed 77 #:width 64 #:height 64))
             (img (cadr r)))
        (gimp-xcf-save RUN-NONINTERACTIVE img \"$work/saved.xcf\")
        (gimp-image-delete img))" \
     "(let* ((img (car (gimp-file-load RUN-NONINTERACTIVE \"$work/saved.xcf\")))
             (l (vector-ref (car (gimp-image-get-layers img)) 0)))
        (display (string-append \"name=\" (car (gimp-item-get-name l)) \"\n\"))
        (display (string-append \"parasite=\" (caddr (car (gimp-item-get-parasite l \"oneword-generation\"))) \"\n\"))
        (gimp-image-delete img))"
case "$rc $(out_value parasite)" in "0 "*'"seed":77,"width":64,"height":64'*)
    pass generate/xcf-roundtrip "saved.xcf reopened: layer '$(out_value name)' still carries its oneword-generation parasite (seed 77)" ;;
*) fail generate/xcf-roundtrip "exit $rc, parasite '$(out_value parasite)'" ;;
esac

gimp "(plug-in-oneword-generate $NI #:prompt \"$prompt\" #:steps 4 #:width 62 #:height 64)"
[ $rc -ne 0 ] && calling_error "width and height must be multiples of 4 for this model" &&
    pass generate/bad-size "62x64: calling error 'multiples of 4 for this model' (the shapes VAE's factor)" ||
    fail generate/bad-size "expected a calling error for 62x64, got exit $rc"
gimp "(plug-in-oneword-generate $NI #:prompt \"$prompt\" #:sampler \"heun\" #:steps 2 #:width 64 #:height 64)"
[ $rc -ne 0 ] && calling_error "unknown sampler 'heun': use ddim, plms, euler, euler-a or dpm++2m-karras" &&
    pass generate/bad-sampler "sampler \"heun\": calling error listing the samplers" ||
    fail generate/bad-sampler "expected a calling error for sampler heun, got exit $rc"
gimp "(plug-in-oneword-generate $NI #:prompt \"$prompt\" #:steps 0 #:width 64 #:height 64)"
[ $rc -ne 0 ] && err_has "has value 0 out of range: 1 to 1000" &&
    pass generate/bad-steps "steps 0: Script-Fu refuses it against the argument's range ('$(grep -m1 -o "argument [0-9]* in call.*" "$work/err")')" ||
    fail generate/bad-steps "expected steps 0 to be refused, got exit $rc"

# ---- the Embedding Library ----
# The window: Filters > Concepts > Embedding Library... (as GIMP registered it in
# pluginrc); the library procedures have no menu entries of their own any more (the
# window does what they do). Run non-interactively, the window explains what to call.
gimp "(plug-in-oneword-library $NI)"
# pluginrc: (proc-def "NAME" TYPE, then blurb, help, authors, copyright, date, menu label)
menus=$(awk '/\(proc-def "/ { name = ($2 ~ /^"plug-in-oneword/) ? $2 : ""; gsub(/"/, "", name); k = 0; next }
             name { k++ }
             name && k == 6 { label = $0; gsub(/^ *"|"$/, "", label) }
             name && /\(menu-path / { path = $0; sub(/.*\(menu-path "/, "", path); sub(/"\).*/, "", path);
                                      printf "%s=%s|%s\n", name, label, path }' "$profile/pluginrc")
window_menu=$(sed -n 's/^plug-in-oneword-library=//p' <<<"$menus")
if [ $rc -ne 0 ] && calling_error "the Embedding Library window is interactive only: scripts use plug-in-oneword-library-list" &&
    [ "$window_menu" = "Embedding _Library...|<Image>/Filters/Concepts" ] && ! grep -q "Embedding Library" <<<"$menus"; then
    pass library/window "plug-in-oneword-library registered as '$window_menu'; non-interactive: calling error naming the library procedures; $(wc -l <<<"$menus") oneword menu entries, none in an Embedding Library submenu"
else fail library/window "exit $rc, menu '$window_menu'; oneword menus: $(tr '\n' ' ' <<<"$menus")"; fi
list_tokens() {  # prints tokens= and report= lines
    gimp "(let ((r (plug-in-oneword-library-list $NI)))
            (display \"tokens=\") (for-each (lambda (t) (display t) (display \" \")) (car r)) (newline)
            (display (string-append \"report=\" (caddr r) \"\n\")))"
}
gimp "(let ((r (plug-in-oneword-library-import $NI #:file \"$fixtures/orange-circle.pt\")))
        (display (string-append \"name=\" (car r) \"\n\" \"tokens=\" (caadr r) \"\n\")))"
[ $rc -eq 0 ] && [ "$(out_value name)" = orange-circle ] && [ "$(out_value tokens)" = "<orange-circle>" ] &&
    [ -f "$library/embeddings/orange-circle.safetensors" ] && grep -qF '"token":"<orange-circle>"' "$library/index.json" &&
    pass library/import "orange-circle.pt -> entry '$(out_value name)', token $(out_value tokens), embeddings/orange-circle.safetensors, listed in index.json" ||
    fail library/import "exit $rc, name '$(out_value name)', tokens '$(out_value tokens)'"
gimp "(plug-in-oneword-library-import $NI #:file \"$fixtures/orange-circle.pt\")"
[ $rc -ne 0 ] && calling_error "the library already holds the token '<orange-circle>'" &&
    pass library/import-clash "a second import of <orange-circle>: calling error 'already holds the token'" ||
    fail library/import-clash "exit $rc"
gimp "(plug-in-oneword-library-import $NI #:file \"$fixtures/purple-bg.safetensors\")" \
     "(plug-in-oneword-library-import $NI #:file \"$src/tests/golden/embeddings/a1111_f32.pt\")"
list_tokens
[ $rc -eq 0 ] && [ "$(out_value tokens)" = "<orange-circle> <purple-bg> my-cat " ] &&
    grep -qF '"model":"v1-5-pruned-emaonly"' "$library/index.json" &&
    pass library/list "tokens: $(out_value tokens)(my-cat: 4 x 768, made for v1-5-pruned-emaonly)" ||
    fail library/list "exit $rc, tokens '$(out_value tokens)'"

# The token is used: the layer equals the CLI's --embedding image, and differs from the
# same prompt without the embedding.
tprompt="an <orange-circle> on a purple background"
gimp "(let* ((r (plug-in-oneword-generate $NI #:prompt \"$tprompt\" $sampling #:seed 3 #:width 64 #:height 64))
             (img (cadr r)))
        (gimp-file-save RUN-NONINTERACTIVE img \"$work/token.png\" -1)
        (gimp-xcf-save RUN-NONINTERACTIVE img \"$work/token.xcf\")
        (display \"image-parasites=\") (for-each (lambda (p) (display p) (display \" \")) (car (gimp-image-get-parasite-list img)))
        (newline)
        (gimp-image-delete img))"
case $(out_value image-parasites) in *"oneword-embedding:orange-circle "*)
    pass generate/concept-parasite "the image carries the entry its prompt used: parasites $(out_value image-parasites)" ;;
*) fail generate/concept-parasite "image parasites '$(out_value image-parasites)'" ;;
esac
"$cli" generate --model "$model" --prompt "$tprompt" --sampler euler --steps 20 --scale 9 --seed 3 --n-samples 1 \
    --width 64 --height 64 --embedding "$fixtures/orange-circle.pt" --outdir cli-token >/dev/null 2>&1
"$cli" generate --model "$model" --prompt "$tprompt" --sampler euler --steps 20 --scale 9 --seed 3 --n-samples 1 \
    --width 64 --height 64 --outdir cli-plain >/dev/null 2>&1
same=$("$build/png_diff" token.png cli-token/samples/00000.png) other=$("$build/png_diff" token.png cli-plain/samples/00000.png)
case $same in *"max difference "[01]","*)
    case $other in *"max difference "[01]","*) fail generate/library-token "the token changed nothing: $other" ;;
    *) pass generate/library-token "'$tprompt': vs CLI --embedding: $same; vs no embedding: $other" ;;
    esac ;;
*) fail generate/library-token "exit $rc; vs CLI --embedding: $same" ;;
esac
gimp "(plug-in-oneword-generate $NI #:prompt \"a photo of my-cat\" #:steps 4 #:width 64 #:height 64)"
[ $rc -ne 0 ] && execution_error "the prompt uses the library token 'my-cat', which this model cannot take" &&
    err_has "768-wide" &&
    pass generate/unfit-token "my-cat (768-wide) in the prompt: execution error naming the widths" ||
    fail generate/unfit-token "exit $rc"

# export: the same vectors as the file imported
gimp "(plug-in-oneword-library-export $NI #:token \"<orange-circle>\" #:file \"$work/exported.pt\")"
"$cli" convert "$fixtures/orange-circle.pt" original.json >/dev/null 2>&1
"$cli" convert exported.pt exported.json >/dev/null 2>&1
if [ $rc -eq 0 ] && [ -s exported.json ] && [ "$(sed 's/.*"tokens"://' exported.json)" = "$(sed 's/.*"tokens"://' original.json)" ]; then
    pass library/export "exported.pt holds the same token, dtype and $(grep -o ',' exported.json | wc -l) numbers as orange-circle.pt (compared as .json)"
else fail library/export "exit $rc"; fi
gimp "(plug-in-oneword-library-export $NI #:token \"<nothing>\" #:file \"$work/x.pt\")"
[ $rc -ne 0 ] && calling_error "no library entry holds the token '<nothing>' (the library holds: <orange-circle>, <purple-bg>, my-cat)" &&
    pass library/export-unknown "calling error listing the library's tokens" || fail library/export-unknown "exit $rc"

# rename
gimp "(plug-in-oneword-library-rename $NI #:token \"<orange-circle>\" #:new-token \"<oc>\")"
"$cli" inspect "$library/embeddings/oc.safetensors" >inspect.txt 2>&1
list_tokens
[ "$(out_value tokens)" = "<oc> <purple-bg> my-cat " ] && grep -q '^tokens: *1' inspect.txt && grep -q '<oc>' inspect.txt &&
    [ ! -e "$library/embeddings/orange-circle.safetensors" ] &&
    pass library/rename "<orange-circle> -> <oc>: tokens now $(out_value tokens), file embeddings/oc.safetensors holds <oc>, the old file is gone" ||
    fail library/rename "tokens '$(out_value tokens)'"
gimp "(plug-in-oneword-library-rename $NI #:token \"<oc>\" #:new-token \"my-cat\")"
[ $rc -ne 0 ] && calling_error "the library already holds the token 'my-cat'" &&
    pass library/rename-clash "renaming onto my-cat: calling error" || fail library/rename-clash "exit $rc"

# merge: one entry with both tokens; the inputs go to the trash
gimp "(let ((r (plug-in-oneword-library-merge $NI #:tokens (list \"<oc>\" \"<purple-bg>\") #:name \"pair\")))
        (display (string-append \"name=\" (car r) \"\n\"))
        (display \"tokens=\") (for-each (lambda (t) (display t) (display \" \")) (cadr r)) (newline))"
trashed=$(ls "$library/trash" | wc -l)
[ $rc -eq 0 ] && [ "$(out_value name)" = pair ] && [ "$(out_value tokens)" = "<oc> <purple-bg> " ] &&
    [ -f "$library/embeddings/pair.safetensors" ] && [ "$trashed" = 2 ] &&
    pass library/merge "<oc> + <purple-bg> -> entry 'pair' with tokens $(out_value tokens)($trashed input files in trash/)" ||
    fail library/merge "exit $rc, name '$(out_value name)', tokens '$(out_value tokens)', $trashed in trash"
gimp "(plug-in-oneword-generate $NI #:prompt \"an <oc> on a <purple-bg>\" #:steps 4 #:width 64 #:height 64)"
[ $rc -eq 0 ] && pass generate/merged-tokens "'an <oc> on a <purple-bg>' generates with the merged entry" ||
    fail generate/merged-tokens "exit $rc"

# delete: to the trash
gimp "(display (string-append \"trash=\" (car (plug-in-oneword-library-delete $NI #:token \"<purple-bg>\")) \"\n\"))"
trash=$(out_value trash)
list_tokens
[ -n "$trash" ] && [ -f "$trash" ] && [ "$(out_value tokens)" = "my-cat " ] && [ ! -e "$library/embeddings/pair.safetensors" ] &&
    pass library/delete "deleting <purple-bg> moved entry 'pair' to ${trash#$library/}; tokens now: $(out_value tokens)" ||
    fail library/delete "trash '$trash', tokens '$(out_value tokens)'"

# a corrupt index: reported, kept aside, rebuilt from the files
printf '{"format": "oneword-library", "embeddings": [' >"$library/index.json"
list_tokens
[ $rc -eq 0 ] && [ "$(out_value tokens)" = "my-cat " ] && [ "$(out_value report)" != "" ] &&
    ls "$library"/index.json.corrupt-* >/dev/null 2>&1 && grep -q '"format":"oneword-library"' "$library/index.json" &&
    err_has "index.json was corrupt" &&
    pass library/corrupt-index "truncated index.json: reported ('$(out_value report | cut -c1-90)...'), kept as $(cd "$library" && ls index.json.corrupt-*), rebuilt with $(out_value tokens)" ||
    fail library/corrupt-index "exit $rc, tokens '$(out_value tokens)', report '$(out_value report)'"
# a hand-edited index that forgot an entry and lists a file that is gone
printf '{"format":"oneword-library","version":1,"embeddings":[{"name":"gone","file":"gone.safetensors","tokens":[]}]}' >"$library/index.json"
list_tokens
report=$(out_value report)
case $report in *"embeddings/gone.safetensors, which is gone"*"my-cat.safetensors was not in index.json: added"*)
    pass library/hand-edited-index "an index listing a missing file and missing a present one: '$report'" ;;
*) fail library/hand-edited-index "tokens '$(out_value tokens)', report '$report'" ;;
esac

# ---- Learn Concept ----
# Training layers: the two generated circles (64x64, from PNG) and a third of another
# size (48x40) with alpha, part of it cleared (composited over white for training).
layers_scheme() {  # $1: extra Scheme run with img, a, b, c bound
    echo "(let* ((img (car (gimp-image-new 64 64 RGB)))
                 (a (car (gimp-file-load-layer RUN-NONINTERACTIVE img \"$work/gen-0.png\")))
                 (b (car (gimp-file-load-layer RUN-NONINTERACTIVE img \"$work/gen-1.png\")))
                 (c (car (gimp-file-load-layer RUN-NONINTERACTIVE img \"$work/gen-1.png\"))))
            (gimp-image-insert-layer img a 0 0) (gimp-image-insert-layer img b 0 0) (gimp-image-insert-layer img c 0 0)
            (gimp-layer-scale c 48 40 FALSE)
            (gimp-layer-add-alpha c)
            (gimp-image-select-rectangle img CHANNEL-OP-REPLACE 0 0 12 40)
            (gimp-drawable-edit-clear c)
            (gimp-selection-none img)
            $1
            (gimp-image-delete img))"
}
learn_args='#:init-word "circle" #:steps 6 #:size 64 #:batch 1 #:save-every 3 #:seed 1'
gimp "$(layers_scheme "(plug-in-oneword-learn $NI #:image img #:drawables (vector a) #:token \"<one>\" $learn_args)")"
[ $rc -ne 0 ] && calling_error "select two or more layers that show the concept" &&
    pass learn/one-layer "a one-layer selection: calling error 'select two or more layers'" || fail learn/one-layer "exit $rc"
gimp "$(layers_scheme "(plug-in-oneword-learn $NI #:image img #:drawables (vector a b) #:token \"<x>\"
                          #:init-word \"purpleorange\" #:steps 2 #:size 64)")"
[ $rc -ne 0 ] && calling_error "the init word 'purpleorange' is 2 CLIP tokens" && err_has "it must be one token" &&
    err_has 'use one word: "purple" or "orange"' &&
    pass learn/init-word "init word 'purpleorange': calling error '$(grep -o "is 2 CLIP tokens[^;]*" "$work/err" | head -n 1)'" ||
    fail learn/init-word "exit $rc"
gimp "$(layers_scheme "(gimp-item-set-visible b FALSE)
                       (plug-in-oneword-learn $NI #:image img #:drawables (vector a b) #:token \"<x>\" $learn_args)")"
[ $rc -ne 0 ] && calling_error "is hidden: show it, or leave it out" &&
    pass learn/hidden-layer "a hidden layer in the selection: calling error" || fail learn/hidden-layer "exit $rc"

gimp "$(layers_scheme "(let ((r (plug-in-oneword-learn $NI #:image img #:drawables (vector a b c)
                                     #:token \"<learned-circle>\" $learn_args)))
                         (display (string-append \"file=\" (car r) \"\n\" \"token=\" (cadr r) \"\n\" \"name=\" (caddr r) \"\n\")))
                       (let* ((o (car (gimp-image-new 48 40 RGB))) (cc (car (gimp-layer-new-from-drawable c o))))
                         (gimp-image-insert-layer o cc 0 0) (gimp-layer-set-offsets cc 0 0)
                         (gimp-file-save RUN-NONINTERACTIVE o \"$work/learn-c.png\" -1) (gimp-image-delete o))")"
file=$(out_value file)
if [ $rc -eq 0 ] && [ "$(out_value token)" = "<learned-circle>" ] && [ -f "$file" ] &&
    grep -q '"token":"<learned-circle>"' "$library/index.json" && grep -q '"steps":6' "$library/index.json" &&
    [ -f "$library/runs/learned-circle/embedding.safetensors" ] && [ ! -e "$library/runs/learned-circle/state.safetensors" ] &&
    "$cli" inspect "$file" | grep -q 'dim: *64'; then
    pass learn/three-layers "64x64, 64x64 and 48x40 with alpha -> ${file#$library/}, token $(out_value token), 6 steps in index.json, dim 64; the finished run keeps runs/learned-circle/embedding.safetensors"
else fail learn/three-layers "exit $rc, file '$file', token '$(out_value token)'"; fi
# the library's picture of the entry: the first layer's centred square, 96x96
thumb=$library/thumbnails/learned-circle.png
size=$([ -f "$thumb" ] && od -An -tu1 -j16 -N8 "$thumb" | awk '{ printf "%dx%d", $3 * 256 + $4, $7 * 256 + $8 }')
[ "$(head -c 4 "$thumb" 2>/dev/null | tail -c 3)" = "PNG" ] || size="not a PNG"
[ "$size" = 96x96 ] && pass learn/thumbnail "thumbnails/learned-circle.png: a $size PNG of the first layer" ||
    fail learn/thumbnail "thumbnails/learned-circle.png: '$size'"
# the same run by the CLI on the layers as PNG files (the 48x40 one with its alpha, which
# weights the loss in both: --alpha-mask): the same vectors, so the layers and the alpha
# reached the engine as the CLI reads the files
OMP_WAIT_POLICY=PASSIVE "$cli" learn --model "$model" --images gen-0.png --images gen-1.png --images learn-c.png \
    --alpha-mask --init-word circle --placeholder "<learned-circle>" --steps 6 --size 64 --batch 1 --save-every 3 --seed 1 \
    --out cli-learn >/dev/null 2>&1
"$cli" convert cli-learn/embeddings.pt cli-learn.json >/dev/null 2>&1
"$cli" convert "$library/embeddings/learned-circle.safetensors" plugin-learn.json >/dev/null 2>&1
# max |a - b| over the numbers of two .json embeddings' "vectors"; fails if their counts differ.
# within_tolerance DIFF: the max difference at most 1e-5. Two processes running the same
# learning steps differ in the last float bits now and then (measured: 0 and 4.2e-8 after
# 6 steps); another image order or a wrong alpha composite differs by 1e-2 and more.
within_tolerance() { awk -v d="${1##* }" 'BEGIN { exit !(d != "" && d + 0 <= 1e-5) }'; }
vector_numbers() { sed 's/.*"vectors"://' "$1" | tr -c '0-9eE.+-' '\n' | grep '[0-9]'; }
vector_diff() {
    paste <(vector_numbers "$1") <(vector_numbers "$2") |
        awk -F'\t' '$1 == "" || $2 == "" { bad = 1 } { d = $1 - $2; if (d < 0) d = -d; if (d > m) m = d; n++ }
                    END { if (bad || n == 0) exit 1; printf "%d numbers, max difference %.3g\n", n, m }'
}
d_learn=$(vector_diff cli-learn.json plugin-learn.json)
within_tolerance "$d_learn" &&
    pass learn/same-as-cli "plug-in vs oneword learn --alpha-mask on the same three pictures in the same order (6 steps, seed 1): $d_learn (at most 1e-5)" ||
    fail learn/same-as-cli "plug-in vs CLI: '$d_learn' (at most 1e-5)"
# the training options beyond the defaults reach the engine as the CLI's flags do
gimp "$(layers_scheme "(plug-in-oneword-learn $NI #:image img #:drawables (vector a b c) #:token \"<cropped-circle>\"
                          $learn_args #:center-crop TRUE #:repeats 0 #:flip 0.0 #:gradient-checkpointing TRUE)")"
OMP_WAIT_POLICY=PASSIVE "$cli" learn --model "$model" --images gen-0.png --images gen-1.png --images learn-c.png \
    --alpha-mask --init-word circle --placeholder "<cropped-circle>" --steps 6 --size 64 --batch 1 --save-every 3 --seed 1 \
    --center-crop --repeats 0 --flip 0 --gradient-checkpointing --out cli-learn-crop >/dev/null 2>&1
"$cli" convert cli-learn-crop/embeddings.pt cli-learn-crop.json >/dev/null 2>&1
"$cli" convert "$library/embeddings/cropped-circle.safetensors" plugin-learn-crop.json >/dev/null 2>&1
d_crop=$(vector_diff cli-learn-crop.json plugin-learn-crop.json)
d_default=$(vector_diff plugin-learn.json plugin-learn-crop.json)
within_tolerance "$d_crop" && ! within_tolerance "$d_default" &&
    pass learn/options "center-crop, repeats 0, flip 0, gradient checkpointing: plug-in vs oneword learn with the same flags: $d_crop; vs the default options: $d_default" ||
    fail learn/options "exit $rc; plug-in vs CLI '$d_crop' (at most 1e-5); vs the defaults '$d_default' (must differ)"
# the dry run: the exact training views as layers of a new image, nothing learned
gimp "$(layers_scheme "(let* ((r (plug-in-oneword-learn $NI #:image img #:drawables (vector a b c) #:token \"<views-circle>\"
                                     $learn_args #:dry-run TRUE))
                              (views (cadddr r))
                              (stack (car (gimp-image-get-layers views)))
                              (n (vector-length stack)))
                         (display (string-append \"views=\" (number->string n) \"\n\"))
                         (display (string-append \"size=\" (number->string (car (gimp-image-get-width views))) \"x\"
                                                 (number->string (car (gimp-image-get-height views))) \"\n\"))
                         (display (string-append \"first=\" (car (gimp-item-get-name (vector-ref stack 0))) \"\n\"))
                         (display (string-append \"masked=\" (if (= (car (gimp-layer-get-mask (vector-ref stack 4))) -1) \"no\" \"yes\") \"\n\"))
                         (let* ((o (car (gimp-image-new 64 64 RGB))) (l (car (gimp-layer-new-from-drawable (vector-ref stack 0) o))))
                           (gimp-image-insert-layer o l 0 0) (gimp-file-save RUN-NONINTERACTIVE o \"$work/view-1.png\" -1)
                           (gimp-image-delete o))
                         (gimp-image-delete views))")"
d_view=$([ -s view-1.png ] && "$build/png_diff" view-1.png gen-0.png)
if [ $rc -eq 0 ] && [ "$(out_value views)" = 6 ] && [ "$(out_value size)" = 64x64 ] && [ "$(out_value masked)" = yes ] &&
    [ ! -e "$library/embeddings/views-circle.safetensors" ]; then
    case "$d_view" in *"max difference "[01]","*)
        pass learn/dry-run "6 views of 64x64 (3 layers and their mirrors), '$(out_value first)'; the 48x40 layer's view has its alpha as a mask; view 1 vs its layer's picture: $d_view; nothing learned" ;;
    *) fail learn/dry-run "view 1 vs gen-0.png: $d_view" ;;
    esac
else fail learn/dry-run "exit $rc, views $(out_value views), size $(out_value size), masked $(out_value masked)"; fi
# previews while learning: a layer per preview, the CLI's --preview-every images
gimp "$(layers_scheme "(let* ((r (plug-in-oneword-learn $NI #:image img #:drawables (vector a b c) #:token \"<preview-circle>\"
                                     $learn_args #:preview-every 3))
                              (preview (cadddr r))
                              (stack (car (gimp-image-get-layers preview))))
                         (display (string-append \"layers=\" (number->string (vector-length stack)) \"\n\"))
                         (display (string-append \"top=\" (car (gimp-item-get-name (vector-ref stack 0))) \"\n\"))
                         (display (string-append \"size=\" (number->string (car (gimp-image-get-width preview))) \"x\"
                                                 (number->string (car (gimp-image-get-height preview))) \"\n\"))
                         (let* ((o (car (gimp-image-new 256 64 RGB))) (l (car (gimp-layer-new-from-drawable (vector-ref stack 0) o))))
                           (gimp-image-insert-layer o l 0 0) (gimp-file-save RUN-NONINTERACTIVE o \"$work/preview-6.png\" -1)
                           (gimp-image-delete o))
                         (gimp-image-delete preview))")"
OMP_WAIT_POLICY=PASSIVE "$cli" learn --model "$model" --images gen-0.png --images gen-1.png --images learn-c.png \
    --alpha-mask --init-word circle --placeholder "<preview-circle>" --steps 6 --size 64 --batch 1 --save-every 3 --seed 1 \
    --preview-every 3 --out cli-preview >/dev/null 2>&1
d_preview=$([ -s preview-6.png ] && "$build/png_diff" preview-6.png cli-preview/preview-6.png)
if [ $rc -eq 0 ] && [ "$(out_value layers)" = 2 ] && [ "$(out_value size)" = 256x64 ]; then
    case "$d_preview" in *"max difference "[01]","*)
        pass learn/preview "2 preview layers of $(out_value size), top '$(out_value top)'; vs oneword learn --preview-every 3's preview-6.png: $d_preview" ;;
    *) fail learn/preview "the step-6 preview vs the CLI's: '$d_preview'" ;;
    esac
else fail learn/preview "exit $rc, layers $(out_value layers), size $(out_value size)"; fi
gimp "(let* ((r (plug-in-oneword-generate $NI #:prompt \"an <learned-circle> on a purple background\" $sampling #:seed 4 #:width 64 #:height 64))
             (l (vector-ref (car r) 0)))
        (display (string-append \"stddev=\" (number->string (cadr (gimp-drawable-histogram l HISTOGRAM-VALUE 0.0 1.0))) \"\n\"))
        (gimp-image-delete (cadr r)))"
[ $rc -eq 0 ] && awk -v a="$(out_value stddev)" 'BEGIN { exit !(a > 5) }' &&
    pass learn/generate-with-it "'an <learned-circle> on a purple background': a layer with value standard deviation $(out_value stddev)" ||
    fail learn/generate-with-it "exit $rc, stddev '$(out_value stddev)'"
gimp "$(layers_scheme "(plug-in-oneword-learn $NI #:image img #:drawables (vector a b) #:token \"<learned-circle>\" $learn_args)")"
[ $rc -ne 0 ] && calling_error "the library already holds the token '<learned-circle>'" &&
    pass learn/token-taken "learning <learned-circle> again: calling error" || fail learn/token-taken "exit $rc"

# any precision and colour model: a grayscale image in linear 32-bit float; a layer group
# counts as its merged picture
gimp "$(layers_scheme "(gimp-image-convert-grayscale img)
                       (gimp-image-convert-precision img PRECISION-FLOAT-LINEAR)
                       (plug-in-oneword-learn $NI #:image img #:drawables (vector a b c) #:token \"<gray>\"
                          #:init-word \"circle\" #:steps 2 #:size 64 #:batch 1 #:save-every 0)")"
[ $rc -eq 0 ] && grep -q '"token":"<gray>"' "$library/index.json" &&
    pass learn/gray-float "three layers of a grayscale, linear 32-bit float image: learned <gray>" || fail learn/gray-float "exit $rc"
gimp "$(layers_scheme "(let ((g (car (gimp-group-layer-new img \"group\"))))
                         (gimp-image-insert-layer img g 0 0)
                         (gimp-image-reorder-item img a g 0)
                         (gimp-image-reorder-item img b g 0)
                         (plug-in-oneword-learn $NI #:image img #:drawables (vector g c) #:token \"<group>\"
                            #:init-word \"circle\" #:steps 2 #:size 64 #:batch 1 #:save-every 0))")"
[ $rc -eq 0 ] && grep -q '"token":"<group>"' "$library/index.json" &&
    pass learn/layer-group "a layer group (of two layers) and a layer: learned <group>" || fail learn/layer-group "exit $rc"

# a layer mask weights the loss: an all-white mask learns what no mask learns, a half
# black one something else
mask_learn() {  # TOKEN MASK-SCHEME USE-MASKS
    gimp "$(layers_scheme "(let ((m (car (gimp-layer-create-mask b $2))))
                             (gimp-layer-add-mask b m)
                             (gimp-image-select-rectangle img CHANNEL-OP-REPLACE 0 0 32 64)
                             (gimp-drawable-edit-fill m FILL-WHITE)
                             (gimp-selection-none img)
                             (plug-in-oneword-learn $NI #:image img #:drawables (vector a b) #:token \"$1\"
                               $learn_args #:use-masks $3))")"
    "$cli" convert "$library/embeddings/$(sed 's/[<>]//g' <<<"$1").safetensors" "$work/$1.json" >/dev/null 2>&1
}
mask_learn "<mask-none>" ADD-MASK-BLACK FALSE
mask_learn "<mask-white>" ADD-MASK-WHITE TRUE
mask_learn "<mask-half>" ADD-MASK-BLACK TRUE
d_white=$(vector_diff "<mask-white>.json" "<mask-none>.json") d_half=$(vector_diff "<mask-half>.json" "<mask-none>.json")
if within_tolerance "$d_white" && [ -n "$d_half" ] && ! within_tolerance "$d_half"; then
    pass learn/layer-mask "all-white layer mask vs use-masks FALSE: $d_white; left half white only: $d_half"
else fail learn/layer-mask "white vs none: '$d_white' (want <= 1e-5), half vs none: '$d_half' (want > 1e-5)"; fi

# killed mid-run: the library stays intact, the run continues with resume
index_before=$(cat "$library/index.json")
kill_args='#:init-word "circle" #:steps 60 #:size 64 #:batch 1 #:save-every 5 #:seed 2'
gimp_bg_scheme=$(layers_scheme "(plug-in-oneword-learn $NI #:image img #:drawables (vector a b) #:token \"<killed>\" $kill_args)")
gimp-console-3.0 -i -n --quit --batch-interpreter=plug-in-script-fu-eval -b "$gimp_bg_scheme" >"$work/out" 2>"$work/err" &
gimp_pid=$!
state=$library/runs/killed/state.safetensors
for i in $(seq 300); do [ -f "$state" ] && break; sleep 0.1; done
plugin_pid=$(pgrep -n -f "^$profile/plug-ins/oneword-gimp/oneword-gimp")
[ -n "$plugin_pid" ] && kill -9 "$plugin_pid"
wait "$gimp_pid"
killed_rc=$?
if [ -n "$plugin_pid" ] && [ -f "$state" ] && [ "$(cat "$library/index.json")" = "$index_before" ] && ! grep -q '<killed>' "$library/index.json"; then
    pass learn/killed "the plug-in killed (pid $plugin_pid) after its first saved state: GIMP exit $killed_rc, index.json unchanged, runs/killed/state.safetensors kept"
else fail learn/killed "plug-in pid '$plugin_pid', state $( [ -f "$state" ] && echo kept || echo missing)"; fi
gimp "$(layers_scheme "(plug-in-oneword-learn $NI #:image img #:drawables (vector a b) #:token \"<killed>\" $kill_args)")"
[ $rc -ne 0 ] && calling_error "runs/killed holds an unfinished run" &&
    pass learn/unfinished-run "learning <killed> again without resume: calling error offering resume" || fail learn/unfinished-run "exit $rc"
gimp "$(layers_scheme "(let ((r (plug-in-oneword-learn $NI #:image img #:drawables (vector a b) #:token \"<killed>\" $kill_args #:resume TRUE)))
                         (display (string-append \"token=\" (cadr r) \"\n\")))")"
[ $rc -eq 0 ] && [ "$(out_value token)" = "<killed>" ] && grep -q '"steps":60' "$library/index.json" && [ ! -e "$state" ] &&
    pass learn/resume "resumed: <killed> in the library with 60 steps, the state removed" ||
    fail learn/resume "exit $rc, token '$(out_value token)'"

# the resumed run is the run that was not interrupted: the same vectors as learning it in one go
gimp "$(layers_scheme "(plug-in-oneword-learn $NI #:image img #:drawables (vector a b) #:token \"<uninterrupted>\" $kill_args)")"
"$cli" convert "$library/embeddings/killed.safetensors" killed.json >/dev/null 2>&1
"$cli" convert "$library/embeddings/uninterrupted.safetensors" uninterrupted.json >/dev/null 2>&1
d_resume=$(vector_diff killed.json uninterrupted.json)
[ $rc -eq 0 ] && within_tolerance "$d_resume" &&
    pass learn/resume-same "killed + resumed vs uninterrupted (60 steps, seed 2): $d_resume (at most 1e-5)" ||
    fail learn/resume-same "exit $rc; resumed vs uninterrupted: '$d_resume' (at most 1e-5)"

# the concept travels with the picture: token.xcf (made with <orange-circle>, since
# renamed, merged and deleted) gives it back to the library, and generates the same image
gimp "(let* ((img (car (gimp-file-load RUN-NONINTERACTIVE \"$work/token.xcf\")))
             (first (plug-in-oneword-library-import-from-image $NI #:image img))
             (again (plug-in-oneword-library-import-from-image $NI #:image img))
             (r (plug-in-oneword-generate $NI #:prompt \"$tprompt\" $sampling #:seed 3 #:width 64 #:height 64))
             (made (cadr r)))
        (display \"tokens=\") (for-each (lambda (t) (display t) (display \" \")) (car first)) (newline)
        (display (string-append \"skipped-again=\" (cadr again) \"\n\"))
        (gimp-file-save RUN-NONINTERACTIVE made \"$work/token-again.png\" -1)
        (gimp-image-delete made)
        (gimp-image-delete img))"
again=$("$build/png_diff" token.png token-again.png 2>&1)
case "$rc|$(out_value tokens)|$(out_value skipped-again)|$again" in
"0|<orange-circle> |orange-circle: "*"already holds the token '<orange-circle>'"*"|"*"max difference 0,"*)
    pass library/import-from-image "token.xcf gave back <orange-circle>; a second import skipped it ('$(out_value skipped-again | cut -c1-70)...'); generating again: $again" ;;
*) fail library/import-from-image "exit $rc, tokens '$(out_value tokens)', skipped '$(out_value skipped-again)', $again" ;;
esac

finish
