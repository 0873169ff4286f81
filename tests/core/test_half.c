/* test_half.c: f16/bf16 conversions against values numpy/torch produce
 * (round-to-nearest-even, subnormals, infinities) and an exhaustive round trip. */
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "core/half.h"

int main(void) {
    /* Every finite f16 survives f16 -> f32 -> f16 exactly. */
    int mismatches = 0;
    for (uint32_t h = 0; h < 0x10000; h++) {
        if ((h & 0x7c00) == 0x7c00 && (h & 0x3ff)) continue; /* NaN payloads */
        if (ow_f32_to_f16(ow_f16_to_f32((uint16_t)h)) != h) mismatches++;
    }
    CHECK(mismatches == 0, "f16 round trip: %d of 65536 differ", mismatches);

    /* Known values (numpy.float16). */
    struct { float f; uint16_t h; } f16_cases[] = {
        {1.0f, 0x3c00}, {-2.0f, 0xc000}, {65504.0f, 0x7bff}, {65520.0f, 0x7c00},
        {5.9604645e-08f, 0x0001}, {2.9802322e-08f, 0x0000}, {2.9802326e-08f, 0x0001},
        {0.1f, 0x2e66}, {1.0009765625f, 0x3c01}, {1.00048828125f, 0x3c00}, /* tie -> even */
        {1.00146484375f, 0x3c02}, /* tie -> even (up) */ {6.097555e-05f, 0x03ff},
    };
    for (size_t i = 0; i < sizeof f16_cases / sizeof f16_cases[0]; i++) {
        uint16_t got = ow_f32_to_f16(f16_cases[i].f);
        CHECK(got == f16_cases[i].h, "f32_to_f16(%.9g) = 0x%04x, want 0x%04x", f16_cases[i].f, got, f16_cases[i].h);
    }
    CHECK(ow_f16_to_f32(0x0001) == 5.9604645e-08f, "smallest f16 subnormal");
    CHECK(ow_f16_to_f32(0xfc00) == -INFINITY, "f16 -inf");

    /* bf16: truncation with round-to-nearest-even. */
    struct { float f; uint16_t b; } bf16_cases[] = {
        {1.0f, 0x3f80}, {3.14159265f, 0x4049}, {-0.1f, 0xbdcd}, {1.00390625f, 0x3f80}, /* tie -> even */
        {1.01171875f, 0x3f82}, /* tie -> even (up) */
    };
    for (size_t i = 0; i < sizeof bf16_cases / sizeof bf16_cases[0]; i++) {
        uint16_t got = ow_f32_to_bf16(bf16_cases[i].f);
        CHECK(got == bf16_cases[i].b, "f32_to_bf16(%.9g) = 0x%04x, want 0x%04x", bf16_cases[i].f, got, bf16_cases[i].b);
    }
    CHECK(ow_bf16_to_f32(0x4049) == 3.140625f, "bf16 to f32");
    printf("ok   f16 exhaustive round trip and %zu + %zu known values\n",
           sizeof f16_cases / sizeof f16_cases[0], sizeof bf16_cases / sizeof bf16_cases[0]);
    CHECK_DONE();
}
