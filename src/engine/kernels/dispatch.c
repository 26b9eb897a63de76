#include "engine/kernels/dispatch.h"

/* No ISA-specific kernels yet: the scalar reference runs everywhere. */
const char *rg_kernels_install(struct rg_type_traits *table)
{
    (void)table;
    return "generic";
}
