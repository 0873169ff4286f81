#!/bin/sh
# tests/fuzz/run_embeddings.sh: builds the embedding-file libFuzzer harnesses with
# clang (ASan + UBSan) and runs each for SECONDS seconds (default 60) on a corpus
# seeded from tests/golden/embeddings. Usage: tests/fuzz/run_embeddings.sh [seconds]
# (from the repository root). Replay only: FUZZ_RUNS=0 runs every corpus file once.
set -eu
SECONDS_EACH=${1:-60}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
OUT=${FUZZ_OUT:-$ROOT/build/fuzz}
mkdir -p "$OUT"
CFLAGS="-g -O1 -std=c11 -D_GNU_SOURCE -DFUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION -DOW_DATADIR=\"/nonexistent\" -DOW_SOURCE_DIR=\"$ROOT\" -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -I$ROOT/engine/include -I$ROOT/engine"
SRC="$ROOT/engine/embeddings/embedding.c $ROOT/engine/embeddings/embedding_read.c $ROOT/engine/embeddings/embedding_png.c \
 $ROOT/engine/embeddings/embedding_json.c $ROOT/engine/embeddings/embedding_write.c \
 $ROOT/engine/formats/tensor_set.c $ROOT/engine/formats/safetensors.c $ROOT/engine/formats/torch_file.c \
 $ROOT/engine/formats/pickle.c $ROOT/engine/core/error.c $ROOT/engine/core/tensor.c $ROOT/engine/core/half.c \
 $ROOT/engine/core/atomic_file.c $ROOT/engine/tokenizer/tokenizer.c $ROOT/engine/tokenizer/clip_text.c \
 $ROOT/engine/tokenizer/unicode_tables.c"
LIBS="$(pkg-config --libs json-c libzip libpng zlib) -lm"
for h in embedding_png embedding_file; do
    clang $CFLAGS $(pkg-config --cflags json-c libzip libpng) -o "$OUT/fuzz_$h" "$ROOT/tests/fuzz/fuzz_$h.c" $SRC $LIBS
done
mkdir -p "$OUT/corpus_embedding_png" "$OUT/corpus_embedding_file"
cp "$ROOT"/tests/golden/embeddings/*.png "$OUT/corpus_embedding_png/"
cp "$ROOT"/tests/golden/embeddings/* "$OUT/corpus_embedding_file/"
for h in embedding_png embedding_file; do
    echo "== fuzz_$h for ${SECONDS_EACH}s"
    (cd "$OUT" && ./fuzz_$h -max_total_time="$SECONDS_EACH" -max_len=262144 -rss_limit_mb=2048 -print_final_stats=1 \
        ${FUZZ_RUNS:+-runs=$FUZZ_RUNS} "corpus_$h" 2>&1 | grep -E "stat::number_of_executed_units|stat::peak_rss|ERROR|SUMMARY|Done|crash-" || true)
done
