/* Shared by the files of src/engine/quant and src/engine/kernels. */
#ifndef RG_ENGINE_QUANT_INTERNAL_H
#define RG_ENGINE_QUANT_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "engine/quant/quant.h"

struct rg_type_geometry {
    const char *name;
    int block_size;
    size_t type_size;
    bool quantized;
};
/* Indexed by enum rg_type; entries with block_size 0 are unknown ids. */
extern const struct rg_type_geometry rg_type_geometry[RG_TYPE_COUNT];

#endif
