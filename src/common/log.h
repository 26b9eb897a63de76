/*
 * Structured logging for the server and the CLI. Library modules (engine,
 * http parsers) do not log on their own: they return errors, and their callers
 * decide what to say. A record is a message plus key/value fields, written as
 * one line of text ("time level msg key=value ...") or of JSON, to stderr or
 * a sink set by the program. Thread-safe: one line is written atomically.
 */
#ifndef RG_COMMON_LOG_H
#define RG_COMMON_LOG_H

#include <stdbool.h>

enum rg_log_level { RG_LOG_DEBUG, RG_LOG_INFO, RG_LOG_WARN, RG_LOG_ERROR };
enum rg_log_format { RG_LOG_TEXT, RG_LOG_JSON };

void rg_log_set_level(enum rg_log_level level);
void rg_log_set_format(enum rg_log_format format);
enum rg_log_format rg_log_get_format(void);
/* Parses "debug|info|warn|error"; RG_OK or RG_EINVAL. */
int rg_log_level_parse(const char *s, enum rg_log_level *out);
/* Sink for finished lines (each ends with '\n'); NULL restores stderr. */
void rg_log_set_sink(void (*sink)(const char *line, void *ud), void *ud);
bool rg_log_enabled(enum rg_log_level level);

/*
 * rg_log(level, msg, key1, fmt1, value1, ..., NULL)
 * Each field is a key, a one-letter type and a value:
 *   's' const char *   'i' long long   'u' unsigned long long   'f' double   'b' int (bool)
 * e.g. rg_log(RG_LOG_INFO, "request", "path", 's', path, "status", 'i', 200LL, RG_LOG_END);
 * (RG_LOG_END, a typed null pointer, ends the list: a bare NULL may be a
 * plain 0 of the wrong width in a variadic call.)
 */
#define RG_LOG_END ((const char *)0)
void rg_log(enum rg_log_level level, const char *msg, ...);

#define rg_log_info(msg, ...) rg_log(RG_LOG_INFO, msg, __VA_ARGS__)
#define rg_log_warn(msg, ...) rg_log(RG_LOG_WARN, msg, __VA_ARGS__)
#define rg_log_error(msg, ...) rg_log(RG_LOG_ERROR, msg, __VA_ARGS__)
#define rg_log_debug(msg, ...) rg_log(RG_LOG_DEBUG, msg, __VA_ARGS__)

#endif
