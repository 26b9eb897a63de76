/* Shared by the files of src/engine/quant and src/engine/kernels. */
#ifndef RG_ENGINE_QUANT_INTERNAL_H
#define RG_ENGINE_QUANT_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "engine/quant/quant.h"

struct rg_type_geometry {
    const char *name;
    int block_size;
    size_t type_size;
    bool quantized;
};
/* Indexed by enum rg_type; entries with block_size 0 are unknown ids. */
extern const struct rg_type_geometry rg_type_geometry[RG_TYPE_COUNT];

/*
 * The 16 six-bit scales of a Q3_K block, unpacked from its 12 bytes and
 * offset to -32..31. Byte j (j < 8) holds the low nibble of scale j and, in
 * its high nibble, that of scale j + 8; byte 8 + (j % 4) holds the top two
 * bits of scale j at bit 2 * (j / 4). Inline so the reference and the ISA
 * kernels decode with the same code.
 */
static inline void rg_q3_K_scales(const uint8_t packed[12], int8_t out[16])
{
    uint32_t a[3];
    memcpy(a, packed, 12);
    const uint32_t lo4 = 0x0F0F0F0Fu, lo2 = 0x03030303u;
    uint32_t w[4] = {
        (a[0] & lo4) | ((a[2] & lo2) << 4),
        (a[1] & lo4) | (((a[2] >> 2) & lo2) << 4),
        ((a[0] >> 4) & lo4) | (((a[2] >> 4) & lo2) << 4),
        ((a[1] >> 4) & lo4) | (((a[2] >> 6) & lo2) << 4),
    };
    uint8_t u[16];
    memcpy(u, w, 16);
    for (int j = 0; j < 16; j++)
        out[j] = (int8_t)(u[j] - 32);
}

/*
 * The 8 six-bit scales and mins of a Q4_K / Q5_K block, from its 12 bytes:
 * bytes 0..3 hold scales 0..3, bytes 4..7 mins 0..3 (low 6 bits each); bytes
 * 8..11 the low nibbles of scales 4..7 and, high, of mins 4..7, whose top two
 * bits are the top bits of bytes 0..3 and 4..7. Inline so the reference and
 * the ISA kernels decode with the same code.
 */
static inline void rg_q4_K_scales(const uint8_t packed[12], uint8_t sc[8], uint8_t mn[8])
{
    uint32_t a[3];
    memcpy(a, packed, 12);
    const uint32_t lo6 = 0x3F3F3F3Fu, lo4 = 0x0F0F0F0Fu, lo2 = 0x03030303u;
    const uint32_t s[2] = {a[0] & lo6, (a[2] & lo4) | (((a[0] >> 6) & lo2) << 4)};
    const uint32_t m[2] = {a[1] & lo6, ((a[2] >> 4) & lo4) | (((a[1] >> 6) & lo2) << 4)};
    memcpy(sc, s, 8);
    memcpy(mn, m, 8);
}

#endif
