#!/bin/sh
# tests/fuzz/run.sh: builds the libFuzzer harnesses with clang (ASan + UBSan) and
# runs each for SECONDS seconds (default 60) on a corpus seeded from the format
# fixtures. Usage: tests/fuzz/run.sh [seconds]   (from the repository root)
# Needs clang with libFuzzer; not part of the meson build (gcc has no libFuzzer).
set -eu
SECONDS_EACH=${1:-60}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
OUT=${FUZZ_OUT:-$ROOT/build/fuzz}
mkdir -p "$OUT"
CFLAGS="-g -O1 -std=c11 -D_GNU_SOURCE -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -I$ROOT/engine/include -I$ROOT/engine"
SRC="$ROOT/engine/formats/tensor_set.c $ROOT/engine/formats/safetensors.c $ROOT/engine/formats/torch_file.c $ROOT/engine/formats/pickle.c $ROOT/engine/core/error.c $ROOT/engine/core/tensor.c $ROOT/engine/core/half.c $ROOT/engine/core/atomic_file.c"
LIBS="$(pkg-config --libs json-c libzip) -lm"
for h in tensor_set pickle; do
    clang $CFLAGS $(pkg-config --cflags json-c libzip) -o "$OUT/fuzz_$h" "$ROOT/tests/fuzz/fuzz_$h.c" $SRC $LIBS
done
# Seeds: every fixture for the file harness; the pickles inside them for the pickle harness.
mkdir -p "$OUT/corpus_tensor_set" "$OUT/corpus_pickle"
cp "$ROOT"/tests/golden/formats/*.pt "$ROOT"/tests/golden/formats/*.ckpt "$ROOT"/tests/golden/formats/*.bin \
   "$ROOT"/tests/golden/formats/*.safetensors "$OUT/corpus_tensor_set/" 2>/dev/null || true
for f in "$ROOT"/tests/golden/formats/pt_*.pt "$ROOT"/tests/golden/formats/pt_*.ckpt "$ROOT"/tests/golden/formats/pt_*.bin; do
    b=$(basename "$f")
    unzip -p "$f" '*/data.pkl' > "$OUT/corpus_pickle/$b.pkl" 2>/dev/null || cp "$f" "$OUT/corpus_pickle/$b.pkl"
done
for h in tensor_set pickle; do
    echo "== fuzz_$h for ${SECONDS_EACH}s"
    (cd "$OUT" && ./fuzz_$h -max_total_time="$SECONDS_EACH" -max_len=65536 -rss_limit_mb=2048 -print_final_stats=1 \
        "corpus_$h" 2>&1 | grep -E "stat::number_of_executed_units|stat::peak_rss|ERROR|SUMMARY|Done" || true)
done
