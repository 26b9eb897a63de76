/*
 * The library service (library.h): documents in, chunks and vectors out.
 * Sections: the object and its threads; files (paths, hashes, uploads); the
 * indexing run; watched folders (reconciling paths with the index); jobs;
 * search and status.
 */
#include "index/library.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "common/alloc.h"
#include "common/log.h"
#include "common/str.h"
#include "index/chunk.h"
#include "index/doc.h"
#include "index/vec.h"
#include "index/watch.h"
#include "jobs/jobs.h"

#define MAX_WATCHES 64
#define MAX_ACTIVE 64
#define SCAN_DEPTH 64
#define PAGE 1000
#define VEC_SAVE_MS 10000
#define MAX_CHUNKS 2000000    /* chunks of one file */
#define MAX_TEXT (1024 << 20) /* bytes of one file's chunks */

struct watched {
    int64_t folder_id, owner, collection;
    char root[PATH_MAX];
    struct rg_watch *w;
    struct rg_library *lib;
};

struct rg_library {
    struct rg_library_params p;
    char data_dir[PATH_MAX];
    struct rg_library_embedder emb;
    bool has_emb;
    char model[128];
    char **folders; /* --library, copied */
    size_t n_folders;
    bool folders_pending; /* --library folders not yet added (no admin yet) */

    pthread_mutex_t mu; /* guards everything below */
    pthread_cond_t cv;
    struct watched *watches[MAX_WATCHES];
    size_t n_watches;
    int64_t active[MAX_ACTIVE]; /* documents being indexed now */
    size_t n_active;
    struct rg_vec *vec; /* the embedding model's index, opened on first need */
    int dim;
    bool vec_dirty;
    double vec_saved_ms;
    bool started, stopping;
    pthread_t upkeep;
    bool upkeep_on;
};

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void rg_library_default_params(struct rg_library_params *p)
{
    *p = (struct rg_library_params){
        .debounce_ms = 1000,
        .max_file_bytes = 256ull << 20,
        .chunk_tokens = 256,
        .overlap_tokens = 32,
        .embed_batch = 16,
    };
}

const char *rg_library_model(const struct rg_library *lib)
{
    return lib->has_emb ? lib->model : NULL;
}

/* ---- files ------------------------------------------------------------------------- */

static int mkdirs(const char *path)
{
    char tmp[PATH_MAX];
    if (rg_strlcpy(tmp, path, sizeof tmp) >= sizeof tmp) return RG_EINVAL;
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(tmp, 0700) != 0 && errno != EEXIST) return RG_EIO;
        *p = '/';
    }
    return mkdir(tmp, 0700) == 0 || errno == EEXIST ? RG_OK : RG_EIO;
}

/* SHA-256 of a file as hex into hex[65]. */
static int hash_file(const char *path, uint64_t max, char hex[65], char *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return rg_err_set(err, RG_EIO, "%s: %s", path, strerror(errno));
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    int rc = c && EVP_DigestInit_ex(c, EVP_sha256(), NULL) ? RG_OK : RG_ENOMEM;
    static __thread unsigned char buf[1 << 16];
    uint64_t total = 0;
    while (rc == RG_OK) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) rc = rg_err_set(err, RG_EIO, "%s: %s", path, strerror(errno));
        if (n <= 0) break;
        total += (uint64_t)n;
        if (total > max)
            rc =
                rg_err_set(err, RG_ETOOBIG, "file larger than %llu bytes", (unsigned long long)max);
        else if (!EVP_DigestUpdate(c, buf, (size_t)n))
            rc = RG_ENOMEM;
    }
    unsigned char md[32];
    unsigned mdlen = 0;
    if (rc == RG_OK && !EVP_DigestFinal_ex(c, md, &mdlen)) rc = RG_ENOMEM;
    EVP_MD_CTX_free(c);
    close(fd);
    if (rc == RG_ENOMEM) return rg_err_set(err, RG_ENOMEM, "out of memory");
    if (rc) return rc;
    for (unsigned i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    return RG_OK;
}

/* A file name safe on disk: the last path component of name, bytes other
 * than [A-Za-z0-9._-] as '_', no leading dot, at most 100 bytes. */
static void safe_name(const char *name, char *out, size_t size)
{
    const char *b = strrchr(name, '/');
    b = b ? b + 1 : name;
    const char *bs = strrchr(b, '\\');
    b = bs ? bs + 1 : b;
    size_t k = 0;
    for (const char *c = b; *c && k + 1 < size && k < 100; c++) {
        unsigned char ch = (unsigned char)*c;
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                  (ch >= '0' && ch <= '9') || ch == '.' || ch == '-' || ch == '_';
        out[k++] = ok ? (char)ch : '_';
    }
    out[k] = '\0';
    if (!k) rg_strlcpy(out, "upload", size);
    if (out[0] == '.') out[0] = '_';
}

static void upload_path(const struct rg_library *lib, int64_t owner, int64_t id, const char *source,
                        char *out, size_t size)
{
    char safe[128];
    safe_name(source, safe, sizeof safe);
    if (snprintf(out, size, "%s/library/%lld/%lld-%s", lib->data_dir, (long long)owner,
                 (long long)id, safe) >= (int)size)
        out[0] = '\0';
}

/* path is root or under it (both real paths). */
static bool inside(const char *root, const char *path)
{
    size_t n = strlen(root);
    if (n == 1 && root[0] == '/') return true;
    return !strncmp(root, path, n) && (path[n] == '\0' || path[n] == '/');
}

/* The format a file would be parsed as; UNKNOWN for files a folder skips. */
static enum rg_doc_format sniff(const char *path)
{
    unsigned char head[512];
    ssize_t n = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        n = read(fd, head, sizeof head);
        close(fd);
    }
    return rg_doc_format_detect(path, head, n > 0 ? (size_t)n : 0);
}

/* ---- the vector index -------------------------------------------------------------- */

static void vec_path(const struct rg_library *lib, char *out, size_t size)
{
    char safe[128];
    safe_name(lib->model, safe, sizeof safe);
    if (snprintf(out, size, "%s/library/vectors-%s.vec", lib->data_dir, safe) >= (int)size)
        out[0] = '\0';
}

/* Opens the index for dim (under lib->mu). */
static int vec_ensure_locked(struct rg_library *lib, int dim, char *err)
{
    if (lib->vec) {
        if (lib->dim != dim)
            return rg_err_set(err, RG_EINVAL,
                              "the embedding model gives %d dimensions, the index "
                              "holds %d",
                              dim, lib->dim);
        return RG_OK;
    }
    struct rg_vec_params vp;
    rg_vec_default_params(&vp);
    vp.dim = dim;
    vp.model = lib->model;
    char path[PATH_MAX + 64];
    vec_path(lib, path, sizeof path);
    bool rebuilt = false;
    char verr[RG_ERR_SIZE] = "";
    lib->vec = rg_vec_open(&vp, path, lib->p.db, &rebuilt, verr);
    if (!lib->vec) return rg_err_set(err, RG_EIO, "vector index: %s", verr);
    if (verr[0]) rg_log(RG_LOG_WARN, "vector index not saved", "error", 's', verr, RG_LOG_END);
    lib->dim = dim;
    lib->vec_saved_ms = now_ms();
    return RG_OK;
}

static void vec_save_locked(struct rg_library *lib, bool force)
{
    if (!lib->vec || !lib->vec_dirty) return;
    if (!force && now_ms() - lib->vec_saved_ms < VEC_SAVE_MS) return;
    int64_t count = 0, max_id = 0;
    char err[RG_ERR_SIZE] = "", path[PATH_MAX + 64];
    vec_path(lib, path, sizeof path);
    if (rg_db_vec_stats(lib->p.db, lib->model, &count, &max_id, err) == RG_OK &&
        rg_vec_save(lib->vec, path, count, max_id, err) == RG_OK) {
        lib->vec_dirty = false;
    } else {
        rg_log(RG_LOG_WARN, "cannot save the vector index", "error", 's', err, RG_LOG_END);
    }
    lib->vec_saved_ms = now_ms();
}

/* The index, opened (holding the model once to learn its size) if need be;
 * NULL without a model or when it cannot open. */
static struct rg_vec *vec_get(struct rg_library *lib, char *err)
{
    if (!lib->has_emb) return NULL;
    pthread_mutex_lock(&lib->mu);
    struct rg_vec *v = lib->vec;
    pthread_mutex_unlock(&lib->mu);
    if (v) return v;
    void *s = NULL;
    int dim = 0;
    size_t max_tokens = 0;
    if (lib->emb.hold(lib->emb.user, &s, &dim, &max_tokens, err) != RG_OK) return NULL;
    lib->emb.release(s);
    pthread_mutex_lock(&lib->mu);
    if (vec_ensure_locked(lib, dim, err) == RG_OK) v = lib->vec;
    pthread_mutex_unlock(&lib->mu);
    return v;
}

/* ---- the indexing run -------------------------------------------------------------- */

/* One document indexed at a time: a second run of the same one waits. */
static void active_enter(struct rg_library *lib, int64_t id)
{
    pthread_mutex_lock(&lib->mu);
    for (;;) {
        bool busy = false;
        for (size_t i = 0; i < lib->n_active; i++)
            busy |= lib->active[i] == id;
        if (!busy && lib->n_active < MAX_ACTIVE) break;
        pthread_cond_wait(&lib->cv, &lib->mu);
    }
    lib->active[lib->n_active++] = id;
    pthread_mutex_unlock(&lib->mu);
}

static void active_leave(struct rg_library *lib, int64_t id)
{
    pthread_mutex_lock(&lib->mu);
    for (size_t i = 0; i < lib->n_active; i++)
        if (lib->active[i] == id) {
            lib->active[i] = lib->active[--lib->n_active];
            break;
        }
    pthread_cond_broadcast(&lib->cv);
    pthread_mutex_unlock(&lib->mu);
}

/* What the parse callback gathers: every document of the file (ZIM gives
 * many), chunked as they come. */
struct gather {
    struct rg_library *lib;
    struct rg_chunk_params cp;
    struct rg_db_chunk *chunks;
    size_t n, cap;
    struct rg_chunks *keep; /* the chunkers' outputs (own the texts) */
    size_t n_keep, cap_keep;
    struct rg_doc *first; /* metadata */
    size_t n_docs;
    size_t text_bytes; /* of the chunks so far: one file's chunks are stored in one go */
    char err[RG_ERR_SIZE];
    int (*progress)(struct gather *g, struct rg_doc *d);
    void *run;
};

static void clip(char *dst, size_t size, const char *src)
{
    if (!src) src = "";
    size_t n = strlen(src);
    if (n >= size) n = size - 1;
    while (n > 0 && ((unsigned char)src[n] & 0xC0) == 0x80) /* whole characters */
        n--;
    memcpy(dst, src, n);
    dst[n] = '\0';
}

/* Control bytes other than \t \n \r cannot be stored (db.h): spaces. */
static void clean_text(char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7f) s[i] = ' ';
    }
}

static int gather_doc(struct rg_doc *d, void *user)
{
    struct gather *g = user;
    if (g->n_keep == g->cap_keep) {
        size_t cap = g->cap_keep ? g->cap_keep * 2 : 4;
        struct rg_chunks *k = rg_realloc(g->keep, cap * sizeof *k);
        if (!k) {
            rg_doc_free(d);
            return rg_err_set(g->err, RG_ENOMEM, "out of memory");
        }
        g->keep = k;
        g->cap_keep = cap;
    }
    struct rg_chunks *cs = &g->keep[g->n_keep++];
    *cs = (struct rg_chunks){0};
    int rc = rg_chunk_doc(d, &g->cp, cs, g->err);
    bool many = d->total > 1;
    const char *dtitle = d->meta.title ? d->meta.title : "";
    for (size_t i = 0; rc == RG_OK && i < cs->n; i++) {
        struct rg_chunk *c = &cs->items[i];
        if (g->n == g->cap) {
            size_t cap = g->cap ? g->cap * 2 : 64;
            struct rg_db_chunk *nc = rg_realloc(g->chunks, cap * sizeof *nc);
            if (!nc) {
                rc = rg_err_set(g->err, RG_ENOMEM, "out of memory");
                break;
            }
            g->chunks = nc;
            g->cap = cap;
        }
        g->text_bytes += c->text_len;
        if (g->n >= MAX_CHUNKS || g->text_bytes > MAX_TEXT) {
            rc = rg_err_set(g->err, RG_ETOOBIG,
                            "more than %d chunks or %d MiB of text in one file (a whole "
                            "encyclopedia?): split it",
                            MAX_CHUNKS, MAX_TEXT >> 20);
            break;
        }
        clean_text(c->text, c->text_len);
        struct rg_db_chunk *o = &g->chunks[g->n];
        memset(o, 0, sizeof *o);
        o->ordinal = (int)g->n;
        o->text = c->text;
        if (many && dtitle[0]) { /* an archive's article: its title heads the path */
            char h[RG_DB_LIB_HEADING_MAX + 8];
            snprintf(h, sizeof h, "%s%s%s", dtitle, c->heading_path[0] ? " > " : "",
                     c->heading_path);
            clip(o->heading, sizeof o->heading - 8, h);
        } else {
            clip(o->heading, sizeof o->heading - 8, c->heading_path);
        }
        if (c->section >= 0 && (size_t)c->section < d->n_sections)
            clip(o->section, sizeof o->section - 8, d->sections[c->section].title);
        o->page_from = c->page_first > 0 ? c->page_first : 0;
        o->page_to = c->page_last > 0 ? c->page_last : o->page_from;
        if (c->part >= 0 && (size_t)c->part < d->n_parts)
            clip(o->part, sizeof o->part - 8, d->parts[c->part]);
        o->byte_from = c->src_start >= 0 ? c->src_start : 0;
        o->byte_to = c->src_end >= c->src_start && c->src_start >= 0 ? c->src_end : 0;
        o->tokens = c->tokens > INT32_MAX ? INT32_MAX : (int)c->tokens;
        g->n++;
    }
    g->n_docs++;
    if (g->progress && rc == RG_OK) rc = g->progress(g, d);
    if (!g->first && rc == RG_OK) {
        g->first = d;
        /* the sections are needed no more; only the metadata is kept */
    } else {
        rg_doc_free(d);
    }
    return rc;
}

static void gather_free(struct gather *g)
{
    for (size_t i = 0; i < g->n_keep; i++)
        rg_chunks_free(&g->keep[i]);
    rg_free(g->keep);
    rg_free(g->chunks);
    rg_doc_free(g->first);
}

/* The state of one run, for progress and cancel. */
struct run {
    struct rg_library *lib;
    int64_t owner, id;
    rg_library_progress_fn progress;
    void *progress_user;
    bool (*cancel)(void *);
    void *cancel_user;
    double last_ms;
};

static void run_progress(struct run *r, double f, const char *msg, bool force)
{
    double t = now_ms();
    if (!force && t - r->last_ms < 250) return;
    r->last_ms = t;
    char err[RG_ERR_SIZE];
    rg_db_doc_set_state(r->lib->p.db, r->owner, r->id, RG_DB_DOC_INDEXING, f, NULL, wall_ms(), err);
    if (r->progress) r->progress(r->progress_user, f, msg);
}

static bool run_cancelled(struct run *r)
{
    return r->cancel && r->cancel(r->cancel_user);
}

static int parse_progress(struct gather *g, struct rg_doc *d)
{
    struct run *r = g->run;
    if (run_cancelled(r)) return RG_ECANCELED;
    if (d->total > 1) {
        char msg[96];
        snprintf(msg, sizeof msg, "parsed %llu of %llu", (unsigned long long)(d->seq + 1),
                 (unsigned long long)d->total);
        run_progress(r, 0.3 * (double)(d->seq + 1) / (double)d->total, msg, false);
    }
    return RG_OK;
}

/* The document failed for a reason of its own (its file): state error. */
static int doc_failed(struct rg_library *lib, int64_t owner, int64_t id, const char *why)
{
    char err[RG_ERR_SIZE], msg[RG_DB_LIB_ERROR_MAX];
    clip(msg, sizeof msg, why);
    if (!rg_utf8_valid(msg, strlen(msg))) rg_strlcpy(msg, "the file cannot be read", sizeof msg);
    return rg_db_doc_set_state(lib->p.db, owner, id, RG_DB_DOC_ERROR, 0, msg, wall_ms(), err);
}

/* The vectors of chunks ids[0..n): embedded in batches, stored, indexed. */
static int embed_chunks(struct run *r, void *session, int dim, const struct rg_db_document *doc,
                        bool shared, const struct rg_db_chunk *chunks, const int64_t *ids, size_t n,
                        char *err)
{
    struct rg_library *lib = r->lib;
    size_t batch = lib->p.embed_batch ? lib->p.embed_batch : 16;
    if (batch > 256) batch = 256;
    float *vecs = rg_malloc_array(batch * (size_t)dim, sizeof *vecs);
    const char **texts = rg_calloc(batch, sizeof *texts);
    size_t *lens = rg_calloc(batch, sizeof *lens);
    int rc = vecs && texts && lens ? RG_OK : rg_err_set(err, RG_ENOMEM, "out of memory");
    for (size_t at = 0; rc == RG_OK && at < n; at += batch) {
        if (run_cancelled(r)) {
            rc = RG_ECANCELED;
            break;
        }
        size_t k = RG_MIN(batch, n - at);
        for (size_t i = 0; i < k; i++) {
            texts[i] = chunks[at + i].text;
            lens[i] = strlen(chunks[at + i].text);
        }
        rc = lib->emb.embed(session, texts, lens, k, vecs, err);
        if (rc == RG_OK)
            rc = rg_db_chunks_set_embeddings(lib->p.db, r->owner, ids + at, k, vecs, dim,
                                             lib->model, err);
        if (rc == RG_OK) {
            pthread_mutex_lock(&lib->mu);
            for (size_t i = 0; lib->vec && i < k; i++) {
                struct rg_vec_meta m = {.id = ids[at + i],
                                        .doc_id = doc->id,
                                        .collection_id = doc->collection_id,
                                        .owner_id = doc->owner_id,
                                        .shared = shared};
                char verr[RG_ERR_SIZE];
                rg_vec_add(lib->vec, &m, vecs + i * (size_t)dim, verr); /* a zero vector: skip */
            }
            lib->vec_dirty = true;
            pthread_mutex_unlock(&lib->mu);
        }
        char msg[96];
        snprintf(msg, sizeof msg, "embedded %zu of %zu chunks", at + k, n);
        run_progress(r, 0.4 + 0.6 * (double)(at + k) / (double)n, msg, false);
    }
    rg_free(vecs);
    rg_free(texts);
    rg_free(lens);
    return rc;
}

/* The file of a document: an upload's stored copy, or a folder's file
 * (whose real path must still be inside the folder). */
static int doc_file(struct rg_library *lib, const struct rg_db_document *doc, char *path,
                    size_t size, char *err)
{
    if (!doc->folder_id) {
        upload_path(lib, doc->owner_id, doc->id, doc->source, path, size);
        return RG_OK;
    }
    struct rg_db_lib_folder *fs = NULL;
    size_t n = 0;
    int rc = rg_db_lib_folder_list(lib->p.db, doc->owner_id, &fs, &n, err);
    if (rc) return rc;
    const char *root = NULL;
    for (size_t i = 0; i < n; i++)
        if (fs[i].id == doc->folder_id) root = fs[i].path;
    char real[PATH_MAX], rroot[PATH_MAX];
    if (!root)
        rc = rg_err_set(err, RG_ENOTFOUND, "the folder is gone");
    else if (!realpath(root, rroot))
        rc = rg_err_set(err, RG_ENOTFOUND, "%s is gone", root);
    else if (!realpath(doc->source, real))
        rc = rg_err_set(err, RG_ENOTFOUND, "the file is gone");
    else if (!inside(rroot, real))
        rc = rg_err_set(err, RG_EPERM, "the file leads out of its folder");
    else
        rg_strlcpy(path, real, size);
    rg_free(fs);
    return rc;
}

int rg_library_index(struct rg_library *lib, int64_t owner, int64_t id,
                     rg_library_progress_fn progress, void *progress_user,
                     bool (*cancel)(void *user), void *cancel_user, char *err)
{
    active_enter(lib, id);
    struct run r = {lib, owner, id, progress, progress_user, cancel, cancel_user, 0};
    struct rg_db *db = lib->p.db;
    struct rg_db_document doc;
    struct gather g = {0};
    int64_t *ids = NULL;
    void *session = NULL;
    char derr[RG_ERR_SIZE] = "";
    int rc = rg_db_doc_get(db, owner, id, &doc, err);
    if (rc) goto out;
    char path[PATH_MAX + 256];
    rc = doc_file(lib, &doc, path, sizeof path, derr);
    if (rc) {
        rc = doc_failed(lib, owner, id, derr);
        goto out;
    }
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
        rc = doc_failed(lib, owner, id, "the file is gone or is not a regular file");
        goto out;
    }
    if ((uint64_t)st.st_size > lib->p.max_file_bytes) {
        snprintf(derr, sizeof derr, "the file has %lld bytes; the limit is %llu",
                 (long long)st.st_size, (unsigned long long)lib->p.max_file_bytes);
        rc = doc_failed(lib, owner, id, derr);
        goto out;
    }
    char hex[65];
    rc = hash_file(path, lib->p.max_file_bytes, hex, derr);
    if (rc) {
        rc = doc_failed(lib, owner, id, derr);
        goto out;
    }
    const char *want_model = lib->has_emb ? lib->model : "";
    if (doc.state == RG_DB_DOC_READY && !strcmp(doc.content_hash, hex) &&
        !strcmp(doc.embed_model, want_model)) {
        rc = RG_OK; /* nothing changed */
        goto out;
    }
    run_progress(&r, 0, "parsing", true);

    /* the model first: its tokenizer counts the chunks' tokens */
    int dim = 0;
    size_t max_in = 0;
    if (lib->has_emb) {
        rc = lib->emb.hold(lib->emb.user, &session, &dim, &max_in, err);
        if (rc) {
            doc_failed(lib, owner, id, err);
            goto out;
        }
        pthread_mutex_lock(&lib->mu);
        rc = vec_ensure_locked(lib, dim, err);
        pthread_mutex_unlock(&lib->mu);
        if (rc) {
            doc_failed(lib, owner, id, err);
            goto out;
        }
    }
    rg_chunk_default_params(&g.cp);
    g.cp.max_tokens = lib->p.chunk_tokens ? lib->p.chunk_tokens : 256;
    if (max_in > 8 && g.cp.max_tokens > max_in - 4) g.cp.max_tokens = max_in - 4;
    g.cp.overlap_tokens = RG_MIN(lib->p.overlap_tokens, g.cp.max_tokens / 4);
    if (session) {
        g.cp.count = lib->emb.count;
        g.cp.count_user = session;
    }
    g.lib = lib;
    g.run = &r;
    g.progress = parse_progress;
    struct rg_doc_limits lim;
    rg_doc_default_limits(&lim);
    lim.max_file_bytes = lib->p.max_file_bytes;
    rc = rg_doc_parse_file(path, &lim, gather_doc, &g, derr);
    if (rc == RG_ECANCELED) goto out;
    if (rc == RG_ENOMEM) {
        rg_err_set(err, rc, "out of memory");
        doc_failed(lib, owner, id, "out of memory while parsing");
        goto out;
    }
    if (rc) {
        rc = doc_failed(lib, owner, id, g.err[0] ? g.err : derr[0] ? derr : rg_strerror(rc));
        goto out;
    }
    run_progress(&r, 0.3, "storing chunks", true);

    pthread_mutex_lock(&lib->mu);
    if (lib->vec) rg_vec_remove_doc(lib->vec, id);
    lib->vec_dirty = true;
    pthread_mutex_unlock(&lib->mu);
    ids = g.n ? rg_calloc(g.n, sizeof *ids) : NULL;
    if (g.n && !ids) {
        rc = rg_err_set(err, RG_ENOMEM, "out of memory");
        goto out;
    }
    rc = rg_db_chunks_replace(db, owner, id, g.chunks, g.n, ids, err);
    if (rc == RG_EINVAL) { /* the text itself was refused: the file's fault */
        rc = doc_failed(lib, owner, id, err);
        goto out;
    }
    if (rc) goto out;
    const struct rg_doc_meta *m = g.first ? &g.first->meta : NULL;
    const char *fmt = rg_doc_format_name(g.first ? g.first->format : RG_DOC_FORMAT_TEXT);
    char title[RG_DB_LIB_NAME_MAX], authors[RG_DB_LIB_META_MAX], ident[RG_DB_LIB_META_MAX];
    char lang[32], enc[28];
    clip(title, sizeof title, m && m->title && g.n_docs == 1 ? m->title : NULL);
    clip(authors, sizeof authors, m ? m->authors : NULL);
    clip(ident, sizeof ident, m && g.n_docs == 1 ? m->identifier : NULL);
    clip(lang, sizeof lang, m ? m->language : NULL);
    clip(enc, sizeof enc, m ? m->encoding : NULL);
    struct rg_db_doc_change ch = {
        .title = title[0] ? title : NULL,
        .authors = authors[0] ? authors : NULL,
        .identifier = ident[0] ? ident : NULL,
        .language = lang[0] ? lang : NULL,
        .encoding = enc[0] ? enc : NULL,
        .format = fmt,
        .content_hash = hex,
        .embed_model = "",
        .size = st.st_size,
        .mtime =
            doc.folder_id ? (int64_t)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000 : -1,
        .now = wall_ms(),
    };
    if (!doc.tags[0] && m && m->tags) ch.tags = m->tags; /* front matter, unless set by hand */
    struct rg_db_document after;
    rc = rg_db_doc_update(db, owner, id, &ch, &after, err);
    if (rc == RG_EINVAL) { /* metadata the database refuses: keep the chunks without it */
        struct rg_db_doc_change plain = {.format = fmt,
                                         .content_hash = hex,
                                         .embed_model = "",
                                         .size = st.st_size,
                                         .mtime = ch.mtime,
                                         .now = ch.now};
        rc = rg_db_doc_update(db, owner, id, &plain, &after, err);
    }
    if (rc) goto out;
    if (session && g.n) {
        struct rg_db_collection col;
        bool shared =
            rg_db_collection_get(db, owner, doc.collection_id, &col, derr) == RG_OK && col.shared;
        run_progress(&r, 0.4, "embedding", true);
        rc = embed_chunks(&r, session, dim, &doc, shared, g.chunks, ids, g.n, err);
        if (rc == RG_ENOTFOUND) goto out; /* deleted or re-indexed meanwhile */
        if (rc == RG_ECANCELED) goto out;
        if (rc) {
            doc_failed(lib, owner, id, err);
            goto out;
        }
        struct rg_db_doc_change em = {
            .embed_model = lib->model, .size = -1, .mtime = -1, .now = wall_ms()};
        rc = rg_db_doc_update(db, owner, id, &em, &after, err);
        if (rc) goto out;
    }
    rc = rg_db_doc_set_state(db, owner, id, RG_DB_DOC_READY, 1, NULL, wall_ms(), err);
    if (r.progress) r.progress(r.progress_user, 1, "ready");
out:
    if (rc == RG_ECANCELED) /* back to queued: the job runs it again */
        rg_db_doc_set_state(db, owner, id, RG_DB_DOC_QUEUED, 0, NULL, wall_ms(), derr);
    if (session) lib->emb.release(session);
    rg_free(ids);
    gather_free(&g);
    pthread_mutex_lock(&lib->mu);
    vec_save_locked(lib, false);
    pthread_mutex_unlock(&lib->mu);
    active_leave(lib, id);
    return rc;
}

/* ---- jobs -------------------------------------------------------------------------- */

struct inline_run {
    struct rg_library *lib;
    struct rg_db_document doc;
};

static void inline_progress(void *user, double f, const char *msg)
{
    struct inline_run *ir = user;
    ir->lib->p.inline_progress(ir->lib->p.inline_user, &ir->doc, f, msg);
}

static int queue_index(struct rg_library *lib, int64_t owner, int64_t id, int64_t *job, char *err)
{
    if (job) *job = 0;
    if (!lib->p.jobs) {
        struct inline_run ir = {.lib = lib};
        char derr[RG_ERR_SIZE];
        if (rg_db_doc_get(lib->p.db, owner, id, &ir.doc, derr) != RG_OK) ir.doc.id = id;
        int rc = rg_library_index(lib, owner, id, lib->p.inline_progress ? inline_progress : NULL,
                                  &ir, NULL, NULL, err);
        if (lib->p.inline_progress && rc != RG_ENOTFOUND &&
            rg_db_doc_get(lib->p.db, owner, id, &ir.doc, derr) == RG_OK)
            lib->p.inline_progress(lib->p.inline_user, &ir.doc, -1, "done"); /* the outcome */
        return rc;
    }
    json_t *p = json_pack("{s:I}", "document", (json_int_t)id);
    if (!p) return rg_err_set(err, RG_ENOMEM, "out of memory");
    int64_t jid = 0;
    int rc = rg_jobs_submit(lib->p.jobs, "library.index", owner, p, 0, 3, &jid, err);
    json_decref(p);
    if (job) *job = jid;
    return rc;
}

static int id_check(const json_t *p, const char *key, char *err)
{
    json_t *v = json_object_get(p, key);
    if (!json_is_object(p) || json_object_size(p) != 1 || !json_is_integer(v) ||
        json_integer_value(v) < 1)
        return rg_err_set(err, RG_EINVAL, "payload must be {\"%s\": id}", key);
    return RG_OK;
}

static int index_check(const json_t *p, void *user, char *err)
{
    (void)user;
    return id_check(p, "document", err);
}

static int scan_check(const json_t *p, void *user, char *err)
{
    (void)user;
    return id_check(p, "folder", err);
}

static void job_progress(void *user, double f, const char *msg)
{
    rg_job_progress(user, f, msg);
}

static bool job_cancel(void *user)
{
    return rg_job_cancelled(user);
}

static int index_run(struct rg_job_ctx *ctx, const json_t *payload, json_t **result, char *err)
{
    struct rg_library *lib = rg_job_user(ctx);
    int64_t id = json_integer_value(json_object_get(payload, "document"));
    int rc = rg_library_index(lib, rg_job_owner(ctx), id, job_progress, ctx, job_cancel, ctx, err);
    if (rc == RG_ENOTFOUND) { /* deleted meanwhile */
        *result = json_pack("{s:b}", "skipped", 1);
        return RG_OK;
    }
    if (rc) return rc;
    struct rg_db_document d;
    char derr[RG_ERR_SIZE];
    if (rg_db_doc_get(lib->p.db, rg_job_owner(ctx), id, &d, derr) == RG_OK)
        *result = json_pack("{s:I, s:s, s:I, s:s}", "document", (json_int_t)id, "state",
                            rg_db_doc_state_name(d.state), "chunks", (json_int_t)d.n_chunks,
                            "error", d.error);
    return RG_OK;
}

static int scan_run(struct rg_job_ctx *ctx, const json_t *payload, json_t **result, char *err)
{
    struct rg_library *lib = rg_job_user(ctx);
    int64_t id = json_integer_value(json_object_get(payload, "folder"));
    size_t changed = 0;
    int rc = rg_library_folder_scan(lib, rg_job_owner(ctx), id, &changed, err);
    if (rc == RG_ENOTFOUND) {
        *result = json_pack("{s:b}", "skipped", 1);
        return RG_OK;
    }
    if (rc) return rc;
    *result = json_pack("{s:I}", "changed", (json_int_t)changed);
    return RG_OK;
}

/* ---- watched folders --------------------------------------------------------------- */

struct folder_ctx {
    struct rg_library *lib;
    int64_t folder_id, owner, collection;
    char root[PATH_MAX]; /* real path */
    size_t changed;
};

/* Removes a document and its vectors (and an upload's file). */
static int remove_doc(struct rg_library *lib, int64_t owner, const struct rg_db_document *d,
                      char *err)
{
    int rc = rg_db_doc_delete(lib->p.db, owner, d->id, err);
    if (rc) return rc;
    pthread_mutex_lock(&lib->mu);
    if (lib->vec && rg_vec_remove_doc(lib->vec, d->id)) lib->vec_dirty = true;
    pthread_mutex_unlock(&lib->mu);
    if (!d->folder_id) {
        char path[PATH_MAX + 256];
        upload_path(lib, d->owner_id, d->id, d->source, path, sizeof path);
        unlink(path);
    }
    return RG_OK;
}

/* Every document of the folder whose source is prefix or under it and
 * whose file is gone (or, with all, every one under prefix) is removed. */
static void remove_missing(struct folder_ctx *f, const char *prefix, bool all)
{
    struct rg_db_doc_filter flt = {.folder_id = f->folder_id, .state = -1, .limit = PAGE};
    size_t n_pre = strlen(prefix);
    for (int offset = 0;;) {
        flt.offset = offset;
        struct rg_db_document *ds = NULL;
        size_t n = 0;
        bool more = false;
        char err[RG_ERR_SIZE];
        if (rg_db_doc_list(f->lib->p.db, f->owner, &flt, &ds, &n, &more, err) != RG_OK) return;
        size_t removed = 0;
        for (size_t i = 0; i < n; i++) {
            const char *s = ds[i].source;
            if (strncmp(s, prefix, n_pre) || (s[n_pre] && s[n_pre] != '/')) continue;
            struct stat st;
            if (!all && lstat(s, &st) == 0) continue;
            if (remove_doc(f->lib, f->owner, &ds[i], err) == RG_OK) {
                removed++;
                f->changed++;
            }
        }
        rg_free(ds);
        if (!more) return;
        offset += (int)(n - removed);
    }
}

/* A regular file (or a link to one inside the folder) at path: indexed when
 * new or changed. */
static void file_seen(struct folder_ctx *f, const char *path, const struct stat *st)
{
    struct rg_library *lib = f->lib;
    const char *base = strrchr(path, '/');
    if (base && base[1] == '.') return; /* hidden and editors' temporary files */
    if (rg_str_ends_with(path, "~")) return;
    if (!rg_utf8_valid(path, strlen(path)) || strlen(path) > RG_DB_LIB_PATH_MAX) return;
    enum rg_doc_format fmt = sniff(path);
    if (fmt == RG_DOC_FORMAT_UNKNOWN) return; /* images, audio...: not documents */
    int64_t mtime = (int64_t)st->st_mtim.tv_sec * 1000 + st->st_mtim.tv_nsec / 1000000;
    char err[RG_ERR_SIZE], hex[65] = "";
    struct rg_db_document d;
    int rc = rg_db_doc_by_path(lib->p.db, f->owner, f->folder_id, path, &d, err);
    if (rc == RG_OK) {
        if (d.size == st->st_size && d.mtime == mtime && d.state != RG_DB_DOC_ERROR) return;
        bool big = (uint64_t)st->st_size > lib->p.max_file_bytes;
        if (!big && hash_file(path, lib->p.max_file_bytes, hex, err) != RG_OK) return;
        if (!big && !strcmp(hex, d.content_hash) && d.state == RG_DB_DOC_READY) {
            struct rg_db_doc_change c = {.size = st->st_size, .mtime = mtime, .now = wall_ms()};
            rg_db_doc_update(lib->p.db, f->owner, d.id, &c, &d, err); /* touched, not changed */
            return;
        }
        rg_db_doc_set_state(lib->p.db, f->owner, d.id, RG_DB_DOC_QUEUED, 0, NULL, wall_ms(), err);
        if (queue_index(lib, f->owner, d.id, NULL, err) == RG_OK) f->changed++;
        return;
    }
    if (rc != RG_ENOTFOUND) return;
    if ((uint64_t)st->st_size <= lib->p.max_file_bytes &&
        hash_file(path, lib->p.max_file_bytes, hex, err) != RG_OK)
        return;
    struct rg_db_doc_new n = {
        .owner_id = f->owner,
        .collection_id = f->collection,
        .folder_id = f->folder_id,
        .source = path,
        .format = rg_doc_format_name(fmt),
        .title = base ? base + 1 : path,
        .content_hash = hex[0] ? hex : NULL,
        .size = st->st_size,
        .mtime = mtime,
        .now = wall_ms(),
    };
    char title[RG_DB_LIB_NAME_MAX];
    clip(title, sizeof title, n.title);
    n.title = title;
    if (rg_db_doc_create(lib->p.db, &n, &d, err) != RG_OK) return;
    f->changed++;
    queue_index(lib, f->owner, d.id, NULL, err);
}

/* Looks at path again: a file, a directory (walked), or nothing any more. */
static void reconcile(struct folder_ctx *f, const char *path, int depth)
{
    struct stat st;
    if (!inside(f->root, path)) return;
    if (lstat(path, &st) != 0) {
        remove_missing(f, path, true);
        return;
    }
    if (S_ISLNK(st.st_mode)) {
        char real[PATH_MAX];
        struct stat t;
        if (!realpath(path, real) || !inside(f->root, real) || stat(real, &t) != 0 ||
            !S_ISREG(t.st_mode)) { /* out of the folder, dangling, or a directory */
            remove_missing(f, path, true);
            return;
        }
        file_seen(f, path, &t);
        return;
    }
    if (S_ISREG(st.st_mode)) {
        file_seen(f, path, &st);
        return;
    }
    if (!S_ISDIR(st.st_mode) || depth > SCAN_DEPTH) return; /* sockets, fifos, devices */
    const char *base = strrchr(path, '/');
    if (depth > 0 && base && base[1] == '.') return; /* hidden directories */
    DIR *d = opendir(path);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        char sub[PATH_MAX];
        if (snprintf(sub, sizeof sub, "%s/%s", strcmp(path, "/") ? path : "", e->d_name) >=
            (int)sizeof sub)
            continue;
        reconcile(f, sub, depth + 1);
    }
    closedir(d);
    remove_missing(f, path, false); /* files deleted under it */
}

static int folder_ctx_get(struct rg_library *lib, int64_t owner, int64_t id, struct folder_ctx *f,
                          char *err)
{
    struct rg_db_lib_folder *fs = NULL;
    size_t n = 0;
    int rc = rg_db_lib_folder_list(lib->p.db, owner, &fs, &n, err);
    if (rc) return rc;
    rc = rg_err_set(err, RG_ENOTFOUND, "no such folder");
    for (size_t i = 0; i < n; i++) {
        if (fs[i].id != id) continue;
        *f = (struct folder_ctx){.lib = lib,
                                 .folder_id = id,
                                 .owner = fs[i].owner_id,
                                 .collection = fs[i].collection_id};
        if (!realpath(fs[i].path, f->root)) rg_strlcpy(f->root, fs[i].path, sizeof f->root);
        rc = RG_OK;
    }
    rg_free(fs);
    return rc;
}

int rg_library_folder_scan(struct rg_library *lib, int64_t owner, int64_t id, size_t *changed,
                           char *err)
{
    struct folder_ctx f;
    int rc = folder_ctx_get(lib, owner, id, &f, err);
    if (rc) return rc;
    struct stat st;
    if (stat(f.root, &st) == 0 && S_ISDIR(st.st_mode)) /* a missing folder (an unmounted
                                                        * disk) removes nothing */
        reconcile(&f, f.root, 0);
    if (changed) *changed = f.changed;
    return RG_OK;
}

static void on_paths(void *user, const char *const *paths, size_t n)
{
    struct watched *w = user;
    struct folder_ctx f = {
        .lib = w->lib, .folder_id = w->folder_id, .owner = w->owner, .collection = w->collection};
    rg_strlcpy(f.root, w->root, sizeof f.root);
    struct stat st;
    if (stat(f.root, &st) != 0 || !S_ISDIR(st.st_mode))
        return; /* the folder itself went away (an unmounted disk): keep its index */
    for (size_t i = 0; i < n; i++)
        reconcile(&f, paths[i], 1);
}

/* Starts the watch of a folder (under no lock; takes lib->mu itself). */
static void watch_folder(struct rg_library *lib, const struct rg_db_lib_folder *fo)
{
    if (!lib->p.watch) return;
    pthread_mutex_lock(&lib->mu);
    bool have = lib->n_watches >= MAX_WATCHES || lib->stopping;
    for (size_t i = 0; i < lib->n_watches; i++)
        have |= lib->watches[i]->folder_id == fo->id;
    pthread_mutex_unlock(&lib->mu);
    if (have) return;
    struct watched *w = rg_calloc(1, sizeof *w);
    if (!w) return;
    *w = (struct watched){
        .folder_id = fo->id, .owner = fo->owner_id, .collection = fo->collection_id, .lib = lib};
    struct rg_watch_params wp;
    rg_watch_default_params(&wp);
    wp.root = fo->path;
    wp.debounce_ms = lib->p.debounce_ms;
    wp.fn = on_paths;
    wp.user = w;
    if (!realpath(fo->path, w->root)) rg_strlcpy(w->root, fo->path, sizeof w->root);
    char err[RG_ERR_SIZE];
    w->w = rg_watch_start(&wp, err);
    if (!w->w) {
        rg_log(RG_LOG_WARN, "cannot watch a library folder", "path", 's', fo->path, "error", 's',
               err, RG_LOG_END);
        rg_free(w);
        return;
    }
    pthread_mutex_lock(&lib->mu);
    lib->watches[lib->n_watches++] = w;
    pthread_mutex_unlock(&lib->mu);
}

static void unwatch_folder(struct rg_library *lib, int64_t folder_id)
{
    struct watched *w = NULL;
    pthread_mutex_lock(&lib->mu);
    for (size_t i = 0; i < lib->n_watches; i++)
        if (lib->watches[i]->folder_id == folder_id) {
            w = lib->watches[i];
            lib->watches[i] = lib->watches[--lib->n_watches];
            break;
        }
    pthread_mutex_unlock(&lib->mu);
    if (w) rg_watch_stop(w->w);
    rg_free(w);
}

/* Catches a folder up: a job with a queue, at once without one. */
static void catch_up(struct rg_library *lib, const struct rg_db_lib_folder *fo)
{
    char err[RG_ERR_SIZE];
    if (!lib->p.jobs) {
        rg_library_folder_scan(lib, fo->owner_id, fo->id, NULL, err);
        return;
    }
    json_t *p = json_pack("{s:I}", "folder", (json_int_t)fo->id);
    int64_t job;
    if (p) rg_jobs_submit(lib->p.jobs, "library.scan", fo->owner_id, p, 10, 3, &job, err);
    json_decref(p);
}

int rg_library_collection_named(struct rg_library *lib, int64_t owner, const char *name,
                                int64_t *id, char *err)
{
    struct rg_db_collection *cs = NULL;
    size_t n = 0;
    int rc = rg_db_collection_list(lib->p.db, owner, &cs, &n, err);
    if (rc) return rc;
    *id = 0;
    for (size_t i = 0; i < n; i++)
        if (cs[i].owner_id == owner && !strcmp(cs[i].name, name)) *id = cs[i].id;
    rg_free(cs);
    if (*id) return RG_OK;
    struct rg_db_collection c;
    struct rg_db_collection_new cn = {.owner_id = owner, .name = name, .now = wall_ms()};
    rc = rg_db_collection_create(lib->p.db, &cn, &c, err);
    if (rc) return rc;
    *id = c.id;
    return RG_OK;
}

int rg_library_folder_add(struct rg_library *lib, int64_t owner, const char *path,
                          int64_t collection, struct rg_db_lib_folder *out, char *err)
{
    char real[PATH_MAX];
    struct stat st;
    if (!path || !realpath(path, real) || stat(real, &st) != 0 || !S_ISDIR(st.st_mode))
        return rg_err_set(err, RG_ENOTFOUND, "%.200s is not a directory", path ? path : "");
    if (!collection) {
        const char *b = strrchr(real, '/');
        char name[RG_DB_LIB_NAME_MAX];
        clip(name, sizeof name, b && b[1] ? b + 1 : "library");
        if (!rg_utf8_valid(name, strlen(name))) rg_strlcpy(name, "library", sizeof name);
        int rc = rg_library_collection_named(lib, owner, name, &collection, err);
        if (rc) return rc;
    }
    int rc = rg_db_lib_folder_add(lib->p.db, owner, collection, real, wall_ms(), out, err);
    if (rc) return rc;
    watch_folder(lib, out);
    catch_up(lib, out);
    return RG_OK;
}

int rg_library_folder_remove(struct rg_library *lib, int64_t owner, int64_t id, char *err)
{
    struct folder_ctx f;
    int rc = folder_ctx_get(lib, owner, id, &f, err);
    if (rc) return rc;
    unwatch_folder(lib, id);
    /* the vectors of its documents first: the database forgets which they were */
    struct rg_db_doc_filter flt = {.folder_id = id, .state = -1, .limit = PAGE};
    for (int offset = 0;; offset += PAGE) {
        flt.offset = offset;
        struct rg_db_document *ds = NULL;
        size_t n = 0;
        bool more = false;
        if (rg_db_doc_list(lib->p.db, owner, &flt, &ds, &n, &more, err) != RG_OK) break;
        pthread_mutex_lock(&lib->mu);
        for (size_t i = 0; lib->vec && i < n; i++)
            rg_vec_remove_doc(lib->vec, ds[i].id);
        lib->vec_dirty = true;
        pthread_mutex_unlock(&lib->mu);
        rg_free(ds);
        if (!more) break;
    }
    return rg_db_lib_folder_remove(lib->p.db, owner, id, err);
}

/* Adds the --library folders to the first admin; false while there is none. */
static bool add_config_folders(struct rg_library *lib)
{
    struct rg_db_user *us = NULL;
    size_t n = 0;
    char err[RG_ERR_SIZE];
    if (rg_db_user_list(lib->p.db, &us, &n, err) != RG_OK) return false;
    int64_t admin = 0;
    for (size_t i = 0; i < n && !admin; i++)
        if (!strcmp(us[i].role, "admin") && !us[i].disabled) admin = us[i].id;
    rg_free(us);
    if (!admin) return false;
    struct rg_db_lib_folder *fs = NULL;
    size_t nf = 0;
    if (rg_db_lib_folder_list(lib->p.db, 0, &fs, &nf, err) != RG_OK) return false;
    for (size_t i = 0; i < lib->n_folders; i++) {
        char real[PATH_MAX];
        if (!realpath(lib->folders[i], real)) {
            rg_log(RG_LOG_WARN, "--library: not a directory", "path", 's', lib->folders[i],
                   RG_LOG_END);
            continue;
        }
        bool have = false;
        for (size_t k = 0; k < nf; k++)
            have |= fs[k].owner_id == admin && !strcmp(fs[k].path, real);
        struct rg_db_lib_folder out;
        if (!have && rg_library_folder_add(lib, admin, real, 0, &out, err) != RG_OK)
            rg_log(RG_LOG_WARN, "--library: cannot add the folder", "path", 's', real, "error", 's',
                   err, RG_LOG_END);
    }
    rg_free(fs);
    return true;
}

/* The library's upkeep thread: --library folders once an admin exists, and
 * the vector file saved now and then. */
static void *upkeep(void *arg)
{
    struct rg_library *lib = arg;
    pthread_mutex_lock(&lib->mu);
    while (!lib->stopping) {
        bool pending = lib->folders_pending;
        pthread_mutex_unlock(&lib->mu);
        bool done = pending && add_config_folders(lib);
        pthread_mutex_lock(&lib->mu);
        if (done) lib->folders_pending = false;
        vec_save_locked(lib, false);
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 500 * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        if (!lib->stopping) pthread_cond_timedwait(&lib->cv, &lib->mu, &ts);
    }
    pthread_mutex_unlock(&lib->mu);
    return NULL;
}

/* Ready documents whose chunks have no vectors of the configured model (the
 * model was set or changed since) are indexed again: their hash has not
 * changed, but the run sees the model differ. */
static void reembed_all(struct rg_library *lib)
{
    struct rg_db_user *us = NULL;
    size_t nu = 0;
    char err[RG_ERR_SIZE];
    if (rg_db_user_list(lib->p.db, &us, &nu, err) != RG_OK) return;
    for (size_t u = 0; u < nu; u++) {
        struct rg_db_doc_filter f = {.state = RG_DB_DOC_READY, .limit = PAGE};
        for (int offset = 0;; offset += PAGE) {
            f.offset = offset;
            struct rg_db_document *ds = NULL;
            size_t n = 0;
            bool more = false;
            if (rg_db_doc_list(lib->p.db, us[u].id, &f, &ds, &n, &more, err) != RG_OK) break;
            for (size_t i = 0; i < n; i++)
                if (ds[i].owner_id == us[u].id && ds[i].n_chunks > 0 &&
                    strcmp(ds[i].embed_model, lib->model))
                    queue_index(lib, us[u].id, ds[i].id, NULL, err);
            rg_free(ds);
            if (!more) break;
        }
    }
    rg_free(us);
}

/* ---- the object -------------------------------------------------------------------- */

struct rg_library *rg_library_new(const struct rg_library_params *p, char *err)
{
    if (!p || !p->db || !p->data_dir) {
        rg_err_set(err, RG_EINVAL, "the library needs a database and a data dir");
        return NULL;
    }
    struct rg_library *lib = rg_calloc(1, sizeof *lib);
    if (!lib) {
        rg_err_set(err, RG_ENOMEM, "out of memory");
        return NULL;
    }
    lib->p = *p;
    pthread_mutex_init(&lib->mu, NULL);
    pthread_cond_init(&lib->cv, NULL);
    if (!lib->p.max_file_bytes) lib->p.max_file_bytes = 256ull << 20;
    if (!lib->p.debounce_ms) lib->p.debounce_ms = 1000;
    rg_strlcpy(lib->data_dir, p->data_dir, sizeof lib->data_dir);
    char real[PATH_MAX];
    if (realpath(p->data_dir, real)) rg_strlcpy(lib->data_dir, real, sizeof lib->data_dir);
    if (p->embedder && p->embedder->model && p->embedder->hold && p->embedder->embed &&
        p->embedder->release) {
        lib->emb = *p->embedder;
        lib->has_emb = true;
        rg_strlcpy(lib->model, p->embedder->model, sizeof lib->model);
        lib->emb.model = lib->model;
        if (!lib->emb.count) lib->emb.count = rg_chunk_count_words;
    }
    lib->p.embedder = NULL;
    lib->p.folders = NULL;
    if (p->n_folders) {
        lib->folders = rg_calloc(p->n_folders, sizeof *lib->folders);
        for (size_t i = 0; lib->folders && i < p->n_folders; i++)
            if ((lib->folders[i] = rg_strdup(p->folders[i])) != NULL) lib->n_folders++;
        if (lib->n_folders != p->n_folders) {
            rg_err_set(err, RG_ENOMEM, "out of memory");
            rg_library_free(lib);
            return NULL;
        }
    }
    char dir[PATH_MAX + 16];
    snprintf(dir, sizeof dir, "%s/library", lib->data_dir);
    if (mkdirs(dir) != RG_OK) {
        rg_err_set(err, RG_EIO, "cannot make %s: %s", dir, strerror(errno));
        rg_library_free(lib);
        return NULL;
    }
    if (p->jobs) {
        struct rg_job_kind ki = {
            .name = "library.index", .run = index_run, .check = index_check, .user = lib};
        struct rg_job_kind ks = {
            .name = "library.scan", .run = scan_run, .check = scan_check, .user = lib};
        int rc = rg_jobs_register(p->jobs, &ki, err);
        if (!rc) rc = rg_jobs_register(p->jobs, &ks, err);
        if (rc) {
            rg_library_free(lib);
            return NULL;
        }
    }
    return lib;
}

int rg_library_start(struct rg_library *lib, char *err)
{
    if (lib->started) return RG_OK;
    lib->started = true;
    struct rg_db_lib_folder *fs = NULL;
    size_t n = 0;
    int rc = rg_db_lib_folder_list(lib->p.db, 0, &fs, &n, err);
    if (rc) return rc;
    for (size_t i = 0; i < n; i++) {
        watch_folder(lib, &fs[i]); /* the watch first: nothing slips between scan and watch */
        catch_up(lib, &fs[i]);
    }
    rg_free(fs);
    if (lib->has_emb && lib->p.jobs) reembed_all(lib);
    lib->folders_pending = lib->n_folders > 0 && !add_config_folders(lib);
    if (pthread_create(&lib->upkeep, NULL, upkeep, lib) == 0) lib->upkeep_on = true;
    return RG_OK;
}

void rg_library_stop(struct rg_library *lib)
{
    if (!lib) return;
    pthread_mutex_lock(&lib->mu);
    lib->stopping = true;
    pthread_cond_broadcast(&lib->cv);
    pthread_mutex_unlock(&lib->mu);
    if (lib->upkeep_on) pthread_join(lib->upkeep, NULL);
    lib->upkeep_on = false;
    for (;;) {
        pthread_mutex_lock(&lib->mu);
        struct watched *w = lib->n_watches ? lib->watches[--lib->n_watches] : NULL;
        pthread_mutex_unlock(&lib->mu);
        if (!w) break;
        rg_watch_stop(w->w);
        rg_free(w);
    }
}

void rg_library_free(struct rg_library *lib)
{
    if (!lib) return;
    rg_library_stop(lib);
    pthread_mutex_lock(&lib->mu);
    vec_save_locked(lib, true);
    pthread_mutex_unlock(&lib->mu);
    rg_vec_free(lib->vec);
    for (size_t i = 0; i < lib->n_folders; i++)
        rg_free(lib->folders[i]);
    rg_free(lib->folders);
    pthread_cond_destroy(&lib->cv);
    pthread_mutex_destroy(&lib->mu);
    rg_free(lib);
}

/* ---- uploads and removal ----------------------------------------------------------- */

int rg_library_upload(struct rg_library *lib, int64_t owner, int64_t collection, const char *name,
                      const void *data, size_t len, const char *tags, struct rg_db_document *doc,
                      int64_t *job, char *err)
{
    if (job) *job = 0;
    if (!name || !name[0]) return rg_err_set(err, RG_EINVAL, "an upload needs a file name");
    if (!len) return rg_err_set(err, RG_EINVAL, "the file is empty");
    if (len > lib->p.max_file_bytes)
        return rg_err_set(err, RG_ETOOBIG, "the file has %zu bytes; the limit is %llu", len,
                          (unsigned long long)lib->p.max_file_bytes);
    const char *b = strrchr(name, '/');
    b = b ? b + 1 : name;
    char source[RG_DB_LIB_NAME_MAX];
    clip(source, sizeof source, b);
    if (!source[0] || !rg_utf8_valid(source, strlen(source)))
        return rg_err_set(err, RG_EINVAL, "the file name must be UTF-8");
    for (char *c = source; *c; c++)
        if ((unsigned char)*c < 0x20) *c = '_';
    enum rg_doc_format fmt = rg_doc_format_detect(source, data, RG_MIN(len, 4096));
    if (fmt == RG_DOC_FORMAT_UNKNOWN) fmt = RG_DOC_FORMAT_TEXT;
    struct rg_db_doc_new n = {.owner_id = owner,
                              .collection_id = collection,
                              .source = source,
                              .format = rg_doc_format_name(fmt),
                              .title = source,
                              .tags = tags,
                              .size = (int64_t)len,
                              .now = wall_ms()};
    int rc = rg_db_doc_create(lib->p.db, &n, doc, err);
    if (rc) return rc;
    char dir[PATH_MAX + 64], path[PATH_MAX + 256], tmp[PATH_MAX + 300];
    snprintf(dir, sizeof dir, "%s/library/%lld", lib->data_dir, (long long)owner);
    upload_path(lib, owner, doc->id, doc->source, path, sizeof path);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int fd = mkdirs(dir) == RG_OK ? open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600) : -1;
    bool ok = fd >= 0;
    for (size_t off = 0; ok && off < len;) {
        ssize_t w = write(fd, (const char *)data + off, len - off);
        if (w < 0 && errno == EINTR) continue;
        ok = w > 0;
        if (ok) off += (size_t)w;
    }
    ok = ok && fsync(fd) == 0;
    if (fd >= 0) close(fd);
    ok = ok && rename(tmp, path) == 0;
    if (!ok) {
        rg_err_set(err, RG_EIO, "cannot store the upload: %s", strerror(errno));
        unlink(tmp);
        char derr[RG_ERR_SIZE];
        rg_db_doc_delete(lib->p.db, owner, doc->id, derr);
        return RG_EIO;
    }
    rc = queue_index(lib, owner, doc->id, job, err);
    if (!lib->p.jobs) { /* indexed inline: the row as it is now */
        char derr[RG_ERR_SIZE];
        rg_db_doc_get(lib->p.db, owner, doc->id, doc, derr);
    }
    return rc;
}

int rg_library_remove(struct rg_library *lib, int64_t owner, int64_t id, char *err)
{
    struct rg_db_document d;
    int rc = rg_db_doc_get(lib->p.db, owner, id, &d, err);
    if (rc) return rc;
    if (d.owner_id != owner) return rg_err_set(err, RG_EPERM, "a shared document is read-only");
    return remove_doc(lib, owner, &d, err);
}

/* ---- search and status ------------------------------------------------------------- */

static int search_embed(void *ud, const char *text, float *out, int dim, char *err)
{
    struct rg_library *lib = ud;
    void *s = NULL;
    int d = 0;
    size_t max_in = 0;
    int rc = lib->emb.hold(lib->emb.user, &s, &d, &max_in, err);
    if (rc) return rc;
    if (d != dim) {
        lib->emb.release(s);
        return rg_err_set(err, RG_EINVAL, "the model gives %d dimensions, the index %d", d, dim);
    }
    size_t len = strlen(text);
    rc = lib->emb.embed(s, &text, &len, 1, out, err);
    lib->emb.release(s);
    return rc;
}

int rg_library_search(struct rg_library *lib, const struct rg_search_query *q,
                      struct rg_search_result *out, char *err)
{
    struct rg_search_ctx ctx = {.db = lib->p.db};
    if (lib->has_emb && q->mode != RG_SEARCH_FULLTEXT) {
        char verr[RG_ERR_SIZE] = "";
        ctx.vec = vec_get(lib, verr);
        if (ctx.vec) {
            ctx.embed = search_embed;
            ctx.embed_ud = lib;
            pthread_mutex_lock(&lib->mu);
            ctx.dim = lib->dim;
            pthread_mutex_unlock(&lib->mu);
        } else if (q->mode == RG_SEARCH_VECTOR) {
            return rg_err_set(err, RG_EUNSUPPORTED, "the embedding model is not available: %s",
                              verr);
        }
    }
    return rg_search(&ctx, q, out, err);
}

json_t *rg_library_status(struct rg_library *lib, int64_t user)
{
    int64_t by_state[RG_DB_DOC_N_STATES] = {0}, chunks = 0, docs = 0, embedded = 0;
    struct rg_db_doc_filter f = {.state = -1, .limit = PAGE};
    char err[RG_ERR_SIZE];
    for (int offset = 0; offset < 1000000; offset += PAGE) {
        f.offset = offset;
        struct rg_db_document *ds = NULL;
        size_t n = 0;
        bool more = false;
        if (rg_db_doc_list(lib->p.db, user, &f, &ds, &n, &more, err) != RG_OK) break;
        for (size_t i = 0; i < n; i++) {
            if (ds[i].state < RG_DB_DOC_N_STATES) by_state[ds[i].state]++;
            chunks += ds[i].n_chunks;
            if (ds[i].embed_model[0]) embedded += ds[i].n_chunks;
            docs++;
        }
        rg_free(ds);
        if (!more) break;
    }
    struct rg_db_collection *cs = NULL;
    size_t nc = 0;
    rg_db_collection_list(lib->p.db, user, &cs, &nc, err);
    rg_free(cs);
    struct rg_db_lib_folder *fs = NULL;
    size_t nf = 0;
    rg_db_lib_folder_list(lib->p.db, user, &fs, &nf, err);
    rg_free(fs);
    json_t *st = json_object();
    for (int s = 0; st && s < RG_DB_DOC_N_STATES; s++)
        json_object_set_new(st, rg_db_doc_state_name((enum rg_db_doc_state)s),
                            json_integer(by_state[s]));
    json_t *missing = json_array();
    if (!lib->has_emb && missing)
        json_array_append_new(missing, json_string("no embedding model: full-text search only; "
                                                   "set --embedding-model"));
    json_t *model = json_null();
    if (lib->has_emb) {
        struct rg_vec_stats vs = {0};
        pthread_mutex_lock(&lib->mu);
        if (lib->vec) rg_vec_stats(lib->vec, &vs);
        bool open = lib->vec != NULL;
        pthread_mutex_unlock(&lib->mu);
        model =
            json_pack("{s:s, s:b, s:I, s:i, s:I}", "id", lib->model, "index_open", open, "vectors",
                      (json_int_t)vs.count, "dim", vs.dim, "index_bytes", (json_int_t)vs.bytes);
    }
    pthread_mutex_lock(&lib->mu);
    size_t watching = lib->n_watches;
    pthread_mutex_unlock(&lib->mu);
    json_t *o = json_pack(
        "{s:I, s:o, s:I, s:I, s:I, s:I, s:I, s:o, s:s, s:o}", "documents", (json_int_t)docs,
        "states", st ? st : json_object(), "chunks", (json_int_t)chunks, "embedded_chunks",
        (json_int_t)embedded, "collections", (json_int_t)nc, "folders", (json_int_t)nf, "watching",
        (json_int_t)watching, "embedding_model", model ? model : json_null(), "search",
        lib->has_emb ? "hybrid" : "fulltext", "missing", missing ? missing : json_array());
    return o;
}
