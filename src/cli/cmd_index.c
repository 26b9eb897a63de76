/*
 * `rustygpt index add|list|remove|search|watch`: the knowledge library from
 * the command line, working on the database directly like `rustygpt user`
 * (the server may be running: it sees new documents at once in full-text
 * search; its vector index catches up on its next start). Indexing runs in
 * this process, with a progress bar on a terminal and plain lines otherwise.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <dirent.h>

#include "cli/cli.h"
#include "common/alloc.h"
#include "common/log.h"
#include "common/str.h"
#include "db/db.h"
#include "engine/engine.h"
#include "index/doc.h"
#include "index/library.h"

static int index_usage(FILE *out)
{
    fprintf(out,
            "usage: rustygpt index <command> [--db URL] [--data-dir DIR] [--user EMAIL]\n"
            "                      [--embedding-model ID --models-dir DIR]\n\n"
            "  add PATH... [--collection NAME]   index files (a directory: the files under it)\n"
            "  list [--collection NAME] [--json] the documents\n"
            "  remove ID                         delete a document with its chunks\n"
            "  search QUERY [--mode fulltext|vector|hybrid] [--limit N] [--json]\n"
            "  watch DIR [--collection NAME]     watch a folder and keep it indexed (until ^C)\n\n"
            "--user: whose library (default: the first admin). --embedding-model (or\n"
            "RUSTYGPT_EMBEDDING_MODEL): embed chunks and queries with that model from\n"
            "--models-dir (or RUSTYGPT_MODELS_DIR, ./models); without it, full-text only.\n");
    return out == stdout ? RG_EXIT_OK : RG_EXIT_USAGE;
}

struct flags {
    const char *db, *data_dir, *user, *collection, *mode, *model, *models_dir;
    int limit;
    bool json;
    const char *pos[64];
    int n_pos;
};

static int parse(int argc, char **argv, struct flags *f)
{
    memset(f, 0, sizeof *f);
    f->limit = 10;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char **slot = !strcmp(a, "--db")                ? &f->db
                            : !strcmp(a, "--data-dir")        ? &f->data_dir
                            : !strcmp(a, "--user")            ? &f->user
                            : !strcmp(a, "--collection")      ? &f->collection
                            : !strcmp(a, "--mode")            ? &f->mode
                            : !strcmp(a, "--embedding-model") ? &f->model
                            : !strcmp(a, "--models-dir")      ? &f->models_dir
                                                              : NULL;
        const char *lim = NULL;
        if (!strcmp(a, "--limit")) slot = &lim;
        if (slot) {
            if (i + 1 >= argc) {
                fprintf(stderr, "rustygpt index: %s needs a value\n", a);
                return -1;
            }
            *slot = argv[++i];
            int64_t v;
            if (lim) {
                if (rg_parse_i64(lim, 1, RG_SEARCH_LIMIT_MAX, &v) != RG_OK) {
                    fprintf(stderr, "rustygpt index: --limit must be 1..%d\n", RG_SEARCH_LIMIT_MAX);
                    return -1;
                }
                f->limit = (int)v;
            }
        } else if (!strcmp(a, "--json")) {
            f->json = true;
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "rustygpt index: unknown option %s\n", a);
            return -1;
        } else if (f->n_pos < 64) {
            f->pos[f->n_pos++] = a;
        } else {
            fprintf(stderr, "rustygpt index: too many arguments\n");
            return -1;
        }
    }
    if (!f->model) f->model = getenv("RUSTYGPT_EMBEDDING_MODEL");
    if (f->model && !*f->model) f->model = NULL;
    if (!f->models_dir) f->models_dir = getenv("RUSTYGPT_MODELS_DIR");
    if (!f->models_dir || !*f->models_dir) f->models_dir = "./models";
    if (!f->data_dir) f->data_dir = getenv("RUSTYGPT_DATA_DIR");
    if (!f->data_dir || !*f->data_dir) f->data_dir = "./data";
    return 0;
}

/* ---- progress ---- */

struct progress {
    bool tty;
    int64_t last_id;
    int failures;
};

static void on_progress(void *user, const struct rg_db_document *d, double f, const char *msg)
{
    struct progress *p = user;
    const char *name = d->title[0] ? d->title : d->source;
    if (f >= 0) {
        if (!p->tty) return; /* plain output: the outcome only */
        int fill = (int)(f * 30 + 0.5);
        fprintf(stderr, "\r\033[K[%.*s%*s] %3d%% %.40s: %.40s", fill,
                "##############################", 30 - fill, "", (int)(f * 100 + 0.5), name, msg);
        fflush(stderr);
        return;
    }
    if (p->tty) fprintf(stderr, "\r\033[K");
    if (d->state == RG_DB_DOC_ERROR) {
        p->failures++;
        printf("%lld\terror\t%s\t%s\n", (long long)d->id, d->source, d->error);
    } else {
        printf("%lld\t%s\t%s\t%lld chunks%s\n", (long long)d->id, rg_db_doc_state_name(d->state),
               d->source, (long long)d->n_chunks, d->embed_model[0] ? ", embedded" : "");
    }
    fflush(stdout);
}

/* ---- the pieces ---- */

struct ctx {
    struct flags f;
    struct rg_db *db;
    struct rg_engine *engine;
    struct rg_library_engine le;
    struct rg_library_embedder emb;
    struct rg_library *lib;
    struct progress prog;
    int64_t owner;
};

static int open_all(struct ctx *c, bool watch, char *err)
{
    c->db = rg_cli_open_db(c->f.db, c->f.data_dir, true, err);
    if (!c->db) return RG_EIO;
    mkdir(c->f.data_dir, 0700);
    struct rg_db_user u;
    if (c->f.user) {
        int rc = rg_db_user_by_email(c->db, c->f.user, &u, err);
        if (rc) return rg_err_set(err, rc, "no account %s", c->f.user);
        c->owner = u.id;
    } else {
        struct rg_db_user *us = NULL;
        size_t n = 0;
        int rc = rg_db_user_list(c->db, &us, &n, err);
        if (rc) return rc;
        for (size_t i = 0; i < n && !c->owner; i++)
            if (!strcmp(us[i].role, "admin") && !us[i].disabled) c->owner = us[i].id;
        rg_free(us);
        if (!c->owner)
            return rg_err_set(err, RG_ENOTFOUND,
                              "no admin account yet: make one with `rustygpt "
                              "user add EMAIL`, or give --user EMAIL");
    }
    struct rg_library_params p;
    rg_library_default_params(&p);
    p.db = c->db;
    p.data_dir = c->f.data_dir;
    p.watch = watch;
    p.inline_progress = on_progress;
    p.inline_user = &c->prog;
    const char *deb = getenv("RUSTYGPT_TEST_DEBOUNCE_MS");
    int64_t ms;
    if (deb && rg_parse_i64(deb, 1, 600000, &ms) == RG_OK) p.debounce_ms = (int)ms;
    if (c->f.model) {
        struct rg_engine_params ep = rg_engine_default_params();
        ep.models_dir = c->f.models_dir;
        ep.n_slots = 1;
        c->engine = rg_engine_new(&ep, err);
        if (!c->engine) return RG_ENOMEM;
        rg_library_engine_embedder(&c->le, c->engine, c->f.model, &c->emb);
        p.embedder = &c->emb;
    }
    c->lib = rg_library_new(&p, err);
    c->prog.tty = isatty(STDERR_FILENO);
    return c->lib ? RG_OK : RG_EIO;
}

static void close_all(struct ctx *c)
{
    rg_library_free(c->lib);
    rg_engine_free(c->engine);
    rg_db_close(c->db);
}

static int collection_id(struct ctx *c, const char *name, int64_t *id, char *err)
{
    return rg_library_collection_named(c->lib, c->owner, name, id, err);
}

static int add_one(struct ctx *c, int64_t col, const char *path, int depth)
{
    struct stat st;
    char err[RG_ERR_SIZE];
    if (stat(path, &st) != 0) {
        fprintf(stderr, "rustygpt index add: %s: no such file\n", path);
        c->prog.failures++;
        return 0;
    }
    if (S_ISDIR(st.st_mode)) {
        if (depth > 32) return 0;
        DIR *d = opendir(path);
        struct dirent *e;
        while (d && (e = readdir(d)) != NULL) {
            if (e->d_name[0] == '.') continue;
            char sub[4096];
            if (snprintf(sub, sizeof sub, "%s/%s", path, e->d_name) >= (int)sizeof sub) continue;
            struct stat s2;
            if (stat(sub, &s2) != 0) continue;
            if (S_ISREG(s2.st_mode)) { /* documents only: skip images, audio... */
                unsigned char head[512];
                FILE *fp = fopen(sub, "rb");
                size_t n = fp ? fread(head, 1, sizeof head, fp) : 0;
                if (fp) fclose(fp);
                if (rg_doc_format_detect(sub, head, n) == RG_DOC_FORMAT_UNKNOWN) continue;
            }
            add_one(c, col, sub, depth + 1);
        }
        if (d) closedir(d);
        return 0;
    }
    if (!S_ISREG(st.st_mode)) return 0;
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        fprintf(stderr, "rustygpt index add: cannot read %s\n", path);
        c->prog.failures++;
        return 0;
    }
    size_t size = (size_t)st.st_size;
    char *data = size ? rg_malloc(size) : NULL;
    size_t got = data ? fread(data, 1, size, fp) : 0;
    fclose(fp);
    if (!size || got != size) {
        fprintf(stderr, "rustygpt index add: %s: %s\n", path, size ? "cannot read" : "empty");
        rg_free(data);
        c->prog.failures++;
        return 0;
    }
    struct rg_db_document d;
    int64_t job;
    int rc = rg_library_upload(c->lib, c->owner, col, path, data, size, NULL, &d, &job, err);
    rg_free(data);
    if (rc) {
        fprintf(stderr, "rustygpt index add: %s: %s\n", path, err);
        c->prog.failures++;
    }
    return 0;
}

static volatile sig_atomic_t g_stop;
static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

int rg_cmd_index(int argc, char **argv)
{
    if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")))
        return index_usage(stdout);
    struct ctx c = {0};
    if (parse(argc, argv, &c.f) != 0 || c.f.n_pos < 1) return index_usage(stderr);
    const char *cmd = c.f.pos[0];
    bool add = !strcmp(cmd, "add"), list = !strcmp(cmd, "list"), rm = !strcmp(cmd, "remove"),
         find = !strcmp(cmd, "search"), watch = !strcmp(cmd, "watch");
    if (!(add || list || rm || find || watch)) return index_usage(stderr);
    if ((add && c.f.n_pos < 2) || ((rm || find || watch) && c.f.n_pos != 2) ||
        (list && c.f.n_pos != 1))
        return index_usage(stderr);
    int mode = RG_SEARCH_HYBRID;
    if (c.f.mode && (mode = rg_search_mode_parse(c.f.mode)) < 0) {
        fprintf(stderr, "rustygpt index: --mode must be fulltext, vector or hybrid\n");
        return RG_EXIT_USAGE;
    }
    int64_t rm_id = 0;
    if (rm && rg_parse_i64(c.f.pos[1], 1, INT64_MAX, &rm_id) != RG_OK) {
        fprintf(stderr, "rustygpt index remove: '%s' is not a document id\n", c.f.pos[1]);
        return RG_EXIT_USAGE;
    }
    char err[RG_ERR_SIZE] = "";
    rg_log_set_level(RG_LOG_WARN); /* the engine's per-request lines would drown the output */
    if (open_all(&c, watch, err) != RG_OK) {
        fprintf(stderr, "rustygpt index %s: %s\n", cmd, err);
        close_all(&c);
        return RG_EXIT_FAIL;
    }
    int exit_code = RG_EXIT_OK;
    int64_t col = 0;
    if ((add || (list && c.f.collection)) &&
        collection_id(&c, c.f.collection ? c.f.collection : "Uploads", &col, err) != RG_OK) {
        fprintf(stderr, "rustygpt index %s: %s\n", cmd, err);
        close_all(&c);
        return RG_EXIT_FAIL;
    }
    if (add) {
        for (int i = 1; i < c.f.n_pos; i++)
            add_one(&c, col, c.f.pos[i], 0);
        if (c.prog.failures) exit_code = RG_EXIT_FAIL;
    } else if (list) {
        struct rg_db_doc_filter flt = {.collection_id = col, .state = -1, .limit = 1000};
        for (int off = 0;; off += 1000) {
            flt.offset = off;
            struct rg_db_document *ds = NULL;
            size_t n = 0;
            bool more = false;
            if (rg_db_doc_list(c.db, c.owner, &flt, &ds, &n, &more, err) != RG_OK) {
                fprintf(stderr, "rustygpt index list: %s\n", err);
                exit_code = RG_EXIT_FAIL;
                break;
            }
            for (size_t i = 0; i < n; i++) {
                const struct rg_db_document *d = &ds[i];
                if (c.f.json) {
                    json_t *o = json_pack(
                        "{s:I, s:I, s:s, s:s, s:s, s:s, s:I, s:s}", "id", (json_int_t)d->id,
                        "collection_id", (json_int_t)d->collection_id, "source", d->source, "title",
                        d->title, "format", d->format, "state", rg_db_doc_state_name(d->state),
                        "chunks", (json_int_t)d->n_chunks, "error", d->error);
                    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
                    if (s) printf("%s\n", s);
                    free(s);
                    json_decref(o);
                } else {
                    printf("%lld\t%s\t%lld chunks\t%s%s%s\n", (long long)d->id,
                           rg_db_doc_state_name(d->state), (long long)d->n_chunks, d->source,
                           d->error[0] ? "\t" : "", d->error);
                }
            }
            rg_free(ds);
            if (!more) break;
        }
    } else if (rm) {
        if (rg_library_remove(c.lib, c.owner, rm_id, err) != RG_OK) {
            fprintf(stderr, "rustygpt index remove: %s\n", err[0] ? err : "no such document");
            exit_code = RG_EXIT_FAIL;
        } else {
            printf("removed %lld\n", (long long)rm_id);
        }
    } else if (find) {
        struct rg_search_query q = {.user = c.owner,
                                    .q = c.f.pos[1],
                                    .mode = (enum rg_search_mode)mode,
                                    .limit = c.f.limit};
        if (!rg_library_model(c.lib) && !c.f.mode) q.mode = RG_SEARCH_FULLTEXT;
        struct rg_search_result res = {0};
        if (rg_library_search(c.lib, &q, &res, err) != RG_OK) {
            fprintf(stderr, "rustygpt index search: %s\n", err);
            exit_code = RG_EXIT_FAIL;
        } else {
            if (res.degraded)
                fprintf(stderr, "no embedding model: full-text search only; set "
                                "--embedding-model\n");
            for (size_t i = 0; i < res.n; i++) {
                const struct rg_db_chunk_hit *h = &res.hits[i].c;
                char snip[RG_DB_LIB_SNIPPET_MAX * 2 + 16];
                size_t k = 0;
                for (const char *s = h->snippet; *s && k + 3 < sizeof snip; s++) {
                    if (*s == '\x02' || *s == '\x03')
                        snip[k++] = '*'; /* the marks as *word* */
                    else
                        snip[k++] = *s == '\n' ? ' ' : *s;
                }
                snip[k] = '\0';
                if (c.f.json) {
                    json_t *o = json_pack(
                        "{s:I, s:I, s:f, s:s, s:s, s:s, s:s}", "chunk_id", (json_int_t)h->chunk_id,
                        "document_id", (json_int_t)h->doc_id, "score", res.hits[i].score, "title",
                        h->title, "source", h->source, "heading", h->heading, "snippet", snip);
                    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
                    if (s) printf("%s\n", s);
                    free(s);
                    json_decref(o);
                } else {
                    printf("%zu. %s%s%s (chunk %lld, score %.4f)\n   %s\n", i + 1, h->title,
                           h->heading[0] ? " > " : "", h->heading, (long long)h->chunk_id,
                           res.hits[i].score, snip);
                }
            }
            rg_search_result_free(&res);
        }
    } else if (watch) {
        struct rg_db_lib_folder fo;
        int64_t wcol = 0;
        int rc = c.f.collection ? collection_id(&c, c.f.collection, &wcol, err) : RG_OK;
        if (!rc) rc = rg_library_folder_add(c.lib, c.owner, c.f.pos[1], wcol, &fo, err);
        if (rc == RG_EEXISTS) { /* watched before: start it with the others */
            rc = RG_OK;
        }
        if (!rc) rc = rg_library_start(c.lib, err); /* catch-up of every folder, then watches */
        if (rc) {
            fprintf(stderr, "rustygpt index watch: %s\n", err);
            exit_code = RG_EXIT_FAIL;
        } else {
            signal(SIGINT, on_signal);
            signal(SIGTERM, on_signal);
            fprintf(stderr, "watching %s (^C to stop)\n", c.f.pos[1]);
            while (!g_stop)
                pause();
        }
    }
    close_all(&c);
    return exit_code;
}
