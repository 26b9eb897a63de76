/* Placeholder: issue 17's offline switch routes are built here. */
#include "api/api_internal.h"

size_t rg_api_net_routes(struct rg_route *out, size_t max, struct rg_api_state *st)
{
    (void)out;
    (void)max;
    (void)st;
    return 0;
}
