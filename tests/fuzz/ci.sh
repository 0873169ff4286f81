#!/usr/bin/env bash
# tests/fuzz/ci.sh: what tests/run does with the libFuzzer harnesses: builds each
# with clang (ASan + UBSan), replays its seed corpus (the committed fixtures of
# tests/golden/formats and tests/golden/embeddings), then fuzzes it for SECONDS
# seconds (default 15). Prints one "ok"/"FAIL" line per harness and a closing
# "N passed, N failed"; exits non-zero when a harness crashed, leaked or hung.
# usage: tests/fuzz/ci.sh [SECONDS]   (from anywhere)
set -u
seconds=${1:-15}
root=$(cd "$(dirname "$0")/../.." && pwd)
out=${FUZZ_OUT:-$root/build/fuzz-ci}
mkdir -p "$out"
cflags=(-g -O1 -std=c11 -D_GNU_SOURCE -DFUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION -DOW_DATADIR=\"/nonexistent\"
        "-DOW_SOURCE_DIR=\"$root\"" -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
        "-I$root/engine/include" "-I$root/engine")
sources=("$root"/engine/core/{error,tensor,half,atomic_file}.c
         "$root"/engine/formats/{tensor_set,safetensors,torch_file,pickle}.c
         "$root"/engine/embeddings/embedding{,_read,_png,_json,_write}.c
         "$root"/engine/tokenizer/{tokenizer,clip_text,unicode_tables}.c)
read -r -a pkg_cflags <<<"$(pkg-config --cflags json-c libzip libpng zlib)"
read -r -a pkg_libs <<<"$(pkg-config --libs json-c libzip libpng zlib)"

# Seeds per harness: whole files for the file readers, bare pickles for the pickle machine.
seed() {
    local harness=$1 dir="$out/corpus_$1"
    rm -rf "$dir" && mkdir -p "$dir"
    case $harness in
        tensor_set) cp "$root"/tests/golden/formats/*.{pt,ckpt,bin,safetensors} "$dir/" 2>/dev/null ;;
        pickle)
            for f in "$root"/tests/golden/formats/pt_*; do
                unzip -p "$f" '*/data.pkl' >"$dir/$(basename "$f").pkl" 2>/dev/null || cp "$f" "$dir/$(basename "$f").pkl"
            done ;;
        embedding_png) cp "$root"/tests/golden/embeddings/*.png "$dir/" ;;
        embedding_file) cp "$root"/tests/golden/embeddings/* "$dir/" 2>/dev/null ;;
    esac
    return 0
}

passed=0
failed=0
for harness in tensor_set pickle embedding_png embedding_file; do
    exe="$out/fuzz_$harness"
    if ! clang "${cflags[@]}" "${pkg_cflags[@]}" -o "$exe" "$root/tests/fuzz/fuzz_$harness.c" "${sources[@]}" \
            "${pkg_libs[@]}" -lm 2>"$out/build_$harness.log"; then
        echo "FAIL fuzz_$harness: does not build"; tail -5 "$out/build_$harness.log"
        failed=$((failed + 1)); continue
    fi
    seed "$harness"
    n_seeds=$(find "$out/corpus_$harness" -type f | wc -l)
    # Replay every seed once, then fuzz; crash files land in $out.
    if (cd "$out" && "$exe" -runs=0 "corpus_$harness" >"$out/replay_$harness.log" 2>&1) &&
       (cd "$out" && "$exe" -max_total_time="$seconds" -max_len=262144 -rss_limit_mb=2048 -timeout=10 \
            -print_final_stats=1 "corpus_$harness" >"$out/fuzz_$harness.log" 2>&1); then
        execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$out/fuzz_$harness.log" | grep -o '[0-9]*$')
        echo "ok   fuzz_$harness: $n_seeds seeds replayed, ${execs:-?} executions in ${seconds}s, no crash"
        passed=$((passed + 1))
    else
        echo "FAIL fuzz_$harness: crash, leak or hang; see $out/replay_$harness.log and $out/fuzz_$harness.log"
        grep -E "ERROR|SUMMARY|crash-|leak-|timeout-" "$out"/{replay,fuzz}_"$harness".log | head -5
        failed=$((failed + 1))
    fi
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
