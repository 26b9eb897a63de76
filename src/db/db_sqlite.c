/*
 * The SQLite backend: the embedded default. The rules the PostgreSQL backend
 * keeps in PL/pgSQL functions live here in C, each inside one
 * `BEGIN IMMEDIATE` transaction (the write lock is taken up front, so two
 * connections never deadlock upgrading a read lock, and decisions such as
 * "the first account is the admin" see a stable database).
 */
#include <stdio.h>
#include <string.h>

#include <sqlite3.h>

#include "common/alloc.h"
#include "common/str.h"
#include "db/db_internal.h"
#include "db/sqlite_internal.h"

/* ---- migrations ------------------------------------------------------------ */

struct migration {
    int version;
    const char *name;
    const char *sql;
};

static const struct migration MIGRATIONS[] = {
    {1, "accounts",
     "CREATE TABLE users ("
     " id INTEGER PRIMARY KEY AUTOINCREMENT,"
     " email TEXT NOT NULL UNIQUE,"
     " name TEXT NOT NULL DEFAULT '',"
     " role TEXT NOT NULL CHECK (role IN ('admin','user','readonly')),"
     " password_hash TEXT NOT NULL DEFAULT '',"
     " disabled INTEGER NOT NULL DEFAULT 0,"
     " pending INTEGER NOT NULL DEFAULT 0,"
     " created_at INTEGER NOT NULL,"
     " updated_at INTEGER NOT NULL);"
     "CREATE TABLE login_attempts ("
     " id INTEGER PRIMARY KEY AUTOINCREMENT,"
     " email TEXT NOT NULL,"
     " addr TEXT NOT NULL,"
     " ok INTEGER NOT NULL DEFAULT 0,"
     " cleared INTEGER NOT NULL DEFAULT 0,"
     " at INTEGER NOT NULL);"
     "CREATE INDEX login_attempts_email ON login_attempts(email, at);"
     "CREATE INDEX login_attempts_addr ON login_attempts(addr, at);"
     "CREATE INDEX login_attempts_at ON login_attempts(at);"
     "CREATE TABLE sessions ("
     " id INTEGER PRIMARY KEY AUTOINCREMENT,"
     " user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
     " family TEXT NOT NULL,"
     " token_hash TEXT NOT NULL UNIQUE,"
     " created_at INTEGER NOT NULL,"
     " expires_at INTEGER NOT NULL,"
     " user_agent TEXT NOT NULL DEFAULT '',"
     " replaced_at INTEGER,"
     " revoked_at INTEGER);"
     "CREATE INDEX sessions_family ON sessions(family);"
     "CREATE INDEX sessions_user ON sessions(user_id);"
     "CREATE TABLE identities ("
     " id INTEGER PRIMARY KEY AUTOINCREMENT,"
     " provider TEXT NOT NULL,"
     " subject TEXT NOT NULL,"
     " user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
     " email TEXT NOT NULL DEFAULT '',"
     " created_at INTEGER NOT NULL,"
     " UNIQUE (provider, subject),"
     " UNIQUE (user_id, provider));"
     "CREATE TABLE api_keys ("
     " id INTEGER PRIMARY KEY AUTOINCREMENT,"
     " user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
     " name TEXT NOT NULL DEFAULT '',"
     " prefix TEXT NOT NULL UNIQUE,"
     " key_hash TEXT NOT NULL,"
     " scopes TEXT NOT NULL DEFAULT '',"
     " created_at INTEGER NOT NULL,"
     " last_used_at INTEGER,"
     " revoked_at INTEGER);"
     "CREATE INDEX api_keys_user ON api_keys(user_id);"},
    /* sign-in failures are counted per (account, address) */
    {2, "lockout by address and account",
     "CREATE INDEX login_attempts_pair ON login_attempts(email, addr, at);"},
    {3, "jobs", rg_db_sqlite_jobs_migration},
    {4, "conversations", rg_db_sqlite_conv_migration},
    {5, "library", rg_db_sqlite_lib_migration},
    {6, "memory", rg_db_sqlite_mem_migration},
    {7, "survival", rg_db_sqlite_surv_migration},
    {8, "message vectors", rg_db_sqlite_msgvec_migration},
};
_Static_assert(RG_ARRAY_LEN(MIGRATIONS) == RG_DB_LATEST, "one migration per version");

/* ---- statements ----------------------------------------------------------- */

#define USER_COLS "id, email, name, role, password_hash, disabled, pending, created_at"
#define USER_COLS_U                                                                                \
    "u.id, u.email, u.name, u.role, u.password_hash, u.disabled, u.pending, u.created_at"

static void read_user(sqlite3_stmt *st, int at, struct rg_db_user *u)
{
    u->id = sqlite3_column_int64(st, at);
    rg_db_copy(u->email, sizeof u->email, rg_db_sq_text(st, at + 1));
    rg_db_copy(u->name, sizeof u->name, rg_db_sq_text(st, at + 2));
    rg_db_copy(u->role, sizeof u->role, rg_db_sq_text(st, at + 3));
    rg_db_copy(u->pw_hash, sizeof u->pw_hash, rg_db_sq_text(st, at + 4));
    u->disabled = sqlite3_column_int(st, at + 5) != 0;
    u->pending = sqlite3_column_int(st, at + 6) != 0;
    u->created_at = sqlite3_column_int64(st, at + 7);
}

/* Runs a query expected to give at most one user row. RG_ENOTFOUND if none. */
static int one_user(sqlite3 *c, sqlite3_stmt *st, struct rg_db_user *u, char *err)
{
    if (!st) return RG_EIO;
    int rc = sqlite3_step(st), out;
    if (rc == SQLITE_ROW) {
        read_user(st, 0, u);
        out = RG_OK;
    } else if (rc == SQLITE_DONE) {
        out = rg_err_set(err, RG_ENOTFOUND, "no such user");
    } else {
        out = rg_db_sq_fail(c, err);
    }
    sqlite3_finalize(st);
    return out;
}

/* Steps st to the end, appending each row to the growing array *out of
 * elem-byte items read by read_row. On failure *out is freed and emptied. */
static int collect(sqlite3 *c, sqlite3_stmt *st, void **out, size_t *n, size_t elem,
                   void (*read_row)(sqlite3_stmt *st, void *item), char *err)
{
    if (!st) return RG_EIO;
    size_t cap = 0;
    int rc, res = RG_OK;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (*n == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            void *v = rg_malloc_array(ncap, elem);
            if (!v) {
                res = rg_err_set(err, RG_ENOMEM, "out of memory");
                break;
            }
            if (*n) memcpy(v, *out, *n * elem);
            rg_free(*out);
            *out = v;
            cap = ncap;
        }
        void *item = (char *)*out + *n * elem;
        memset(item, 0, elem);
        read_row(st, item);
        (*n)++;
    }
    if (res == RG_OK && rc != SQLITE_DONE) res = rg_db_sq_fail(c, err);
    sqlite3_finalize(st);
    if (res) {
        rg_free(*out);
        *out = NULL;
        *n = 0;
    }
    return res;
}

/* ---- connection ------------------------------------------------------------ */

static int s_connect(const char *url, int busy_ms, void **conn, char *err)
{
    const char *path = url + strlen("sqlite:");
    if (!*path) return rg_err_set(err, RG_EINVAL, "--db sqlite:PATH: the path is empty");
    sqlite3 *c = NULL;
    int rc = sqlite3_open_v2(
        path, &c, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        rg_err_set(err, RG_EIO, "--db %s: %s", path, c ? sqlite3_errmsg(c) : sqlite3_errstr(rc));
        sqlite3_close(c);
        return RG_EIO;
    }
    sqlite3_busy_timeout(c, busy_ms);
    sqlite3_extended_result_codes(c, 1);
    char e[RG_ERR_SIZE];
    if (rg_db_sq_exec(c,
                      "PRAGMA journal_mode=WAL; PRAGMA foreign_keys=ON; PRAGMA synchronous=NORMAL;",
                      e) != RG_OK) {
        rg_err_set(err, RG_EIO, "--db %s: %s", path, e);
        sqlite3_close(c);
        return RG_EIO;
    }
    *conn = c;
    return RG_OK;
}

static void s_disconnect(void *conn)
{
    sqlite3_close(conn);
}

static int s_version(void *conn, int *current, char *err)
{
    sqlite3 *c = conn;
    int64_t n = 0;
    int rc =
        rg_db_sq_one_int(c,
                         rg_db_sq_prep(c, err,
                                       "SELECT count(*) FROM sqlite_master WHERE type='table' AND "
                                       "name='schema_migrations'",
                                       ""),
                         &n, err);
    if (rc) return rc;
    *current = 0;
    if (!n) return RG_OK;
    int64_t v = 0;
    rc = rg_db_sq_one_int(
        c, rg_db_sq_prep(c, err, "SELECT coalesce(max(version),0) FROM schema_migrations", ""), &v,
        err);
    *current = (int)v;
    return rc;
}

static int s_migrate(void *conn, int *applied, char *err)
{
    sqlite3 *c = conn;
    int rc =
        rg_db_sq_exec(c,
                      "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY,"
                      " name TEXT NOT NULL, applied_at INTEGER NOT NULL)",
                      err);
    if (rc) return rc;
    for (size_t i = 0; i < RG_ARRAY_LEN(MIGRATIONS); i++) {
        if ((rc = rg_db_sq_begin(c, err))) return rc;
        int cur = 0;
        rc = s_version(c, &cur, err);
        if (!rc && cur > RG_DB_LATEST)
            rc = rg_err_set(err, RG_EUNSUPPORTED,
                            "database schema version %d is newer than this rustygpt (knows %d)",
                            cur, RG_DB_LATEST);
        if (!rc && cur >= MIGRATIONS[i].version) { /* another process got there first */
            rg_db_sq_finish(c, RG_OK, false, err);
            continue;
        }
        if (!rc) rc = rg_db_sq_exec(c, MIGRATIONS[i].sql, err);
        if (!rc)
            rc = rg_db_sq_run(
                c,
                rg_db_sq_prep(c, err,
                              "INSERT INTO schema_migrations(version, name, applied_at) "
                              "VALUES (?, ?, strftime('%s','now'))",
                              "is", (int64_t)MIGRATIONS[i].version, MIGRATIONS[i].name),
                NULL, err);
        rc = rg_db_sq_finish(c, rc, false, err);
        if (rc) return rc;
        (*applied)++;
    }
    int cur = 0;
    rc = s_version(c, &cur, err);
    if (!rc && cur > RG_DB_LATEST)
        rc = rg_err_set(err, RG_EUNSUPPORTED,
                        "database schema version %d is newer than this rustygpt (knows %d)", cur,
                        RG_DB_LATEST);
    return rc;
}

/* ---- users ------------------------------------------------------------------ */

static int user_by_id(sqlite3 *c, int64_t id, struct rg_db_user *u, char *err)
{
    return one_user(
        c, rg_db_sq_prep(c, err, "SELECT " USER_COLS " FROM users WHERE id = ?", "i", id), u, err);
}

/* Inserts a user (inside the caller's BEGIN IMMEDIATE transaction, so the
 * count below cannot change before the insert), applying the first-user
 * rule when role is NULL and refusing all but the first when first_only. */
static int insert_user(sqlite3 *c, const char *email, const char *name, const char *pw_hash,
                       const char *role, bool pending, bool first_only, int64_t now,
                       struct rg_db_user *out, char *err)
{
    if (!role || first_only) {
        int64_t n = 0;
        int rc =
            rg_db_sq_one_int(c, rg_db_sq_prep(c, err, "SELECT count(*) FROM users", ""), &n, err);
        if (rc) return rc;
        if (first_only && n > 0)
            return rg_err_set(err, RG_EPERM, "sign-up is closed: ask an admin for an account");
    }
    if (!role) {
        int64_t n = 0;
        int rc =
            rg_db_sq_one_int(c, rg_db_sq_prep(c, err, "SELECT count(*) FROM users", ""), &n, err);
        if (rc) return rc;
        role = n == 0 ? RG_DB_ROLE_ADMIN : RG_DB_ROLE_USER;
        if (n == 0) pending = false; /* nobody could approve the first account */
    }
    int rc = rg_db_sq_run(
        c,
        rg_db_sq_prep(c, err,
                      "INSERT INTO users(email, name, role, password_hash, pending, created_at,"
                      " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                      "ssssbii", email, name, role, pw_hash, (int)pending, now, now),
        NULL, err);
    if (rc == RG_EEXISTS) return rg_err_set(err, RG_EEXISTS, "an account with this email exists");
    if (rc) return rc;
    return user_by_id(c, sqlite3_last_insert_rowid(c), out, err);
}

static int s_user_create(void *conn, const struct rg_db_new_user *u, struct rg_db_user *out,
                         char *err)
{
    sqlite3 *c = conn;
    int rc = rg_db_sq_begin(c, err);
    if (rc) return rc;
    rc = insert_user(c, u->email, u->name, u->pw_hash, u->role, u->pending, u->first_only, u->now,
                     out, err);
    return rg_db_sq_finish(c, rc, false, err);
}

static int s_user_get(void *conn, int64_t id, struct rg_db_user *out, char *err)
{
    return user_by_id(conn, id, out, err);
}

static int s_user_by_email(void *conn, const char *email, struct rg_db_user *out, char *err)
{
    sqlite3 *c = conn;
    return one_user(
        c, rg_db_sq_prep(c, err, "SELECT " USER_COLS " FROM users WHERE email = ?", "s", email),
        out, err);
}

static void user_row(sqlite3_stmt *st, void *item)
{
    read_user(st, 0, item);
}

static int s_user_list(void *conn, struct rg_db_user **out, size_t *n, char *err)
{
    sqlite3 *c = conn;
    return collect(c, rg_db_sq_prep(c, err, "SELECT " USER_COLS " FROM users ORDER BY id", ""),
                   (void **)out, n, sizeof **out, user_row, err);
}

static int s_user_count(void *conn, int64_t *n, char *err)
{
    sqlite3 *c = conn;
    return rg_db_sq_one_int(c, rg_db_sq_prep(c, err, "SELECT count(*) FROM users", ""), n, err);
}

static int s_user_update(void *conn, int64_t id, const struct rg_db_user_change *ch, int64_t now,
                         struct rg_db_user *out, char *err)
{
    sqlite3 *c = conn;
    int rc = rg_db_sq_begin(c, err);
    if (rc) return rc;
    struct rg_db_user before;
    rc = user_by_id(c, id, &before, err);
    if (!rc)
        rc = rg_db_sq_run(
            c,
            rg_db_sq_prep(
                c, err,
                "UPDATE users SET role = coalesce(?, role),"
                " disabled = CASE WHEN ? < 0 THEN disabled ELSE ? END,"
                " pending = CASE WHEN ? < 0 THEN pending ELSE ? END,"
                " password_hash = coalesce(?, password_hash), updated_at = ? WHERE id = ?",
                "siiiisii", ch->role, (int64_t)ch->disabled, (int64_t)ch->disabled,
                (int64_t)ch->pending, (int64_t)ch->pending, ch->pw_hash, now, id),
            NULL, err);
    if (!rc && ch->disabled == 1)
        rc = rg_db_sq_run(
            c,
            rg_db_sq_prep(
                c, err,
                "UPDATE sessions SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL", "ii",
                now, id),
            NULL, err);
    int64_t admins = 0;
    if (!rc)
        rc = rg_db_sq_one_int(
            c,
            rg_db_sq_prep(c, err,
                          "SELECT count(*) FROM users WHERE role = 'admin' AND disabled = 0 AND "
                          "pending = 0",
                          ""),
            &admins, err);
    if (!rc && admins == 0)
        rc = rg_err_set(
            err, RG_ESTATE,
            "cannot demote or disable the last enabled admin: make another account admin first");
    if (!rc) rc = user_by_id(c, id, out, err);
    return rg_db_sq_finish(c, rc, false, err);
}

/* ---- sign-in ---------------------------------------------------------------- */

static int s_login(void *conn, const char *email, const char *addr, int window_s, int64_t now,
                   struct rg_db_login *out, char *err)
{
    sqlite3 *c = conn;
    int rc = rg_db_sq_begin(c, err);
    if (rc) return rc;
    rc = rg_db_sq_run(
        c, rg_db_sq_prep(c, err, "DELETE FROM login_attempts WHERE at < ?", "i", now - 86400), NULL,
        err);
    if (!rc)
        rc = rg_db_sq_run(
            c,
            rg_db_sq_prep(c, err, "INSERT INTO login_attempts(email, addr, at) VALUES (?, ?, ?)",
                          "ssi", email, addr, now),
            NULL, err);
    if (!rc) out->attempt_id = sqlite3_last_insert_rowid(c);
    int64_t v = 0;
    if (!rc) {
        sqlite3_stmt *st =
            rg_db_sq_prep(c, err,
                          "SELECT count(*), coalesce(max(at), 0) FROM login_attempts"
                          " WHERE email = ? AND addr = ? AND ok = 0 AND cleared = 0 AND"
                          " at > ? AND id <> ?",
                          "ssii", email, addr, now - window_s, out->attempt_id);
        if (!st) {
            rc = RG_EIO;
        } else {
            if (sqlite3_step(st) == SQLITE_ROW) {
                out->failures_pair = sqlite3_column_int(st, 0);
                out->last_failure_at = sqlite3_column_int64(st, 1);
            } else {
                rc = rg_db_sq_fail(c, err);
            }
            sqlite3_finalize(st);
        }
    }
    if (!rc)
        rc = rg_db_sq_one_int(
            c,
            rg_db_sq_prep(c, err,
                          "SELECT count(*) FROM login_attempts WHERE addr = ? AND ok = 0 AND "
                          "at > ? AND id <> ?",
                          "sii", addr, now - window_s, out->attempt_id),
            &v, err);
    out->failures_addr = (int)v;
    if (!rc) {
        rc = s_user_by_email(c, email, &out->user, err);
        out->found = rc == RG_OK;
        if (rc == RG_ENOTFOUND) {
            memset(&out->user, 0, sizeof out->user);
            rc = RG_OK;
        }
    }
    return rg_db_sq_finish(c, rc, false, err);
}

static int s_login_succeeded(void *conn, int64_t attempt_id, char *err)
{
    sqlite3 *c = conn;
    int rc = rg_db_sq_begin(c, err);
    if (rc) return rc;
    rc = rg_db_sq_run(
        c, rg_db_sq_prep(c, err, "UPDATE login_attempts SET ok = 1 WHERE id = ?", "i", attempt_id),
        NULL, err);
    if (!rc && sqlite3_changes(c) == 0) rc = rg_err_set(err, RG_ENOTFOUND, "no such attempt");
    if (!rc)
        rc = rg_db_sq_run(
            c,
            rg_db_sq_prep(c, err,
                          "UPDATE login_attempts SET cleared = 1 WHERE ok = 0 AND"
                          " (email, addr) = (SELECT email, addr FROM login_attempts WHERE id = ?)",
                          "i", attempt_id),
            NULL, err);
    return rg_db_sq_finish(c, rc, false, err);
}

/* ---- sessions -------------------------------------------------------------- */

#define SESSION_COLS "s.id, s.user_id, s.family, s.created_at, s.expires_at"

static void read_session(sqlite3_stmt *st, struct rg_db_session *s)
{
    s->id = sqlite3_column_int64(st, 0);
    s->user_id = sqlite3_column_int64(st, 1);
    rg_db_copy(s->family, sizeof s->family, rg_db_sq_text(st, 2));
    s->created_at = sqlite3_column_int64(st, 3);
    s->expires_at = sqlite3_column_int64(st, 4);
}

static int session_by_id(sqlite3 *c, int64_t id, struct rg_db_session *s, char *err)
{
    sqlite3_stmt *st =
        rg_db_sq_prep(c, err, "SELECT " SESSION_COLS " FROM sessions s WHERE s.id = ?", "i", id);
    if (!st) return RG_EIO;
    int rc = sqlite3_step(st), out = RG_OK;
    if (rc == SQLITE_ROW)
        read_session(st, s);
    else
        out = rc == SQLITE_DONE ? rg_err_set(err, RG_ENOTFOUND, "no such session")
                                : rg_db_sq_fail(c, err);
    sqlite3_finalize(st);
    return out;
}

static int insert_session(sqlite3 *c, int64_t user_id, const char *family, const char *hash,
                          int64_t expires, const char *ua, int64_t now, struct rg_db_session *out,
                          char *err)
{
    int rc = rg_db_sq_run(
        c,
        rg_db_sq_prep(c, err,
                      "INSERT INTO sessions(user_id, family, token_hash, created_at, expires_at,"
                      " user_agent) VALUES (?, ?, ?, ?, ?, ?)",
                      "issiis", user_id, family, hash, now, expires, ua),
        NULL, err);
    if (rc) return rc;
    return session_by_id(c, sqlite3_last_insert_rowid(c), out, err);
}

static int s_session_create(void *conn, int64_t user_id, const char *token_hash, int64_t expires_at,
                            const char *ua, int64_t now, struct rg_db_session *out, char *err)
{
    sqlite3 *c = conn;
    char family[40];
    if (rg_db_family_new(family) != RG_OK) return rg_err_set(err, RG_EINTERNAL, "no random bytes");
    int rc = rg_db_sq_begin(c, err);
    if (rc) return rc;
    rc = insert_session(c, user_id, family, token_hash, expires_at, ua, now, out, err);
    /* an unknown user_id fails the foreign key: RG_ENOTFOUND from rg_db_sq_fail */
    return rg_db_sq_finish(c, rc, false, err);
}

static int s_session_validate(void *conn, const char *token_hash, int64_t now,
                              struct rg_db_session *s, struct rg_db_user *u, char *err)
{
    sqlite3 *c = conn;
    sqlite3_stmt *st = rg_db_sq_prep(
        c, err,
        "SELECT " SESSION_COLS ", " USER_COLS_U " FROM sessions s JOIN users u ON u.id = s.user_id"
        " WHERE s.token_hash = ? AND s.replaced_at IS NULL AND"
        " s.revoked_at IS NULL AND s.expires_at > ? AND u.disabled = 0 AND"
        " u.pending = 0",
        "si", token_hash, now);
    if (!st) return RG_EIO;
    int rc = sqlite3_step(st), out = RG_OK;
    if (rc == SQLITE_ROW) {
        read_session(st, s);
        read_user(st, 5, u);
    } else {
        out = rc == SQLITE_DONE ? rg_err_set(err, RG_EAUTH, "invalid session")
                                : rg_db_sq_fail(c, err);
    }
    sqlite3_finalize(st);
    return out;
}

static int revoke_family(sqlite3 *c, const char *family, int64_t now, char *err)
{
    return rg_db_sq_run(
        c,
        rg_db_sq_prep(c, err,
                      "UPDATE sessions SET revoked_at = ? WHERE family = ? AND revoked_at IS NULL",
                      "is", now, family),
        NULL, err);
}

static int s_session_rotate(void *conn, const char *old_hash, const char *new_hash,
                            int64_t new_expires, const char *ua, int64_t now,
                            struct rg_db_session *s, struct rg_db_user *u, bool *reuse, char *err)
{
    sqlite3 *c = conn;
    int rc = rg_db_sq_begin(c, err);
    if (rc) return rc;
    sqlite3_stmt *st = rg_db_sq_prep(c, err,
                                     "SELECT " SESSION_COLS ", s.replaced_at IS NOT NULL,"
                                     " s.revoked_at IS NOT NULL, " USER_COLS_U
                                     " FROM sessions s JOIN users u ON u.id = s.user_id"
                                     " WHERE s.token_hash = ?",
                                     "s", old_hash);
    if (!st) return rg_db_sq_finish(c, RG_EIO, false, err);
    struct rg_db_session old = {0};
    bool replaced = false, revoked = false;
    int step = sqlite3_step(st);
    if (step == SQLITE_ROW) {
        read_session(st, &old);
        replaced = sqlite3_column_int(st, 5) != 0;
        revoked = sqlite3_column_int(st, 6) != 0;
        read_user(st, 7, u);
    }
    sqlite3_finalize(st);
    if (step == SQLITE_DONE)
        return rg_db_sq_finish(c, rg_err_set(err, RG_EAUTH, "invalid session"), false, err);
    if (step != SQLITE_ROW) return rg_db_sq_finish(c, rg_db_sq_fail(c, err), false, err);
    if (replaced) {
        *reuse = true;
        rc = revoke_family(c, old.family, now, err);
        if (rc) return rg_db_sq_finish(c, rc, false, err);
        memset(u, 0, sizeof *u);
        /* the revocation is kept although the call fails */
        return rg_db_sq_finish(
            c, rg_err_set(err, RG_EAUTH, "refresh token reused: session revoked"), true, err);
    }
    if (revoked || old.expires_at <= now || u->disabled || u->pending) {
        memset(u, 0, sizeof *u);
        return rg_db_sq_finish(c, rg_err_set(err, RG_EAUTH, "invalid session"), false, err);
    }
    rc = rg_db_sq_run(c,
                      rg_db_sq_prep(c, err, "UPDATE sessions SET replaced_at = ? WHERE id = ?",
                                    "ii", now, old.id),
                      NULL, err);
    if (!rc)
        rc = insert_session(c, old.user_id, old.family, new_hash, new_expires, ua, now, s, err);
    if (rc) memset(u, 0, sizeof *u);
    return rg_db_sq_finish(c, rc, false, err);
}

static int s_session_revoke(void *conn, const char *token_hash, int64_t now, char *err)
{
    sqlite3 *c = conn;
    int rc = rg_db_sq_begin(c, err);
    if (rc) return rc;
    sqlite3_stmt *st =
        rg_db_sq_prep(c, err, "SELECT family FROM sessions WHERE token_hash = ?", "s", token_hash);
    if (!st) return rg_db_sq_finish(c, RG_EIO, false, err);
    char family[40] = "";
    int step = sqlite3_step(st);
    if (step == SQLITE_ROW) rg_db_copy(family, sizeof family, rg_db_sq_text(st, 0));
    sqlite3_finalize(st);
    if (step == SQLITE_DONE)
        rc = rg_err_set(err, RG_ENOTFOUND, "no such session");
    else if (step != SQLITE_ROW)
        rc = rg_db_sq_fail(c, err);
    else
        rc = revoke_family(c, family, now, err);
    return rg_db_sq_finish(c, rc, false, err);
}

static int s_session_revoke_user(void *conn, int64_t user_id, int64_t now, char *err)
{
    sqlite3 *c = conn;
    return rg_db_sq_run(
        c,
        rg_db_sq_prep(c, err,
                      "UPDATE sessions SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL",
                      "ii", now, user_id),
        NULL, err);
}

static int s_token_state(void *conn, int64_t user_id, const char *family,
                         struct rg_db_token_state *out, char *err)
{
    sqlite3 *c = conn;
    sqlite3_stmt *st =
        rg_db_sq_prep(c, err,
                      "SELECT u.role, u.disabled = 0 AND u.pending = 0, EXISTS (SELECT 1"
                      " FROM sessions s WHERE s.family = ? AND s.user_id = u.id AND"
                      " s.revoked_at IS NULL) FROM users u WHERE u.id = ?",
                      "si", family, user_id);
    if (!st) return RG_EIO;
    int step = sqlite3_step(st), rc = RG_OK;
    if (step == SQLITE_ROW) {
        rg_db_copy(out->role, sizeof out->role, rg_db_sq_text(st, 0));
        out->active = sqlite3_column_int(st, 1) != 0;
        out->session_live = sqlite3_column_int(st, 2) != 0;
    } else if (step != SQLITE_DONE) {
        rc = rg_db_sq_fail(c, err);
    }
    sqlite3_finalize(st);
    return rc;
}

/* ---- identities --------------------------------------------------------------- */

static int s_identity_link(void *conn, const struct rg_db_identity_in *in, struct rg_db_user *out,
                           bool *created, char *err)
{
    sqlite3 *c = conn;
    int rc = rg_db_sq_begin(c, err);
    if (rc) return rc;
    rc = one_user(c,
                  rg_db_sq_prep(c, err,
                                "SELECT " USER_COLS_U
                                " FROM identities i JOIN users u ON u.id = i.user_id"
                                " WHERE i.provider = ? AND i.subject = ?",
                                "ss", in->provider, in->subject),
                  out, err);
    if (rc != RG_ENOTFOUND)
        return rg_db_sq_finish(c, rc, false, err); /* known identity, or a failure */
    int64_t user_id = in->signed_in_user;
    if (user_id > 0) {
        rc = user_by_id(c, user_id, out, err);
        if (rc) return rg_db_sq_finish(c, rc, false, err);
    } else {
        if (in->email) {
            struct rg_db_user other;
            rc = s_user_by_email(c, in->email, &other, err);
            if (rc == RG_OK)
                return rg_db_sq_finish(
                    c,
                    rg_err_set(err, RG_EEXISTS,
                               "an account with this email exists: sign in to it and "
                               "link the provider from there"),
                    false, err);
            if (rc != RG_ENOTFOUND) return rg_db_sq_finish(c, rc, false, err);
        }
        if (!in->allow_create)
            return rg_db_sq_finish(c, rg_err_set(err, RG_ENOTFOUND, "no account for this identity"),
                                   false, err);
        char email[256];
        if (in->email)
            rg_db_copy(email, sizeof email, in->email);
        else
            snprintf(email, sizeof email, "%s:%s", in->provider, in->subject);
        rc = insert_user(c, email, in->name, "", NULL, in->pending, in->first_only, in->now, out,
                         err);
        if (rc == RG_EPERM) rc = rg_err_set(err, RG_ENOTFOUND, "no account for this identity");
        if (rc) return rg_db_sq_finish(c, rc, false, err);
        user_id = out->id;
        *created = true;
    }
    rc = rg_db_sq_run(
        c,
        rg_db_sq_prep(c, err,
                      "INSERT INTO identities(provider, subject, user_id, email, created_at)"
                      " VALUES (?, ?, ?, ?, ?)",
                      "ssisi", in->provider, in->subject, user_id, in->email ? in->email : "",
                      in->now),
        NULL, err);
    if (rc == RG_EEXISTS)
        rc = rg_err_set(err, RG_EEXISTS, "this account is already linked to another %s identity",
                        in->provider);
    if (rc) {
        *created = false;
        memset(out, 0, sizeof *out);
    }
    return rg_db_sq_finish(c, rc, false, err);
}

/* ---- API keys ------------------------------------------------------------------ */

#define KEY_COLS "k.id, k.user_id, k.name, k.prefix, k.scopes, k.created_at, k.last_used_at"

static void read_key(sqlite3_stmt *st, struct rg_db_apikey *k)
{
    k->id = sqlite3_column_int64(st, 0);
    k->user_id = sqlite3_column_int64(st, 1);
    rg_db_copy(k->name, sizeof k->name, rg_db_sq_text(st, 2));
    rg_db_copy(k->prefix, sizeof k->prefix, rg_db_sq_text(st, 3));
    rg_db_copy(k->scopes, sizeof k->scopes, rg_db_sq_text(st, 4));
    k->created_at = sqlite3_column_int64(st, 5);
    k->last_used_at = sqlite3_column_int64(st, 6);
}

static int s_apikey_create(void *conn, int64_t user_id, const char *name, const char *prefix,
                           const char *key_hash, const char *scopes, int64_t now,
                           struct rg_db_apikey *out, char *err)
{
    sqlite3 *c = conn;
    int rc = rg_db_sq_run(
        c,
        rg_db_sq_prep(c, err,
                      "INSERT INTO api_keys(user_id, name, prefix, key_hash, scopes, created_at)"
                      " VALUES (?, ?, ?, ?, ?, ?)",
                      "issssi", user_id, name, prefix, key_hash, scopes, now),
        NULL, err);
    if (rc) return rc;
    sqlite3_stmt *st = rg_db_sq_prep(c, err, "SELECT " KEY_COLS " FROM api_keys k WHERE k.id = ?",
                                     "i", sqlite3_last_insert_rowid(c));
    if (!st) return RG_EIO;
    rc = sqlite3_step(st) == SQLITE_ROW ? RG_OK : rg_db_sq_fail(c, err);
    if (!rc) read_key(st, out);
    sqlite3_finalize(st);
    return rc;
}

static void key_row(sqlite3_stmt *st, void *item)
{
    read_key(st, item);
}

static int s_apikey_list(void *conn, int64_t user_id, struct rg_db_apikey **out, size_t *n,
                         char *err)
{
    sqlite3 *c = conn;
    return collect(c,
                   rg_db_sq_prep(c, err,
                                 "SELECT " KEY_COLS
                                 " FROM api_keys k WHERE k.revoked_at IS NULL AND"
                                 " (? = 0 OR k.user_id = ?) ORDER BY k.id DESC",
                                 "ii", user_id, user_id),
                   (void **)out, n, sizeof **out, key_row, err);
}

static int s_apikey_revoke(void *conn, int64_t id, int64_t owner, int64_t now, char *err)
{
    sqlite3 *c = conn;
    int rc = rg_db_sq_run(
        c,
        rg_db_sq_prep(c, err,
                      "UPDATE api_keys SET revoked_at = ? WHERE id = ? AND (? = 0 OR user_id = ?)"
                      " AND revoked_at IS NULL",
                      "iiii", now, id, owner, owner),
        NULL, err);
    if (!rc && sqlite3_changes(c) == 0) rc = rg_err_set(err, RG_ENOTFOUND, "no such API key");
    return rc;
}

static int s_apikey_lookup(void *conn, const char *prefix, int64_t now, struct rg_db_apikey *k,
                           char hash_out[72], struct rg_db_user *owner, char *err)
{
    sqlite3 *c = conn;
    sqlite3_stmt *st =
        rg_db_sq_prep(c, err,
                      "SELECT " KEY_COLS ", k.key_hash, " USER_COLS_U
                      " FROM api_keys k JOIN users u ON u.id = k.user_id"
                      " WHERE k.prefix = ? AND k.revoked_at IS NULL AND u.disabled = 0 AND"
                      " u.pending = 0",
                      "s", prefix);
    if (!st) return RG_EIO;
    int step = sqlite3_step(st), rc = RG_OK;
    if (step == SQLITE_ROW) {
        read_key(st, k);
        rg_db_copy(hash_out, 72, rg_db_sq_text(st, 7));
        read_user(st, 8, owner);
    } else {
        rc = step == SQLITE_DONE ? rg_err_set(err, RG_ENOTFOUND, "no such API key")
                                 : rg_db_sq_fail(c, err);
    }
    sqlite3_finalize(st);
    if (rc) return rc;
    /* last use is bookkeeping: a busy database must not refuse the key */
    char uerr[RG_ERR_SIZE];
    if (rg_db_sq_run(c,
                     rg_db_sq_prep(c, uerr, "UPDATE api_keys SET last_used_at = ? WHERE id = ?",
                                   "ii", now, k->id),
                     NULL, uerr) == RG_OK)
        k->last_used_at = now;
    return RG_OK;
}

const struct rg_db_ops rg_db_sqlite_ops = {
    .name = "sqlite",
    .connect = s_connect,
    .disconnect = s_disconnect,
    .migrate = s_migrate,
    .version = s_version,
    .user_create = s_user_create,
    .user_get = s_user_get,
    .user_by_email = s_user_by_email,
    .user_list = s_user_list,
    .user_count = s_user_count,
    .user_update = s_user_update,
    .login = s_login,
    .login_succeeded = s_login_succeeded,
    .session_create = s_session_create,
    .session_validate = s_session_validate,
    .session_rotate = s_session_rotate,
    .session_revoke = s_session_revoke,
    .session_revoke_user = s_session_revoke_user,
    .token_state = s_token_state,
    .identity_link = s_identity_link,
    .apikey_create = s_apikey_create,
    .apikey_list = s_apikey_list,
    .apikey_revoke = s_apikey_revoke,
    .apikey_lookup = s_apikey_lookup,
    .job_enqueue = rg_db_sqlite_job_enqueue,
    .job_get = rg_db_sqlite_job_get,
    .job_list = rg_db_sqlite_job_list,
    .job_claim = rg_db_sqlite_job_claim,
    .job_heartbeat = rg_db_sqlite_job_heartbeat,
    .job_progress = rg_db_sqlite_job_progress,
    .job_finish = rg_db_sqlite_job_finish,
    .job_fail = rg_db_sqlite_job_fail,
    .job_cancel = rg_db_sqlite_job_cancel,
    .job_requeue_stale = rg_db_sqlite_job_requeue_stale,
    .job_counts = rg_db_sqlite_job_counts,
    RG_DB_CONV_OPS(sqlite),
    RG_DB_LIB_OPS(sqlite),
};
