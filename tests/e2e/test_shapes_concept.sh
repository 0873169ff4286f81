#!/usr/bin/env bash
# test_shapes_concept.sh: textual inversion proven on the bundled shapes model. For
# each concept in tests/golden/shapes/concepts/ (a shape/colour pair the model never
# saw in training; images and captions from tests/ref/shapes/make_concepts.py),
# `oneword learn` trains the token "*" from 4 pictures at 64x64 for STEPS (600) steps; then
# 32 samples (4 prompts of the model's grammar x 8 seeds, euler 20 steps, scale 9)
# with "*" must show the concept by the shapes judge in >= 80 % (26 of 32), and the
# same prompts and seeds with the init word in place of "*" in <= 20 % (6 of 32).
# usage: test_shapes_concept.sh ONEWORD JUDGE_PNG SOURCE_ROOT [STEPS]
set -u
oneword=$1
judge=$2
root=$3
steps=${4:-600}
model="$root/resources/shapes"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
. "$(dirname "$0")/cli_checks.sh"

# judged WORD CAPTION BACKGROUND [EMBEDDING]: how many of the 32 samples of "WORD" the judge accepts
judged() {
    local word=$1 caption=$2 bg=$3 emb=${4:-} k=0 n=0 accepted=0
    local args=()
    [ -n "$emb" ] && args=(--embedding "$emb")
    for prompt in "a $word on a $bg background" "a large $word on a $bg background" \
                  "a small $word on a $bg background" "a $word on a $bg background"; do
        rm -rf "$work/gen"
        "$oneword" generate --model "$model" "${args[@]}" --prompt "$prompt" --sampler euler --steps 20 --scale 9 \
            --seed $((1000 + 8 * k)) --n-samples 8 --width 64 --height 64 --outdir "$work/gen" >/dev/null 2>"$work/err" \
            || { echo "generate '$prompt' failed: $(tail -2 "$work/err")" >&2; echo 0; return; }
        for f in "$work"/gen/samples/*.png; do
            n=$((n + 1))
            "$judge" "$f" "$caption" >/dev/null 2>&1 && accepted=$((accepted + 1))
        done
        k=$((k + 1))
    done
    [ "$n" -eq 32 ] || echo "only $n samples" >&2
    echo "$accepted"
}

for dir in "$root"/tests/golden/shapes/concepts/*/; do
    name=$(basename "$dir")
    { read -r init; read -r caption; read -r bg; } <"$dir/concept.txt"
    start=$(date +%s.%N)
    "$oneword" learn --model "$model" --images "$dir" --init-word "$init" --template "$dir/templates.txt" \
        --out "$work/run-$name" --steps "$steps" --size 64 --seed 1 --save-every 0 >/dev/null 2>"$work/err"
    rc=$?
    learned=$(awk "BEGIN { printf \"%.1f\", $(date +%s.%N) - $start }")
    if [ $rc -ne 0 ]; then fail "$name: learn exit $rc: $(tr '\r' '\n' <"$work/err" | tail -2)"; continue; fi
    first=$(awk -F, 'NR >= 2 && NR <= 51 { s += $2 } END { printf "%.4f", s / 50 }' "$work/run-$name/log.csv")
    last=$(awk -F, -v n="$steps" 'NR > n - 49 { s += $2 } END { printf "%.4f", s / 50 }' "$work/run-$name/log.csv")
    echo "     $name: learned $steps steps in $learned s (mean loss of the first 50 steps $first, of the last 50 $last)"
    with=$(judged "*" "$caption" "$bg" "$work/run-$name/embeddings.pt")
    without=$(judged "$init" "$caption" "$bg")
    [ "$with" -ge 26 ] && pass "$name: '$caption' in $with/32 samples with '*' (>= 26)" \
        || fail "$name: '$caption' in only $with/32 samples with '*' (want >= 26)"
    [ "$without" -le 6 ] && pass "$name: with the init word '$init' instead: $without/32 (<= 6)" \
        || fail "$name: with the init word '$init' instead: $without/32 (want <= 6)"
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
