/*
 * The PostgreSQL backend, over libpq. The account rules live in the
 * database as PL/pgSQL functions (migration 1): create_user, login,
 * login_succeeded, validate_session, rotate_session and link_oauth_identity,
 * so every node sharing the database applies them identically and each is
 * one round trip. Plain reads and writes are parameterized statements here.
 * All input travels as bound parameters ($1...), never inside SQL text.
 */
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "common/alloc.h"
#include "common/str.h"
#include "db/db_internal.h"
#include "db/pg_internal.h"

/* Serializes migrations, and decisions that look at the whole users table
 * (the first account is the admin; at least one admin must stay). */
#define LOCK_MIGRATE "7223000"
#define LOCK_USERS "7223001"

/* ---- migrations ------------------------------------------------------------ */

struct migration {
    int version;
    const char *name;
    const char *const *sql; /* statements, NULL-ended */
};

/* The columns every user-returning function gives, in this order. */
#define OUT_USER                                                                                   \
    "o_id bigint, o_email text, o_name text, o_role text, o_hash text, o_disabled boolean,"        \
    " o_pending boolean, o_created_at bigint"
#define FILL_USER(u)                                                                               \
    "o_id := " u ".id; o_email := " u ".email; o_name := " u ".name; o_role := " u ".role;"        \
    " o_hash := " u ".password_hash; o_disabled := " u ".disabled; o_pending := " u ".pending;"    \
    " o_created_at := " u ".created_at;"

static const char M1_TABLES[] = "CREATE TABLE users ("
                                " id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
                                " email text NOT NULL UNIQUE,"
                                " name text NOT NULL DEFAULT '',"
                                " role text NOT NULL CHECK (role IN ('admin','user','readonly')),"
                                " password_hash text NOT NULL DEFAULT '',"
                                " disabled boolean NOT NULL DEFAULT false,"
                                " pending boolean NOT NULL DEFAULT false,"
                                " created_at bigint NOT NULL,"
                                " updated_at bigint NOT NULL);"
                                "CREATE TABLE login_attempts ("
                                " id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
                                " email text NOT NULL,"
                                " addr text NOT NULL,"
                                " ok boolean NOT NULL DEFAULT false,"
                                " cleared boolean NOT NULL DEFAULT false,"
                                " at bigint NOT NULL);"
                                "CREATE INDEX login_attempts_email ON login_attempts(email, at);"
                                "CREATE INDEX login_attempts_addr ON login_attempts(addr, at);"
                                "CREATE INDEX login_attempts_at ON login_attempts(at);"
                                "CREATE TABLE sessions ("
                                " id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
                                " user_id bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
                                " family text NOT NULL,"
                                " token_hash text NOT NULL UNIQUE,"
                                " created_at bigint NOT NULL,"
                                " expires_at bigint NOT NULL,"
                                " user_agent text NOT NULL DEFAULT '',"
                                " replaced_at bigint,"
                                " revoked_at bigint);"
                                "CREATE INDEX sessions_family ON sessions(family);"
                                "CREATE INDEX sessions_user ON sessions(user_id);"
                                "CREATE TABLE identities ("
                                " id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
                                " provider text NOT NULL,"
                                " subject text NOT NULL,"
                                " user_id bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
                                " email text NOT NULL DEFAULT '',"
                                " created_at bigint NOT NULL,"
                                " UNIQUE (provider, subject),"
                                " UNIQUE (user_id, provider));"
                                "CREATE TABLE api_keys ("
                                " id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
                                " user_id bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
                                " name text NOT NULL DEFAULT '',"
                                " prefix text NOT NULL UNIQUE,"
                                " key_hash text NOT NULL,"
                                " scopes text NOT NULL DEFAULT '',"
                                " created_at bigint NOT NULL,"
                                " last_used_at bigint,"
                                " revoked_at bigint);"
                                "CREATE INDEX api_keys_user ON api_keys(user_id);";

/* create_user: role NULL = admin for the first account, else user */
static const char M1_CREATE_USER[] =
    "CREATE FUNCTION create_user(p_email text, p_name text, p_hash text, p_role text,"
    " p_pending boolean, p_now bigint) RETURNS TABLE(" OUT_USER ") LANGUAGE plpgsql AS $f$\n"
    "DECLARE u users%ROWTYPE; v_role text := p_role;\n"
    "BEGIN\n"
    " PERFORM pg_advisory_xact_lock(" LOCK_USERS ");\n"
    " IF v_role IS NULL THEN\n"
    "  v_role := CASE WHEN EXISTS (SELECT 1 FROM users) THEN 'user' ELSE 'admin' END;\n"
    "  IF v_role = 'admin' THEN p_pending := false; END IF;\n"
    " END IF;\n"
    " INSERT INTO users(email, name, role, password_hash, pending, created_at, updated_at)\n"
    "  VALUES (p_email, p_name, v_role, p_hash, p_pending, p_now, p_now) RETURNING * INTO u;\n"
    " " FILL_USER("u") "\n"
                       " RETURN NEXT;\n"
                       "END $f$;";

/* login: records the attempt as failed and returns what the server needs */
static const char M1_LOGIN[] =
    "CREATE FUNCTION login(p_email text, p_addr text, p_window bigint, p_now bigint)"
    " RETURNS TABLE(o_attempt bigint, o_fail_account int, o_fail_addr int, o_found boolean,"
    " " OUT_USER ") LANGUAGE plpgsql AS $f$\n"
    "DECLARE u users%ROWTYPE;\n"
    "BEGIN\n"
    " DELETE FROM login_attempts a WHERE a.at < p_now - 86400;\n"
    " INSERT INTO login_attempts(email, addr, at) VALUES (p_email, p_addr, p_now)\n"
    "  RETURNING id INTO o_attempt;\n"
    " SELECT count(*) INTO o_fail_account FROM login_attempts a WHERE a.email = p_email\n"
    "  AND NOT a.ok AND NOT a.cleared AND a.at > p_now - p_window AND a.id <> o_attempt;\n"
    " SELECT count(*) INTO o_fail_addr FROM login_attempts a WHERE a.addr = p_addr\n"
    "  AND NOT a.ok AND a.at > p_now - p_window AND a.id <> o_attempt;\n"
    " SELECT * INTO u FROM users x WHERE x.email = p_email;\n"
    " o_found := FOUND;\n"
    " IF o_found THEN " FILL_USER("u") " END IF;\n"
                                       " RETURN NEXT;\n"
                                       "END $f$;";

/* login_succeeded: the attempt succeeded; the account's failures are forgiven */
static const char M1_LOGIN_SUCCEEDED[] =
    "CREATE FUNCTION login_succeeded(p_attempt bigint) RETURNS boolean LANGUAGE plpgsql AS $f$\n"
    "DECLARE v_email text;\n"
    "BEGIN\n"
    " UPDATE login_attempts a SET ok = true WHERE a.id = p_attempt RETURNING a.email INTO "
    "v_email;\n"
    " IF NOT FOUND THEN RETURN false; END IF;\n"
    " UPDATE login_attempts a SET cleared = true WHERE a.email = v_email AND NOT a.ok;\n"
    " RETURN true;\n"
    "END $f$;";

/* validate_session: a live refresh token and its enabled user */
static const char M1_VALIDATE_SESSION[] =
    "CREATE FUNCTION validate_session(p_hash text, p_now bigint) RETURNS TABLE(o_sid bigint,"
    " o_family text, o_screated bigint, o_expires bigint, " OUT_USER ")"
    " LANGUAGE plpgsql AS $f$\n"
    "BEGIN\n"
    " RETURN QUERY SELECT s.id, s.family, s.created_at, s.expires_at, u.id, u.email, u.name,\n"
    "  u.role, u.password_hash, u.disabled, u.pending, u.created_at\n"
    "  FROM sessions s JOIN users u ON u.id = s.user_id\n"
    "  WHERE s.token_hash = p_hash AND s.replaced_at IS NULL AND s.revoked_at IS NULL\n"
    "  AND s.expires_at > p_now AND NOT u.disabled AND NOT u.pending;\n"
    "END $f$;";

/* rotate_session: refresh-token rotation with reuse detection */
static const char M1_ROTATE_SESSION[] =
    "CREATE FUNCTION rotate_session(p_old text, p_new text, p_expires bigint, p_ua text,"
    " p_now bigint) RETURNS TABLE(o_status text, o_sid bigint, o_family text,"
    " o_screated bigint, o_expires bigint, " OUT_USER ") LANGUAGE plpgsql AS $f$\n"
    "DECLARE s sessions%ROWTYPE; u users%ROWTYPE;\n"
    "BEGIN\n"
    " SELECT * INTO s FROM sessions x WHERE x.token_hash = p_old FOR UPDATE;\n"
    " IF NOT FOUND THEN o_status := 'invalid'; RETURN NEXT; RETURN; END IF;\n"
    " IF s.replaced_at IS NOT NULL THEN\n"
    "  UPDATE sessions x SET revoked_at = p_now WHERE x.family = s.family AND x.revoked_at IS "
    "NULL;\n"
    "  o_status := 'reuse'; RETURN NEXT; RETURN;\n"
    " END IF;\n"
    " SELECT * INTO u FROM users x WHERE x.id = s.user_id;\n"
    " IF s.revoked_at IS NOT NULL OR s.expires_at <= p_now OR u.disabled OR u.pending THEN\n"
    "  o_status := 'invalid'; RETURN NEXT; RETURN;\n"
    " END IF;\n"
    " UPDATE sessions x SET replaced_at = p_now WHERE x.id = s.id;\n"
    " INSERT INTO sessions(user_id, family, token_hash, created_at, expires_at, user_agent)\n"
    "  VALUES (s.user_id, s.family, p_new, p_now, p_expires, p_ua) RETURNING id INTO o_sid;\n"
    " o_status := 'ok'; o_family := s.family; o_screated := p_now; o_expires := p_expires;\n"
    " " FILL_USER("u") "\n"
                       " RETURN NEXT;\n"
                       "END $f$;";

/* link_oauth_identity: what a provider sign-in resolves to */
static const char M1_LINK_OAUTH_IDENTITY[] =
    "CREATE FUNCTION link_oauth_identity(p_provider text, p_subject text, p_email text,"
    " p_name text, p_signed_in bigint, p_pending boolean, p_allow_create boolean,"
    " p_now bigint)"
    " RETURNS TABLE(o_status text, o_new boolean, " OUT_USER ") LANGUAGE plpgsql AS $f$\n"
    "DECLARE u users%ROWTYPE; v_role text;\n"
    "BEGIN\n"
    " PERFORM pg_advisory_xact_lock(" LOCK_USERS ");\n"
    " SELECT x.* INTO u FROM identities i JOIN users x ON x.id = i.user_id\n"
    "  WHERE i.provider = p_provider AND i.subject = p_subject;\n"
    " IF FOUND THEN o_status := 'ok'; o_new := false; " FILL_USER(
        "u") " RETURN NEXT; RETURN; END IF;\n"
             " IF p_signed_in > 0 THEN\n"
             "  SELECT * INTO u FROM users x WHERE x.id = p_signed_in;\n"
             "  IF NOT FOUND THEN o_status := 'notfound'; RETURN NEXT; RETURN; END IF;\n"
             "  IF EXISTS (SELECT 1 FROM identities i WHERE i.user_id = u.id AND i.provider = "
             "p_provider) THEN\n"
             "   o_status := 'taken'; RETURN NEXT; RETURN;\n"
             "  END IF;\n"
             "  o_new := false;\n"
             " ELSE\n"
             "  IF p_email IS NOT NULL AND EXISTS (SELECT 1 FROM users x WHERE x.email = p_email) "
             "THEN\n"
             "   o_status := 'email'; RETURN NEXT; RETURN;\n"
             "  END IF;\n"
             "  IF NOT p_allow_create THEN o_status := 'closed'; RETURN NEXT; RETURN; END IF;\n"
             "  v_role := CASE WHEN EXISTS (SELECT 1 FROM users) THEN 'user' ELSE 'admin' END;\n"
             "  IF v_role = 'admin' THEN p_pending := false; END IF;\n"
             "  INSERT INTO users(email, name, role, password_hash, pending, created_at, "
             "updated_at)\n"
             "   VALUES (coalesce(p_email, p_provider || ':' || p_subject), p_name, v_role, '', "
             "p_pending,\n"
             "   p_now, p_now) RETURNING * INTO u;\n"
             "  o_new := true;\n"
             " END IF;\n"
             " INSERT INTO identities(provider, subject, user_id, email, created_at)\n"
             "  VALUES (p_provider, p_subject, u.id, coalesce(p_email, ''), p_now);\n"
             " o_status := 'ok'; " FILL_USER("u") "\n"
                                                  " RETURN NEXT;\n"
                                                  "END $f$;";

static const char *const M1[] = {
    M1_TABLES,         M1_CREATE_USER,         M1_LOGIN, M1_LOGIN_SUCCEEDED, M1_VALIDATE_SESSION,
    M1_ROTATE_SESSION, M1_LINK_OAUTH_IDENTITY, NULL};

/*
 * Migration 2. create_user gains p_first_only (closed sign-up: refuse unless
 * this is the first account), decided under the same lock as the
 * first-admin rule; a refusal returns no row. login counts failures per
 * (account, address) and gives the pair's last failure, for the back-off;
 * login_succeeded forgives only that pair's failures.
 */
static const char M2_CREATE_USER[] =
    "DROP FUNCTION create_user(text, text, text, text, boolean, bigint);"
    "CREATE FUNCTION create_user(p_email text, p_name text, p_hash text, p_role text,"
    " p_pending boolean, p_first_only boolean, p_now bigint) RETURNS TABLE(" OUT_USER ")"
    " LANGUAGE plpgsql AS $f$\n"
    "DECLARE u users%ROWTYPE; v_role text := p_role; v_any boolean;\n"
    "BEGIN\n"
    " PERFORM pg_advisory_xact_lock(" LOCK_USERS ");\n"
    " v_any := EXISTS (SELECT 1 FROM users);\n"
    " IF p_first_only AND v_any THEN RETURN; END IF;\n"
    " IF v_role IS NULL THEN\n"
    "  v_role := CASE WHEN v_any THEN 'user' ELSE 'admin' END;\n"
    "  IF v_role = 'admin' THEN p_pending := false; END IF;\n"
    " END IF;\n"
    " INSERT INTO users(email, name, role, password_hash, pending, created_at, updated_at)\n"
    "  VALUES (p_email, p_name, v_role, p_hash, p_pending, p_now, p_now) RETURNING * INTO u;\n"
    " " FILL_USER("u") "\n"
                       " RETURN NEXT;\n"
                       "END $f$;";

static const char M2_LOGIN[] =
    "DROP FUNCTION login(text, text, bigint, bigint);"
    "CREATE INDEX login_attempts_pair ON login_attempts(email, addr, at);"
    "CREATE FUNCTION login(p_email text, p_addr text, p_window bigint, p_now bigint)"
    " RETURNS TABLE(o_attempt bigint, o_fail_pair int, o_fail_addr int, o_last_fail bigint,"
    " o_found boolean, " OUT_USER ") LANGUAGE plpgsql AS $f$\n"
    "DECLARE u users%ROWTYPE;\n"
    "BEGIN\n"
    " DELETE FROM login_attempts a WHERE a.at < p_now - 86400;\n"
    " INSERT INTO login_attempts(email, addr, at) VALUES (p_email, p_addr, p_now)\n"
    "  RETURNING id INTO o_attempt;\n"
    " SELECT count(*), coalesce(max(a.at), 0) INTO o_fail_pair, o_last_fail FROM login_attempts a\n"
    "  WHERE a.email = p_email AND a.addr = p_addr AND NOT a.ok AND NOT a.cleared\n"
    "  AND a.at > p_now - p_window AND a.id <> o_attempt;\n"
    " SELECT count(*) INTO o_fail_addr FROM login_attempts a WHERE a.addr = p_addr\n"
    "  AND NOT a.ok AND a.at > p_now - p_window AND a.id <> o_attempt;\n"
    " SELECT * INTO u FROM users x WHERE x.email = p_email;\n"
    " o_found := FOUND;\n"
    " IF o_found THEN " FILL_USER("u") " END IF;\n"
                                       " RETURN NEXT;\n"
                                       "END $f$;";

static const char M2_LOGIN_SUCCEEDED[] =
    "CREATE OR REPLACE FUNCTION login_succeeded(p_attempt bigint) RETURNS boolean"
    " LANGUAGE plpgsql AS $f$\n"
    "DECLARE v_email text; v_addr text;\n"
    "BEGIN\n"
    " UPDATE login_attempts a SET ok = true WHERE a.id = p_attempt\n"
    "  RETURNING a.email, a.addr INTO v_email, v_addr;\n"
    " IF NOT FOUND THEN RETURN false; END IF;\n"
    " UPDATE login_attempts a SET cleared = true\n"
    "  WHERE a.email = v_email AND a.addr = v_addr AND NOT a.ok;\n"
    " RETURN true;\n"
    "END $f$;";

/* link_oauth_identity with p_first_only: closed sign-up decided under the
 * users lock, which the inner call takes again (advisory locks nest) */
static const char M2_LINK_OAUTH_IDENTITY[] =
    "CREATE FUNCTION link_oauth_identity(p_provider text, p_subject text, p_email text,"
    " p_name text, p_signed_in bigint, p_pending boolean, p_allow_create boolean,"
    " p_first_only boolean, p_now bigint)"
    " RETURNS TABLE(o_status text, o_new boolean, " OUT_USER ") LANGUAGE plpgsql AS $f$\n"
    "BEGIN\n"
    " PERFORM pg_advisory_xact_lock(" LOCK_USERS ");\n"
    " IF p_first_only AND EXISTS (SELECT 1 FROM users) THEN p_allow_create := false; END IF;\n"
    " RETURN QUERY SELECT * FROM link_oauth_identity(p_provider, p_subject, p_email, p_name,\n"
    "  p_signed_in, p_pending, p_allow_create, p_now);\n"
    "END $f$;";

static const char *const M2[] = {M2_CREATE_USER, M2_LOGIN, M2_LOGIN_SUCCEEDED,
                                 M2_LINK_OAUTH_IDENTITY, NULL};

static const struct migration MIGRATIONS[] = {
    {1, "accounts", M1},
    {2, "lockout by address and account", M2},
    {3, "jobs", rg_db_pg_jobs_migration},
    {4, "conversations", rg_db_pg_conv_migration},
    {5, "library", rg_db_pg_lib_migration},
    {6, "memory", rg_db_pg_mem_migration},
    {7, "survival", rg_db_pg_surv_migration},
    {8, "message vectors", rg_db_pg_msgvec_migration},
};
_Static_assert(RG_ARRAY_LEN(MIGRATIONS) == RG_DB_LATEST, "one migration per version");

/* ---- statements -------------------------------------------------------------- */

/* A statement whose result does not matter beyond success. */
static int cmd(PGconn *c, char *err, const char *sql)
{
    int rc;
    PGresult *r = rg_db_pg_query(c, &rc, err, sql, "");
    PQclear(r);
    return rc;
}

/* Reads the 8 user columns starting at col. */
static void read_user(PGresult *r, int row, int col, struct rg_db_user *u)
{
    u->id = rg_db_pg_ival(r, row, col);
    rg_db_copy(u->email, sizeof u->email, rg_db_pg_val(r, row, col + 1));
    rg_db_copy(u->name, sizeof u->name, rg_db_pg_val(r, row, col + 2));
    rg_db_copy(u->role, sizeof u->role, rg_db_pg_val(r, row, col + 3));
    rg_db_copy(u->pw_hash, sizeof u->pw_hash, rg_db_pg_val(r, row, col + 4));
    u->disabled = rg_db_pg_bval(r, row, col + 5);
    u->pending = rg_db_pg_bval(r, row, col + 6);
    u->created_at = rg_db_pg_ival(r, row, col + 7);
}

#define USER_COLS "id, email, name, role, password_hash, disabled, pending, created_at"
#define USER_COLS_U                                                                                \
    "u.id, u.email, u.name, u.role, u.password_hash, u.disabled, u.pending, u.created_at"

/* Every row of r as an array of elem-byte items read by read_row (*out
 * rg_free'd by the caller). Clears r. */
static int collect(PGresult *r, void **out, size_t *n, size_t elem,
                   void (*read_row)(PGresult *r, int row, void *item), char *err)
{
    int rows = PQntuples(r);
    if (rows > 0) {
        *out = rg_calloc((size_t)rows, elem);
        if (!*out) {
            PQclear(r);
            return rg_err_set(err, RG_ENOMEM, "out of memory");
        }
        for (int i = 0; i < rows; i++)
            read_row(r, i, (char *)*out + (size_t)i * elem);
    }
    *n = (size_t)rows;
    PQclear(r);
    return RG_OK;
}

/* ---- connection ----------------------------------------------------------------- */

static int p_connect(const char *url, int busy_ms, void **conn, char *err)
{
    (void)busy_ms;
    PGconn *c = PQconnectdb(url);
    if (PQstatus(c) != CONNECTION_OK) {
        char line[200];
        rg_strlcpy(line, PQerrorMessage(c), sizeof line);
        line[strcspn(line, "\n")] = '\0';
        PQfinish(c);
        return rg_err_set(err, RG_EIO, "--db postgres: %s", line);
    }
    if (cmd(c, err, "SET client_min_messages = warning") != RG_OK ||
        cmd(c, err, "SET statement_timeout = '30s'") != RG_OK) {
        PQfinish(c);
        return RG_EIO;
    }
    *conn = c;
    return RG_OK;
}

static void p_disconnect(void *conn)
{
    PQfinish(conn);
}

static int p_version(void *conn, int *current, char *err)
{
    PGconn *c = conn;
    int rc;
    PGresult *r =
        rg_db_pg_query(c, &rc, err,
                       "SELECT CASE WHEN to_regclass('schema_migrations') IS NULL THEN 0"
                       " ELSE (SELECT coalesce(max(version), 0) FROM schema_migrations) END",
                       "");
    if (!r) return rc;
    *current = (int)rg_db_pg_ival(r, 0, 0);
    PQclear(r);
    return RG_OK;
}

static int p_migrate(void *conn, int *applied, char *err)
{
    PGconn *c = conn;
    for (size_t i = 0; i < RG_ARRAY_LEN(MIGRATIONS); i++) {
        int rc = cmd(c, err, "BEGIN");
        if (rc) return rc;
        int cur = 0;
        if (!(rc = cmd(c, err, "SELECT pg_advisory_xact_lock(" LOCK_MIGRATE ")")) &&
            !(rc = cmd(c, err,
                       "CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY"
                       " KEY, name text NOT NULL, applied_at bigint NOT NULL)")))
            rc = p_version(c, &cur, err);
        if (!rc && cur > RG_DB_LATEST)
            rc = rg_err_set(err, RG_EUNSUPPORTED,
                            "database schema version %d is newer than this rustygpt (knows %d)",
                            cur, RG_DB_LATEST);
        if (!rc && cur < MIGRATIONS[i].version) {
            for (const char *const *st = MIGRATIONS[i].sql; !rc && *st; st++) {
                PGresult *r = PQexec(c, *st); /* no parameters: may hold several statements */
                ExecStatusType es = PQresultStatus(r); /* rows too: the placeholders' SELECT 1 */
                if (es != PGRES_COMMAND_OK && es != PGRES_TUPLES_OK) rc = rg_db_pg_fail(c, r, err);
                PQclear(r);
            }
            if (!rc) {
                PGresult *ins =
                    rg_db_pg_query(c, &rc, err,
                                   "INSERT INTO schema_migrations(version, name, applied_at)"
                                   " VALUES ($1, $2, extract(epoch FROM now())::bigint)",
                                   "is", (int64_t)MIGRATIONS[i].version, MIGRATIONS[i].name);
                PQclear(ins);
            }
            if (!rc) (*applied)++;
        }
        if (rc) {
            cmd(c, NULL, "ROLLBACK");
            return rc;
        }
        if ((rc = cmd(c, err, "COMMIT"))) return rc;
    }
    int cur = 0;
    int rc = p_version(c, &cur, err);
    if (!rc && cur > RG_DB_LATEST)
        rc = rg_err_set(err, RG_EUNSUPPORTED,
                        "database schema version %d is newer than this rustygpt (knows %d)", cur,
                        RG_DB_LATEST);
    return rc;
}

/* ---- users ------------------------------------------------------------------------- */

/* One user row (or RG_ENOTFOUND) from r, which it clears. */
static int one_user(PGresult *r, int rc, int col, struct rg_db_user *u, char *err)
{
    if (!r) return rc;
    if (PQntuples(r) == 0)
        rc = rg_err_set(err, RG_ENOTFOUND, "no such user");
    else
        read_user(r, 0, col, u);
    PQclear(r);
    return rc;
}

static int p_user_create(void *conn, const struct rg_db_new_user *u, struct rg_db_user *out,
                         char *err)
{
    int rc;
    PGresult *r = rg_db_pg_query(
        conn, &rc, err, "SELECT * FROM create_user($1, $2, $3, $4, $5, $6, $7)", "ssssbbi",
        u->email, u->name, u->pw_hash, u->role, (int)u->pending, (int)u->first_only, u->now);
    if (rc == RG_EEXISTS) return rg_err_set(err, RG_EEXISTS, "an account with this email exists");
    if (r && PQntuples(r) == 0) { /* first_only, and there is an account */
        PQclear(r);
        return rg_err_set(err, RG_EPERM, "sign-up is closed: ask an admin for an account");
    }
    return one_user(r, rc, 0, out, err);
}

static int p_user_get(void *conn, int64_t id, struct rg_db_user *out, char *err)
{
    int rc;
    PGresult *r =
        rg_db_pg_query(conn, &rc, err, "SELECT " USER_COLS " FROM users WHERE id = $1", "i", id);
    return one_user(r, rc, 0, out, err);
}

static int p_user_by_email(void *conn, const char *email, struct rg_db_user *out, char *err)
{
    int rc;
    PGresult *r = rg_db_pg_query(conn, &rc, err, "SELECT " USER_COLS " FROM users WHERE email = $1",
                                 "s", email);
    return one_user(r, rc, 0, out, err);
}

static void user_row(PGresult *r, int row, void *item)
{
    read_user(r, row, 0, item);
}

static int p_user_list(void *conn, struct rg_db_user **out, size_t *n, char *err)
{
    int rc;
    PGresult *r = rg_db_pg_query(conn, &rc, err, "SELECT " USER_COLS " FROM users ORDER BY id", "");
    return r ? collect(r, (void **)out, n, sizeof **out, user_row, err) : rc;
}

static int p_user_count(void *conn, int64_t *n, char *err)
{
    int rc;
    PGresult *r = rg_db_pg_query(conn, &rc, err, "SELECT count(*) FROM users", "");
    if (!r) return rc;
    *n = rg_db_pg_ival(r, 0, 0);
    PQclear(r);
    return RG_OK;
}

static int p_user_update(void *conn, int64_t id, const struct rg_db_user_change *ch, int64_t now,
                         struct rg_db_user *out, char *err)
{
    PGconn *c = conn;
    int rc = cmd(c, err, "BEGIN");
    if (rc) return rc;
    PGresult *r = NULL;
    if (!(rc = cmd(c, err, "SELECT pg_advisory_xact_lock(" LOCK_USERS ")"))) {
        r = rg_db_pg_query(
            c, &rc, err,
            "UPDATE users SET role = coalesce($1, role),"
            " disabled = CASE WHEN $2::int < 0 THEN disabled ELSE $2::int = 1 END,"
            " pending = CASE WHEN $3::int < 0 THEN pending ELSE $3::int = 1 END,"
            " password_hash = coalesce($4, password_hash), updated_at = $5 WHERE id = $6"
            " RETURNING " USER_COLS,
            "siisii", ch->role, (int64_t)ch->disabled, (int64_t)ch->pending, ch->pw_hash, now, id);
        if (r) rc = one_user(r, rc, 0, out, err);
    }
    if (!rc && ch->disabled == 1) {
        r = rg_db_pg_query(
            c, &rc, err,
            "UPDATE sessions SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL", "ii",
            now, id);
        PQclear(r);
    }
    if (!rc) {
        r = rg_db_pg_query(
            c, &rc, err,
            "SELECT count(*) FROM users WHERE role = 'admin' AND NOT disabled AND NOT pending", "");
        if (r && rg_db_pg_ival(r, 0, 0) == 0)
            rc = rg_err_set(err, RG_ESTATE,
                            "cannot demote or disable the last enabled admin: make another account "
                            "admin first");
        PQclear(r);
    }
    if (rc) {
        cmd(c, NULL, "ROLLBACK");
        memset(out, 0, sizeof *out);
        return rc;
    }
    return cmd(c, err, "COMMIT");
}

/* ---- sign-in --------------------------------------------------------------------------- */

static int p_login(void *conn, const char *email, const char *addr, int window_s, int64_t now,
                   struct rg_db_login *out, char *err)
{
    int rc;
    PGresult *r = rg_db_pg_query(conn, &rc, err, "SELECT * FROM login($1, $2, $3, $4)", "ssii",
                                 email, addr, (int64_t)window_s, now);
    if (!r) return rc;
    if (PQntuples(r) != 1) {
        PQclear(r);
        return rg_err_set(err, RG_EIO, "postgres: login() gave no row");
    }
    out->attempt_id = rg_db_pg_ival(r, 0, 0);
    out->failures_pair = (int)rg_db_pg_ival(r, 0, 1);
    out->failures_addr = (int)rg_db_pg_ival(r, 0, 2);
    out->last_failure_at = rg_db_pg_ival(r, 0, 3);
    out->found = rg_db_pg_bval(r, 0, 4);
    if (out->found) read_user(r, 0, 5, &out->user);
    PQclear(r);
    return RG_OK;
}

static int p_login_succeeded(void *conn, int64_t attempt_id, char *err)
{
    int rc;
    PGresult *r = rg_db_pg_query(conn, &rc, err, "SELECT login_succeeded($1)", "i", attempt_id);
    if (!r) return rc;
    bool ok = rg_db_pg_bval(r, 0, 0);
    PQclear(r);
    return ok ? RG_OK : rg_err_set(err, RG_ENOTFOUND, "no such attempt");
}

/* ---- sessions -------------------------------------------------------------------------- */

static void read_session(PGresult *r, int col, int64_t user_id, struct rg_db_session *s)
{
    s->id = rg_db_pg_ival(r, 0, col);
    s->user_id = user_id;
    rg_db_copy(s->family, sizeof s->family, rg_db_pg_val(r, 0, col + 1));
    s->created_at = rg_db_pg_ival(r, 0, col + 2);
    s->expires_at = rg_db_pg_ival(r, 0, col + 3);
}

static int p_session_create(void *conn, int64_t user_id, const char *token_hash, int64_t expires_at,
                            const char *ua, int64_t now, struct rg_db_session *out, char *err)
{
    char family[40];
    if (rg_db_family_new(family) != RG_OK) return rg_err_set(err, RG_EINTERNAL, "no random bytes");
    int rc;
    PGresult *r =
        rg_db_pg_query(conn, &rc, err,
                       "INSERT INTO sessions(user_id, family, token_hash, created_at, expires_at,"
                       " user_agent) VALUES ($1, $2, $3, $4, $5, $6)"
                       " RETURNING id, family, created_at, expires_at",
                       "issiis", user_id, family, token_hash, now, expires_at, ua);
    if (!r) return rc;
    read_session(r, 0, user_id, out);
    PQclear(r);
    return RG_OK;
}

static int p_session_validate(void *conn, const char *token_hash, int64_t now,
                              struct rg_db_session *s, struct rg_db_user *u, char *err)
{
    int rc;
    PGresult *r = rg_db_pg_query(conn, &rc, err, "SELECT * FROM validate_session($1, $2)", "si",
                                 token_hash, now);
    if (!r) return rc;
    if (PQntuples(r) != 1) {
        PQclear(r);
        return rg_err_set(err, RG_EAUTH, "invalid session");
    }
    read_user(r, 0, 4, u);
    read_session(r, 0, u->id, s);
    PQclear(r);
    return RG_OK;
}

static int p_session_rotate(void *conn, const char *old_hash, const char *new_hash,
                            int64_t new_expires, const char *ua, int64_t now,
                            struct rg_db_session *s, struct rg_db_user *u, bool *reuse, char *err)
{
    int rc;
    PGresult *r = rg_db_pg_query(conn, &rc, err, "SELECT * FROM rotate_session($1, $2, $3, $4, $5)",
                                 "ssisi", old_hash, new_hash, new_expires, ua, now);
    if (!r) return rc;
    const char *status = PQntuples(r) == 1 ? rg_db_pg_val(r, 0, 0) : "invalid";
    if (!strcmp(status, "ok")) {
        read_user(r, 0, 5, u);
        read_session(r, 1, u->id, s);
        rc = RG_OK;
    } else if (!strcmp(status, "reuse")) {
        *reuse = true;
        rc = rg_err_set(err, RG_EAUTH, "refresh token reused: session revoked");
    } else {
        rc = rg_err_set(err, RG_EAUTH, "invalid session");
    }
    PQclear(r);
    return rc;
}

static int p_session_revoke(void *conn, const char *token_hash, int64_t now, char *err)
{
    int rc;
    PGresult *r =
        rg_db_pg_query(conn, &rc, err,
                       "WITH f AS (SELECT family FROM sessions WHERE token_hash = $1)"
                       " UPDATE sessions SET revoked_at = $2 WHERE family IN (SELECT family FROM f)"
                       " AND revoked_at IS NULL RETURNING id",
                       "si", token_hash, now);
    if (!r) return rc;
    PQclear(r);
    /* known at all? (an already revoked family updates nothing yet exists) */
    r = rg_db_pg_query(conn, &rc, err, "SELECT 1 FROM sessions WHERE token_hash = $1", "s",
                       token_hash);
    if (!r) return rc;
    int rows = PQntuples(r);
    PQclear(r);
    return rows ? RG_OK : rg_err_set(err, RG_ENOTFOUND, "no such session");
}

static int p_session_revoke_user(void *conn, int64_t user_id, int64_t now, char *err)
{
    int rc;
    PGresult *r = rg_db_pg_query(
        conn, &rc, err,
        "UPDATE sessions SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL", "ii", now,
        user_id);
    PQclear(r);
    return rc;
}

static int p_token_state(void *conn, int64_t user_id, const char *family,
                         struct rg_db_token_state *out, char *err)
{
    int rc;
    PGresult *r = rg_db_pg_query(conn, &rc, err,
                                 "SELECT u.role, NOT u.disabled AND NOT u.pending, EXISTS (SELECT 1"
                                 " FROM sessions s WHERE s.family = $1 AND s.user_id = u.id AND"
                                 " s.revoked_at IS NULL) FROM users u WHERE u.id = $2",
                                 "si", family, user_id);
    if (!r) return rc;
    if (PQntuples(r) == 1) {
        rg_db_copy(out->role, sizeof out->role, rg_db_pg_val(r, 0, 0));
        out->active = rg_db_pg_bval(r, 0, 1);
        out->session_live = rg_db_pg_bval(r, 0, 2);
    }
    PQclear(r);
    return RG_OK;
}

/* ---- identities -------------------------------------------------------------------------- */

static int p_identity_link(void *conn, const struct rg_db_identity_in *in, struct rg_db_user *out,
                           bool *created, char *err)
{
    int rc;
    PGresult *r = rg_db_pg_query(
        conn, &rc, err, "SELECT * FROM link_oauth_identity($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        "ssssibbbi", in->provider, in->subject, in->email, in->name, in->signed_in_user,
        (int)in->pending, (int)in->allow_create, (int)in->first_only, in->now);
    if (rc == RG_EEXISTS)
        return rg_err_set(err, RG_EEXISTS, "this %s identity or account is already linked",
                          in->provider);
    if (!r) return rc;
    const char *status = PQntuples(r) == 1 ? rg_db_pg_val(r, 0, 0) : "";
    if (!strcmp(status, "ok")) {
        *created = rg_db_pg_bval(r, 0, 1);
        read_user(r, 0, 2, out);
        rc = RG_OK;
    } else if (!strcmp(status, "email")) {
        rc = rg_err_set(err, RG_EEXISTS,
                        "an account with this email exists: sign in to it and link the provider "
                        "from there");
    } else if (!strcmp(status, "taken")) {
        rc = rg_err_set(err, RG_EEXISTS, "this account is already linked to another %s identity",
                        in->provider);
    } else if (!strcmp(status, "closed")) {
        rc = rg_err_set(err, RG_ENOTFOUND, "no account for this identity");
    } else if (!strcmp(status, "notfound")) {
        rc = rg_err_set(err, RG_ENOTFOUND, "no such user");
    } else {
        rc = rg_err_set(err, RG_EIO, "postgres: link_oauth_identity() said '%.20s'", status);
    }
    PQclear(r);
    return rc;
}

/* ---- API keys ------------------------------------------------------------------------------ */

#define KEY_COLS "k.id, k.user_id, k.name, k.prefix, k.scopes, k.created_at, k.last_used_at"

static void read_key(PGresult *r, int row, struct rg_db_apikey *k)
{
    k->id = rg_db_pg_ival(r, row, 0);
    k->user_id = rg_db_pg_ival(r, row, 1);
    rg_db_copy(k->name, sizeof k->name, rg_db_pg_val(r, row, 2));
    rg_db_copy(k->prefix, sizeof k->prefix, rg_db_pg_val(r, row, 3));
    rg_db_copy(k->scopes, sizeof k->scopes, rg_db_pg_val(r, row, 4));
    k->created_at = rg_db_pg_ival(r, row, 5);
    k->last_used_at = rg_db_pg_ival(r, row, 6);
}

static int p_apikey_create(void *conn, int64_t user_id, const char *name, const char *prefix,
                           const char *key_hash, const char *scopes, int64_t now,
                           struct rg_db_apikey *out, char *err)
{
    int rc;
    PGresult *r = rg_db_pg_query(
        conn, &rc, err,
        "INSERT INTO api_keys AS k(user_id, name, prefix, key_hash, scopes, created_at)"
        " VALUES ($1, $2, $3, $4, $5, $6) RETURNING " KEY_COLS,
        "issssi", user_id, name, prefix, key_hash, scopes, now);
    if (!r) return rc;
    read_key(r, 0, out);
    PQclear(r);
    return RG_OK;
}

static void key_row(PGresult *r, int row, void *item)
{
    read_key(r, row, item);
}

static int p_apikey_list(void *conn, int64_t user_id, struct rg_db_apikey **out, size_t *n,
                         char *err)
{
    int rc;
    PGresult *r =
        rg_db_pg_query(conn, &rc, err,
                       "SELECT " KEY_COLS " FROM api_keys k WHERE k.revoked_at IS NULL AND"
                       " ($1 = 0 OR k.user_id = $1) ORDER BY k.id DESC",
                       "i", user_id);
    return r ? collect(r, (void **)out, n, sizeof **out, key_row, err) : rc;
}

static int p_apikey_revoke(void *conn, int64_t id, int64_t owner, int64_t now, char *err)
{
    int rc;
    PGresult *r = rg_db_pg_query(
        conn, &rc, err,
        "UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND ($3 = 0 OR user_id = $3)"
        " AND revoked_at IS NULL",
        "iii", now, id, owner);
    if (!r) return rc;
    bool hit = strcmp(PQcmdTuples(r), "0") != 0;
    PQclear(r);
    return hit ? RG_OK : rg_err_set(err, RG_ENOTFOUND, "no such API key");
}

static int p_apikey_lookup(void *conn, const char *prefix, int64_t now, struct rg_db_apikey *k,
                           char hash_out[72], struct rg_db_user *owner, char *err)
{
    int rc;
    PGresult *r =
        rg_db_pg_query(conn, &rc, err,
                       "UPDATE api_keys k SET last_used_at = $2 FROM users u"
                       " WHERE u.id = k.user_id AND k.prefix = $1 AND k.revoked_at IS NULL AND"
                       " NOT u.disabled AND NOT u.pending"
                       " RETURNING " KEY_COLS ", k.key_hash, " USER_COLS_U,
                       "si", prefix, now);
    if (!r) return rc;
    if (PQntuples(r) != 1) {
        PQclear(r);
        return rg_err_set(err, RG_ENOTFOUND, "no such API key");
    }
    read_key(r, 0, k);
    rg_db_copy(hash_out, 72, rg_db_pg_val(r, 0, 7));
    read_user(r, 0, 8, owner);
    PQclear(r);
    return RG_OK;
}

const struct rg_db_ops rg_db_pg_ops = {
    .name = "postgres",
    .connect = p_connect,
    .disconnect = p_disconnect,
    .migrate = p_migrate,
    .version = p_version,
    .user_create = p_user_create,
    .user_get = p_user_get,
    .user_by_email = p_user_by_email,
    .user_list = p_user_list,
    .user_count = p_user_count,
    .user_update = p_user_update,
    .login = p_login,
    .login_succeeded = p_login_succeeded,
    .session_create = p_session_create,
    .session_validate = p_session_validate,
    .session_rotate = p_session_rotate,
    .session_revoke = p_session_revoke,
    .session_revoke_user = p_session_revoke_user,
    .token_state = p_token_state,
    .identity_link = p_identity_link,
    .apikey_create = p_apikey_create,
    .apikey_list = p_apikey_list,
    .apikey_revoke = p_apikey_revoke,
    .apikey_lookup = p_apikey_lookup,
    .job_enqueue = rg_db_pg_job_enqueue,
    .job_get = rg_db_pg_job_get,
    .job_list = rg_db_pg_job_list,
    .job_claim = rg_db_pg_job_claim,
    .job_heartbeat = rg_db_pg_job_heartbeat,
    .job_progress = rg_db_pg_job_progress,
    .job_finish = rg_db_pg_job_finish,
    .job_fail = rg_db_pg_job_fail,
    .job_cancel = rg_db_pg_job_cancel,
    .job_requeue_stale = rg_db_pg_job_requeue_stale,
    .job_counts = rg_db_pg_job_counts,
    RG_DB_CONV_OPS(pg),
    RG_DB_LIB_OPS(pg),
};
