/* test_torch_rng.c: ow_torch_randn / ow_torch_rand against torch 2.5.1 CPU
 * generators, bit for bit (memcmp), from tests/golden/sampling/rng.safetensors:
 * a sequence of draws of every size class per seed (large, negative and
 * wrapping seeds included) and two successive (4,4,64,96) draws. */
#include <inttypes.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "formats/tensor_set.h"
#include "sampling/torch_rng.h"

/* Compares n floats bit for bit; prints how many were compared and differ. */
static int check_bits(const char *what, const float *got, const float *want, size_t n) {
    size_t differ = 0, first = 0;
    for (size_t i = 0; i < n; i++) {
        if (memcmp(got + i, want + i, sizeof(float)) != 0) {
            if (!differ) first = i;
            differ++;
        }
    }
    check_count++;
    if (differ) {
        check_failures++;
        fprintf(stderr, "FAIL %s: %zu of %zu values differ in bits, first at [%zu] (got %.9g want %.9g)\n", what,
                differ, n, first, (double)got[first], (double)want[first]);
        return 0;
    }
    printf("ok   %s: %zu values bit-identical\n", what, n);
    return 1;
}

/* "randn:16384,randn:3,..." -> ops (1 = randn, 0 = rand) and sizes. */
static int parse_ops(const char *text, int *is_randn, size_t *sizes, int max) {
    int count = 0;
    const char *p = text;
    while (*p && count < max) {
        if (strncmp(p, "randn:", 6) == 0) {
            is_randn[count] = 1;
            p += 6;
        } else if (strncmp(p, "rand:", 5) == 0) {
            is_randn[count] = 0;
            p += 5;
        } else {
            return -1;
        }
        char *end;
        sizes[count++] = (size_t)strtoull(p, &end, 10);
        p = end;
        if (*p == ',') p++;
    }
    return count;
}

/* A Python seed as torch takes it: negative values wrap modulo 2^64. */
static uint64_t parse_seed(const char *s, char **end) {
    if (*s == '-') return (uint64_t)strtoll(s, end, 10);
    return (uint64_t)strtoull(s, end, 10);
}

static void test_mt19937(void) {
    /* The C++ standard's check value: the 10000th output of mt19937 seeded 5489. */
    ow_torch_rng rng;
    ow_torch_rng_seed(&rng, 5489);
    uint32_t v = 0;
    for (int i = 0; i < 10000; i++) v = ow_torch_rng_u32(&rng);
    CHECK(v == 4123659995u, "mt19937(5489) 10000th output %" PRIu32 ", want 4123659995", v);
    printf("ok   mt19937 10000th output of seed 5489 = %" PRIu32 "\n", v);
    /* Only the low 32 bits seed the twister: 2^32 + 7 gives the same stream as 7. */
    ow_torch_rng a, b;
    ow_torch_rng_seed(&a, 7);
    ow_torch_rng_seed(&b, (UINT64_C(1) << 32) + 7);
    int same = 1;
    for (int i = 0; i < 2000; i++) same &= ow_torch_rng_u32(&a) == ow_torch_rng_u32(&b);
    CHECK(same, "seeds 7 and 2^32 + 7 give the same stream");
}

static void test_sequences(const ow_tensor_set *set) {
    const char *ops_text = ow_tensor_set_metadata(set, "ops");
    const char *seeds_text = ow_tensor_set_metadata(set, "seeds");
    CHECK(ops_text && seeds_text, "rng golden has ops and seeds metadata");
    if (!ops_text || !seeds_text) return;
    int is_randn[64];
    size_t sizes[64];
    int nops = parse_ops(ops_text, is_randn, sizes, 64);
    CHECK(nops > 0, "parse ops \"%s\"", ops_text);
    if (nops <= 0) return;
    size_t total = 0;
    for (int k = 0; k < nops; k++) total += sizes[k];

    float *got = malloc(total * sizeof *got), *want = malloc(total * sizeof *want);
    const char *p = seeds_text;
    int seeds = 0;
    size_t compared = 0;
    while (*p) {
        char *end;
        uint64_t seed = parse_seed(p, &end);
        char name[64];
        snprintf(name, sizeof name, "seq_%.*s", (int)(end - p), p);
        p = *end == ',' ? end + 1 : end;
        const ow_tensor_entry *e = ow_tensor_set_find(set, name);
        CHECK(e && (size_t)ow_tensor_entry_numel(e) == total, "golden %s with %zu values", name, total);
        if (!e || (size_t)ow_tensor_entry_numel(e) != total) continue;
        ow_error err = {0};
        CHECK(ow_tensor_entry_to_f32(e, want, &err) == OW_OK, "%s: %s", name, err.message);

        ow_torch_rng rng;
        ow_torch_rng_seed(&rng, seed);
        size_t at = 0;
        for (int k = 0; k < nops; k++) {
            if (is_randn[k])
                ow_torch_randn(&rng, got + at, sizes[k]);
            else
                ow_torch_rand(&rng, got + at, sizes[k]);
            at += sizes[k];
        }
        char what[128];
        snprintf(what, sizeof what, "seed %s: %d successive draws (randn/rand, 1..16384 values)", name + 4, nops);
        check_bits(what, got, want, total);
        compared += total;
        seeds++;
    }
    CHECK(seeds >= 8, "at least 8 seeds in the golden (got %d)", seeds);
    printf("     %d seeds, %zu values compared\n", seeds, compared);
    free(got);
    free(want);
}

static void test_big(const ow_tensor_set *set) {
    const ow_tensor_entry *a = ow_tensor_set_find(set, "big_a"), *b = ow_tensor_set_find(set, "big_b");
    const char *seed_text = ow_tensor_set_metadata(set, "big_seed");
    CHECK(a && b && seed_text, "golden big_a, big_b, big_seed");
    if (!a || !b || !seed_text) return;
    size_t n = (size_t)ow_tensor_entry_numel(a);
    CHECK(n == 4 * 4 * 64 * 96 && (size_t)ow_tensor_entry_numel(b) == n, "big draws are (4,4,64,96)");
    float *want = malloc(n * sizeof *want), *got = malloc(n * sizeof *got);
    ow_error err = {0};
    ow_torch_rng rng;
    ow_torch_rng_seed(&rng, strtoull(seed_text, NULL, 10));

    ow_tensor_entry_to_f32(a, want, &err);
    ow_torch_randn(&rng, got, n);
    check_bits("randn (4,4,64,96), first draw", got, want, n);

    /* Resuming from a copy of the state (as a checkpoint would) continues the stream. */
    ow_torch_rng saved = rng;
    ow_tensor_entry_to_f32(b, want, &err);
    ow_torch_randn(&rng, got, n);
    check_bits("randn (4,4,64,96), second draw on the same generator", got, want, n);
    ow_torch_randn(&saved, got, n);
    check_bits("second draw from a saved copy of the generator state", got, want, n);
    free(want);
    free(got);
}

static void test_small_draw_cache(void) {
    /* Two 1-value draws use one Box-Muller pair: the second is the cached sine
     * value, and a draw of >= 16 values in between does not consume it. */
    ow_torch_rng a, b;
    ow_torch_rng_seed(&a, 99);
    ow_torch_rng_seed(&b, 99);
    float pair[2], first, second, big[16];
    ow_torch_randn(&a, pair, 2);
    ow_torch_randn(&b, &first, 1);
    uint32_t before = b.next;
    ow_torch_randn(&b, &second, 1);
    CHECK(b.next == before, "the second small draw uses the cache, no new random bits");
    ow_torch_randn(&b, big, 16);
    CHECK(memcmp(pair, &first, 4) == 0 && memcmp(pair + 1, &second, 4) == 0,
          "randn(2) equals randn(1) twice (cached second value)");
    ow_torch_rng_seed(&b, 99);
    CHECK(!b.has_cached_normal, "seeding clears the cached normal");
}

int main(void) {
    test_mt19937();
    test_small_draw_cache();
    ow_tensor_set *set = NULL;
    ow_error err = {0};
    ow_status st = ow_tensor_set_open(&set, source_path("tests/golden/sampling/rng.safetensors"), &err);
    CHECK(st == OW_OK, "open rng golden: %s", err.message);
    if (st == OW_OK) {
        test_sequences(set);
        test_big(set);
        ow_tensor_set_free(set);
    }
    CHECK_DONE();
}
