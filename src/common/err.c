/* Error code table and detail formatting (see err.h). */
#include "common/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

const char *rg_strerror(int code)
{
    switch (code) {
#define RG_X_CASE(name, value, msg)                                                                \
    case (value): return (msg);
        RG_ERRNO_MAP(RG_X_CASE)
#undef RG_X_CASE
    default: return "unknown error";
    }
}

int rg_err_set(char *err, int code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, RG_ERR_SIZE, fmt, ap);
        va_end(ap);
    }
    return code;
}

int rg_req_err_set(struct rg_req_err *e, int status, const char *param, const char *code,
                   const char *fmt, ...)
{
    if (e) {
        e->status = status;
        snprintf(e->param, sizeof e->param, "%s", param ? param : "");
        snprintf(e->code, sizeof e->code, "%s", code ? code : "");
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(e->msg, sizeof e->msg, fmt, ap);
        va_end(ap);
    }
    return status == 429 || status == 503 ? RG_EBUSY : status < 500 ? RG_EINVAL : RG_EINTERNAL;
}

void rg_assert_fail(const char *expr, const char *file, int line)
{
    fprintf(stderr, "assertion failed: %s (%s:%d)\n", expr, file, line);
    abort();
}
