/*
 * Ollama's model upkeep and embedding routes, what the clients' model
 * settings pages call: /api/embed and /api/embeddings (Continue's indexing,
 * Open WebUI's RAG), /api/pull (their pull buttons), /api/delete,
 * /api/copy, /api/create. Models are the files of --models-dir, so these
 * are file operations there; a pull is `rustygpt pull` itself, run as a
 * child of the server with its progress read back as Ollama's status lines
 * (one download code, one place that enforces --offline). Changing the
 * models is for admins once accounts exist; before that, for whoever the
 * route lets in (the --api-key holder, or anyone on loopback without one).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "api/api_internal.h"
#include "common/alloc.h"
#include "common/str.h"
#include "db/db.h"
#include "net/net.h"

extern char **environ;

static void plain(struct rg_http_req *r, int status, const char *msg)
{
    rg_http_reply_json(r, status, json_pack("{s:s}", "error", msg));
}

/* ---- embeddings ---- */

/* /api/embed: {"model", "input": string or strings} -> {"embeddings": [...]}. */
static void ollama_embed(struct rg_http_req *r, void *ctx)
{
    rg_http_req_plain_errors(r);
    json_t *body = rg_http_req_json(r);
    if (!body) return;
    const char *id = json_string_value(json_object_get(body, "model"));
    if (!id) {
        plain(r, 400, "'model' is required");
        return;
    }
    rg_api_embed_inputs(r, ctx, id, json_object_get(body, "input"), "input", RG_API_EMBED_OLLAMA);
}

/* /api/embeddings, the older one: {"model", "prompt"} -> {"embedding": [...]}. */
static void ollama_embeddings(struct rg_http_req *r, void *ctx)
{
    rg_http_req_plain_errors(r);
    json_t *body = rg_http_req_json(r);
    if (!body) return;
    const char *id = json_string_value(json_object_get(body, "model"));
    json_t *prompt = json_object_get(body, "prompt");
    if (!id) {
        plain(r, 400, "'model' is required");
        return;
    }
    if (!json_is_string(prompt)) {
        plain(r, 400, "'prompt' must be a string");
        return;
    }
    rg_api_embed_inputs(r, ctx, id, prompt, "prompt", RG_API_EMBED_OLLAMA_ONE);
}

/* ---- who may change the models, and which names ---- */

/* With accounts, only an admin; without, whoever got past the route's key
 * check. False when refused (replied). */
static bool may_manage(struct rg_http_req *r, struct rg_api_state *st)
{
    int64_t users = 0;
    char err[RG_ERR_SIZE];
    if (st->db && rg_db_user_count(st->db, &users, err) != RG_OK) {
        plain(r, 500, "cannot count the accounts");
        return false;
    }
    const struct rg_principal *who = rg_http_req_principal(r);
    if (users == 0 || (who && who->role >= RG_ROLE_ADMIN)) return true;
    plain(r, 403, "changing the models needs an admin once accounts exist");
    return false;
}

/* The file in the models dir of an Ollama name (":latest" dropped); false
 * for a name that would leave the dir or is not a plain file name. */
static bool dir_file(const struct rg_api_state *st, const char *name, char *out, size_t n)
{
    char cb[256];
    const char *id = name ? rg_engine_model_id_canon(name, cb, sizeof cb) : NULL;
    if (!id || !*id || id[0] == '.' || strchr(id, '/') || strstr(id, "..") || strlen(id) > 200)
        return false;
    int w = snprintf(out, n, "%s/%s.gguf", st->cfg->models_dir, id);
    return w > 0 && (size_t)w < n;
}

/* Is path one of the -m files (never deleted or replaced from here)? */
static bool given_with_m(const struct rg_api_state *st, const char *path)
{
    char a[4096], b[4096];
    if (!realpath(path, a)) return false;
    for (size_t i = 0; i < st->cfg->models.n; i++)
        if (realpath(st->cfg->models.v[i], b) && !strcmp(a, b)) return true;
    return false;
}

/* Copies the file src to a new file dst (a hard link when it can). */
static int copy_file(const char *src, const char *dst)
{
    if (linkat(AT_FDCWD, src, AT_FDCWD, dst, AT_SYMLINK_FOLLOW) == 0) return RG_OK;
    if (errno == EEXIST) return RG_EEXISTS;
    int in = open(src, O_RDONLY | O_CLOEXEC);
    if (in < 0) return RG_EIO;
    int out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (out < 0) {
        close(in);
        return errno == EEXIST ? RG_EEXISTS : RG_EIO;
    }
    char buf[1 << 16];
    ssize_t k;
    int rc = RG_OK;
    while (rc == RG_OK && (k = read(in, buf, sizeof buf)) != 0) {
        if (k < 0 || write(out, buf, (size_t)k) != k) rc = RG_EIO;
    }
    if (close(out) != 0) rc = RG_EIO;
    close(in);
    if (rc != RG_OK) unlink(dst);
    return rc;
}

/* source (any model, -m ones too) to a new name in the models dir. */
static void copy_model(struct rg_http_req *r, struct rg_api_state *st, const char *source,
                       const char *dest)
{
    char from[4096], to[4096];
    if (!source || !rg_engine_model_path(st->engine, source, from, sizeof from)) {
        plain(r, 404, "model not found");
        return;
    }
    if (!dir_file(st, dest, to, sizeof to)) {
        plain(r, 400, "the new name must be a plain model name (no '/', '..' or leading '.')");
        return;
    }
    int rc = copy_file(from, to);
    if (rc == RG_EEXISTS)
        plain(r, 409, "a model of that name exists; delete it first");
    else if (rc != RG_OK)
        plain(r, 500, "cannot write the copy in the models dir");
    else
        rg_http_reply(r, 200, "application/json", "{}", 2);
}

/* /api/copy: {"source", "destination"}. */
static void ollama_copy(struct rg_http_req *r, void *ctx)
{
    rg_http_req_plain_errors(r);
    json_t *body = rg_http_req_json(r);
    if (!body || !may_manage(r, ctx)) return;
    copy_model(r, ctx, json_string_value(json_object_get(body, "source")),
               json_string_value(json_object_get(body, "destination")));
}

/* /api/create: a new name for an existing model ("from"). Modelfile
 * settings would need a place to keep them beside the file: refused by
 * name, so that nobody thinks they took. */
static void ollama_create(struct rg_http_req *r, void *ctx)
{
    rg_http_req_plain_errors(r);
    json_t *body = rg_http_req_json(r);
    if (!body || !may_manage(r, ctx)) return;
    static const char *const unsupported[] = {"files",    "adapters",   "template",
                                              "system",   "parameters", "messages",
                                              "quantize", "license",    "modelfile"};
    for (size_t i = 0; i < RG_ARRAY_LEN(unsupported); i++) {
        json_t *v = json_object_get(body, unsupported[i]);
        if (v && !json_is_null(v) && !(json_is_string(v) && !json_string_length(v))) {
            char msg[200];
            snprintf(msg, sizeof msg,
                     "'%s' is not supported: /api/create makes a copy of an existing model "
                     "('from') under a new name",
                     unsupported[i]);
            plain(r, 400, msg);
            return;
        }
    }
    const char *name = json_string_value(json_object_get(body, "model"));
    if (!name) name = json_string_value(json_object_get(body, "name"));
    const char *from = json_string_value(json_object_get(body, "from"));
    if (!from) {
        plain(r, 400, "'from' is required: the model to create the new one from");
        return;
    }
    json_t *stream = json_object_get(body, "stream");
    char to[4096], from_path[4096];
    if (!rg_engine_model_path(((struct rg_api_state *)ctx)->engine, from, from_path,
                              sizeof from_path)) {
        plain(r, 404, "model not found");
        return;
    }
    if (!dir_file(ctx, name, to, sizeof to)) {
        plain(r, 400, "'model' must be a plain model name (no '/', '..' or leading '.')");
        return;
    }
    int rc = copy_file(from_path, to);
    if (rc == RG_EEXISTS) {
        plain(r, 409, "a model of that name exists; delete it first");
    } else if (rc != RG_OK) {
        plain(r, 500, "cannot write the model in the models dir");
    } else if (json_is_false(stream)) {
        rg_http_reply_json(r, 200, json_pack("{s:s}", "status", "success"));
    } else {
        static const char lines[] = "{\"status\":\"using existing layer\"}\n"
                                    "{\"status\":\"writing manifest\"}\n"
                                    "{\"status\":\"success\"}\n";
        rg_http_reply(r, 200, "application/x-ndjson", lines, sizeof lines - 1);
    }
}

/* /api/delete: {"model"}: its file in the models dir (not a -m file). */
static void ollama_delete(struct rg_http_req *r, void *ctx)
{
    struct rg_api_state *st = ctx;
    rg_http_req_plain_errors(r);
    json_t *body = rg_http_req_json(r);
    if (!body || !may_manage(r, st)) return;
    const char *name = json_string_value(json_object_get(body, "model"));
    if (!name) name = json_string_value(json_object_get(body, "name"));
    char path[4096];
    struct stat sb;
    if (!dir_file(st, name, path, sizeof path) || lstat(path, &sb) != 0) {
        plain(r, 404, "model not found");
        return;
    }
    if (given_with_m(st, path)) {
        plain(r, 400, "this model was given with -m: remove it from the command line instead");
        return;
    }
    char cb[256];
    rg_engine_set_keep_alive(st->engine, rg_engine_model_id_canon(name, cb, sizeof cb), 0);
    if (unlink(path) != 0) {
        plain(r, 500, "cannot delete the model file");
        return;
    }
    rg_http_reply(r, 200, "application/json", "{}", 2);
}

/* ---- pull ---- */

/* Downloads at once: each is a process and a connection out. */
#define MAX_PULLS 4
static atomic_int pulls_running;

struct pull {
    struct rg_sse *out;
    pid_t pid;
    int fd; /* the child's stderr */
    bool stream;
    char name[256];
};

static bool write_line(struct pull *p, json_t *o)
{
    char *t = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    bool ok =
        t && rg_sse_write(p->out, t, strlen(t)) == RG_OK && rg_sse_write(p->out, "\n", 1) == RG_OK;
    rg_free(t);
    return ok;
}

/* Reads the child's lines: {"total","completed"} become Ollama's progress
 * lines, anything else is its message (the last one is the error). */
static void *pull_thread(void *arg)
{
    struct pull *p = arg;
    char line[4096], last[512] = "the download failed";
    size_t n = 0;
    bool alive = !p->stream || write_line(p, json_pack("{s:s}", "status", "pulling manifest"));
    FILE *f = fdopen(p->fd, "r");
    int c;
    while (f && (c = fgetc(f)) != EOF) {
        if (c != '\n') {
            if (n < sizeof line - 1) line[n++] = (char)c;
            continue;
        }
        line[n] = '\0';
        n = 0;
        json_t *j = line[0] == '{' ? json_loads(line, 0, NULL) : NULL;
        if (j && alive && p->stream) {
            json_int_t total = json_integer_value(json_object_get(j, "total"));
            json_t *o =
                json_pack("{s:s+, s:s, s:I}", "status", "pulling ", p->name, "digest", p->name,
                          "completed", json_integer_value(json_object_get(j, "completed")));
            if (o && total > 0) json_object_set_new(o, "total", json_integer(total));
            alive = write_line(p, o);
        } else if (!j && line[0]) {
            const char *m = rg_str_starts_with(line, "rustygpt pull: ") ? line + 15 : line;
            if (!rg_str_starts_with(m, "saved ") && !rg_str_starts_with(m, "sha256 "))
                snprintf(last, sizeof last, "%.500s", m);
        }
        json_decref(j);
        if (rg_net_offline()) snprintf(last, sizeof last, RG_NET_OFFLINE_MSG ": pull stopped");
        /* the partial stays for a retry */
        if ((!alive || rg_net_offline()) && p->pid > 0) kill(p->pid, SIGTERM);
    }
    if (f) fclose(f);
    int status = 0;
    bool ok =
        waitpid(p->pid, &status, 0) == p->pid && WIFEXITED(status) && WEXITSTATUS(status) == 0;
    if (alive && ok && p->stream) {
        write_line(p, json_pack("{s:s}", "status", "verifying sha256 digest"));
        write_line(p, json_pack("{s:s}", "status", "writing manifest"));
    }
    if (alive)
        write_line(p, ok ? json_pack("{s:s}", "status", "success")
                         : json_pack("{s:s}", "error", last));
    rg_sse_end(p->out);
    rg_free(p);
    atomic_fetch_sub(&pulls_running, 1);
    return NULL;
}

/* /api/pull: {"model": URL or hf:OWNER/REPO/FILE.gguf}, streamed as
 * Ollama's status lines unless "stream": false. */
static void ollama_pull(struct rg_http_req *r, void *ctx)
{
    struct rg_api_state *st = ctx;
    rg_http_req_plain_errors(r);
    json_t *body = rg_http_req_json(r);
    if (!body || !may_manage(r, st)) return;
    char nerr[RG_ERR_SIZE];
    if (rg_net_allowed("a model pull", nerr) != RG_OK) {
        rg_http_reply_json(r, 503, json_pack("{s:s, s:s}", "error", nerr, "code", "offline"));
        return;
    }
    const char *ref = json_string_value(json_object_get(body, "model"));
    if (!ref) ref = json_string_value(json_object_get(body, "name"));
    if (!ref || !(rg_str_starts_with(ref, "http://") || rg_str_starts_with(ref, "https://") ||
                  rg_str_starts_with(ref, "hf:"))) {
        plain(r, 400,
              "'model' must be the URL of a .gguf file or hf:OWNER/REPO/FILE.gguf (this server "
              "has no model registry of its own; see docs/pull.md)");
        return;
    }
    if (strlen(ref) > 4000) {
        plain(r, 400, "'model' is too long");
        return;
    }
    if (atomic_fetch_add(&pulls_running, 1) >= MAX_PULLS) {
        atomic_fetch_sub(&pulls_running, 1);
        rg_http_set_header(r, "Retry-After", "10");
        plain(r, 429, "too many downloads at once; try again when one has finished");
        return;
    }
    struct pull *p = rg_calloc(1, sizeof *p);
    if (!p) {
        atomic_fetch_sub(&pulls_running, 1);
        plain(r, 500, "out of memory");
        return;
    }
    p->stream = !json_is_false(json_object_get(body, "stream"));
    const char *base = strrchr(ref, '/');
    snprintf(p->name, sizeof p->name, "%s", base ? base + 1 : ref);
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) {
        rg_free(p);
        atomic_fetch_sub(&pulls_running, 1);
        plain(r, 500, "cannot start the download");
        return;
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 2);
    posix_spawn_file_actions_addclosefrom_np(&fa, 3); /* none of the server's files */
    char *argv[] = {"rustygpt",        "pull", (char *)ref, "--models-dir", st->cfg->models_dir,
                    "--progress-json", NULL};
    int src = posix_spawn(&p->pid, "/proc/self/exe", &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(fds[1]);
    if (src != 0) {
        close(fds[0]);
        rg_free(p);
        atomic_fetch_sub(&pulls_running, 1);
        plain(r, 500, "cannot start the download");
        return;
    }
    p->fd = fds[0];
    p->out = rg_http_stream_start(r, 200, p->stream ? "application/x-ndjson" : "application/json");
    pthread_t t;
    if (!p->out || pthread_create(&t, NULL, pull_thread, p) != 0) {
        kill(p->pid, SIGTERM);
        waitpid(p->pid, NULL, 0);
        close(p->fd);
        if (p->out) rg_sse_end(p->out);
        rg_free(p);
        atomic_fetch_sub(&pulls_running, 1);
        return;
    }
    pthread_detach(t);
}

size_t rg_api_ollama_manage_routes(struct rg_route *out, size_t max, struct rg_api_state *st)
{
    const unsigned K = RG_ROUTE_API_KEY;
    const struct rg_route routes[] = {
        {RG_HTTP_POST, "/api/embed", ollama_embed, st, RG_ROLE_PUBLIC, K, "ollama",
         "Embeddings of one input or many: {\"embeddings\": [[...], ...]}",
         "{\"type\":\"object\",\"required\":[\"model\",\"input\"]}", "{\"type\":\"object\"}"},
        {RG_HTTP_POST, "/api/embeddings", ollama_embeddings, st, RG_ROLE_PUBLIC, K, "ollama",
         "Embedding of one prompt (Ollama's older route): {\"embedding\": [...]}",
         "{\"type\":\"object\",\"required\":[\"model\",\"prompt\"]}", "{\"type\":\"object\"}"},
        {RG_HTTP_POST, "/api/pull", ollama_pull, st, RG_ROLE_PUBLIC, K | RG_ROUTE_STREAM, "ollama",
         "Download a model (a .gguf URL or hf:OWNER/REPO/FILE.gguf) with progress lines, as "
         "`rustygpt pull` does; refused while offline (503, code offline); admins only once "
         "accounts exist",
         "{\"type\":\"object\",\"required\":[\"model\"]}", "{\"type\":\"object\"}"},
        {RG_HTTP_DELETE, "/api/delete", ollama_delete, st, RG_ROLE_PUBLIC, K, "ollama",
         "Delete a model file of the models dir; admins only once accounts exist",
         "{\"type\":\"object\",\"required\":[\"model\"]}", "{\"type\":\"object\"}"},
        {RG_HTTP_POST, "/api/copy", ollama_copy, st, RG_ROLE_PUBLIC, K, "ollama",
         "Copy a model under a new name; admins only once accounts exist",
         "{\"type\":\"object\",\"required\":[\"source\",\"destination\"]}",
         "{\"type\":\"object\"}"},
        {RG_HTTP_POST, "/api/create", ollama_create, st, RG_ROLE_PUBLIC, K, "ollama",
         "A new name for an existing model (\"from\"); Modelfile settings are refused; admins "
         "only once accounts exist",
         "{\"type\":\"object\",\"required\":[\"model\",\"from\"]}", "{\"type\":\"object\"}"},
    };
    size_t n = RG_MIN(max, RG_ARRAY_LEN(routes));
    memcpy(out, routes, n * sizeof *routes);
    return n;
}
