/* torch_rng.h: seeded noise that reproduces PyTorch's CPU generator bit for bit.
 *
 * A seed must give the same starting noise as diffusers with
 * `generator=torch.Generator("cpu").manual_seed(seed)`, so this is torch 2.5.1's
 * CPU generator re-implemented from its documented algorithm:
 *   - mt19937 (32-bit Mersenne Twister), seeded from the low 32 bits of the seed;
 *   - torch.rand (float32): each value is (next_u32 & 0xffffff) * 2^-24;
 *   - torch.randn (float32), n >= 16 elements: all n uniforms are drawn first,
 *     then every block of 16 becomes 16 normals by Box-Muller (u1 = 1 - data[j],
 *     u2 = data[j + 8], j < 8); when n is not a multiple of 16 the last 16
 *     positions are refilled with 16 fresh uniforms and transformed again;
 *   - torch.randn, n < 16 elements: one double-precision Box-Muller pair per two
 *     values from 53-bit uniforms; the second value of a pair is cached in the
 *     generator and returned by the next small draw, even by a later call.
 *
 * For n >= 16, torch on x86-64 CPUs with AVX2 (and AVX-512, which torch routes
 * to the same kernel) uses a vectorised log/sin/cos (Cephes polynomials in
 * float, compiled with fused multiply-adds). OW_RANDN_TORCH_AVX2, the default,
 * reproduces that kernel exactly with portable scalar C (fmaf), so the result
 * does not depend on the machine we run on. OW_RANDN_TORCH_SCALAR is the kernel
 * torch uses on CPUs without AVX2 (e.g. ARM): it calls the platform's
 * logf/cosf/sinf, exactly like torch does there, so it matches torch on the same
 * platform only. */
#ifndef OW_SAMPLING_TORCH_RNG_H
#define OW_SAMPLING_TORCH_RNG_H

#include <stddef.h>
#include <stdint.h>

#define OW_MT19937_N 624

typedef enum ow_randn_kernel {
    OW_RANDN_TORCH_AVX2 = 0, /* torch on x86-64 with AVX2/AVX-512 (the usual case) */
    OW_RANDN_TORCH_SCALAR,   /* torch on other CPUs; uses this platform's logf/cosf/sinf */
} ow_randn_kernel;

/* The whole generator state; plain data, so it can be saved in a checkpoint
 * and restored by copying. */
typedef struct ow_torch_rng {
    uint64_t seed;                     /* as given to ow_torch_rng_seed (torch.initial_seed()) */
    uint32_t state[OW_MT19937_N];      /* mt19937 words */
    int32_t left;                      /* outputs left before the next twist, plus one (torch's left_) */
    uint32_t next;                     /* index of the next word to temper */
    int32_t has_cached_normal;         /* a cached second Box-Muller value is pending */
    double cached_normal;              /* that value (torch's next_double_normal_sample) */
    ow_randn_kernel kernel;            /* which torch kernel randn reproduces for n >= 16 */
} ow_torch_rng;

/* torch.manual_seed(seed): negative Python seeds are the same as seed + 2^64,
 * so pass (uint64_t)(int64_t)seed. Resets the cached normal; kernel is set to
 * OW_RANDN_TORCH_AVX2. */
void ow_torch_rng_seed(ow_torch_rng *rng, uint64_t seed);

/* The next 32 bits (torch's CPUGeneratorImpl::random()). */
uint32_t ow_torch_rng_u32(ow_torch_rng *rng);

/* 64 bits from two draws, the first in the high half (CPUGeneratorImpl::random64()). */
uint64_t ow_torch_rng_u64(ow_torch_rng *rng);

/* torch.rand(n elements, dtype=float32, generator=rng): uniform in [0, 1). */
void ow_torch_rand(ow_torch_rng *rng, float *out, size_t n);

/* torch.randn(shape, dtype=float32, generator=rng) for a contiguous tensor of
 * n elements (only n matters, not the shape): standard normal values. */
void ow_torch_randn(ow_torch_rng *rng, float *out, size_t n);

/* The Box-Muller step of one 16-value block, in place: data[0..15] hold
 * uniforms in [0, 1) on entry and normals on return (for exhaustive tests). */
void ow_torch_normal_fill_16(float *data, ow_randn_kernel kernel);

#endif
