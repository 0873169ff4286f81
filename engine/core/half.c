/* half.c: f16 and bf16 <-> f32 by bit manipulation (exact, round-to-nearest-even). */
#include "core/half.h"

#include <string.h>

static float bits_to_f32(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }
static uint32_t f32_to_bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }

float ow_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exponent = (h >> 10) & 0x1f;
    uint32_t mantissa = h & 0x3ffu;
    if (exponent == 0) {
        if (mantissa == 0) return bits_to_f32(sign);
        /* subnormal: value = mantissa * 2^-24 */
        float v = (float)mantissa * (1.0f / 16777216.0f);
        return sign ? -v : v;
    }
    if (exponent == 31) return bits_to_f32(sign | 0x7f800000u | (mantissa << 13));
    return bits_to_f32(sign | ((exponent + 112) << 23) | (mantissa << 13));
}

uint16_t ow_f32_to_f16(float f) {
    uint32_t u = f32_to_bits(f);
    uint32_t sign = (u >> 16) & 0x8000u;
    uint32_t abs = u & 0x7fffffffu;
    if (abs >= 0x7f800000u) /* inf or nan */
        return (uint16_t)(sign | 0x7c00u | (abs > 0x7f800000u ? 0x200u | ((abs >> 13) & 0x3ffu) : 0));
    if (abs >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u); /* rounds to inf */
    if (abs < 0x38800000u) { /* result is subnormal or zero */
        if (abs < 0x33000000u) return (uint16_t)sign; /* below half the smallest subnormal */
        uint32_t exponent = abs >> 23;
        uint32_t mantissa = (abs & 0x7fffffu) | 0x800000u;
        int shift = 126 - (int)exponent; /* 14..24 */
        uint32_t half_mantissa = mantissa >> shift;
        uint32_t remainder = mantissa & ((1u << shift) - 1);
        uint32_t halfway = 1u << (shift - 1);
        if (remainder > halfway || (remainder == halfway && (half_mantissa & 1))) half_mantissa++;
        return (uint16_t)(sign | half_mantissa);
    }
    uint32_t rounded = abs + 0xfffu + ((abs >> 13) & 1u); /* round to nearest even at bit 13 */
    return (uint16_t)(sign | ((rounded - 0x38000000u) >> 13));
}

float ow_bf16_to_f32(uint16_t b) { return bits_to_f32((uint32_t)b << 16); }

uint16_t ow_f32_to_bf16(float f) {
    uint32_t u = f32_to_bits(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40u); /* quiet nan */
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}
