/* Structured log lines in text or JSON (see log.h). */
#include "common/log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "common/buf.h"
#include "common/err.h"

static enum rg_log_level min_level = RG_LOG_INFO;
static enum rg_log_format log_format = RG_LOG_TEXT;
static void (*log_sink)(const char *, void *);
static void *log_sink_ud;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

static const char *level_names[] = {"debug", "info", "warn", "error"};

void rg_log_set_level(enum rg_log_level level)
{
    min_level = level;
}
void rg_log_set_format(enum rg_log_format format)
{
    log_format = format;
}
enum rg_log_format rg_log_get_format(void)
{
    return log_format;
}
bool rg_log_enabled(enum rg_log_level level)
{
    return level >= min_level;
}

void rg_log_set_sink(void (*sink)(const char *, void *), void *ud)
{
    pthread_mutex_lock(&log_lock);
    log_sink = sink;
    log_sink_ud = ud;
    pthread_mutex_unlock(&log_lock);
}

int rg_log_level_parse(const char *s, enum rg_log_level *out)
{
    for (size_t i = 0; i < RG_ARRAY_LEN(level_names); i++)
        if (!strcasecmp(s, level_names[i])) return *out = (enum rg_log_level)i, RG_OK;
    return RG_EINVAL;
}

/* JSON string escaping; text format quotes values that contain spaces. */
static void put_str(struct rg_buf *b, const char *s, bool json)
{
    if (!s) s = "";
    bool quote = json || strpbrk(s, " \t\"=") != NULL || !*s;
    if (quote) rg_buf_append_char(b, '"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') {
            rg_buf_append_char(b, '\\');
            rg_buf_append_char(b, (char)*p);
        } else if (*p < 0x20) {
            rg_buf_printf(b, "\\u%04x", *p);
        } else {
            rg_buf_append_char(b, (char)*p);
        }
    }
    if (quote) rg_buf_append_char(b, '"');
}

void rg_log(enum rg_log_level level, const char *msg, ...)
{
    if (level < min_level) return;
    bool json = log_format == RG_LOG_JSON;
    char line[4096];
    struct rg_buf b;
    rg_buf_init(&b, 64 * 1024);

    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char tbuf[80];
    snprintf(tbuf, sizeof tbuf, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);

    if (json) {
        rg_buf_printf(&b, "{\"time\":\"%s\",\"level\":\"%s\",\"msg\":", tbuf, level_names[level]);
        put_str(&b, msg, true);
    } else {
        rg_buf_printf(&b, "%s %-5s %s", tbuf, level_names[level], msg);
    }
    va_list ap;
    va_start(ap, msg);
    for (;;) {
        const char *key = va_arg(ap, const char *);
        if (!key) break;
        int type = va_arg(ap, int);
        rg_buf_append_str(&b, json ? "," : " ");
        if (json) {
            put_str(&b, key, true);
            rg_buf_append_char(&b, ':');
        } else {
            rg_buf_printf(&b, "%s=", key);
        }
        switch (type) {
        case 's': put_str(&b, va_arg(ap, const char *), json); break;
        case 'i': rg_buf_printf(&b, "%lld", va_arg(ap, long long)); break;
        case 'u': rg_buf_printf(&b, "%llu", va_arg(ap, unsigned long long)); break;
        case 'f': rg_buf_printf(&b, "%.3f", va_arg(ap, double)); break;
        case 'b': rg_buf_append_str(&b, va_arg(ap, int) ? "true" : "false"); break;
        default: rg_buf_append_str(&b, "null"); break;
        }
    }
    va_end(ap);
    if (json) rg_buf_append_char(&b, '}');
    rg_buf_append_char(&b, '\n');

    const char *out = b.data;
    if (!out) { /* out of memory: say at least the message */
        snprintf(line, sizeof line, "%s %s %s\n", tbuf, level_names[level], msg);
        out = line;
    }
    pthread_mutex_lock(&log_lock);
    if (log_sink)
        log_sink(out, log_sink_ud);
    else
        fputs(out, stderr);
    pthread_mutex_unlock(&log_lock);
    rg_buf_free(&b);
}
