/* torch_rng.c: PyTorch's CPU generator (mt19937 + its uniform and normal
 * transforms) re-implemented in portable C; see torch_rng.h for the algorithm.
 *
 * The AVX2 normal kernel is reproduced operation by operation: every float
 * multiply, add and fused multiply-add below corresponds to one instruction
 * of torch 2.5.1's compiled kernel (GCC contracted several mul+add pairs of
 * the Cephes code into FMAs; we call fmaf exactly there and nowhere else).
 * The compiler must therefore not contract or reassociate anything in this
 * file: GCC does not in ISO C mode (-std=c11, our default) and clang is told
 * so by the pragma below. Verified against torch on all 2^24 possible u1 and
 * all 2^24 possible u2 values (tests/ref/make_sampling_golden.py --exhaustive). */
#include "sampling/torch_rng.h"

#include <float.h>
#include <math.h>
#include <string.h>

#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__) && !defined(__STRICT_ANSI__)
#pragma GCC optimize("fp-contract=off")
#endif

#if defined(FLT_EVAL_METHOD) && FLT_EVAL_METHOD != 0
#error "torch_rng.c needs float arithmetic evaluated in float (FLT_EVAL_METHOD 0, e.g. SSE2 on x86)"
#endif

#define MT_M 397
#define MT_MATRIX_A 0x9908b0dfu
#define MT_UPPER_MASK 0x80000000u
#define MT_LOWER_MASK 0x7fffffffu

/* ---- mt19937 ---------------------------------------------------------- */

void ow_torch_rng_seed(ow_torch_rng *rng, uint64_t seed) {
    memset(rng, 0, sizeof *rng);
    rng->seed = seed;
    rng->state[0] = (uint32_t)(seed & 0xffffffffu);
    for (uint32_t j = 1; j < OW_MT19937_N; j++) {
        uint32_t prev = rng->state[j - 1];
        rng->state[j] = 1812433253u * (prev ^ (prev >> 30)) + j;
    }
    rng->left = 1;
    rng->next = 0;
    rng->has_cached_normal = 0;
    rng->cached_normal = 0.0;
    rng->kernel = OW_RANDN_TORCH_AVX2;
}

static uint32_t mt_twist(uint32_t u, uint32_t v) {
    uint32_t mixed = (u & MT_UPPER_MASK) | (v & MT_LOWER_MASK);
    return (mixed >> 1) ^ ((v & 1u) ? MT_MATRIX_A : 0u);
}

/* Regenerates all 624 words (the standard mt19937 recurrence). */
static void mt_next_state(ow_torch_rng *rng) {
    uint32_t *s = rng->state;
    int k = 0;
    for (; k < OW_MT19937_N - MT_M; k++) s[k] = s[k + MT_M] ^ mt_twist(s[k], s[k + 1]);
    for (; k < OW_MT19937_N - 1; k++) s[k] = s[k + MT_M - OW_MT19937_N] ^ mt_twist(s[k], s[k + 1]);
    s[OW_MT19937_N - 1] = s[MT_M - 1] ^ mt_twist(s[OW_MT19937_N - 1], s[0]);
    rng->left = OW_MT19937_N;
    rng->next = 0;
}

uint32_t ow_torch_rng_u32(ow_torch_rng *rng) {
    if (--rng->left == 0) mt_next_state(rng);
    uint32_t y = rng->state[rng->next++];
    y ^= y >> 11;
    y ^= (y << 7) & 0x9d2c5680u;
    y ^= (y << 15) & 0xefc60000u;
    y ^= y >> 18;
    return y;
}

uint64_t ow_torch_rng_u64(ow_torch_rng *rng) {
    uint64_t hi = ow_torch_rng_u32(rng);
    uint64_t lo = ow_torch_rng_u32(rng);
    return (hi << 32) | lo;
}

/* ---- uniform ------------------------------------------------------------ */

/* at::uniform_real_distribution<float>(0, 1): 24 random bits times 2^-24. */
static float uniform_float(ow_torch_rng *rng) {
    return (float)(ow_torch_rng_u32(rng) & 0xffffffu) * (1.0f / 16777216.0f);
}

/* at::uniform_real_distribution<double>(0, 1): 53 random bits times 2^-53. */
static double uniform_double(ow_torch_rng *rng) {
    return (double)(ow_torch_rng_u64(rng) & ((UINT64_C(1) << 53) - 1)) * (1.0 / 9007199254740992.0);
}

void ow_torch_rand(ow_torch_rng *rng, float *out, size_t n) {
    for (size_t i = 0; i < n; i++) out[i] = uniform_float(rng);
}

/* ---- the AVX2 kernel's Cephes log and sincos, one lane at a time --------- */

static float bits_to_float(uint32_t u) {
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static uint32_t float_to_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

/* Constants are written as double literals rounded to float, as the original
 * declares them (float arrays initialised from double literals). */
#define F(x) ((float)(x))

/* log256_ps for one lane, for x > 0 (our x = 1 - u is in [2^-24, 1]). */
static float cephes_logf_avx2(float x) {
    const float min_norm = bits_to_float(0x00800000u);
    if (x < min_norm) x = min_norm; /* max(x, smallest normal) */
    uint32_t bits = float_to_bits(x);
    int32_t exponent = (int32_t)(bits >> 23) - 0x7f;
    x = bits_to_float((bits & ~0x7f800000u) | float_to_bits(0.5f)); /* mantissa in [0.5, 1) */
    float e = (float)exponent;
    e = e + 1.0f;
    uint32_t below_sqrthf = x < F(0.707106781186547524) ? 0xffffffffu : 0u;
    float tmp = bits_to_float(float_to_bits(x) & below_sqrthf);
    x = x - 1.0f;
    e = e - bits_to_float(float_to_bits(1.0f) & below_sqrthf);
    x = x + tmp;
    float z = x * x;
    float y = F(7.0376836292E-2);
    y = fmaf(y, x, F(-1.1514610310E-1));
    y = fmaf(y, x, F(1.1676998740E-1));
    y = fmaf(y, x, F(-1.2420140846E-1));
    y = fmaf(y, x, F(1.4249322787E-1));
    y = fmaf(y, x, F(-1.6668057665E-1));
    y = fmaf(y, x, F(2.0000714765E-1));
    y = fmaf(y, x, F(-2.4999993993E-1));
    y = fmaf(y, x, F(3.3333331174E-1));
    y = y * x;
    float e_q1 = e * F(-2.12194440e-4);
    y = fmaf(y, z, e_q1);
    y = fmaf(-z, 0.5f, y);
    x = x + y;
    x = fmaf(e, F(0.693359375), x);
    return x;
}

/* sincos256_ps for one lane, for x >= 0 (our x = 2*pi*u is in [0, 2*pi)). */
static void cephes_sincosf_avx2(float x, float *sin_out, float *cos_out) {
    uint32_t sign_sin = float_to_bits(x) & 0x80000000u;
    x = bits_to_float(float_to_bits(x) & 0x7fffffffu);
    float y = x * F(1.27323954473516); /* 4/pi */
    int32_t j = (int32_t)y;            /* truncation, as cvttps2dq */
    j = (j + 1) & ~1;
    y = (float)j;
    uint32_t swap_sign_sin = ((uint32_t)j & 4u) << 29;
    uint32_t poly_mask = ((uint32_t)j & 2u) == 0 ? 0xffffffffu : 0u;
    x = fmaf(y, F(-0.78515625), x);
    x = fmaf(y, F(-2.4187564849853515625e-4), x);
    x = fmaf(y, F(-3.77489497744594108e-8), x);
    uint32_t sign_cos = (~((uint32_t)j - 2u) & 4u) << 29;
    sign_sin ^= swap_sign_sin;

    float z = x * x;
    float yc = fmaf(z, F(2.443315711809948E-005), F(-1.388731625493765E-003));
    yc = fmaf(z, yc, F(4.166664568298827E-002));
    yc = z * yc;
    float half_z = z * 0.5f;
    yc = fmaf(yc, z, -half_z);
    yc = yc + 1.0f;

    float ys = fmaf(z, F(-1.9515295891E-4), F(8.3321608736E-3));
    ys = fmaf(z, ys, F(-1.6666654611E-1));
    ys = z * ys;
    ys = fmaf(x, ys, x);

    /* Select per lane with masks, and the arithmetic the original does with them. */
    float ysin2 = bits_to_float(float_to_bits(ys) & poly_mask);
    float ysin1 = bits_to_float(float_to_bits(yc) & ~poly_mask);
    ys = ys - ysin2;
    yc = yc - ysin1;
    float s = ysin1 + ysin2;
    float c = yc + ys;
    *sin_out = bits_to_float(float_to_bits(s) ^ sign_sin);
    *cos_out = bits_to_float(float_to_bits(c) ^ sign_cos);
}

/* normal_fill_16_AVX2 with mean 0, std 1: data[0..7] and data[8..15] hold
 * uniforms on entry and normals on return. */
static void normal_fill_16_avx2(float *data) {
    const float two_pi = (float)(2.0 * 3.14159265358979323846);
    for (int j = 0; j < 8; j++) {
        float u1 = 1.0f - data[j];
        float u2 = data[j + 8];
        float radius = sqrtf(-2.0f * cephes_logf_avx2(u1));
        float theta = two_pi * u2;
        float s, c;
        cephes_sincosf_avx2(theta, &s, &c);
        float n1 = radius * c;
        float n2 = radius * s;
        data[j] = fmaf(n1, 1.0f, 0.0f); /* n * std + mean: turns -0 into +0 like torch */
        data[j + 8] = fmaf(n2, 1.0f, 0.0f);
    }
}

/* normal_fill_16<float> (torch without AVX2): the platform's logf/cosf/sinf. */
static void normal_fill_16_scalar(float *data) {
    for (int j = 0; j < 8; j++) {
        float u1 = 1.0f - data[j];
        float u2 = data[j + 8];
        float radius = sqrtf(-2.0f * logf(u1));
        float theta = (float)(2.0 * 3.14159265358979323846 * (double)u2);
        float n1 = radius * cosf(theta) * 1.0f + 0.0f;
        float n2 = radius * sinf(theta) * 1.0f + 0.0f;
        data[j] = n1;
        data[j + 8] = n2;
    }
}

/* at::normal_distribution<double>(0, 1) with the generator's cached value. */
static double normal_double(ow_torch_rng *rng) {
    if (rng->has_cached_normal) {
        rng->has_cached_normal = 0;
        return rng->cached_normal;
    }
    double u1 = uniform_double(rng);
    double u2 = uniform_double(rng);
    double r = sqrt(-2.0 * log1p(-u2));
    double theta = 2.0 * 3.14159265358979323846 * u1;
    rng->cached_normal = r * sin(theta);
    rng->has_cached_normal = 1;
    return r * cos(theta);
}

void ow_torch_normal_fill_16(float *data, ow_randn_kernel kernel) {
    if (kernel == OW_RANDN_TORCH_SCALAR)
        normal_fill_16_scalar(data);
    else
        normal_fill_16_avx2(data);
}

void ow_torch_randn(ow_torch_rng *rng, float *out, size_t n) {
    if (n < 16) {
        for (size_t i = 0; i < n; i++) out[i] = (float)(normal_double(rng) * 1.0 + 0.0);
        return;
    }
    void (*fill16)(float *) = rng->kernel == OW_RANDN_TORCH_SCALAR ? normal_fill_16_scalar : normal_fill_16_avx2;
    for (size_t i = 0; i < n; i++) out[i] = uniform_float(rng);
    for (size_t i = 0; i + 16 <= n; i += 16) fill16(out + i);
    if (n % 16 != 0) {
        float *tail = out + n - 16;
        for (int i = 0; i < 16; i++) tail[i] = uniform_float(rng);
        fill16(tail);
    }
}
