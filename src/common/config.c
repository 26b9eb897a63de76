/*
 * Server configuration: one option table drives parsing of all four layers
 * (defaults, config file, environment, flags) and the --help text, so a new
 * option is one table row and cannot be half-wired.
 */
#include "common/config.h"

#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/alloc.h"
#include "common/str.h"

enum opt_type { OPT_STR, OPT_INT, OPT_SIZE, OPT_BOOL, OPT_LOGFMT, OPT_CACHE, OPT_LIST };

struct opt {
    const char *name; /* long name, without "--" */
    char short_name;  /* 0 if none */
    const char *arg;  /* argument name in --help; NULL for booleans */
    enum opt_type type;
    size_t offset;    /* into struct rg_config */
    const char *def;  /* default as text (NULL = unset) */
    int64_t min, max; /* for OPT_INT and OPT_SIZE */
    const char *help;
};

#define OFF(f) offsetof(struct rg_config, f)

static const struct opt OPTS[] = {
    {"host", 0, "ADDR", OPT_STR, OFF(host), "127.0.0.1", 0, 0,
     "address to listen on (a non-loopback address exposes the API to the network)"},
    {"port", 0, "N", OPT_INT, OFF(port), "8080", 0, 65535, "TCP port; 0 picks a free port"},
    {"model", 'm', "FILE.gguf", OPT_LIST, OFF(models), NULL, 0, 0,
     "model to load at start (repeatable; a path or a name in --models-dir)"},
    {"models-dir", 0, "DIR", OPT_STR, OFF(models_dir), "./models", 0, 0,
     "directory of .gguf models that clients can ask for by name"},
    {"data-dir", 0, "DIR", OPT_STR, OFF(data_dir), "./data", 0, 0,
     "where the database, secrets, uploads and indexes live"},
    {"db", 0, "URL", OPT_STR, OFF(db), NULL, 0, 0,
     "sqlite:PATH or postgresql://... (default sqlite:<data-dir>/rustygpt.db)"},
    {"db-pool", 0, "N", OPT_INT, OFF(db_pool), "4", 1, 256,
     "database connections kept open (PostgreSQL; SQLite uses them for concurrent readers)"},
    {"library", 0, "DIR", OPT_LIST, OFF(library), NULL, 0, 0,
     "a folder of books and notes the knowledge library watches and indexes (repeatable; owned "
     "by the first admin, in a collection named after the folder)"},
    {"embedding-model", 0, "ID", OPT_STR, OFF(embedding_model), NULL, 0, 0,
     "the model id (a GGUF bert encoder in --models-dir, or given with -m) the library embeds "
     "chunks and queries with; without it search is full-text only"},
    {"job-workers", 0, "N", OPT_INT, OFF(job_workers), "2", 0, 256,
     "threads running background jobs (indexing, summaries...); 0 runs none on this node"},
    {"job-lease", 0, "SECONDS", OPT_INT, OFF(job_lease), "30", 1, 3600,
     "a running job's lease: renewed while its node lives; once it lapses another node runs the "
     "job again"},
    {"signup", 0, "open|approval|closed", OPT_STR, OFF(signup), NULL, 0, 0,
     "who may create an account: anyone, anyone but an admin approves, or only admins "
     "(default open; closed when --api-key is set)"},
    {"signup-rate", 0, "N", OPT_INT, OFF(signup_rate), "20", 0, 1000000,
     "sign-up attempts one client address may make per hour (429 past it); 0 = no limit"},
    {"access-ttl", 0, "SECONDS", OPT_INT, OFF(access_ttl), "900", 60, 86400,
     "lifetime of an access token (JWT)"},
    {"refresh-ttl", 0, "SECONDS", OPT_INT, OFF(refresh_ttl), "2592000", 300, 31536000,
     "lifetime of a sign-in (refresh token, rotated on every use)"},
    {"public-url", 0, "URL", OPT_STR, OFF(public_url), NULL, 0, 0,
     "the address users reach the server at, for OAuth redirects (default http://HOST:PORT)"},
    {"github-client-id", 0, "ID", OPT_STR, OFF(github_client_id), NULL, 0, 0,
     "GitHub OAuth app client id (enables sign-in with GitHub)"},
    {"github-client-secret", 0, "SECRET", OPT_STR, OFF(github_client_secret), NULL, 0, 0,
     "GitHub OAuth app client secret"},
    {"github-authorize-url", 0, "URL", OPT_STR, OFF(github_authorize_url), NULL, 0, 0,
     "GitHub's authorization endpoint (docs/auth.md gives the value)"},
    {"github-token-url", 0, "URL", OPT_STR, OFF(github_token_url), NULL, 0, 0,
     "GitHub's token endpoint"},
    {"github-api-url", 0, "URL", OPT_STR, OFF(github_api_url), NULL, 0, 0,
     "GitHub's API base (the user and emails endpoints are under it)"},
    {"apple-client-id", 0, "ID", OPT_STR, OFF(apple_client_id), NULL, 0, 0,
     "Sign in with Apple services id (enables sign-in with Apple)"},
    {"apple-team-id", 0, "ID", OPT_STR, OFF(apple_team_id), NULL, 0, 0, "Apple developer team id"},
    {"apple-key-id", 0, "ID", OPT_STR, OFF(apple_key_id), NULL, 0, 0,
     "id of the Sign in with Apple private key"},
    {"apple-private-key", 0, "FILE", OPT_STR, OFF(apple_private_key), NULL, 0, 0,
     "the Sign in with Apple private key (PEM, ES256)"},
    {"apple-authorize-url", 0, "URL", OPT_STR, OFF(apple_authorize_url), NULL, 0, 0,
     "Apple's authorization endpoint (docs/auth.md gives the value)"},
    {"apple-token-url", 0, "URL", OPT_STR, OFF(apple_token_url), NULL, 0, 0,
     "Apple's token endpoint"},
    {"apple-keys-url", 0, "URL", OPT_STR, OFF(apple_keys_url), NULL, 0, 0,
     "Apple's public keys (JWKS) endpoint"},
    {"apple-issuer", 0, "ISS", OPT_STR, OFF(apple_issuer), NULL, 0, 0,
     "the issuer Apple's id tokens must carry"},
    {"threads", 't', "N", OPT_INT, OFF(threads), "0", 0, 1024,
     "compute threads for inference; 0 = one per core"},
    {"parallel", 0, "N", OPT_INT, OFF(parallel), "4", 1, 256,
     "sequences decoded together (concurrent generations)"},
    {"max-queue", 0, "N", OPT_INT, OFF(max_queue), "64", 0, 100000,
     "requests that may wait for a generation slot; more get 429 with Retry-After"},
    {"ctx-size", 'c', "N", OPT_INT, OFF(ctx_size), "0", 0, 16777216,
     "context length per sequence; 0 = the model's own"},
    {"cache-type", 0, "f32|f16", OPT_CACHE, OFF(cache_f16), "f32", 0, 0,
     "KV cache elements: f32 (llama.cpp's F32 numbers) or f16 (half the memory)"},
    {"max-request-work", 0, "N", OPT_INT, OFF(max_request_work), "65536", 1, 1073741824,
     "most tokens one request may generate, counting every answer of n and each logprob "
     "alternative (n x max_tokens x (1 + top_logprobs)); an unset max_tokens is fitted to it"},
    {"default-max-tokens", 0, "N", OPT_INT, OFF(default_max_tokens), "4096", 0, 16777216,
     "most tokens of an answer whose request sets no max_tokens (Copilot sends none); 0 = until "
     "the context is full"},
    {"keep-alive", 0, "SECONDS", OPT_INT, OFF(keep_alive), "300", -1, 31536000,
     "unload a model idle this long; -1 keeps models loaded"},
    {"max-memory", 0, "BYTES", OPT_SIZE, OFF(max_memory), "0", 0, INT64_C(1) << 50,
     "memory for loaded models (weights + KV cache); idle models are unloaded to make room; "
     "0 = no limit (suffixes k, m, g)"},
    {"api-key", 0, "KEY", OPT_LIST, OFF(api_keys), NULL, 0, 0,
     "require 'Authorization: Bearer KEY' on /v1/* and /status, /metrics, /openapi.json "
     "(repeatable); also closes sign-up unless --signup is given"},
    {"public-info", 0, NULL, OPT_BOOL, OFF(public_info), "false", 0, 0,
     "with --api-key, keep /status, /metrics and /openapi.json open to anyone"},
    {"discovery-auth", 0, "loopback|key|open", OPT_STR, OFF(discovery_auth), "loopback", 0, 0,
     "with --api-key, who may list models (Ollama's /api/tags and /api/show, which Copilot asks "
     "without a key) without the key: callers on this machine, nobody, or anyone"},
    {"cors-origin", 0, "ORIGIN", OPT_LIST, OFF(cors_origins), NULL, 0, 0,
     "allow browser requests from ORIGIN (repeatable; default loopback origins only)"},
    {"web-dir", 0, "DIR", OPT_STR, OFF(web_dir), NULL, 0, 0,
     "serve the web app from DIR instead of the copy embedded in the binary"},
    {"offline", 0, NULL, OPT_BOOL, OFF(offline), "false", 0, 0,
     "refuse every outbound connection (model pulls, GitHub and Apple sign-in, any URL fetch); an "
     "admin can switch it at run time (PUT /admin/network)"},
    {"insecure-no-auth", 0, NULL, OPT_BOOL, OFF(insecure_no_auth), "false", 0, 0,
     "allow listening on a non-loopback address without --api-key (anyone who can reach it can use "
     "it)"},
    {"max-body", 0, "BYTES", OPT_SIZE, OFF(max_body), "8388608", 1, INT64_C(1) << 40,
     "largest request body accepted (suffixes k, m, g)"},
    {"max-connections", 0, "N", OPT_INT, OFF(max_connections), "256", 1, 100000,
     "concurrent connections; more are refused"},
    {"max-connections-per-ip", 0, "N", OPT_INT, OFF(max_connections_per_ip), "64", 0, 100000,
     "concurrent connections from one address; more are refused (0 = no limit)"},
    {"header-timeout", 0, "SECONDS", OPT_INT, OFF(header_timeout), "15", 1, 3600,
     "close a connection that has not sent a whole request's headers this long after starting "
     "it, however slowly it trickles them"},
    {"http-threads", 0, "N", OPT_INT, OFF(http_threads), "0", 0, 256,
     "threads answering HTTP requests; 0 = one per core"},
    {"timeout", 0, "SECONDS", OPT_INT, OFF(timeout), "60", 1, 86400,
     "close a connection idle or stalled this long"},
    {"shutdown-grace", 0, "SECONDS", OPT_INT, OFF(shutdown_grace), "10", 0, 3600,
     "on SIGINT/SIGTERM, time given to running streams to finish"},
    {"log-format", 0, "json|text", OPT_LOGFMT, OFF(log_format), "text", 0, 0,
     "access and event log format"},
    {"log-level", 0, "LEVEL", OPT_STR, OFF(log_level), "info", 0, 0, "debug, info, warn or error"},
    {"config", 0, "FILE", OPT_STR, OFF(config_file), NULL, 0, 0,
     "JSON file of options keyed by their long names (flags and environment win)"},
};

static const struct opt *find_long(const char *name, size_t len)
{
    for (size_t i = 0; i < RG_ARRAY_LEN(OPTS); i++)
        if (strlen(OPTS[i].name) == len && memcmp(OPTS[i].name, name, len) == 0) return &OPTS[i];
    return NULL;
}

static const struct opt *find_short(char c)
{
    for (size_t i = 0; i < RG_ARRAY_LEN(OPTS); i++)
        if (OPTS[i].short_name && OPTS[i].short_name == c) return &OPTS[i];
    return NULL;
}

static void list_clear(struct rg_strlist *l)
{
    for (size_t i = 0; i < l->n; i++)
        rg_free(l->v[i]);
    rg_free(l->v);
    l->v = NULL;
    l->n = 0;
}

static int list_push(struct rg_strlist *l, const char *s, size_t len)
{
    char **v = rg_realloc(l->v, (l->n + 1) * sizeof *v);
    if (!v) return RG_ENOMEM;
    l->v = v;
    char *d = rg_strndup(s, len);
    if (!d) return RG_ENOMEM;
    l->v[l->n++] = d;
    return RG_OK;
}

/* "8m" → 8 MiB. Plain decimal digits with an optional k/m/g suffix. */
static int parse_size(const char *s, int64_t min, int64_t max, int64_t *out)
{
    size_t n = strlen(s);
    if (n == 0 || n > 30) return RG_EINVAL;
    int shift = 0;
    char last = (char)tolower((unsigned char)s[n - 1]);
    if (last == 'k')
        shift = 10;
    else if (last == 'm')
        shift = 20;
    else if (last == 'g')
        shift = 30;
    char num[32];
    memcpy(num, s, n + 1);
    if (shift) num[n - 1] = '\0';
    int64_t v;
    if (rg_parse_i64(num, 0, INT64_MAX >> shift, &v) != RG_OK) return RG_EINVAL;
    v <<= shift;
    if (v < min || v > max) return RG_ERANGE;
    *out = v;
    return RG_OK;
}

/*
 * Sets one option from text. `replace_list` starts a fresh list for this
 * layer: a layer that sets a repeatable option replaces the lower layers'
 * values, and further occurrences in the same layer append.
 */
static int set_text(struct rg_config *c, const struct opt *o, const char *val, const char *where,
                    bool replace_list, char *err)
{
    void *field = (char *)c + o->offset;
    switch (o->type) {
    case OPT_STR: {
        char *d = rg_strdup(val);
        if (!d) return rg_err_set(err, RG_ENOMEM, "out of memory");
        rg_free(*(char **)field);
        *(char **)field = d;
        return RG_OK;
    }
    case OPT_INT: {
        int64_t v;
        if (rg_parse_i64(val, o->min, o->max, &v) != RG_OK)
            return rg_err_set(err, RG_EINVAL, "%s%s: expected an integer %lld-%lld, got '%s'",
                              where, o->name, (long long)o->min, (long long)o->max, val);
        *(int *)field = (int)v;
        return RG_OK;
    }
    case OPT_SIZE: {
        int64_t v;
        if (parse_size(val, o->min, o->max, &v) != RG_OK)
            return rg_err_set(
                err, RG_EINVAL,
                "%s%s: expected a size in bytes %lld-%lld (suffix k, m or g), got '%s'", where,
                o->name, (long long)o->min, (long long)o->max, val);
        *(size_t *)field = (size_t)v;
        return RG_OK;
    }
    case OPT_BOOL: {
        bool b;
        if (rg_parse_bool(val, &b) != RG_OK)
            return rg_err_set(err, RG_EINVAL, "%s%s: expected true or false, got '%s'", where,
                              o->name, val);
        *(bool *)field = b;
        return RG_OK;
    }
    case OPT_LOGFMT:
        if (strcmp(val, "json") == 0)
            *(enum rg_log_format *)field = RG_LOG_JSON;
        else if (strcmp(val, "text") == 0)
            *(enum rg_log_format *)field = RG_LOG_TEXT;
        else
            return rg_err_set(err, RG_EINVAL, "%s%s: expected json or text, got '%s'", where,
                              o->name, val);
        return RG_OK;
    case OPT_CACHE:
        if (strcmp(val, "f32") != 0 && strcmp(val, "f16") != 0)
            return rg_err_set(err, RG_EINVAL, "%s%s: expected f32 or f16, got '%s'", where,
                              o->name, val);
        *(bool *)field = strcmp(val, "f16") == 0;
        return RG_OK;
    case OPT_LIST: {
        struct rg_strlist *l = field;
        if (replace_list) list_clear(l);
        if (val[0] == '\0') return rg_err_set(err, RG_EINVAL, "%s%s: empty value", where, o->name);
        if (list_push(l, val, strlen(val)) != RG_OK)
            return rg_err_set(err, RG_ENOMEM, "out of memory");
        return RG_OK;
    }
    }
    return rg_err_set(err, RG_EINTERNAL, "option %s has no type", o->name);
}

static int check_values(const struct rg_config *c, char *err)
{
    static const char *const levels[] = {"debug", "info", "warn", "error"};
    bool ok = false;
    for (size_t i = 0; i < RG_ARRAY_LEN(levels); i++)
        if (strcmp(c->log_level, levels[i]) == 0) ok = true;
    if (!ok)
        return rg_err_set(err, RG_EINVAL,
                          "--log-level: expected debug, info, warn or error, got '%s'",
                          c->log_level);
    if (c->host[0] == '\0') return rg_err_set(err, RG_EINVAL, "--host: empty value");
    return RG_OK;
}

int rg_config_defaults(struct rg_config *c)
{
    char err[RG_ERR_SIZE];
    memset(c, 0, sizeof *c);
    for (size_t i = 0; i < RG_ARRAY_LEN(OPTS); i++) {
        if (!OPTS[i].def) continue;
        int rc = set_text(c, &OPTS[i], OPTS[i].def, "default --", false, err);
        if (rc != RG_OK) {
            rg_config_free(c);
            return rc;
        }
    }
    return RG_OK;
}

void rg_config_free(struct rg_config *c)
{
    if (!c) return;
    for (size_t i = 0; i < RG_ARRAY_LEN(OPTS); i++) {
        void *field = (char *)c + OPTS[i].offset;
        if (OPTS[i].type == OPT_STR) {
            rg_free(*(char **)field);
            *(char **)field = NULL;
        } else if (OPTS[i].type == OPT_LIST) {
            list_clear(field);
        }
    }
}

/* ---- config file ---- */

static int load_file(struct rg_config *c, const char *path, char *err)
{
    json_error_t je;
    json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
    if (!root) {
        if (je.line < 0 || strstr(je.text, "unable to open"))
            return rg_err_set(err, RG_EIO, "--config %s: cannot read: %s", path, je.text);
        return rg_err_set(err, RG_EFORMAT, "--config %s: line %d: %s", path, je.line, je.text);
    }
    if (!json_is_object(root)) {
        json_decref(root);
        return rg_err_set(err, RG_EFORMAT, "--config %s: expected a JSON object", path);
    }
    char where[RG_ERR_SIZE];
    snprintf(where, sizeof where, "--config %.180s: ", path);
    int rc = RG_OK;
    const char *key;
    json_t *v;
    json_object_foreach(root, key, v)
    {
        const struct opt *o = find_long(key, strlen(key));
        if (!o || strcmp(key, "config") == 0) {
            rc = rg_err_set(err, RG_EINVAL, "%sunknown option '%s'", where, key);
            break;
        }
        char num[64];
        const char *text = NULL;
        if (o->type == OPT_LIST) {
            if (json_is_string(v))
                v = json_pack("[O]", v);
            else
                json_incref(v);
            if (!v) {
                rc = rg_err_set(err, RG_ENOMEM, "out of memory");
                break;
            }
            size_t i;
            json_t *item;
            list_clear((struct rg_strlist *)((char *)c + o->offset));
            if (!json_is_array(v))
                rc = rg_err_set(err, RG_EINVAL, "%s%s: expected a string or an array of strings",
                                where, key);
            json_array_foreach(v, i, item)
            {
                if (rc != RG_OK) break;
                if (!json_is_string(item))
                    rc = rg_err_set(err, RG_EINVAL, "%s%s: expected an array of strings", where,
                                    key);
                else
                    rc = set_text(c, o, json_string_value(item), where, false, err);
            }
            json_decref(v);
            if (rc != RG_OK) break;
            continue;
        }
        if (json_is_string(v) && o->type != OPT_BOOL && o->type != OPT_INT) {
            text = json_string_value(v);
        } else if (json_is_integer(v) && (o->type == OPT_INT || o->type == OPT_SIZE)) {
            snprintf(num, sizeof num, "%lld", (long long)json_integer_value(v));
            text = num;
        } else if (json_is_boolean(v) && o->type == OPT_BOOL) {
            text = json_is_true(v) ? "true" : "false";
        } else {
            const char *want = o->type == OPT_BOOL   ? "true or false"
                               : o->type == OPT_INT  ? "an integer"
                               : o->type == OPT_SIZE ? "an integer or a size string"
                                                     : "a string";
            rc = rg_err_set(err, RG_EINVAL, "%s%s: expected %s", where, key, want);
            break;
        }
        rc = set_text(c, o, text, where, false, err);
        if (rc != RG_OK) break;
    }
    json_decref(root);
    return rc;
}

/* ---- environment ---- */

/* RUSTYGPT_CTX_SIZE → "ctx-size"; returns false if it is not an option name. */
static const struct opt *env_option(const char *name, size_t len)
{
    char lower[64];
    if (len >= sizeof lower) return NULL;
    for (size_t i = 0; i < len; i++) {
        char ch = name[i];
        lower[i] = ch == '_' ? '-' : (char)tolower((unsigned char)ch);
    }
    return find_long(lower, len);
}

static const char ENV_PREFIX[] = "RUSTYGPT_";

static int load_env(struct rg_config *c, char **env, char *err)
{
    if (!env) return RG_OK;
    for (char **e = env; *e; e++) {
        if (!rg_str_starts_with(*e, ENV_PREFIX)) continue;
        const char *name = *e + sizeof ENV_PREFIX - 1;
        const char *eq = strchr(name, '=');
        if (!eq) continue;
        const struct opt *o = env_option(name, (size_t)(eq - name));
        /* Unknown RUSTYGPT_* variables belong to other parts (tests, tools):
         * they are not options, so they are left alone. */
        if (!o || strcmp(o->name, "config") == 0) continue;
        const char *val = eq + 1;
        char where[96];
        snprintf(where, sizeof where, "RUSTYGPT_%.*s: --", (int)(eq - name), name);
        int rc;
        if (o->type == OPT_LIST) {
            struct rg_strlist *l = (struct rg_strlist *)((char *)c + o->offset);
            list_clear(l);
            rc = RG_OK;
            const char *p = val;
            while (rc == RG_OK) {
                const char *comma = strchr(p, ',');
                size_t n = comma ? (size_t)(comma - p) : strlen(p);
                if (n > 0 && list_push(l, p, n) != RG_OK)
                    rc = rg_err_set(err, RG_ENOMEM, "out of memory");
                if (!comma) break;
                p = comma + 1;
            }
        } else {
            rc = set_text(c, o, val, where, false, err);
        }
        if (rc != RG_OK) return rc;
    }
    return RG_OK;
}

static const char *env_get(char **env, const char *name)
{
    size_t n = strlen(name);
    for (char **e = env; e && *e; e++)
        if (strncmp(*e, name, n) == 0 && (*e)[n] == '=') return *e + n + 1;
    return NULL;
}

/* ---- flags ---- */

/*
 * Walks argv; calls `apply` for each option and its value. Also used in a first
 * pass to find --config before the lower layers are read.
 */
typedef int (*flag_fn)(struct rg_config *c, const struct opt *o, const char *val, bool *seen,
                       char *err);

static int walk_flags(struct rg_config *c, int argc, char **argv, flag_fn apply, char *err)
{
    bool seen[RG_ARRAY_LEN(OPTS)] = {0};
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        const struct opt *o = NULL;
        const char *val = NULL;
        char shown[80];
        if (a[0] == '-' && a[1] == '-' && a[2]) {
            const char *name = a + 2;
            const char *eq = strchr(name, '=');
            size_t len = eq ? (size_t)(eq - name) : strlen(name);
            o = find_long(name, len);
            snprintf(shown, sizeof shown, "--%.*s", (int)RG_MIN(len, 60), name);
            if (!o) {
                /* --no-offline style negation of a boolean */
                if (len > 3 && memcmp(name, "no-", 3) == 0) {
                    const struct opt *b = find_long(name + 3, len - 3);
                    if (b && b->type == OPT_BOOL && !eq) {
                        o = b;
                        val = "false";
                    }
                }
                if (!o) return rg_err_set(err, RG_EINVAL, "unknown option %s", shown);
            }
            if (!val && eq) val = eq + 1;
        } else if (a[0] == '-' && a[1] && a[1] != '-' && a[2] == '\0') {
            o = find_short(a[1]);
            snprintf(shown, sizeof shown, "-%c", a[1]);
            if (!o) return rg_err_set(err, RG_EINVAL, "unknown option %s", shown);
        } else {
            return rg_err_set(err, RG_EINVAL, "unexpected argument '%.60s'", a);
        }
        if (!val) {
            if (o->type == OPT_BOOL) {
                val = "true";
            } else {
                if (i + 1 >= argc)
                    return rg_err_set(err, RG_EINVAL, "%s: missing value (%s)", shown, o->arg);
                val = argv[++i];
            }
        }
        size_t idx = (size_t)(o - OPTS);
        int rc = apply(c, o, val, &seen[idx], err);
        if (rc != RG_OK) return rc;
    }
    return RG_OK;
}

static int apply_flag(struct rg_config *c, const struct opt *o, const char *val, bool *seen,
                      char *err)
{
    bool first = !*seen;
    *seen = true;
    return set_text(c, o, val, "--", first, err);
}

static int only_config(struct rg_config *c, const struct opt *o, const char *val, bool *seen,
                       char *err)
{
    (void)seen;
    if (strcmp(o->name, "config") != 0) return RG_OK;
    return set_text(c, o, val, "--", false, err);
}

static int ignore_all(struct rg_config *c, const struct opt *o, const char *val, bool *seen,
                      char *err)
{
    (void)c, (void)o, (void)val, (void)seen, (void)err;
    return RG_OK;
}

int rg_config_load(struct rg_config *c, int argc, char **argv, char **environ_,
                   char err[RG_ERR_SIZE])
{
    int rc = rg_config_defaults(c);
    if (rc != RG_OK) return rg_err_set(err, rc, "out of memory");
    /* Syntax errors in the flags are reported before any file is read. */
    rc = walk_flags(c, argc, argv, ignore_all, err);
    if (rc == RG_OK) {
        const char *env_cfg = env_get(environ_, "RUSTYGPT_CONFIG");
        if (env_cfg && *env_cfg)
            rc = set_text(c, find_long("config", 6), env_cfg, "RUSTYGPT_CONFIG: --", false, err);
    }
    if (rc == RG_OK) rc = walk_flags(c, argc, argv, only_config, err);
    if (rc == RG_OK && c->config_file) rc = load_file(c, c->config_file, err);
    if (rc == RG_OK) rc = load_env(c, environ_, err);
    if (rc == RG_OK) rc = walk_flags(c, argc, argv, apply_flag, err);
    if (rc == RG_OK) rc = check_values(c, err);
    if (rc != RG_OK) rg_config_free(c);
    return rc;
}

bool rg_config_wants_help(int argc, char **argv)
{
    for (int i = 0; i < argc; i++)
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) return true;
    return false;
}

void rg_config_print_help(FILE *out, const char *usage_line)
{
    if (usage_line) fprintf(out, "%s\n\n", usage_line);
    fprintf(out,
            "Options (environment RUSTYGPT_<OPTION> and --config FILE set the same; flags win):\n");
    for (size_t i = 0; i < RG_ARRAY_LEN(OPTS); i++) {
        const struct opt *o = &OPTS[i];
        char left[64];
        if (o->short_name)
            snprintf(left, sizeof left, "-%c, --%s%s%s", o->short_name, o->name, o->arg ? " " : "",
                     o->arg ? o->arg : "");
        else
            snprintf(left, sizeof left, "    --%s%s%s", o->name, o->arg ? " " : "",
                     o->arg ? o->arg : "");
        fprintf(out, "  %-30s %s", left, o->help);
        if (o->def) fprintf(out, " [default: %s]", o->def);
        if (o->type == OPT_LIST) fprintf(out, " [repeatable]");
        fputc('\n', out);
    }
    fprintf(out, "  %-30s %s\n", "-h, --help", "show this help");
}

const char *rg_config_db_url(const struct rg_config *c, char *buf, size_t size)
{
    int n = c->db ? snprintf(buf, size, "%s", c->db)
                  : snprintf(buf, size, "sqlite:%s/rustygpt.db", c->data_dir ? c->data_dir : ".");
    if (n < 0 || (size_t)n >= size) return NULL;
    return buf;
}
