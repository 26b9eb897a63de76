/*
 * Placeholder: issue 17's memory routes and jobs are built here (glossary,
 * ratings, custom styles, conversation type, memory settings). Until then
 * the functions of memory.h answer with the defaults.
 */
#include <string.h>

#include "api/api_internal.h"
#include "api/api_jobs.h"
#include "api/memory.h"
#include "common/alloc.h"
#include "common/str.h"

int rg_api_mem_prefs_get(struct rg_api_state *st, int64_t owner, struct rg_api_mem_prefs *out,
                         struct rg_req_err *e)
{
    (void)st;
    (void)owner;
    (void)e;
    memset(out, 0, sizeof *out);
    out->system = rg_strdup("");
    out->use_summaries = out->use_glossary = out->use_library = true;
    rg_strlcpy(out->auto_thread, "off", sizeof out->auto_thread);
    out->auto_thread_distance = 0.6;
    out->summary_after = 20;
    return out->system ? RG_OK : rg_req_err_set(e, 500, NULL, NULL, "out of memory");
}

void rg_api_mem_prefs_clear(struct rg_api_mem_prefs *p)
{
    rg_free(p->system);
    memset(p, 0, sizeof *p);
}

int rg_api_mem_style_prompt(struct rg_api_state *st, int64_t owner, const char *id,
                            struct rg_buf *out, struct rg_req_err *e)
{
    (void)st;
    (void)owner;
    (void)out;
    if (!id || !*id || !strcmp(id, "plain")) return RG_OK;
    return rg_req_err_set(e, 400, "settings.style", "unknown_style", "no such style: %.40s", id);
}

int rg_api_mem_glossary_match(struct rg_api_state *st, int64_t owner, const char *text,
                              size_t max, json_t **out, struct rg_req_err *e)
{
    (void)st;
    (void)owner;
    (void)text;
    (void)max;
    (void)e;
    *out = NULL;
    return RG_OK;
}

void rg_api_mem_answered(struct rg_api_state *st, int64_t owner, int64_t conv_id, bool ok)
{
    (void)st;
    (void)owner;
    (void)conv_id;
    (void)ok;
}

size_t rg_api_memory_routes(struct rg_route *out, size_t max, struct rg_api_state *st)
{
    (void)out;
    (void)max;
    (void)st;
    return 0;
}

int rg_api_memory_jobs_register(struct rg_api_state *st, char *err)
{
    (void)st;
    (void)err;
    return RG_OK;
}
