/*
 * The memory module's storage operations (db/memory.h): arguments checked
 * here, then the backend picked by rg_db_backend(). A PostgreSQL write is
 * one call of its PL/pgSQL function (mem_pg.c); the same rule on SQLite is
 * written here in C over the same tables, inside BEGIN IMMEDIATE when it
 * takes more than one statement. Reads are one SQL text for both (CAST,
 * $n parameters and no dialect-only syntax).
 */
#include "db/memory.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/str.h"
#include "db/db_internal.h"
#include "db/mem_internal.h"

#define S(x)                                                                                       \
    {                                                                                              \
        .t = 's', .s = (x)                                                                         \
    }
#define I(x)                                                                                       \
    {                                                                                              \
        .t = 'i', .i = (x)                                                                         \
    }
#define N0                                                                                         \
    {                                                                                              \
        .t = 'n'                                                                                   \
    }

static bool is_pg(struct rg_db *db)
{
    return strcmp(rg_db_backend(db), "sqlite") != 0;
}

struct conn {
    struct rg_db *db;
    void *c;
    int slot;
    bool pg;
};

static int take(struct rg_db *db, struct conn *k, char *err)
{
    k->db = db;
    k->pg = is_pg(db);
    k->slot = rg_db_conn_acquire(db, err);
    if (k->slot < 0) return RG_EBUSY;
    k->c = db->conns[k->slot];
    return RG_OK;
}

static void give(struct conn *k)
{
    rg_db_conn_release(k->db, k->slot);
}

static int run(struct conn *k, const char *sql, const struct rg_db_mem_arg *a, int na,
               rg_db_mem_row_fn fn, void *u, int64_t *changes, char *err)
{
    return k->pg ? rg_db_pg_mem_exec(k->c, sql, a, na, fn, u, changes, err)
                 : rg_db_sqlite_mem_exec(k->c, sql, a, na, fn, u, changes, err);
}

static int64_t num(const char *v)
{
    return v ? strtoll(v, NULL, 10) : 0;
}

static int one_int(void *u, const char *const *v, int n)
{
    *(int64_t *)u = n > 0 ? num(v[0]) : 0;
    return RG_OK;
}

/* A PostgreSQL function's code (or an id) into *v. */
static int call(struct conn *k, const char *sql, const struct rg_db_mem_arg *a, int na, int64_t *v,
                char *err)
{
    *v = 0;
    return run(k, sql, a, na, one_int, v, NULL, err);
}

static int sq_begin(struct conn *k, char *err)
{
    return run(k, "BEGIN IMMEDIATE", NULL, 0, NULL, NULL, NULL, err);
}

static int sq_end(struct conn *k, int rc, char *err)
{
    if (rc == RG_OK) {
        char e2[RG_ERR_SIZE];
        int c = run(k, "COMMIT", NULL, 0, NULL, NULL, NULL, e2);
        if (c == RG_OK) return RG_OK;
        rg_strlcpy(err, e2, RG_ERR_SIZE);
        rc = c;
    }
    char e3[RG_ERR_SIZE];
    run(k, "ROLLBACK", NULL, 0, NULL, NULL, NULL, e3);
    return rc;
}

/* A PostgreSQL function's negative code as RG_E*. */
static int pg_code(int64_t v, char *err)
{
    switch (v) {
    case -1: snprintf(err, RG_ERR_SIZE, "not found"); return RG_ENOTFOUND;
    case -2:
        snprintf(err, RG_ERR_SIZE, "only an answer (an assistant message) is rated");
        return RG_EINVAL;
    case -3: snprintf(err, RG_ERR_SIZE, "the type was set by hand"); return RG_ESTATE;
    case -5: snprintf(err, RG_ERR_SIZE, "too many entries"); return RG_EINVAL;
    default: return RG_OK;
    }
}

/* Text of at most max bytes that may span lines (no other check). */
static int check_long(const char *what, const char *s, size_t max, bool required, char *err)
{
    if (!s) {
        if (!required) return RG_OK;
        snprintf(err, RG_ERR_SIZE, "%s is required", what);
        return RG_EINVAL;
    }
    if (strlen(s) > max || (required && !*s)) {
        snprintf(err, RG_ERR_SIZE, "%s must be 1..%zu bytes", what, max);
        return RG_EINVAL;
    }
    return RG_OK;
}

static char *dup_or_empty(const char *v)
{
    return rg_strdup(v ? v : "");
}

/* ---- settings ---------------------------------------------------------------- */

static int read_dup(void *u, const char *const *v, int n)
{
    char **out = u;
    if (n < 1 || *out) return RG_OK;
    *out = dup_or_empty(v[0]);
    return *out ? RG_OK : RG_ENOMEM;
}

int rg_db_mem_prefs_get(struct rg_db *db, int64_t owner, char **json, char *err)
{
    *json = NULL;
    struct conn k;
    if (take(db, &k, err)) return RG_EBUSY;
    struct rg_db_mem_arg a[] = {I(owner)};
    int rc =
        run(&k, "SELECT prefs FROM mem_prefs WHERE owner_id = $1", a, 1, read_dup, json, NULL, err);
    give(&k);
    if (rc) {
        rg_free(*json);
        *json = NULL;
    }
    return rc;
}

int rg_db_mem_prefs_put(struct rg_db *db, int64_t owner, const char *json, int64_t now, char *err)
{
    int rc = check_long("settings", json, RG_DB_MEM_PREFS_MAX, true, err);
    if (rc) return rc;
    struct conn k;
    if (take(db, &k, err)) return RG_EBUSY;
    struct rg_db_mem_arg a[] = {I(owner), S(json), I(now)};
    int64_t v = 0;
    if (k.pg)
        rc = call(&k, "SELECT mem_prefs_put($1, $2, $3)", a, 3, &v, err);
    else
        rc = run(&k,
                 "INSERT INTO mem_prefs(owner_id, prefs, updated_at) VALUES ($1, $2, $3)"
                 " ON CONFLICT (owner_id) DO UPDATE SET prefs = excluded.prefs,"
                 " updated_at = excluded.updated_at",
                 a, 3, NULL, NULL, NULL, err);
    give(&k);
    return rc;
}

/* ---- styles -------------------------------------------------------------------- */

#define STYLE_COLS "id, owner_id, name, description, prompt, created_at, updated_at"

void rg_db_mem_style_clear(struct rg_db_mem_style *s)
{
    if (!s) return;
    rg_free(s->description);
    rg_free(s->prompt);
    memset(s, 0, sizeof *s);
}

void rg_db_mem_style_list_free(struct rg_db_mem_style *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        rg_db_mem_style_clear(&v[i]);
    rg_free(v);
}

/* A growing array of rows of size `size`. */
struct rows {
    void *v;
    size_t n, cap, size;
    int (*fill)(void *row, const char *const *v, int n);
};

static int add_row(void *u, const char *const *v, int n)
{
    struct rows *r = u;
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 8;
        void *nv = cap > SIZE_MAX / r->size ? NULL : rg_realloc(r->v, cap * r->size);
        if (!nv) return RG_ENOMEM;
        r->v = nv;
        r->cap = cap;
    }
    void *row = (char *)r->v + r->n * r->size;
    memset(row, 0, r->size);
    r->n++;
    return r->fill(row, v, n);
}

static int fill_style(void *row, const char *const *v, int n)
{
    struct rg_db_mem_style *s = row;
    if (n < 7) return RG_EIO;
    s->id = num(v[0]);
    s->owner_id = num(v[1]);
    rg_strlcpy(s->name, v[2] ? v[2] : "", sizeof s->name);
    s->description = dup_or_empty(v[3]);
    s->prompt = dup_or_empty(v[4]);
    s->created_at = num(v[5]);
    s->updated_at = num(v[6]);
    return s->description && s->prompt ? RG_OK : RG_ENOMEM;
}

/* One row of a query into out (size bytes) through fill; RG_ENOTFOUND when none. */
static int get_one(struct conn *k, const char *sql, const struct rg_db_mem_arg *a, int na,
                   size_t size, int (*fill)(void *, const char *const *, int),
                   void (*clear)(void *), void *out, char *err)
{
    struct rows r = {.size = size, .fill = fill};
    int rc = run(k, sql, a, na, add_row, &r, NULL, err);
    if (rc == RG_OK && r.n == 0) {
        snprintf(err, RG_ERR_SIZE, "not found");
        rc = RG_ENOTFOUND;
    }
    if (rc == RG_OK) memcpy(out, r.v, size);
    for (size_t i = rc == RG_OK ? 1 : 0; i < r.n; i++)
        clear((char *)r.v + i * size);
    rg_free(r.v);
    return rc;
}

static void clear_style(void *p)
{
    rg_db_mem_style_clear(p);
}

static int style_read(struct conn *k, int64_t owner, int64_t id, struct rg_db_mem_style *out,
                      char *err)
{
    struct rg_db_mem_arg a[] = {I(id), I(owner)};
    return get_one(k, "SELECT " STYLE_COLS " FROM mem_styles WHERE id = $1 AND owner_id = $2", a, 2,
                   sizeof *out, fill_style, clear_style, out, err);
}

static int style_check(const char *name, const char *desc, const char *prompt, bool create,
                       char *err)
{
    int rc = rg_db_check_text("name", name, RG_DB_MEM_STYLE_NAME_MAX, create, err);
    if (!rc && name && !*name) {
        snprintf(err, RG_ERR_SIZE, "name must not be empty");
        rc = RG_EINVAL;
    }
    if (!rc) rc = check_long("description", desc, RG_DB_MEM_STYLE_DESC_MAX, false, err);
    if (!rc) rc = check_long("prompt", prompt, RG_DB_MEM_STYLE_PROMPT_MAX, create, err);
    return rc;
}

int rg_db_mem_style_create(struct rg_db *db, int64_t owner, const char *name, const char *desc,
                           const char *prompt, int64_t now, struct rg_db_mem_style *out, char *err)
{
    int rc = style_check(name, desc, prompt, true, err);
    if (rc) return rc;
    struct conn k;
    if (take(db, &k, err)) return RG_EBUSY;
    struct rg_db_mem_arg a[] = {I(owner),  S(name), S(desc ? desc : ""),
                                S(prompt), I(now),  I(RG_DB_MEM_STYLES_MAX)};
    int64_t id = 0;
    if (k.pg) {
        rc = call(&k, "SELECT mem_style_create($1, $2, $3, $4, $5, $6)", a, 6, &id, err);
        if (!rc && id < 0) rc = pg_code(id, err);
    } else if (!(rc = sq_begin(&k, err))) {
        int64_t count = 0;
        rc = run(&k, "SELECT count(*) FROM mem_styles WHERE owner_id = $1", a, 1, one_int, &count,
                 NULL, err);
        if (!rc && count >= RG_DB_MEM_STYLES_MAX) rc = pg_code(-5, err);
        if (!rc)
            rc = run(&k,
                     "INSERT INTO mem_styles(owner_id, name, description, prompt, created_at,"
                     " updated_at) VALUES ($1, $2, $3, $4, $5, $5) RETURNING id",
                     a, 5, one_int, &id, NULL, err);
        rc = sq_end(&k, rc, err);
    }
    if (!rc) rc = style_read(&k, owner, id, out, err);
    give(&k);
    return rc;
}

int rg_db_mem_style_get(struct rg_db *db, int64_t owner, int64_t id, struct rg_db_mem_style *out,
                        char *err)
{
    struct conn k;
    if (take(db, &k, err)) return RG_EBUSY;
    int rc = style_read(&k, owner, id, out, err);
    give(&k);
    return rc;
}

int rg_db_mem_style_list(struct rg_db *db, int64_t owner, struct rg_db_mem_style **out, size_t *n,
                         char *err)
{
    *out = NULL;
    *n = 0;
    struct conn k;
    if (take(db, &k, err)) return RG_EBUSY;
    struct rows r = {.size = sizeof **out, .fill = fill_style};
    struct rg_db_mem_arg a[] = {I(owner)};
    int rc = run(&k, "SELECT " STYLE_COLS " FROM mem_styles WHERE owner_id = $1 ORDER BY id", a, 1,
                 add_row, &r, NULL, err);
    give(&k);
    if (rc) {
        rg_db_mem_style_list_free(r.v, r.n);
        return rc;
    }
    *out = r.v;
    *n = r.n;
    return RG_OK;
}

int rg_db_mem_style_update(struct rg_db *db, int64_t owner, int64_t id, const char *name,
                           const char *desc, const char *prompt, int64_t now,
                           struct rg_db_mem_style *out, char *err)
{
    int rc = style_check(name, desc, prompt, false, err);
    if (!rc && prompt && !*prompt) {
        snprintf(err, RG_ERR_SIZE, "prompt must not be empty");
        rc = RG_EINVAL;
    }
    if (rc) return rc;
    struct conn k;
    if (take(db, &k, err)) return RG_EBUSY;
    struct rg_db_mem_arg a[] = {I(owner), I(id), S(name), S(desc), S(prompt), I(now)};
    int64_t v = 0;
    if (k.pg) {
        rc = call(&k, "SELECT mem_style_update($1, $2, $3, $4, $5, $6)", a, 6, &v, err);
        if (!rc && v < 0) rc = pg_code(v, err);
    } else {
        int64_t ch = 0;
        rc = run(&k,
                 "UPDATE mem_styles SET name = coalesce($3, name), description = coalesce($4,"
                 " description), prompt = coalesce($5, prompt), updated_at = $6"
                 " WHERE id = $2 AND owner_id = $1",
                 a, 6, NULL, NULL, &ch, err);
        if (!rc && !ch) rc = pg_code(-1, err);
    }
    if (!rc) rc = style_read(&k, owner, id, out, err);
    give(&k);
    return rc;
}

/* A delete by id and owner: RG_ENOTFOUND when nothing was deleted. */
static int delete_owned(struct rg_db *db, int64_t owner, int64_t id, const char *pg_fn,
                        const char *table, char *err)
{
    struct conn k;
    if (take(db, &k, err)) return RG_EBUSY;
    struct rg_db_mem_arg a[] = {I(owner), I(id)};
    char sql[160];
    int64_t v = 0;
    int rc;
    if (k.pg) {
        snprintf(sql, sizeof sql, "SELECT %s($1, $2)", pg_fn);
        rc = call(&k, sql, a, 2, &v, err);
    } else {
        snprintf(sql, sizeof sql, "DELETE FROM %s WHERE id = $2 AND owner_id = $1", table);
        int64_t ch = 0;
        rc = run(&k, sql, a, 2, NULL, NULL, &ch, err);
        v = ch ? 0 : -1;
    }
    give(&k);
    return rc ? rc : pg_code(v, err);
}

int rg_db_mem_style_delete(struct rg_db *db, int64_t owner, int64_t id, char *err)
{
    return delete_owned(db, owner, id, "mem_style_delete", "mem_styles", err);
}

/* ---- glossary -------------------------------------------------------------------- */

#define TERM_COLS "id, owner_id, term, definition, created_at, updated_at"

void rg_db_mem_term_clear(struct rg_db_mem_term *t)
{
    if (!t) return;
    rg_free(t->definition);
    memset(t, 0, sizeof *t);
}

void rg_db_mem_term_list_free(struct rg_db_mem_term *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        rg_db_mem_term_clear(&v[i]);
    rg_free(v);
}

static int fill_term(void *row, const char *const *v, int n)
{
    struct rg_db_mem_term *t = row;
    if (n < 6) return RG_EIO;
    t->id = num(v[0]);
    t->owner_id = num(v[1]);
    rg_strlcpy(t->term, v[2] ? v[2] : "", sizeof t->term);
    t->definition = dup_or_empty(v[3]);
    t->created_at = num(v[4]);
    t->updated_at = num(v[5]);
    return t->definition ? RG_OK : RG_ENOMEM;
}

static void clear_term(void *p)
{
    rg_db_mem_term_clear(p);
}

static int term_read(struct conn *k, int64_t owner, int64_t id, struct rg_db_mem_term *out,
                     char *err)
{
    struct rg_db_mem_arg a[] = {I(id), I(owner)};
    return get_one(k, "SELECT " TERM_COLS " FROM mem_glossary WHERE id = $1 AND owner_id = $2", a,
                   2, sizeof *out, fill_term, clear_term, out, err);
}

static int term_check(const char *term, const char *key, const char *def, bool create, char *err)
{
    int rc = rg_db_check_text("term", term, RG_DB_MEM_TERM_MAX, create, err);
    if (!rc && term) {
        const char *p = term;
        while (*p == ' ' || *p == '\t')
            p++;
        if (!*p || !key || !*key) {
            snprintf(err, RG_ERR_SIZE, "term must have a word");
            rc = RG_EINVAL;
        }
    }
    if (!rc) rc = check_long("definition", def, RG_DB_MEM_DEF_MAX, create, err);
    return rc;
}

static int exists_msg(int rc, char *err)
{
    if (rc == RG_EEXISTS) snprintf(err, RG_ERR_SIZE, "a glossary entry with this term exists");
    return rc;
}

int rg_db_mem_term_create(struct rg_db *db, int64_t owner, const char *term, const char *key,
                          const char *def, int64_t now, struct rg_db_mem_term *out, char *err)
{
    int rc = term_check(term, key, def, true, err);
    if (rc) return rc;
    struct conn k;
    if (take(db, &k, err)) return RG_EBUSY;
    struct rg_db_mem_arg a[] = {I(owner), S(term), S(key),
                                S(def),   I(now),  I(RG_DB_MEM_GLOSSARY_MAX)};
    int64_t id = 0;
    if (k.pg) {
        rc = call(&k, "SELECT mem_term_create($1, $2, $3, $4, $5, $6)", a, 6, &id, err);
        if (!rc && id < 0) rc = pg_code(id, err);
    } else if (!(rc = sq_begin(&k, err))) {
        int64_t count = 0;
        rc = run(&k, "SELECT count(*) FROM mem_glossary WHERE owner_id = $1", a, 1, one_int, &count,
                 NULL, err);
        if (!rc && count >= RG_DB_MEM_GLOSSARY_MAX) rc = pg_code(-5, err);
        if (!rc)
            rc = run(&k,
                     "INSERT INTO mem_glossary(owner_id, term, term_key, definition, created_at,"
                     " updated_at) VALUES ($1, $2, $3, $4, $5, $5) RETURNING id",
                     a, 5, one_int, &id, NULL, err);
        rc = sq_end(&k, rc, err);
    }
    if (!rc) rc = term_read(&k, owner, id, out, err);
    give(&k);
    return exists_msg(rc, err);
}

int rg_db_mem_term_get(struct rg_db *db, int64_t owner, int64_t id, struct rg_db_mem_term *out,
                       char *err)
{
    struct conn k;
    if (take(db, &k, err)) return RG_EBUSY;
    int rc = term_read(&k, owner, id, out, err);
    give(&k);
    return rc;
}

int rg_db_mem_term_list(struct rg_db *db, int64_t owner, const char *key_prefix,
                        struct rg_db_mem_term **out, size_t *n, char *err)
{
    *out = NULL;
    *n = 0;
    struct conn k;
    if (take(db, &k, err)) return RG_EBUSY;
    struct rows r = {.size = sizeof **out, .fill = fill_term};
    struct rg_db_mem_arg a[] = {I(owner), S(key_prefix ? key_prefix : "")};
    int rc = run(&k,
                 "SELECT " TERM_COLS " FROM mem_glossary WHERE owner_id = $1 AND"
                 " substr(term_key, 1, length(CAST($2 AS TEXT))) = CAST($2 AS TEXT)"
                 " ORDER BY term_key, id",
                 a, 2, add_row, &r, NULL, err);
    give(&k);
    if (rc) {
        rg_db_mem_term_list_free(r.v, r.n);
        return rc;
    }
    *out = r.v;
    *n = r.n;
    return RG_OK;
}

int rg_db_mem_term_update(struct rg_db *db, int64_t owner, int64_t id, const char *term,
                          const char *key, const char *def, int64_t now, struct rg_db_mem_term *out,
                          char *err)
{
    int rc = term_check(term, key, def, false, err);
    if (rc) return rc;
    if (!term) key = NULL;
    struct conn k;
    if (take(db, &k, err)) return RG_EBUSY;
    struct rg_db_mem_arg a[] = {I(owner), I(id), S(term), S(key), S(def), I(now)};
    int64_t v = 0;
    if (k.pg) {
        rc = call(&k, "SELECT mem_term_update($1, $2, $3, $4, $5, $6)", a, 6, &v, err);
        if (!rc && v < 0) rc = pg_code(v, err);
    } else {
        int64_t ch = 0;
        rc = run(&k,
                 "UPDATE mem_glossary SET term = coalesce($3, term), term_key = coalesce($4,"
                 " term_key), definition = coalesce($5, definition), updated_at = $6"
                 " WHERE id = $2 AND owner_id = $1",
                 a, 6, NULL, NULL, &ch, err);
        if (!rc && !ch) rc = pg_code(-1, err);
    }
    if (!rc) rc = term_read(&k, owner, id, out, err);
    give(&k);
    return exists_msg(rc, err);
}

int rg_db_mem_term_delete(struct rg_db *db, int64_t owner, int64_t id, char *err)
{
    return delete_owned(db, owner, id, "mem_term_delete", "mem_glossary", err);
}

/* ---- ratings and flags -------------------------------------------------------------- */

void rg_db_mem_flag_clear(struct rg_db_mem_flag *f)
{
    if (!f) return;
    rg_free(f->quote);
    rg_free(f->note);
    memset(f, 0, sizeof *f);
}

void rg_db_mem_flag_list_free(struct rg_db_mem_flag *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        rg_db_mem_flag_clear(&v[i]);
    rg_free(v);
}

static void clear_flag(void *p)
{
    rg_db_mem_flag_clear(p);
}

static void clear_nothing(void *p)
{
    (void)p;
}

static int fill_flag(void *row, const char *const *v, int n)
{
    struct rg_db_mem_flag *f = row;
    if (n < 7) return RG_EIO;
    f->id = num(v[0]);
    f->message_id = num(v[1]);
    f->start = num(v[2]);
    f->end = num(v[3]);
    f->quote = dup_or_empty(v[4]);
    f->note = dup_or_empty(v[5]);
    f->created_at = num(v[6]);
    return f->quote && f->note ? RG_OK : RG_ENOMEM;
}

static int fill_rating(void *row, const char *const *v, int n)
{
    struct rg_db_mem_rating *r = row;
    if (n < 6) return RG_EIO;
    r->message_id = num(v[0]);
    r->conv_id = num(v[1]);
    r->confidence = v[2] ? (int)num(v[2]) : -1;
    rg_strlcpy(r->thumbs, v[3] ? v[3] : "", sizeof r->thumbs);
    r->updated_at = num(v[4]);
    rg_strlcpy(r->model, v[5] ? v[5] : "", sizeof r->model);
    return RG_OK;
}

#define RATING_SQL                                                                                 \
    "SELECT r.message_id, m.conv_id, r.confidence, r.thumbs, r.updated_at, m.model"                \
    " FROM mem_ratings r JOIN messages m ON m.id = r.message_id"
#define FLAG_SQL                                                                                   \
    "SELECT f.id, f.message_id, f.start_at, f.end_at, f.quote, f.note, f.created_at"               \
    " FROM mem_flags f"

/* The role of the owner's message, "" when it is not theirs. */
static int fill_role(void *u, const char *const *v, int n)
{
    if (n > 0) rg_strlcpy(u, v[0] ? v[0] : "", 16);
    return RG_OK;
}

static int msg_role(struct conn *k, int64_t owner, int64_t msg, char role[16], char *err)
{
    role[0] = '\0';
    struct rg_db_mem_arg a[] = {I(owner), I(msg)};
    return run(k,
               "SELECT m.role FROM messages m JOIN conversations c ON c.id = m.conv_id"
               " WHERE m.id = $2 AND c.owner_id = $1",
               a, 2, fill_role, role, NULL, err);
}

static int rating_read(struct conn *k, int64_t owner, int64_t msg, struct rg_db_mem_rating *out,
                       char *err)
{
    struct rg_db_mem_arg a[] = {I(msg), I(owner)};
    int rc = get_one(k, RATING_SQL " WHERE r.message_id = $1 AND r.owner_id = $2", a, 2,
                     sizeof *out, fill_rating, clear_nothing, out, err);
    if (rc == RG_ENOTFOUND) { /* never rated */
        memset(out, 0, sizeof *out);
        out->message_id = msg;
        out->confidence = -1;
        rc = RG_OK;
    }
    return rc;
}

int rg_db_mem_rating_put(struct rg_db *db, int64_t owner, int64_t msg_id, int confidence,
                         const char *thumbs, int64_t now, struct rg_db_mem_rating *out, char *err)
{
    if (confidence < -1 || confidence > 100 || !thumbs ||
        (*thumbs && strcmp(thumbs, "up") != 0 && strcmp(thumbs, "down") != 0)) {
        snprintf(err, RG_ERR_SIZE, "confidence 0..100 or none, thumbs up, down or none");
        return RG_EINVAL;
    }
    struct conn k;
    if (take(db, &k, err)) return RG_EBUSY;
    struct rg_db_mem_arg a[] = {I(owner), I(msg_id),
                                confidence < 0 ? (struct rg_db_mem_arg)N0
                                               : (struct rg_db_mem_arg)I(confidence),
                                S(thumbs), I(now)};
    int rc;
    int64_t v = 0;
    if (k.pg) {
        rc = call(&k, "SELECT mem_rating_put($1, $2, $3, $4, $5)", a, 5, &v, err);
    } else if (!(rc = sq_begin(&k, err))) {
        char role[16];
        rc = msg_role(&k, owner, msg_id, role, err);
        v = !*role ? -1 : strcmp(role, "assistant") ? -2 : 0;
        if (!rc && !v)
            rc = run(&k,
                     "INSERT INTO mem_ratings(message_id, owner_id, confidence, thumbs, updated_at)"
                     " VALUES ($2, $1, $3, $4, $5) ON CONFLICT (message_id) DO UPDATE SET"
                     " confidence = excluded.confidence, thumbs = excluded.thumbs,"
                     " updated_at = excluded.updated_at",
                     a, 5, NULL, NULL, NULL, err);
        rc = sq_end(&k, rc, err);
    }
    if (!rc && v < 0) rc = pg_code(v, err);
    if (!rc) rc = rating_read(&k, owner, msg_id, out, err);
    give(&k);
    return rc;
}

int rg_db_mem_rating_get(struct rg_db *db, int64_t owner, int64_t msg_id,
                         struct rg_db_mem_rating *out, struct rg_db_mem_flag **flags, size_t *nf,
                         char *err)
{
    *flags = NULL;
    *nf = 0;
    struct conn k;
    if (take(db, &k, err)) return RG_EBUSY;
    char role[16];
    int rc = msg_role(&k, owner, msg_id, role, err);
    if (!rc && !*role) rc = pg_code(-1, err);
    if (!rc) rc = rating_read(&k, owner, msg_id, out, err);
    struct rows r = {.size = sizeof **flags, .fill = fill_flag};
    struct rg_db_mem_arg a[] = {I(msg_id), I(owner)};
    if (!rc)
        rc = run(&k, FLAG_SQL " WHERE f.message_id = $1 AND f.owner_id = $2 ORDER BY f.id", a, 2,
                 add_row, &r, NULL, err);
    give(&k);
    if (rc) {
        rg_db_mem_flag_list_free(r.v, r.n);
        return rc;
    }
    *flags = r.v;
    *nf = r.n;
    return RG_OK;
}

int rg_db_mem_flag_add(struct rg_db *db, int64_t owner, int64_t msg_id, int64_t start, int64_t end,
                       const char *note, int64_t now, struct rg_db_mem_flag *out, char *err)
{
    int rc = check_long("note", note, RG_DB_MEM_NOTE_MAX, false, err);
    if (rc) return rc;
    struct rg_db_msg m = {0};
    rc = rg_db_msg_get(db, owner, msg_id, &m, err);
    if (rc) return rc;
    size_t len = strlen(m.content);
    const unsigned char *s = (const unsigned char *)m.content;
    if (strcmp(m.role, "assistant") != 0) {
        rc = pg_code(-2, err);
    } else if (start < 0 || end <= start || (size_t)end > len ||
               end - start > RG_DB_MEM_QUOTE_MAX || (s[start] & 0xC0) == 0x80 ||
               ((size_t)end < len && (s[end] & 0xC0) == 0x80)) {
        snprintf(err, RG_ERR_SIZE,
                 "start and end must be byte offsets of whole characters in the content"
                 " (0 <= start < end <= %zu, at most %d bytes)",
                 len, RG_DB_MEM_QUOTE_MAX);
        rc = RG_EINVAL;
    }
    char *quote = rc ? NULL : rg_malloc((size_t)(end - start) + 1);
    if (!rc && !quote) rc = RG_ENOMEM;
    if (!rc) {
        memcpy(quote, m.content + start, (size_t)(end - start));
        quote[end - start] = '\0';
    }
    rg_db_msg_clear(&m);
    if (rc) return rc;
    struct conn k;
    if (take(db, &k, err)) {
        rg_free(quote);
        return RG_EBUSY;
    }
    struct rg_db_mem_arg a[] = {I(owner), I(msg_id),           I(start), I(end),
                                S(quote), S(note ? note : ""), I(now),   I(RG_DB_MEM_FLAGS_MAX)};
    int64_t id = 0;
    if (k.pg) {
        rc = call(&k, "SELECT mem_flag_add($1, $2, $3, $4, $5, $6, $7, $8)", a, 8, &id, err);
        if (!rc && id < 0) rc = pg_code(id, err);
    } else if (!(rc = sq_begin(&k, err))) {
        char role[16];
        rc = msg_role(&k, owner, msg_id, role, err);
        if (!rc && !*role) rc = pg_code(-1, err);
        int64_t count = 0;
        if (!rc)
            rc = run(&k, "SELECT count(*) FROM mem_flags WHERE message_id = $2", a, 2, one_int,
                     &count, NULL, err);
        if (!rc && count >= RG_DB_MEM_FLAGS_MAX) rc = pg_code(-5, err);
        if (!rc)
            rc = run(&k,
                     "INSERT INTO mem_ratings(message_id, owner_id, confidence, thumbs, updated_at)"
                     " VALUES ($2, $1, NULL, '', $7) ON CONFLICT (message_id) DO NOTHING",
                     a, 7, NULL, NULL, NULL, err);
        if (!rc)
            rc = run(&k,
                     "INSERT INTO mem_flags(message_id, owner_id, start_at, end_at, quote, note,"
                     " created_at) VALUES ($2, $1, $3, $4, $5, $6, $7) RETURNING id",
                     a, 7, one_int, &id, NULL, err);
        rc = sq_end(&k, rc, err);
    }
    rg_free(quote);
    struct rg_db_mem_arg b[] = {I(id), I(owner)};
    if (!rc)
        rc = get_one(&k, FLAG_SQL " WHERE f.id = $1 AND f.owner_id = $2", b, 2, sizeof *out,
                     fill_flag, clear_flag, out, err);
    give(&k);
    return rc;
}

int rg_db_mem_flag_delete(struct rg_db *db, int64_t owner, int64_t flag_id, char *err)
{
    return delete_owned(db, owner, flag_id, "mem_flag_delete", "mem_flags", err);
}

int rg_db_mem_ratings_list(struct rg_db *db, int64_t owner, int64_t conv,
                           struct rg_db_mem_rating **ratings, size_t *nr,
                           struct rg_db_mem_flag **flags, size_t *nf, char *err)
{
    *ratings = NULL;
    *flags = NULL;
    *nr = *nf = 0;
    struct conn k;
    if (take(db, &k, err)) return RG_EBUSY;
    struct rows r = {.size = sizeof **ratings, .fill = fill_rating};
    struct rows f = {.size = sizeof **flags, .fill = fill_flag};
    struct rg_db_mem_arg a[] = {I(owner), I(conv)};
    int rc = run(&k,
                 RATING_SQL " WHERE r.owner_id = $1 AND (CAST($2 AS BIGINT) = 0 OR"
                            " m.conv_id = CAST($2 AS BIGINT)) ORDER BY r.message_id",
                 a, 2, add_row, &r, NULL, err);
    if (!rc)
        rc = run(&k,
                 FLAG_SQL " JOIN messages m ON m.id = f.message_id WHERE f.owner_id = $1 AND"
                          " (CAST($2 AS BIGINT) = 0 OR m.conv_id = CAST($2 AS BIGINT))"
                          " ORDER BY f.message_id, f.id",
                 a, 2, add_row, &f, NULL, err);
    give(&k);
    if (rc) {
        rg_free(r.v);
        rg_db_mem_flag_list_free(f.v, f.n);
        return rc;
    }
    *ratings = r.v;
    *nr = r.n;
    *flags = f.v;
    *nf = f.n;
    return RG_OK;
}

static int fill_sum(void *row, const char *const *v, int n)
{
    struct rg_db_mem_model_sum *s = row;
    if (n < 6) return RG_EIO;
    rg_strlcpy(s->model, v[0] ? v[0] : "", sizeof s->model);
    s->answers_rated = num(v[1]);
    s->avg_confidence = v[2] ? strtod(v[2], NULL) : NAN;
    s->thumbs_up = num(v[3]);
    s->thumbs_down = num(v[4]);
    s->flags = num(v[5]);
    return RG_OK;
}

int rg_db_mem_ratings_summary(struct rg_db *db, struct rg_db_mem_model_sum **out, size_t *n,
                              char *err)
{
    *out = NULL;
    *n = 0;
    struct conn k;
    if (take(db, &k, err)) return RG_EBUSY;
    struct rows r = {.size = sizeof **out, .fill = fill_sum};
    int rc = run(&k,
                 "SELECT m.model, count(*), avg(r.confidence),"
                 " sum(CASE WHEN r.thumbs = 'up' THEN 1 ELSE 0 END),"
                 " sum(CASE WHEN r.thumbs = 'down' THEN 1 ELSE 0 END),"
                 " sum((SELECT count(*) FROM mem_flags f WHERE f.message_id = r.message_id))"
                 " FROM mem_ratings r JOIN messages m ON m.id = r.message_id"
                 " WHERE r.confidence IS NOT NULL OR r.thumbs <> '' OR EXISTS (SELECT 1 FROM"
                 " mem_flags f WHERE f.message_id = r.message_id)"
                 " GROUP BY m.model ORDER BY m.model",
                 NULL, 0, add_row, &r, NULL, err);
    give(&k);
    if (rc) {
        rg_free(r.v);
        return rc;
    }
    *out = r.v;
    *n = r.n;
    return RG_OK;
}

/* ---- conversation type ---------------------------------------------------------------- */

bool rg_db_mem_conv_type_valid(const char *type)
{
    return type && (!*type || !strcmp(type, "reflective") || !strcmp(type, "analytical") ||
                    !strcmp(type, "practical"));
}

int rg_db_mem_conv_set_type(struct rg_db *db, int64_t owner, int64_t conv_id, const char *type,
                            bool by_hand, bool only_if_auto, char *err)
{
    if (!rg_db_mem_conv_type_valid(type)) {
        snprintf(err, RG_ERR_SIZE, "type must be reflective, analytical, practical or \"\"");
        return RG_EINVAL;
    }
    struct conn k;
    if (take(db, &k, err)) return RG_EBUSY;
    struct rg_db_mem_arg a[] = {I(owner), I(conv_id), S(type), I(by_hand ? 0 : 1),
                                I(only_if_auto ? 1 : 0)};
    int64_t v = 0;
    int rc;
    if (k.pg) {
        rc = call(&k, "SELECT mem_conv_set_type($1, $2, $3, $4, $5)", a, 5, &v, err);
    } else if (!(rc = sq_begin(&k, err))) {
        int64_t is_auto = -1;
        rc = run(&k, "SELECT type_auto FROM conversations WHERE id = $2 AND owner_id = $1", a, 2,
                 one_int, &is_auto, NULL, err);
        v = is_auto < 0 ? -1 : only_if_auto && !is_auto ? -3 : 0;
        if (!rc && !v)
            rc = run(&k, "UPDATE conversations SET type = $3, type_auto = $4 WHERE id = $2", a, 4,
                     NULL, NULL, NULL, err);
        rc = sq_end(&k, rc, err);
    }
    give(&k);
    return rc ? rc : pg_code(v, err);
}
