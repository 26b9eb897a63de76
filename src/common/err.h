/*
 * Error codes shared by every module: negative RG_E* values from one X-macro
 * table, with rg_strerror() for their messages. Functions that can fail return
 * one of these (or NULL) and may fill an optional caller buffer
 * `char err[RG_ERR_SIZE]` with the detail (which field, which offset).
 */
#ifndef RG_COMMON_ERR_H
#define RG_COMMON_ERR_H

#include <stddef.h>

#define RG_ERR_SIZE 256

/* X(name, value, message) */
#define RG_ERRNO_MAP(X)                                                                            \
    X(OK, 0, "success")                                                                            \
    X(NOMEM, -1, "out of memory")                                                                  \
    X(INVAL, -2, "invalid argument")                                                               \
    X(IO, -3, "input/output error")                                                                \
    X(NOTFOUND, -4, "not found")                                                                   \
    X(FORMAT, -5, "malformed input")                                                               \
    X(UNSUPPORTED, -6, "not supported")                                                            \
    X(RANGE, -7, "value out of range")                                                             \
    X(TOOBIG, -8, "too large")                                                                     \
    X(CANCELED, -9, "canceled")                                                                    \
    X(BUSY, -10, "busy, try again later")                                                          \
    X(EXISTS, -11, "already exists")                                                               \
    X(PERM, -12, "permission denied")                                                              \
    X(AUTH, -13, "authentication failed")                                                          \
    X(TIMEOUT, -14, "timed out")                                                                   \
    X(CLOSED, -15, "connection closed")                                                            \
    X(OVERFLOW, -16, "context window exceeded")                                                    \
    X(STATE, -17, "operation not valid in the current state")                                      \
    X(INTERNAL, -18, "internal error")

enum rg_errno {
#define RG_X_ENUM(name, value, msg) RG_E##name = (value),
    RG_ERRNO_MAP(RG_X_ENUM)
#undef RG_X_ENUM
};
/* RG_EOK is spelt RG_OK too. */
#define RG_OK RG_EOK

/* Message of an RG_E* code; "unknown error" for anything else. Never NULL. */
const char *rg_strerror(int code);

/*
 * Writes a printf-style detail into err (which may be NULL) and returns code,
 * so a failing path can be one line: `return rg_err_set(err, RG_EFORMAT, ...)`.
 */
int rg_err_set(char *err, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/*
 * A request that cannot be served, as every layer above the engine reports
 * it: the HTTP status it deserves, the request field at fault ("" if none),
 * a machine-readable code ("" if none: "context_length_exceeded",
 * "model_not_found", ...) and the message for the client. One reply helper
 * in api/ turns it into the wire format (OpenAI's or Ollama's).
 */
struct rg_req_err {
    int status;
    char param[64];
    char code[40];
    char msg[RG_ERR_SIZE];
};
/* Fills e (which may be NULL) and returns RG_EINVAL for a 4xx status, RG_EBUSY
 * for 429/503, RG_EINTERNAL otherwise, so a failing path is one line. */
int rg_req_err_set(struct rg_req_err *e, int status, const char *param, const char *code,
                   const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* Invariant check: aborts with file and line. Never for bad input. */
#define RG_ASSERT(cond)                                                                            \
    do {                                                                                           \
        if (!(cond)) rg_assert_fail(#cond, __FILE__, __LINE__);                                    \
    } while (0)
_Noreturn void rg_assert_fail(const char *expr, const char *file, int line);

#define RG_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define RG_MIN(a, b) ((a) < (b) ? (a) : (b))
#define RG_MAX(a, b) ((a) > (b) ? (a) : (b))

#endif
