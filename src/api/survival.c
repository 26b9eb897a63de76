/* Placeholder: issue 17's survival routes and jobs are built here. */
#include "api/api_internal.h"
#include "api/api_jobs.h"

size_t rg_api_survival_routes(struct rg_route *out, size_t max, struct rg_api_state *st)
{
    (void)out;
    (void)max;
    (void)st;
    return 0;
}

int rg_api_survival_jobs_register(struct rg_api_state *st, char *err)
{
    (void)st;
    (void)err;
    return RG_OK;
}
