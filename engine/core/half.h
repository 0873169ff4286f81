/* half.h: exact conversions between f32 and the 16-bit float formats. */
#ifndef OW_CORE_HALF_H
#define OW_CORE_HALF_H

#include <stdint.h>

float ow_f16_to_f32(uint16_t h);
/* Round to nearest even, as torch's .half() does. */
uint16_t ow_f32_to_f16(float f);
float ow_bf16_to_f32(uint16_t b);
/* Round to nearest even, as torch's .bfloat16() does (NaN stays NaN). */
uint16_t ow_f32_to_bf16(float f);

#endif
