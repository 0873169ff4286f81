#!/usr/bin/env bash
# tests/gimp/screenshots.sh: pictures of the plug-in's dialogs for the README, made in a
# real GIMP 3 under Xvfb in the Debian 13 root (tests/gimp/root.sh): GIMP with an image
# open, each dialog called RUN-INTERACTIVE from a batch command, the screen grabbed
# (ImageMagick's import) and GIMP stopped. Writes tests/gimp/screenshots/*.png
# (generate-dialog, learn-dialog, set-model-dialog, library-window; generated-layers: four
# generated 64x64 layers, scaled up 6x for the picture). The profile's library holds the
# test fixtures' embeddings.
# Run after tests/gimp/run has built the plug-in (build/gimp3).
#   tests/gimp/screenshots.sh [NAME...]     (NAMEs: only those pictures)
set -u
if [ "${1:-}" != "--in-root" ]; then
    here=$(cd "$(dirname "$0")" && pwd)
    repo=$(cd "$here/../.." && pwd)
    exec "$here/root.sh" run --bind "$repo:/src" -- bash /src/tests/gimp/screenshots.sh --in-root "$@"
fi
shift
only=" $* "

# ---- inside the root ----
src=/src
build=$src/build/gimp3
out=$src/tests/gimp/screenshots
meson compile -C "$build" plugin/oneword-gimp engine/cli/oneword >/dev/null ||
    { echo "screenshots: build the plug-in first (tests/gimp/run)"; exit 1; }
work=$(mktemp -d /tmp/oneword-shots.XXXXXX)
trap 'rm -rf "$work"' EXIT
export HOME=$work/home OMP_WAIT_POLICY=PASSIVE
profile=$HOME/.config/GIMP/3.0
mkdir -p "$profile/plug-ins/oneword-gimp" "$out"
install -m 755 "$build/plugin/oneword-gimp" "$profile/plug-ins/oneword-gimp/oneword-gimp"
# No Welcome dialog, no colour-profile question over the window.
printf '(show-welcome-dialog no)\n(color-profile-policy keep)\n' >"$profile/gimprc"
gimp-console-3.0 -i -n --quit --batch-interpreter=plug-in-script-fu-eval \
    -b "(plug-in-oneword-set-model #:run-mode RUN-NONINTERACTIVE #:model \"$src/resources/shapes\")" >/dev/null 2>&1 ||
    { echo "screenshots: set-model failed"; exit 1; }
for f in tests/gimp/fixtures/orange-circle.pt tests/gimp/fixtures/purple-bg.safetensors tests/golden/embeddings/a1111_f32.pt; do
    gimp-console-3.0 -i -n --quit --batch-interpreter=plug-in-script-fu-eval \
        -b "(plug-in-oneword-library-import #:run-mode RUN-NONINTERACTIVE #:file \"$src/$f\")" >/dev/null 2>&1 ||
        { echo "screenshots: importing $f failed"; exit 1; }
done

# shot NAME TITLE SECONDS SCHEME: GIMP showing a 512x512 image, then SCHEME (which opens
# the window called TITLE; "": none); the screen SECONDS after that window is there (or
# after the plug-in started) goes to NAME.png.
shot() {
    local name=$1 title=$2 wait=$3 scheme=$4
    [ "$only" = "  " ] || [[ $only == *" $name "* ]] || return 0
    local attempt
    for attempt in 1 2; do  # a second time when Xvfb did not come up ("Cannot open display")
    rm -f "$work/window-seen" "$work/$name-full.png"
    xvfb-run -a -s "-screen 0 1280x800x24" bash -c '
        gimp-3.0 -n --batch-interpreter=plug-in-script-fu-eval -b "$1" >"$2/gimp.log" 2>&1 &
        pid=$!
        # wait for the plug-in process, then for its window, raised over GIMP'"'"'s (no
        # window manager here to do it)
        for i in $(seq 60); do pgrep -f plug-ins/oneword-gimp >/dev/null && break; sleep 1; done
        if [ -n "$5" ]; then
            for i in $(seq 60); do python3 /src/tests/gimp/raise_window.py "$5" && touch "$2/window-seen" && break; sleep 1; done
            [ -f "$2/window-seen" ] || echo "screenshots: no window called \"$5\" appeared" >&2
        fi
        sleep "$4"
        [ -n "$5" ] && python3 /src/tests/gimp/raise_window.py "$5"
        import -window root "$3"
        kill "$pid"; sleep 1; kill -9 "$pid" 2>/dev/null; wait 2>/dev/null' _ \
        "(let* ((img (car (gimp-image-new 512 512 RGB)))
                (bg (car (gimp-layer-new img \"Background\" 512 512 RGB-IMAGE 100 LAYER-MODE-NORMAL))))
           (gimp-image-insert-layer img bg 0 0)
           (gimp-drawable-fill bg FILL-WHITE)
           (gimp-display-new img)
           $scheme)" "$work" "$work/$name-full.png" "$wait" "$title"
    [ -s "$work/$name-full.png" ] && { [ -z "$title" ] || [ -f "$work/window-seen" ]; } && break
    done
    if [ -s "$work/$name-full.png" ] && { [ -z "$title" ] || [ -f "$work/window-seen" ]; }; then
        # 256 colours: the pictures stay under 100 KB for the README
        convert "$work/$name-full.png" -trim +repage -strip -colors 256 -define png:compression-level=9 "$out/$name.png"
        echo "wrote tests/gimp/screenshots/$name.png"
        rm -f "$work/window-seen"
    else
        echo "screenshots: no picture for $name"; tail -n 5 "$work/gimp.log"
        return 1
    fi
}
status=0
shot generate-dialog "Generate from Prompt" 2 "(plug-in-oneword-generate #:run-mode RUN-INTERACTIVE #:image img #:drawables (vector bg)
                        #:prompt \"an orange circle on a purple background\" #:sampler \"euler\" #:steps 20
                        #:guidance-scale 9 #:seed 1012 #:n-images 4 #:width 64 #:height 64)" || status=1
shot generated-layers "" 25 "(let* ((small (car (gimp-image-new 64 64 RGB)))
                               (r (plug-in-oneword-generate #:run-mode RUN-NONINTERACTIVE #:image small
                                    #:prompt \"an orange circle on a purple background\" #:sampler \"euler\"
                                    #:steps 20 #:guidance-scale 9 #:seed 1012 #:n-images 4 #:width 64 #:height 64)))
                          (gimp-context-set-interpolation INTERPOLATION-NONE)
                          (gimp-image-scale small 384 384)
                          (gimp-display-new small))" || status=1
# The Learn dialog with an init word of two CLIP tokens, and an unfinished run of its token
# to resume: the CLI's run of <my-cat> in the profile's runs/my-cat, stopped (killed) once
# it saved its first state.
if [ "$only" = "  " ] || [[ $only == *" learn-dialog "* ]]; then
    run_dir=$profile/oneword/runs/my-cat
    "$build/engine/cli/oneword" learn --model "$src/resources/shapes" --images "$src/resources/shapes/concept-red-star.png" \
        --init-word star --placeholder "<my-cat>" --steps 5000 --size 64 --batch 1 --save-every 20 --out "$run_dir" \
        >/dev/null 2>&1 &
    cli_pid=$!
    for i in $(seq 300); do [ -f "$run_dir/state.safetensors" ] && break; sleep 0.1; done
    kill "$cli_pid"; wait "$cli_pid" 2>/dev/null
fi
shot learn-dialog "Learn Concept" 2 "(let ((top (car (gimp-layer-new img \"cat 2\" 512 512 RGB-IMAGE 100 LAYER-MODE-NORMAL))))
                      (gimp-image-insert-layer img top 0 0)
                      (gimp-drawable-fill top FILL-FOREGROUND)
                      (plug-in-oneword-learn #:run-mode RUN-INTERACTIVE #:image img #:drawables (vector top bg)
                        #:token \"<my-cat>\" #:init-word \"purpleorange\"))" || status=1
# A learned entry beside the imported ones, so that the window shows its thumbnail.
if [ "$only" = "  " ] || [[ $only == *" library-window "* ]]; then
    gimp-console-3.0 -i -n --quit --batch-interpreter=plug-in-script-fu-eval -b \
        "(let* ((img (car (gimp-image-new 64 64 RGB)))
                (a (car (gimp-file-load-layer RUN-NONINTERACTIVE img \"$src/resources/shapes/concept-red-star.png\")))
                (b (car (gimp-file-load-layer RUN-NONINTERACTIVE img \"$src/resources/shapes/concept-red-star.png\"))))
           (gimp-image-insert-layer img a 0 0) (gimp-image-insert-layer img b 0 0)
           (plug-in-oneword-learn #:run-mode RUN-NONINTERACTIVE #:image img #:drawables (vector a b)
             #:token \"<red-star>\" #:init-word \"star\" #:steps 4 #:size 64 #:batch 1 #:save-every 0)
           (gimp-image-delete img))" >/dev/null 2>&1 || echo "screenshots: learning <red-star> failed"
fi
shot library-window "Embedding Library" 2 "(plug-in-oneword-library #:run-mode RUN-INTERACTIVE)" || status=1
shot set-model-dialog "Set Model" 2 "(plug-in-oneword-set-model #:run-mode RUN-INTERACTIVE #:model \"$src/resources/shapes\")" || status=1
exit $status
