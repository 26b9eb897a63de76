/* Quantization mixes (see recipe.h). */
#include "engine/quant/recipe.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "engine/quant/quant_internal.h"

static const struct {
    const char *name;
    enum rg_type base;
    int ftype;
} MIXES[] = {
    {"F32", RG_TYPE_F32, 0},      {"F16", RG_TYPE_F16, 1},      {"BF16", RG_TYPE_BF16, 32},
    {"Q4_0", RG_TYPE_Q4_0, 2},    {"Q4_1", RG_TYPE_Q4_1, 3},    {"Q5_0", RG_TYPE_Q5_0, 8},
    {"Q5_1", RG_TYPE_Q5_1, 9},    {"Q8_0", RG_TYPE_Q8_0, 7},    {"Q4_K_S", RG_TYPE_Q4_K, 14},
    {"Q4_K_M", RG_TYPE_Q4_K, 15}, {"Q5_K_S", RG_TYPE_Q5_K, 16}, {"Q5_K_M", RG_TYPE_Q5_K, 17},
    {"Q6_K", RG_TYPE_Q6_K, 18},   {"Q4_K", RG_TYPE_Q4_K, 15},   {"Q5_K", RG_TYPE_Q5_K, 17},
    {"Q2_K", RG_TYPE_Q2_K, 10},   {"Q3_K_S", RG_TYPE_Q3_K, 11}, {"Q3_K_M", RG_TYPE_Q3_K, 12},
    {"Q3_K_L", RG_TYPE_Q3_K, 13}, {"Q3_K", RG_TYPE_Q3_K, 12},
};

/* general.file_type of the 2- and 3-bit mixes */
enum { FT_Q2_K = 10, FT_Q3_K_S = 11, FT_Q3_K_M = 12, FT_Q3_K_L = 13 };

static int find(const char *mix)
{
    for (size_t i = 0; i < sizeof MIXES / sizeof MIXES[0]; i++)
        if (!strcasecmp(mix, MIXES[i].name)) return (int)i;
    return -1;
}

int rg_mix_base_type(const char *mix)
{
    int i = find(mix);
    return i < 0 ? -1 : (int)MIXES[i].base;
}

int rg_mix_file_type(const char *mix)
{
    int i = find(mix);
    return i < 0 ? -1 : MIXES[i].ftype;
}

enum rg_type rg_type_fallback(enum rg_type t, int64_t ne0)
{
    for (int guard = 0; guard < 4; guard++) {
        int bs = rg_type_geometry[t].block_size;
        if (bs > 0 && ne0 % bs == 0) return t;
        switch (t) {
        case RG_TYPE_Q2_K:
        case RG_TYPE_Q3_K: t = RG_TYPE_Q4_0; break;
        case RG_TYPE_Q4_K: t = RG_TYPE_Q5_0; break;
        case RG_TYPE_Q5_K: t = RG_TYPE_Q5_1; break;
        case RG_TYPE_Q6_K: t = RG_TYPE_Q8_0; break;
        default: t = RG_TYPE_F16; break;
        }
    }
    return RG_TYPE_F32;
}

/* llama.cpp's use_more_bits: the first and last eighth of the layers, and
 * every third one in between, get more bits in the _M mixes. */
static bool more_bits(int i, int n)
{
    return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2;
}

/*
 * What llama.cpp's quantize widens in the 2- and 3-bit mixes, the output
 * layer aside: attn_v, attn_output, ffn_down and a fused attn_qkv. Two of its
 * rules need what a tensor name does not tell: Q2_K's attn_v is Q4_K when 4
 * or more query heads share each KV head (Q3_K otherwise, which we always
 * take), and 70B or 8-expert models get more bits still (not modelled).
 * llama.cpp counts attn_v tensors where we read the layer from the name;
 * in the usual one-per-layer order the two agree.
 */
static enum rg_type low_bit_type(int ftype, const char *name, enum rg_type t, int layer,
                                 int n_layer)
{
    bool v = strstr(name, "attn_v.weight"), down = layer >= 0 && strstr(name, "ffn_down"),
         out = strstr(name, "attn_output.weight"), qkv = strstr(name, "attn_qkv.weight");
    switch (ftype) {
    case FT_Q2_K:
        if (v || down || out) return RG_TYPE_Q3_K;
        break;
    case FT_Q3_K_M:
        if (v) return layer >= 0 && layer < 2 ? RG_TYPE_Q5_K : RG_TYPE_Q4_K;
        if (down) return layer < n_layer / 16 ? RG_TYPE_Q5_K : RG_TYPE_Q4_K;
        if (out || qkv) return RG_TYPE_Q4_K;
        break;
    case FT_Q3_K_L:
        if (v || down || out) return RG_TYPE_Q5_K;
        if (qkv) return RG_TYPE_Q4_K;
        break;
    default: break; /* Q3_K_S: the base type throughout */
    }
    return t;
}

enum rg_type rg_mix_tensor_type(const char *mix, const char *name, uint32_t n_dims, int64_t ne0,
                                int n_layer)
{
    int m = find(mix);
    if (m < 0 || n_dims < 2) return RG_TYPE_F32;
    /* small lookup tables of encoders stay in float, as converters write them */
    if (strstr(name, "position_embd") || strstr(name, "token_types")) return RG_TYPE_F32;
    enum rg_type t = MIXES[m].base;
    bool is_output = !strcmp(name, "output.weight");
    int layer = -1;
    if (!strncmp(name, "blk.", 4)) layer = atoi(name + 4);
    const char *mname = MIXES[m].name;
    bool k_mix = strchr(mname, 'K') != NULL;
    if (is_output && t != RG_TYPE_F32 && t != RG_TYPE_F16 && t != RG_TYPE_BF16 && t != RG_TYPE_Q8_0)
        t = RG_TYPE_Q6_K; /* llama.cpp keeps the output layer at 6 bits */
    else if (t == RG_TYPE_Q2_K || t == RG_TYPE_Q3_K)
        t = low_bit_type(MIXES[m].ftype, name, t, layer, n_layer);
    else if (k_mix && layer >= 0 &&
             (strstr(name, "attn_v.weight") || strstr(name, "ffn_down.weight"))) {
        bool m_mix = mname[strlen(mname) - 1] == 'M' || mname[strlen(mname) - 1] == 'm';
        if (m_mix && more_bits(layer, n_layer))
            t = RG_TYPE_Q6_K;
        else if (!m_mix && t == RG_TYPE_Q4_K && layer < n_layer / 8)
            t = RG_TYPE_Q5_K;
    }
    return rg_type_fallback(t, ne0);
}
