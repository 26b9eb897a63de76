/*
 * Which type each tensor gets when a model is quantized to a named mix
 * ("Q4_K_M", "Q8_0", ...), as llama.cpp's quantize chooses them, including
 * the fallback when a row length does not fit the type's block size.
 * Shared by `rustygpt quantize` and tools/gguf_gen.
 */
#ifndef RG_ENGINE_QUANT_RECIPE_H
#define RG_ENGINE_QUANT_RECIPE_H

#include <stdbool.h>
#include <stdint.h>

#include "engine/quant/quant.h"

/* Base type of a mix name (case-insensitive): "Q4_K_M" -> Q4_K; -1 if unknown. */
int rg_mix_base_type(const char *mix);
/* llama.cpp's general.file_type number of a mix, or -1. */
int rg_mix_file_type(const char *mix);
/*
 * Type for one tensor. name: GGUF tensor name; n_dims/ne0: its shape;
 * n_layer: blocks in the model. 1-D tensors (norms, biases) stay F32.
 */
enum rg_type rg_mix_tensor_type(const char *mix, const char *name, uint32_t n_dims, int64_t ne0,
                                int n_layer);
/* A type whose block size divides ne0, starting from t (llama.cpp's fallbacks). */
enum rg_type rg_type_fallback(enum rg_type t, int64_t ne0);

#endif
