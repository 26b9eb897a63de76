/*
 * The storage front: parses the URL, keeps a pool of backend connections,
 * validates every argument once (so the backends see only sane values), and
 * hands each call one connection for its duration.
 */
#include "db/db.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <jansson.h>
#include <openssl/rand.h>

#include "common/alloc.h"
#include "common/str.h"
#include "db/db_internal.h"

bool rg_db_role_valid(const char *role)
{
    return role && (!strcmp(role, RG_DB_ROLE_ADMIN) || !strcmp(role, RG_DB_ROLE_USER) ||
                    !strcmp(role, RG_DB_ROLE_READONLY));
}

void rg_db_default_params(struct rg_db_params *p)
{
    memset(p, 0, sizeof *p);
    p->pool = 4;
    p->busy_ms = 10000;
}

void rg_db_copy(char *dst, size_t size, const char *src)
{
    rg_strlcpy(dst, src ? src : "", size);
}

int rg_db_family_new(char out[40])
{
    unsigned char b[16];
    if (RAND_bytes(b, sizeof b) != 1) return RG_EINTERNAL;
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < sizeof b; i++) {
        out[2 * i] = hex[b[i] >> 4];
        out[2 * i + 1] = hex[b[i] & 15];
    }
    out[32] = '\0';
    return RG_OK;
}

struct rg_db *rg_db_open(const struct rg_db_params *p, char *err)
{
    if (!p || !p->url || !*p->url) {
        rg_err_set(err, RG_EINVAL, "--db: empty database URL");
        return NULL;
    }
    const struct rg_db_ops *ops = NULL;
    if (rg_str_starts_with(p->url, "sqlite:"))
        ops = &rg_db_sqlite_ops;
    else if (rg_str_starts_with(p->url, "postgres://") ||
             rg_str_starts_with(p->url, "postgresql://"))
        ops = &rg_db_pg_ops;
    if (!ops) {
        rg_err_set(err, RG_EINVAL, "--db: expected sqlite:PATH or postgres://..., got '%.40s'",
                   p->url);
        return NULL;
    }
    int n = p->pool > 0 ? p->pool : 4;
    if (n > 256) n = 256;
    struct rg_db *db = rg_calloc(1, sizeof *db);
    if (!db) {
        rg_err_set(err, RG_ENOMEM, "out of memory");
        return NULL;
    }
    db->ops = ops;
    db->wait_ms = p->busy_ms > 0 ? p->busy_ms : 10000;
    db->conns = rg_calloc((size_t)n, sizeof *db->conns);
    db->busy = rg_calloc((size_t)n, sizeof *db->busy);
    pthread_mutex_init(&db->mu, NULL);
    pthread_cond_init(&db->cv, NULL);
    if (!db->conns || !db->busy) {
        rg_err_set(err, RG_ENOMEM, "out of memory");
        rg_db_close(db);
        return NULL;
    }
    for (int i = 0; i < n; i++) {
        if (ops->connect(p->url, db->wait_ms, &db->conns[i], err) != RG_OK) {
            rg_db_close(db);
            return NULL;
        }
        db->n_conns = i + 1;
    }
    return db;
}

void rg_db_close(struct rg_db *db)
{
    if (!db) return;
    for (int i = 0; i < db->n_conns; i++)
        db->ops->disconnect(db->conns[i]);
    rg_free(db->conns);
    rg_free(db->busy);
    pthread_mutex_destroy(&db->mu);
    pthread_cond_destroy(&db->cv);
    rg_free(db);
}

const char *rg_db_backend(const struct rg_db *db)
{
    return db->ops->name;
}

/* Takes a free connection, waiting up to wait_ms. -1 (err set) on time out. */
int rg_db_conn_acquire(struct rg_db *db, char *err)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += db->wait_ms / 1000;
    until.tv_nsec += (long)(db->wait_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&db->mu);
    for (;;) {
        for (int i = 0; i < db->n_conns; i++)
            if (!db->busy[i]) {
                db->busy[i] = true;
                pthread_mutex_unlock(&db->mu);
                return i;
            }
        if (pthread_cond_timedwait(&db->cv, &db->mu, &until) == ETIMEDOUT) {
            pthread_mutex_unlock(&db->mu);
            rg_err_set(err, RG_EBUSY, "no database connection free (raise --db-pool)");
            return -1;
        }
    }
}

void rg_db_conn_release(struct rg_db *db, int i)
{
    pthread_mutex_lock(&db->mu);
    db->busy[i] = false;
    pthread_cond_signal(&db->cv);
    pthread_mutex_unlock(&db->mu);
}

/* ---- argument checks ----------------------------------------------------- */

int rg_db_check_text(const char *what, const char *s, size_t max, bool required, char *err)
{
    if (!s) return required ? rg_err_set(err, RG_EINVAL, "%s is required", what) : RG_OK;
    size_t n = strlen(s);
    if (required && n == 0) return rg_err_set(err, RG_EINVAL, "%s is required", what);
    if (n >= max)
        return rg_err_set(err, RG_EINVAL, "%s is too long (at most %zu bytes)", what, max - 1);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 && s[i] != '\t')
            return rg_err_set(err, RG_EINVAL, "%s contains a control character", what);
    return RG_OK;
}

/* Lower-cases an email into out (ASCII letters only: the domain part is
 * case-insensitive, and treating the local part so too is what users expect). */
static int norm_email(const char *email, char out[256], char *err)
{
    int rc = rg_db_check_text("email", email, 256, true, err);
    if (rc) return rc;
    size_t i = 0;
    for (; email[i]; i++)
        out[i] = (char)tolower((unsigned char)email[i]);
    out[i] = '\0';
    return RG_OK;
}

static int check_hash(const char *what, const char *h, char *err)
{
    int rc = rg_db_check_text(what, h, 72, true, err);
    if (rc) return rc;
    for (const char *p = h; *p; p++)
        if (!isxdigit((unsigned char)*p)) return rg_err_set(err, RG_EINVAL, "%s must be hex", what);
    return RG_OK;
}

/* ---- schema ---------------------------------------------------------------- */

int rg_db_migrate(struct rg_db *db, int *applied, char *err)
{
    int dummy;
    if (!applied) applied = &dummy;
    *applied = 0;
    WITH_CONN(db, err, db->ops->migrate(c, applied, err));
}

int rg_db_version(struct rg_db *db, int *current, int *latest, char *err)
{
    if (latest) *latest = RG_DB_LATEST;
    int dummy;
    if (!current) current = &dummy;
    WITH_CONN(db, err, db->ops->version(c, current, err));
}

/* ---- users ----------------------------------------------------------------- */

int rg_db_user_create(struct rg_db *db, const struct rg_db_new_user *u, struct rg_db_user *out,
                      char *err)
{
    char email[256];
    int rc = norm_email(u->email, email, err);
    if (!rc) rc = rg_db_check_text("name", u->name, 128, false, err);
    if (!rc) rc = rg_db_check_text("password hash", u->pw_hash, 192, false, err);
    if (!rc && u->role && !rg_db_role_valid(u->role))
        rc = rg_err_set(err, RG_EINVAL, "role must be admin, user or readonly");
    if (rc) return rc;
    struct rg_db_new_user v = *u;
    v.email = email;
    if (!v.name) v.name = "";
    if (!v.pw_hash) v.pw_hash = "";
    memset(out, 0, sizeof *out);
    WITH_CONN(db, err, db->ops->user_create(c, &v, out, err));
}

int rg_db_user_get(struct rg_db *db, int64_t id, struct rg_db_user *out, char *err)
{
    memset(out, 0, sizeof *out);
    if (id <= 0) return rg_err_set(err, RG_ENOTFOUND, "no such user");
    WITH_CONN(db, err, db->ops->user_get(c, id, out, err));
}

int rg_db_user_by_email(struct rg_db *db, const char *email, struct rg_db_user *out, char *err)
{
    char e[256];
    memset(out, 0, sizeof *out);
    int rc = norm_email(email, e, err);
    if (rc) return rc;
    WITH_CONN(db, err, db->ops->user_by_email(c, e, out, err));
}

int rg_db_user_list(struct rg_db *db, struct rg_db_user **out, size_t *n, char *err)
{
    *out = NULL;
    *n = 0;
    WITH_CONN(db, err, db->ops->user_list(c, out, n, err));
}

int rg_db_user_count(struct rg_db *db, int64_t *n, char *err)
{
    *n = 0;
    WITH_CONN(db, err, db->ops->user_count(c, n, err));
}

int rg_db_user_update(struct rg_db *db, int64_t id, const struct rg_db_user_change *ch,
                      struct rg_db_user *out, char *err)
{
    if (ch->role && !rg_db_role_valid(ch->role))
        return rg_err_set(err, RG_EINVAL, "role must be admin, user or readonly");
    if (ch->disabled < -1 || ch->disabled > 1 || ch->pending < -1 || ch->pending > 1)
        return rg_err_set(err, RG_EINVAL, "bad flag value");
    int rc = rg_db_check_text("password hash", ch->pw_hash, 192, false, err);
    if (rc) return rc;
    memset(out, 0, sizeof *out);
    if (id <= 0) return rg_err_set(err, RG_ENOTFOUND, "no such user");
    int64_t now = (int64_t)time(NULL);
    WITH_CONN(db, err, db->ops->user_update(c, id, ch, now, out, err));
}

/* ---- sign-in ----------------------------------------------------------------- */

int rg_db_login(struct rg_db *db, const char *email, const char *addr, int window_s, int64_t now,
                struct rg_db_login *out, char *err)
{
    char e[256];
    memset(out, 0, sizeof *out);
    int rc = norm_email(email, e, err);
    if (!rc) rc = rg_db_check_text("address", addr, 128, true, err);
    if (!rc && window_s <= 0) rc = rg_err_set(err, RG_EINVAL, "window must be positive");
    if (rc) return rc;
    WITH_CONN(db, err, db->ops->login(c, e, addr, window_s, now, out, err));
}

int rg_db_login_succeeded(struct rg_db *db, int64_t attempt_id, char *err)
{
    if (attempt_id <= 0) return rg_err_set(err, RG_ENOTFOUND, "no such attempt");
    WITH_CONN(db, err, db->ops->login_succeeded(c, attempt_id, err));
}

/* ---- sessions ------------------------------------------------------------------ */

int rg_db_session_create(struct rg_db *db, int64_t user_id, const char *token_hash,
                         int64_t expires_at, const char *user_agent, int64_t now,
                         struct rg_db_session *out, char *err)
{
    memset(out, 0, sizeof *out);
    int rc = check_hash("token hash", token_hash, err);
    if (!rc) rc = rg_db_check_text("user agent", user_agent, 256, false, err);
    if (rc) return rc;
    if (user_id <= 0) return rg_err_set(err, RG_ENOTFOUND, "no such user");
    WITH_CONN(db, err,
              db->ops->session_create(c, user_id, token_hash, expires_at,
                                      user_agent ? user_agent : "", now, out, err));
}

int rg_db_session_validate(struct rg_db *db, const char *token_hash, int64_t now,
                           struct rg_db_session *s, struct rg_db_user *u, char *err)
{
    memset(s, 0, sizeof *s);
    memset(u, 0, sizeof *u);
    if (check_hash("token hash", token_hash, err) != RG_OK)
        return rg_err_set(err, RG_EAUTH, "invalid session");
    WITH_CONN(db, err, db->ops->session_validate(c, token_hash, now, s, u, err));
}

int rg_db_session_rotate(struct rg_db *db, const char *old_hash, const char *new_hash,
                         int64_t new_expires, const char *user_agent, int64_t now,
                         struct rg_db_session *s, struct rg_db_user *u, bool *reuse, char *err)
{
    bool dummy;
    if (!reuse) reuse = &dummy;
    *reuse = false;
    memset(s, 0, sizeof *s);
    memset(u, 0, sizeof *u);
    if (check_hash("token hash", old_hash, err) != RG_OK)
        return rg_err_set(err, RG_EAUTH, "invalid session");
    int rc = check_hash("new token hash", new_hash, err);
    if (!rc) rc = rg_db_check_text("user agent", user_agent, 256, false, err);
    if (rc) return rc;
    WITH_CONN(db, err,
              db->ops->session_rotate(c, old_hash, new_hash, new_expires,
                                      user_agent ? user_agent : "", now, s, u, reuse, err));
}

int rg_db_session_revoke(struct rg_db *db, const char *token_hash, int64_t now, char *err)
{
    if (check_hash("token hash", token_hash, err) != RG_OK)
        return rg_err_set(err, RG_ENOTFOUND, "no such session");
    WITH_CONN(db, err, db->ops->session_revoke(c, token_hash, now, err));
}

int rg_db_session_revoke_user(struct rg_db *db, int64_t user_id, int64_t now, char *err)
{
    WITH_CONN(db, err, db->ops->session_revoke_user(c, user_id, now, err));
}

int rg_db_token_state(struct rg_db *db, int64_t user_id, const char *family,
                      struct rg_db_token_state *out, char *err)
{
    memset(out, 0, sizeof *out);
    int rc = rg_db_check_text("session family", family, 40, true, err);
    if (rc) return rc;
    if (user_id <= 0) return RG_OK; /* nobody: inactive */
    WITH_CONN(db, err, db->ops->token_state(c, user_id, family, out, err));
}

/* ---- identities ---------------------------------------------------------------- */

int rg_db_identity_link(struct rg_db *db, const struct rg_db_identity_in *in,
                        struct rg_db_user *out, bool *created, char *err)
{
    bool dummy;
    if (!created) created = &dummy;
    *created = false;
    memset(out, 0, sizeof *out);
    int rc = rg_db_check_text("provider", in->provider, 32, true, err);
    if (!rc) rc = rg_db_check_text("subject", in->subject, 128, true, err);
    if (!rc) rc = rg_db_check_text("name", in->name, 128, false, err);
    if (rc) return rc;
    struct rg_db_identity_in v = *in;
    char email[256];
    if (in->email && *in->email) {
        rc = norm_email(in->email, email, err);
        if (rc) return rc;
        v.email = email;
    } else {
        v.email = NULL;
    }
    if (!v.name) v.name = "";
    WITH_CONN(db, err, db->ops->identity_link(c, &v, out, created, err));
}

/* ---- API keys ------------------------------------------------------------------- */

int rg_db_apikey_create(struct rg_db *db, int64_t user_id, const char *name, const char *prefix,
                        const char *key_hash, const char *scopes, int64_t now,
                        struct rg_db_apikey *out, char *err)
{
    memset(out, 0, sizeof *out);
    int rc = rg_db_check_text("name", name, 128, false, err);
    if (!rc) rc = rg_db_check_text("prefix", prefix, 32, true, err);
    if (!rc) rc = check_hash("key hash", key_hash, err);
    if (!rc) rc = rg_db_check_text("scopes", scopes, 128, false, err);
    if (rc) return rc;
    if (user_id <= 0) return rg_err_set(err, RG_ENOTFOUND, "no such user");
    WITH_CONN(db, err,
              db->ops->apikey_create(c, user_id, name ? name : "", prefix, key_hash,
                                     scopes ? scopes : "", now, out, err));
}

int rg_db_apikey_list(struct rg_db *db, int64_t user_id, struct rg_db_apikey **out, size_t *n,
                      char *err)
{
    *out = NULL;
    *n = 0;
    WITH_CONN(db, err, db->ops->apikey_list(c, user_id, out, n, err));
}

int rg_db_apikey_revoke(struct rg_db *db, int64_t id, int64_t owner, int64_t now, char *err)
{
    if (id <= 0) return rg_err_set(err, RG_ENOTFOUND, "no such API key");
    WITH_CONN(db, err, db->ops->apikey_revoke(c, id, owner, now, err));
}

int rg_db_apikey_lookup(struct rg_db *db, const char *prefix, int64_t now, struct rg_db_apikey *k,
                        char hash_out[72], struct rg_db_user *owner, char *err)
{
    memset(k, 0, sizeof *k);
    memset(owner, 0, sizeof *owner);
    hash_out[0] = '\0';
    if (rg_db_check_text("prefix", prefix, 32, true, err) != RG_OK)
        return rg_err_set(err, RG_ENOTFOUND, "no such API key");
    WITH_CONN(db, err, db->ops->apikey_lookup(c, prefix, now, k, hash_out, owner, err));
}

/* ---- background jobs ------------------------------------------------------------ */

static const char *const JOB_STATES[RG_DB_JOB_N_STATES] = {"queued", "running", "done", "failed",
                                                           "cancelled"};

const char *rg_db_job_state_name(enum rg_db_job_state s)
{
    return (unsigned)s < RG_DB_JOB_N_STATES ? JOB_STATES[s] : "unknown";
}

int rg_db_job_state_parse(const char *s)
{
    for (int i = 0; s && i < RG_DB_JOB_N_STATES; i++)
        if (!strcmp(s, JOB_STATES[i])) return i;
    return -1;
}

void rg_db_job_clear(struct rg_db_job *j)
{
    if (!j) return;
    rg_free(j->payload);
    rg_free(j->result);
    j->payload = j->result = NULL;
}

void rg_db_job_list_free(struct rg_db_job *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        rg_db_job_clear(&v[i]);
    rg_free(v);
}

bool rg_db_job_kind_valid(const char *kind)
{
    size_t n = kind ? strlen(kind) : 0;
    if (n == 0 || n >= RG_DB_JOB_KIND_MAX) return false;
    for (size_t i = 0; i < n; i++) {
        char c = kind[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
            return false;
    }
    return true;
}

int64_t rg_db_job_backoff(int attempts, int64_t base, int64_t max)
{
    if (base <= 0) return 0;
    int64_t d = base;
    for (int i = 1; i < attempts && d < max; i++)
        d = d > INT64_MAX / 2 ? INT64_MAX : d * 2;
    return d < max ? d : max;
}

/* Checks the (id, worker, attempt) triple of a leased job. */
static int check_lease(int64_t id, const char *worker, int attempt, char *err)
{
    if (id <= 0) return rg_err_set(err, RG_ENOTFOUND, "no such job");
    if (attempt <= 0) return rg_err_set(err, RG_EINVAL, "attempt must be positive");
    return rg_db_check_text("worker", worker, sizeof((struct rg_db_job *)0)->worker, true, err);
}

int rg_db_job_enqueue(struct rg_db *db, const struct rg_db_job_new *n, int64_t *id, char *err)
{
    *id = 0;
    if (!rg_db_job_kind_valid(n->kind))
        return rg_err_set(err, RG_EINVAL, "job kind must be 1..63 of [a-z0-9._-]");
    if (!n->payload) return rg_err_set(err, RG_EINVAL, "job payload is required");
    if (strlen(n->payload) > RG_DB_JOB_PAYLOAD_MAX)
        return rg_err_set(err, RG_EINVAL, "job payload is too large (at most %u bytes)",
                          RG_DB_JOB_PAYLOAD_MAX);
    if (n->priority < -1000 || n->priority > 1000)
        return rg_err_set(err, RG_EINVAL, "priority must be within -1000..1000");
    if (n->max_attempts < 1 || n->max_attempts > 100)
        return rg_err_set(err, RG_EINVAL, "max_attempts must be within 1..100");
    if (n->owner_id < 0) return rg_err_set(err, RG_ENOTFOUND, "no such user");
    struct rg_db_job_new v = *n;
    if (v.run_after < v.now) v.run_after = v.now;
    WITH_CONN(db, err, db->ops->job_enqueue(c, &v, id, err));
}

int rg_db_job_get(struct rg_db *db, int64_t id, struct rg_db_job *out, char *err)
{
    memset(out, 0, sizeof *out);
    if (id <= 0) return rg_err_set(err, RG_ENOTFOUND, "no such job");
    WITH_CONN(db, err, db->ops->job_get(c, id, out, err));
}

int rg_db_job_list(struct rg_db *db, int64_t owner, int limit, struct rg_db_job **out, size_t *n,
                   char *err)
{
    *out = NULL;
    *n = 0;
    if (limit < 1 || limit > 1000) return rg_err_set(err, RG_EINVAL, "limit must be 1..1000");
    WITH_CONN(db, err, db->ops->job_list(c, owner, limit, out, n, err));
}

int rg_db_job_claim(struct rg_db *db, const char *worker, const char *kinds, int64_t now,
                    int lease_ms, struct rg_db_job *out, char *err)
{
    memset(out, 0, sizeof *out);
    int rc = rg_db_check_text("worker", worker, sizeof out->worker, true, err);
    if (rc) return rc;
    if (!kinds || !*kinds) return rg_err_set(err, RG_ENOTFOUND, "no kinds to run");
    if (strlen(kinds) > 4096) return rg_err_set(err, RG_EINVAL, "too many kinds");
    for (const char *k = kinds; *k;) { /* "a,b,c": each a valid kind name */
        size_t len = strcspn(k, ",");
        char one[RG_DB_JOB_KIND_MAX];
        if (len == 0 || len >= sizeof one) return rg_err_set(err, RG_EINVAL, "bad kind list");
        memcpy(one, k, len);
        one[len] = '\0';
        if (!rg_db_job_kind_valid(one)) return rg_err_set(err, RG_EINVAL, "bad kind list");
        k += len;
        if (*k == ',') k++;
    }
    if (lease_ms <= 0) return rg_err_set(err, RG_EINVAL, "lease must be positive");
    WITH_CONN(db, err, db->ops->job_claim(c, worker, kinds, now, lease_ms, out, err));
}

int rg_db_job_heartbeat(struct rg_db *db, int64_t id, const char *worker, int attempt, int64_t now,
                        int lease_ms, bool *cancel, char *err)
{
    *cancel = false;
    int rc = check_lease(id, worker, attempt, err);
    if (rc) return rc;
    if (lease_ms <= 0) return rg_err_set(err, RG_EINVAL, "lease must be positive");
    WITH_CONN(db, err, db->ops->job_heartbeat(c, id, worker, attempt, now, lease_ms, cancel, err));
}

int rg_db_job_progress(struct rg_db *db, int64_t id, const char *worker, int attempt,
                       double progress, const char *message, int64_t now, int lease_ms,
                       bool *cancel, char *err)
{
    *cancel = false;
    int rc = check_lease(id, worker, attempt, err);
    if (!rc)
        rc = rg_db_check_text("message", message, sizeof((struct rg_db_job *)0)->message, false, err);
    if (rc) return rc;
    if (lease_ms <= 0) return rg_err_set(err, RG_EINVAL, "lease must be positive");
    if (!(progress >= 0)) progress = 0; /* also NaN */
    if (progress > 1) progress = 1;
    WITH_CONN(db, err,
              db->ops->job_progress(c, id, worker, attempt, progress, message ? message : "", now,
                                    lease_ms, cancel, err));
}

int rg_db_job_finish(struct rg_db *db, int64_t id, const char *worker, int attempt,
                     enum rg_db_job_state state, const char *result, int64_t now, char *err)
{
    int rc = check_lease(id, worker, attempt, err);
    if (rc) return rc;
    if (state != RG_DB_JOB_DONE && state != RG_DB_JOB_CANCELLED)
        return rg_err_set(err, RG_EINVAL, "a job finishes done or cancelled");
    if (result && strlen(result) > RG_DB_JOB_RESULT_MAX)
        return rg_err_set(err, RG_EINVAL, "job result is too large (at most %u bytes)",
                          RG_DB_JOB_RESULT_MAX);
    WITH_CONN(db, err, db->ops->job_finish(c, id, worker, attempt, state, result, now, err));
}

int rg_db_job_fail(struct rg_db *db, int64_t id, const char *worker, int attempt, const char *error,
                   int64_t now, int64_t backoff_ms, int64_t backoff_max_ms,
                   enum rg_db_job_state *state, char *err)
{
    enum rg_db_job_state dummy;
    if (!state) state = &dummy;
    *state = RG_DB_JOB_RUNNING;
    int rc = check_lease(id, worker, attempt, err);
    if (rc) return rc;
    char e[sizeof((struct rg_db_job *)0)->error];
    rg_db_copy(e, sizeof e, error ? error : "failed");
    e[rg_utf8_valid_prefix(e, strlen(e))] = '\0'; /* a run function's message may hold anything */
    for (char *p = e; *p; p++)
        if ((unsigned char)*p < 0x20) *p = ' ';
    if (backoff_ms < 0 || backoff_max_ms < backoff_ms)
        return rg_err_set(err, RG_EINVAL, "bad back-off");
    WITH_CONN(
        db, err,
        db->ops->job_fail(c, id, worker, attempt, e, now, backoff_ms, backoff_max_ms, state, err));
}

int rg_db_job_cancel(struct rg_db *db, int64_t id, int64_t owner, int64_t now,
                     enum rg_db_job_state *state, char *err)
{
    enum rg_db_job_state dummy;
    if (!state) state = &dummy;
    *state = RG_DB_JOB_QUEUED;
    if (id <= 0) return rg_err_set(err, RG_ENOTFOUND, "no such job");
    WITH_CONN(db, err, db->ops->job_cancel(c, id, owner, now, state, err));
}

int rg_db_job_requeue_stale(struct rg_db *db, const char *worker, int64_t now, bool refund,
                            int64_t *n, char *err)
{
    int64_t dummy;
    if (!n) n = &dummy;
    *n = 0;
    int rc = rg_db_check_text("worker", worker, sizeof((struct rg_db_job *)0)->worker, false, err);
    if (rc) return rc;
    WITH_CONN(db, err, db->ops->job_requeue_stale(c, worker, now, refund, n, err));
}

int rg_db_job_counts(struct rg_db *db, int64_t counts[RG_DB_JOB_N_STATES], char *err)
{
    for (int i = 0; i < RG_DB_JOB_N_STATES; i++)
        counts[i] = 0;
    WITH_CONN(db, err, db->ops->job_counts(c, counts, err));
}

/* ---- signed-in devices ---------------------------------------------------------- */

int rg_db_session_list(struct rg_db *db, int64_t user_id, int64_t now, struct rg_db_device **out,
                       size_t *n, char *err)
{
    *out = NULL;
    *n = 0;
    if (user_id <= 0) return RG_OK; /* nobody has no devices */
    WITH_CONN(db, err, db->ops->session_list(c, user_id, now, out, n, err));
}

int rg_db_session_revoke_family(struct rg_db *db, int64_t user_id, const char *family,
                                const char *except, int64_t now, int64_t *n, char *err)
{
    int64_t dummy;
    if (!n) n = &dummy;
    *n = 0;
    if ((family != NULL) == (except != NULL))
        return rg_err_set(err, RG_EINVAL, "give either a family or the one to keep");
    int rc = rg_db_check_text("session family", family ? family : except, 40, true, err);
    if (rc) return family ? rg_err_set(err, RG_ENOTFOUND, "no such session") : rc;
    if (user_id <= 0) return family ? rg_err_set(err, RG_ENOTFOUND, "no such session") : RG_OK;
    WITH_CONN(db, err, db->ops->session_revoke_family(c, user_id, family, except, now, n, err));
}

/* ---- conversations ------------------------------------------------------------------ */

bool rg_db_msg_type_valid(const char *type)
{
    static const char *const types[] = {"user", "assistant", "system", "tool", "summary", "note"};
    for (size_t i = 0; type && i < RG_ARRAY_LEN(types); i++)
        if (!strcmp(type, types[i])) return true;
    return false;
}

/* The role a message of this type speaks with when none is given. */
static const char *role_of_type(const char *type)
{
    if (!strcmp(type, "assistant") || !strcmp(type, "summary")) return "assistant";
    if (!strcmp(type, "system") || !strcmp(type, "note")) return "system";
    return type; /* user, tool */
}

static bool role_valid(const char *role)
{
    return role && (!strcmp(role, "user") || !strcmp(role, "assistant") ||
                    !strcmp(role, "system") || !strcmp(role, "tool"));
}

static bool finish_valid(const char *f)
{
    return !f || !*f || !strcmp(f, "stop") || !strcmp(f, "length") || !strcmp(f, "cancelled") ||
           !strcmp(f, "error");
}

void rg_db_conv_clear(struct rg_db_conv *c)
{
    if (!c) return;
    rg_free(c->settings);
    c->settings = NULL;
}

void rg_db_conv_list_free(struct rg_db_conv *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        rg_db_conv_clear(&v[i]);
    rg_free(v);
}

void rg_db_msg_clear(struct rg_db_msg *m)
{
    if (!m) return;
    rg_free(m->content);
    rg_free(m->settings);
    m->content = m->settings = NULL;
}

void rg_db_msg_list_free(struct rg_db_msg *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        rg_db_msg_clear(&v[i]);
    rg_free(v);
}

void rg_db_copy_utf8(char *out, size_t max, const char *s)
{
    size_t n = strlen(s);
    if (n > max) n = max;
    n = rg_utf8_valid_prefix(s, n);
    memcpy(out, s, n);
    out[n] = '\0';
}

/* Milliseconds of the wall clock, for the calls that take no `now`. */
static int64_t now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* A one-line text field: valid UTF-8, no control characters, under max bytes. */
static int check_line(const char *what, const char *s, size_t max, char *err)
{
    int rc = rg_db_check_text(what, s, max, false, err);
    if (!rc && s && !rg_utf8_valid(s, strlen(s)))
        rc = rg_err_set(err, RG_EINVAL, "%s is not valid UTF-8", what);
    return rc;
}

/* Settings: NULL, or the text of a JSON object of at most RG_DB_CONV_SETTINGS_MAX bytes. */
static int check_settings(const char *s, char *err)
{
    if (!s) return RG_OK;
    size_t n = strlen(s);
    if (n > RG_DB_CONV_SETTINGS_MAX)
        return rg_err_set(err, RG_EINVAL, "settings are too large (at most %d bytes)",
                          RG_DB_CONV_SETTINGS_MAX);
    json_error_t je;
    json_t *j = json_loadb(s, n, JSON_REJECT_DUPLICATES, &je);
    bool ok = j && json_is_object(j);
    json_decref(j);
    return ok ? RG_OK : rg_err_set(err, RG_EINVAL, "settings must be a JSON object");
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/*
 * Normalises a comma-separated tag list into out: each tag trimmed and
 * lower-cased, of [a-z0-9 _-] only, 1..RG_DB_CONV_TAG_MAX bytes; empty items
 * dropped; sorted; duplicates removed; at most RG_DB_CONV_TAGS_MAX. RG_EINVAL.
 */
static int norm_tags(const char *in, char *out, size_t size, char *err)
{
    out[0] = '\0';
    if (!in) return RG_OK;
    if (strlen(in) > RG_DB_CONV_TAGS_MAX * (RG_DB_CONV_TAG_MAX + 1) * 2)
        return rg_err_set(err, RG_EINVAL, "too many tags");
    char tags[RG_DB_CONV_TAGS_MAX + 1][RG_DB_CONV_TAG_MAX + 1];
    const char *ptr[RG_DB_CONV_TAGS_MAX + 1];
    size_t nt = 0;
    for (const char *p = in;;) {
        size_t len = strcspn(p, ",");
        const char *b = p, *e = p + len;
        while (b < e && (*b == ' ' || *b == '\t'))
            b++;
        while (e > b && (e[-1] == ' ' || e[-1] == '\t'))
            e--;
        size_t tl = (size_t)(e - b);
        if (tl > RG_DB_CONV_TAG_MAX)
            return rg_err_set(err, RG_EINVAL, "a tag is too long (at most %d bytes)",
                              RG_DB_CONV_TAG_MAX);
        if (tl > 0) {
            char t[RG_DB_CONV_TAG_MAX + 1];
            for (size_t i = 0; i < tl; i++) {
                char ch = (char)tolower((unsigned char)b[i]);
                if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == ' ' ||
                      ch == '_' || ch == '-'))
                    return rg_err_set(err, RG_EINVAL,
                                      "tags may hold only a-z, 0-9, space, _ and -");
                t[i] = ch;
            }
            t[tl] = '\0';
            bool dup = false;
            for (size_t i = 0; i < nt && !dup; i++)
                dup = !strcmp(tags[i], t);
            if (!dup) {
                if (nt == RG_DB_CONV_TAGS_MAX)
                    return rg_err_set(err, RG_EINVAL, "too many tags (at most %d)",
                                      RG_DB_CONV_TAGS_MAX);
                memcpy(tags[nt], t, tl + 1);
                ptr[nt] = tags[nt];
                nt++;
            }
        }
        if (!p[len]) break;
        p += len + 1;
    }
    qsort(ptr, nt, sizeof *ptr, cmp_str);
    size_t o = 0;
    for (size_t i = 0; i < nt; i++) {
        size_t l = strlen(ptr[i]);
        RG_ASSERT(o + l + 2 <= size);
        if (i) out[o++] = ',';
        memcpy(out + o, ptr[i], l);
        o += l;
    }
    out[o] = '\0';
    return RG_OK;
}

int rg_db_search_words(const char *q, struct rg_db_words *w, char *err)
{
    memset(w, 0, sizeof *w);
    size_t n = strlen(q);
    if (n > RG_DB_SEARCH_Q_MAX)
        return rg_err_set(err, RG_EINVAL, "the search is too long (at most %d bytes)",
                          RG_DB_SEARCH_Q_MAX);
    n = rg_utf8_valid_prefix(q, n); /* an invalid tail is not searchable text */
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        unsigned char ch = (unsigned char)q[i];
        if (!(isalnum(ch) || ch >= 0x80)) {
            i++;
            continue;
        }
        if (w->n == RG_DB_SEARCH_WORDS_MAX)
            return rg_err_set(err, RG_EINVAL, "too many words (at most %d)",
                              RG_DB_SEARCH_WORDS_MAX);
        w->w[w->n++] = w->buf + o;
        while (i < n && (isalnum((unsigned char)q[i]) || (unsigned char)q[i] >= 0x80))
            w->buf[o++] = q[i++];
        w->buf[o++] = '\0';
    }
    return RG_OK;
}

/* ids: a missing or another user's row is RG_ENOTFOUND, so ids <= 0 are too. */
#define NEED_ID(id, what)                                                                          \
    do {                                                                                           \
        if ((id) <= 0) return rg_err_set(err, RG_ENOTFOUND, "no such " what);                      \
    } while (0)

int rg_db_conv_create(struct rg_db *db, const struct rg_db_conv_new *n, struct rg_db_conv *out,
                      char *err)
{
    memset(out, 0, sizeof *out);
    char tags[sizeof out->tags];
    int rc = check_line("title", n->title, RG_DB_CONV_TITLE_MAX + 1, err);
    if (!rc) rc = check_line("model", n->model, sizeof out->model, err);
    if (!rc) rc = check_line("folder", n->folder, sizeof out->folder, err);
    if (!rc) rc = check_settings(n->settings, err);
    if (!rc) rc = norm_tags(n->tags, tags, sizeof tags, err);
    if (rc) return rc;
    if (n->owner_id <= 0) return rg_err_set(err, RG_ENOTFOUND, "no such user");
    struct rg_db_conv_new v = *n;
    v.title = n->title ? n->title : "";
    v.model = n->model ? n->model : "";
    v.folder = n->folder ? n->folder : "";
    v.settings = n->settings ? n->settings : "{}";
    v.tags = tags;
    WITH_CONN(db, err, db->ops->conv_create(c, &v, out, err));
}

int rg_db_conv_get(struct rg_db *db, int64_t owner, int64_t id, struct rg_db_conv *out, char *err)
{
    memset(out, 0, sizeof *out);
    NEED_ID(owner, "conversation");
    NEED_ID(id, "conversation");
    WITH_CONN(db, err, db->ops->conv_get(c, owner, id, out, err));
}

int rg_db_conv_list(struct rg_db *db, int64_t owner, const struct rg_db_conv_filter *f,
                    struct rg_db_conv **out, size_t *n, bool *more, char *err)
{
    *out = NULL;
    *n = 0;
    *more = false;
    if (f->limit < 1 || f->limit > 200) return rg_err_set(err, RG_EINVAL, "limit must be 1..200");
    if (f->offset < 0) return rg_err_set(err, RG_EINVAL, "offset must be >= 0");
    if (f->archived < -1 || f->archived > 1)
        return rg_err_set(err, RG_EINVAL, "bad archived filter");
    int rc = check_line("folder", f->folder, sizeof((struct rg_db_conv *)0)->folder, err);
    if (!rc) rc = check_line("type", f->type, sizeof((struct rg_db_conv *)0)->type, err);
    if (rc) return rc;
    struct rg_db_conv_filter v = *f;
    char tag[RG_DB_CONV_TAG_MAX + 8];
    if (f->tag) {
        if ((rc = norm_tags(f->tag, tag, sizeof tag, err))) return rc;
        if (strchr(tag, ',')) return rg_err_set(err, RG_EINVAL, "filter by one tag");
        v.tag = tag;
    }
    struct rg_db_words *words = NULL;
    if (f->q && *f->q) {
        if (!(words = rg_malloc(sizeof *words))) return rg_err_set(err, RG_ENOMEM, "out of memory");
        if ((rc = rg_db_search_words(f->q, words, err))) {
            rg_free(words);
            return rc;
        }
        if (words->n == 0) { /* nothing searchable: nothing matches */
            rg_free(words);
            return RG_OK;
        }
    }
    if (owner <= 0) {
        rg_free(words);
        return RG_OK;
    }
    int slot = rg_db_conn_acquire(db, err);
    if (slot < 0) {
        rg_free(words);
        return RG_EBUSY;
    }
    rc = db->ops->conv_list(db->conns[slot], owner, &v, words, out, n, more, err);
    rg_db_conn_release(db, slot);
    rg_free(words);
    return rc;
}

int rg_db_conv_update(struct rg_db *db, int64_t owner, int64_t id,
                      const struct rg_db_conv_change *ch, struct rg_db_conv *out, char *err)
{
    memset(out, 0, sizeof *out);
    char tags[sizeof out->tags];
    int rc = check_line("title", ch->title, RG_DB_CONV_TITLE_MAX + 1, err);
    if (!rc) rc = check_line("model", ch->model, sizeof out->model, err);
    if (!rc) rc = check_line("folder", ch->folder, sizeof out->folder, err);
    if (!rc) rc = check_settings(ch->settings, err);
    if (!rc && ch->tags) rc = norm_tags(ch->tags, tags, sizeof tags, err);
    if (rc) return rc;
    if (ch->archived < -1 || ch->archived > 1 || ch->pinned < -1 || ch->pinned > 1 ||
        ch->title_auto < -1 || ch->title_auto > 1)
        return rg_err_set(err, RG_EINVAL, "bad flag value");
    NEED_ID(owner, "conversation");
    NEED_ID(id, "conversation");
    struct rg_db_conv_change v = *ch;
    if (ch->tags) v.tags = tags;
    /* a title given decides title_auto: the title job's (1) or a person's (0) */
    if (ch->title && v.title_auto != 1) v.title_auto = 0;
    WITH_CONN(db, err, db->ops->conv_update(c, owner, id, &v, out, err));
}

int rg_db_conv_delete(struct rg_db *db, int64_t owner, int64_t id, char *err)
{
    NEED_ID(owner, "conversation");
    NEED_ID(id, "conversation");
    WITH_CONN(db, err, db->ops->conv_delete(c, owner, id, err));
}

static int check_content(const char *s, char *err)
{
    size_t n = strlen(s);
    if (n > RG_DB_MSG_CONTENT_MAX)
        return rg_err_set(err, RG_EINVAL, "the message is too long (at most %u bytes)",
                          RG_DB_MSG_CONTENT_MAX);
    if (!rg_utf8_valid(s, n)) return rg_err_set(err, RG_EINVAL, "the message is not valid UTF-8");
    return RG_OK;
}

int rg_db_msg_add(struct rg_db *db, int64_t owner, const struct rg_db_msg_new *n,
                  struct rg_db_msg *out, char *err)
{
    memset(out, 0, sizeof *out);
    if (!rg_db_msg_type_valid(n->type))
        return rg_err_set(err, RG_EINVAL, "message type must be one of " RG_DB_MSG_TYPES);
    if (n->role && !role_valid(n->role))
        return rg_err_set(err, RG_EINVAL, "role must be user, assistant, system or tool");
    int rc = check_content(n->content ? n->content : "", err);
    if (!rc) rc = check_line("model", n->model, sizeof out->model, err);
    if (!rc) rc = check_settings(n->settings, err);
    if (rc) return rc;
    if (n->parent_id < 0 || n->thread_id < 0)
        return rg_err_set(err, RG_ENOTFOUND, "no such message");
    NEED_ID(owner, "conversation");
    NEED_ID(n->conv_id, "conversation");
    struct rg_db_msg_new v = *n;
    v.role = n->role ? n->role : role_of_type(n->type);
    v.content = n->content ? n->content : "";
    v.model = n->model ? n->model : "";
    v.settings = n->settings ? n->settings : "{}";
    WITH_CONN(db, err, db->ops->msg_add(c, owner, &v, out, err));
}

int rg_db_msg_finish(struct rg_db *db, int64_t owner, int64_t id, const struct rg_db_msg_end *e,
                     struct rg_db_msg *out, char *err)
{
    memset(out, 0, sizeof *out);
    int rc = check_content(e->content ? e->content : "", err);
    if (!rc) rc = check_settings(e->settings, err);
    if (rc) return rc;
    if (!finish_valid(e->finish))
        return rg_err_set(err, RG_EINVAL, "finish must be stop, length, cancelled or error");
    if (e->prompt_tokens < 0 || e->completion_tokens < 0 || e->duration_ms < 0)
        return rg_err_set(err, RG_EINVAL, "counts must be >= 0");
    NEED_ID(owner, "message");
    NEED_ID(id, "message");
    struct rg_db_msg_end v = *e;
    v.content = e->content ? e->content : "";
    v.finish = e->finish ? e->finish : "";
    WITH_CONN(db, err, db->ops->msg_finish(c, owner, id, &v, out, err));
}

int rg_db_msg_get(struct rg_db *db, int64_t owner, int64_t id, struct rg_db_msg *out, char *err)
{
    memset(out, 0, sizeof *out);
    NEED_ID(owner, "message");
    NEED_ID(id, "message");
    WITH_CONN(db, err, db->ops->msg_get(c, owner, id, out, err));
}

int rg_db_msg_list(struct rg_db *db, int64_t owner, int64_t conv_id, struct rg_db_msg **out,
                   size_t *n, char *err)
{
    *out = NULL;
    *n = 0;
    NEED_ID(owner, "conversation");
    NEED_ID(conv_id, "conversation");
    WITH_CONN(db, err, db->ops->msg_list(c, owner, conv_id, out, n, err));
}

int rg_db_msg_branch(struct rg_db *db, int64_t owner, int64_t conv_id, int64_t leaf,
                     struct rg_db_msg **out, size_t *n, char *err)
{
    *out = NULL;
    *n = 0;
    NEED_ID(owner, "conversation");
    NEED_ID(conv_id, "conversation");
    if (leaf < 0) return rg_err_set(err, RG_ENOTFOUND, "no such message");
    WITH_CONN(db, err, db->ops->msg_branch(c, owner, conv_id, leaf, out, n, err));
}

int rg_db_conv_set_active(struct rg_db *db, int64_t owner, int64_t conv_id, int64_t msg_id,
                          bool descend, int64_t *leaf, char *err)
{
    int64_t dummy;
    if (!leaf) leaf = &dummy;
    *leaf = 0;
    NEED_ID(owner, "conversation");
    NEED_ID(conv_id, "conversation");
    NEED_ID(msg_id, "message");
    WITH_CONN(db, err, db->ops->conv_set_active(c, owner, conv_id, msg_id, descend, leaf, err));
}

int rg_db_msg_delete(struct rg_db *db, int64_t owner, int64_t id, int64_t *n, char *err)
{
    int64_t dummy;
    if (!n) n = &dummy;
    *n = 0;
    NEED_ID(owner, "message");
    NEED_ID(id, "message");
    int64_t now = now_ms();
    WITH_CONN(db, err, db->ops->msg_delete(c, owner, id, now, n, err));
}

int rg_db_thread_list(struct rg_db *db, int64_t owner, int64_t conv_id, struct rg_db_thread **out,
                      size_t *n, char *err)
{
    *out = NULL;
    *n = 0;
    NEED_ID(owner, "conversation");
    NEED_ID(conv_id, "conversation");
    WITH_CONN(db, err, db->ops->thread_list(c, owner, conv_id, out, n, err));
}

int rg_db_thread_update(struct rg_db *db, int64_t owner, int64_t thread_id, const char *title,
                        int collapsed, int64_t summary_id, struct rg_db_thread *out, char *err)
{
    memset(out, 0, sizeof *out);
    int rc = check_line("title", title, RG_DB_CONV_TITLE_MAX + 1, err);
    if (rc) return rc;
    if (collapsed < -1 || collapsed > 1) return rg_err_set(err, RG_EINVAL, "bad flag value");
    if (summary_id < -1) return rg_err_set(err, RG_ENOTFOUND, "no such message");
    NEED_ID(owner, "thread");
    NEED_ID(thread_id, "thread");
    WITH_CONN(db, err,
              db->ops->thread_update(c, owner, thread_id, title, collapsed, summary_id, out, err));
}

int rg_db_msg_move(struct rg_db *db, int64_t owner, int64_t msg_id, int64_t thread_id,
                   const char *new_title, int64_t now, struct rg_db_thread *out, char *err)
{
    memset(out, 0, sizeof *out);
    int rc = check_line("title", new_title, RG_DB_CONV_TITLE_MAX + 1, err);
    if (rc) return rc;
    if (thread_id < 0) return rg_err_set(err, RG_ENOTFOUND, "no such thread");
    NEED_ID(owner, "message");
    NEED_ID(msg_id, "message");
    WITH_CONN(
        db, err,
        db->ops->msg_move(c, owner, msg_id, thread_id, new_title ? new_title : "", now, out, err));
}

static bool word_byte(unsigned char ch)
{
    return isalnum(ch) || ch >= 0x80;
}

bool rg_db_snippet(const char *text, const struct rg_db_words *w, char *out, size_t size)
{
    RG_ASSERT(size >= 244);
    out[0] = '\0';
    size_t len = strlen(text), at = len;
    for (size_t i = 0; i < len && at == len; i++) {
        if (!word_byte((unsigned char)text[i]) || (i > 0 && word_byte((unsigned char)text[i - 1])))
            continue;
        for (int k = 0; k < w->n && at == len; k++) {
            size_t wl = strlen(w->w[k]);
            if (i + wl > len || strncasecmp(text + i, w->w[k], wl) != 0) continue;
            bool whole = i + wl == len || !word_byte((unsigned char)text[i + wl]);
            if (whole || k == w->n - 1) at = i;
        }
    }
    if (at == len) return false;
    /* about a third of the room before the word, starting after a space */
    size_t start = at > 70 ? at - 70 : 0;
    if (start > 0) {
        size_t s = start;
        while (s < at && text[s] != ' ' && text[s] != '\n')
            s++;
        start = s < at ? s + 1 : start;
        while (start < at && ((unsigned char)text[start] & 0xC0) == 0x80)
            start++; /* never begin inside a character */
    }
    size_t room = 240 - (start > 0 ? 3 : 0), n = len - start;
    bool cut = n > room;
    if (cut) {
        room -= 3;
        n = rg_utf8_valid_prefix(text + start, room);
        size_t sp = n;
        while (sp > n / 2 && text[start + sp - 1] != ' ')
            sp--;
        if (sp > n / 2 && start + sp > at) n = sp - 1; /* end at a word's end */
    }
    size_t o = 0;
    if (start > 0) {
        memcpy(out, "…", 3);
        o = 3;
    }
    for (size_t i = 0; i < n; i++) {
        char ch = text[start + i];
        out[o++] = ch == '\n' || ch == '\r' || ch == '\t' ? ' ' : ch;
    }
    if (cut) {
        memcpy(out + o, "…", 3);
        o += 3;
    }
    out[o] = '\0';
    return true;
}

/* ---- library ----------------------------------------------------------------------- */

static const char *const DOC_STATES[RG_DB_DOC_N_STATES] = {"queued", "indexing", "ready", "error"};

const char *rg_db_doc_state_name(enum rg_db_doc_state s)
{
    return (unsigned)s < RG_DB_DOC_N_STATES ? DOC_STATES[s] : "?";
}

int rg_db_doc_state_parse(const char *s)
{
    for (int i = 0; s && i < RG_DB_DOC_N_STATES; i++)
        if (!strcmp(s, DOC_STATES[i])) return i;
    return -1;
}

void rg_db_chunk_clear(struct rg_db_chunk *c)
{
    if (!c) return;
    rg_free(c->text);
    c->text = NULL;
}

void rg_db_chunk_list_free(struct rg_db_chunk *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        rg_db_chunk_clear(&v[i]);
    rg_free(v);
}

void rg_db_vec_page_free(struct rg_db_vec_page *p)
{
    if (!p) return;
    rg_free(p->rows);
    rg_free(p->buf);
    memset(p, 0, sizeof *p);
}

/* A format name: [a-z0-9]{1,15}. */
static int check_format(const char *f, bool required, char *err)
{
    if (!f) return required ? rg_err_set(err, RG_EINVAL, "format is required") : RG_OK;
    size_t n = strlen(f);
    bool ok = n >= 1 && n <= 15;
    for (size_t i = 0; ok && i < n; i++)
        ok = (f[i] >= 'a' && f[i] <= 'z') || (f[i] >= '0' && f[i] <= '9');
    return ok ? RG_OK : rg_err_set(err, RG_EINVAL, "format must be [a-z0-9]{1,15}");
}

static int check_hash_opt(const char *h, char *err)
{
    if (!h || !*h) return RG_OK;
    bool ok = strlen(h) == 64;
    for (size_t i = 0; ok && i < 64; i++)
        ok = (h[i] >= '0' && h[i] <= '9') || (h[i] >= 'a' && h[i] <= 'f');
    return ok ? RG_OK : rg_err_set(err, RG_EINVAL, "content hash must be 64 lower-case hex digits");
}

/* Text (a chunk, a description, an error): valid UTF-8 of at most max bytes
 * without control bytes other than \t \n \r (so the snippet marks, \x02 and
 * \x03, never occur in stored text). */
static int check_body(const char *what, const char *s, size_t max, bool required, char *err)
{
    if (!s || !*s) return required ? rg_err_set(err, RG_EINVAL, "%s is required", what) : RG_OK;
    size_t n = strlen(s);
    if (n > max) return rg_err_set(err, RG_EINVAL, "%s is too long (at most %zu bytes)", what, max);
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if ((ch < 0x20 && ch != '\t' && ch != '\n' && ch != '\r') || ch == 0x7f)
            return rg_err_set(err, RG_EINVAL, "%s contains a control character", what);
    }
    if (!rg_utf8_valid(s, n)) return rg_err_set(err, RG_EINVAL, "%s is not valid UTF-8", what);
    return RG_OK;
}

int rg_db_collection_create(struct rg_db *db, const struct rg_db_collection_new *n,
                            struct rg_db_collection *out, char *err)
{
    memset(out, 0, sizeof *out);
    int rc = rg_db_check_text("name", n->name, RG_DB_LIB_NAME_MAX + 1, true, err);
    if (!rc) rc = check_line("name", n->name, RG_DB_LIB_NAME_MAX + 1, err);
    if (!rc) rc = check_body("description", n->description, RG_DB_LIB_DESC_MAX, false, err);
    if (rc) return rc;
    if (n->owner_id <= 0) return rg_err_set(err, RG_ENOTFOUND, "no such user");
    struct rg_db_collection_new v = *n;
    v.description = n->description ? n->description : "";
    WITH_CONN(db, err, db->ops->lib_coll_create(c, &v, out, err));
}

int rg_db_collection_get(struct rg_db *db, int64_t user, int64_t id, struct rg_db_collection *out,
                         char *err)
{
    memset(out, 0, sizeof *out);
    NEED_ID(user, "collection");
    NEED_ID(id, "collection");
    WITH_CONN(db, err, db->ops->lib_coll_get(c, user, id, out, err));
}

int rg_db_collection_list(struct rg_db *db, int64_t user, struct rg_db_collection **out, size_t *n,
                          char *err)
{
    *out = NULL;
    *n = 0;
    if (user <= 0) return RG_OK;
    WITH_CONN(db, err, db->ops->lib_coll_list(c, user, out, n, err));
}

int rg_db_collection_update(struct rg_db *db, int64_t user, int64_t id,
                            const struct rg_db_collection_change *ch, struct rg_db_collection *out,
                            char *err)
{
    memset(out, 0, sizeof *out);
    int rc = ch->name ? rg_db_check_text("name", ch->name, RG_DB_LIB_NAME_MAX + 1, true, err) : RG_OK;
    if (!rc) rc = check_line("name", ch->name, RG_DB_LIB_NAME_MAX + 1, err);
    if (!rc) rc = check_body("description", ch->description, RG_DB_LIB_DESC_MAX, false, err);
    if (rc) return rc;
    if (ch->shared < -1 || ch->shared > 1) return rg_err_set(err, RG_EINVAL, "bad flag value");
    NEED_ID(user, "collection");
    NEED_ID(id, "collection");
    WITH_CONN(db, err, db->ops->lib_coll_update(c, user, id, ch, out, err));
}

int rg_db_collection_delete(struct rg_db *db, int64_t user, int64_t id, char *err)
{
    NEED_ID(user, "collection");
    NEED_ID(id, "collection");
    WITH_CONN(db, err, db->ops->lib_coll_delete(c, user, id, err));
}

int rg_db_lib_folder_add(struct rg_db *db, int64_t user, int64_t collection_id, const char *path,
                         int64_t now, struct rg_db_lib_folder *out, char *err)
{
    memset(out, 0, sizeof *out);
    int rc = rg_db_check_text("path", path, RG_DB_LIB_PATH_MAX + 1, true, err);
    if (!rc) rc = check_line("path", path, RG_DB_LIB_PATH_MAX + 1, err);
    if (rc) return rc;
    if (path[0] != '/') return rg_err_set(err, RG_EINVAL, "a folder's path must be absolute");
    char p[RG_DB_LIB_PATH_MAX + 1];
    rg_strlcpy(p, path, sizeof p);
    for (size_t l = strlen(p); l > 1 && p[l - 1] == '/'; l--)
        p[l - 1] = '\0';
    NEED_ID(user, "user");
    NEED_ID(collection_id, "collection");
    WITH_CONN(db, err, db->ops->lib_folder_add(c, user, collection_id, p, now, out, err));
}

int rg_db_lib_folder_list(struct rg_db *db, int64_t user, struct rg_db_lib_folder **out, size_t *n,
                          char *err)
{
    *out = NULL;
    *n = 0;
    if (user < 0) return RG_OK;
    WITH_CONN(db, err, db->ops->lib_folder_list(c, user, out, n, err));
}

int rg_db_lib_folder_remove(struct rg_db *db, int64_t user, int64_t id, char *err)
{
    NEED_ID(user, "folder");
    NEED_ID(id, "folder");
    WITH_CONN(db, err, db->ops->lib_folder_remove(c, user, id, err));
}

/* The metadata strings a document's _new and _change share. */
static int check_doc_meta(const char *title, const char *authors, const char *language,
                          const char *identifier, const char *encoding, char *err)
{
    int rc = check_line("title", title, RG_DB_LIB_NAME_MAX + 1, err);
    if (!rc) rc = check_line("authors", authors, RG_DB_LIB_META_MAX + 1, err);
    if (!rc) rc = check_line("language", language, 36, err);
    if (!rc) rc = check_line("identifier", identifier, RG_DB_LIB_META_MAX + 1, err);
    if (!rc) rc = check_line("encoding", encoding, 32, err);
    return rc;
}

int rg_db_doc_create(struct rg_db *db, const struct rg_db_doc_new *n, struct rg_db_document *out,
                     char *err)
{
    memset(out, 0, sizeof *out);
    char tags[sizeof out->tags];
    int rc = rg_db_check_text("source", n->source, RG_DB_LIB_PATH_MAX + 1, true, err);
    if (!rc) rc = check_line("source", n->source, RG_DB_LIB_PATH_MAX + 1, err);
    if (!rc) rc = check_format(n->format, true, err);
    if (!rc)
        rc = check_doc_meta(n->title, n->authors, n->language, n->identifier, n->encoding, err);
    if (!rc) rc = check_hash_opt(n->content_hash, err);
    if (!rc) rc = norm_tags(n->tags, tags, sizeof tags, err);
    if (rc) return rc;
    if (n->size < 0 || n->mtime < 0 || n->folder_id < 0)
        return rg_err_set(err, RG_EINVAL, "size, mtime and folder must be >= 0");
    if (n->owner_id <= 0) return rg_err_set(err, RG_ENOTFOUND, "no such user");
    NEED_ID(n->collection_id, "collection");
    struct rg_db_doc_new v = *n;
    v.title = n->title ? n->title : "";
    v.authors = n->authors ? n->authors : "";
    v.language = n->language ? n->language : "";
    v.identifier = n->identifier ? n->identifier : "";
    v.encoding = n->encoding ? n->encoding : "";
    v.content_hash = n->content_hash ? n->content_hash : "";
    v.tags = tags;
    WITH_CONN(db, err, db->ops->lib_doc_create(c, &v, out, err));
}

int rg_db_doc_get(struct rg_db *db, int64_t user, int64_t id, struct rg_db_document *out, char *err)
{
    memset(out, 0, sizeof *out);
    NEED_ID(user, "document");
    NEED_ID(id, "document");
    WITH_CONN(db, err, db->ops->lib_doc_get(c, user, id, out, err));
}

int rg_db_doc_by_path(struct rg_db *db, int64_t user, int64_t folder_id, const char *source,
                      struct rg_db_document *out, char *err)
{
    memset(out, 0, sizeof *out);
    int rc = rg_db_check_text("source", source, RG_DB_LIB_PATH_MAX + 1, true, err);
    if (rc) return rc;
    NEED_ID(user, "document");
    NEED_ID(folder_id, "document");
    WITH_CONN(db, err, db->ops->lib_doc_by_path(c, user, folder_id, source, out, err));
}

int rg_db_doc_list(struct rg_db *db, int64_t user, const struct rg_db_doc_filter *f,
                   struct rg_db_document **out, size_t *n, bool *more, char *err)
{
    *out = NULL;
    *n = 0;
    *more = false;
    if (f->limit < 1 || f->limit > 1000) return rg_err_set(err, RG_EINVAL, "limit must be 1..1000");
    if (f->offset < 0) return rg_err_set(err, RG_EINVAL, "offset must be >= 0");
    if (f->state < -1 || f->state >= RG_DB_DOC_N_STATES)
        return rg_err_set(err, RG_EINVAL, "bad state filter");
    if (f->collection_id < 0 || f->folder_id < -1)
        return rg_err_set(err, RG_EINVAL, "bad collection or folder filter");
    struct rg_db_doc_filter v = *f;
    char tag[RG_DB_CONV_TAG_MAX + 8];
    if (f->tag) {
        int rc = norm_tags(f->tag, tag, sizeof tag, err);
        if (rc) return rc;
        if (strchr(tag, ',')) return rg_err_set(err, RG_EINVAL, "filter by one tag");
        v.tag = tag;
    }
    if (user <= 0) return RG_OK;
    WITH_CONN(db, err, db->ops->lib_doc_list(c, user, &v, out, n, more, err));
}

int rg_db_doc_set_state(struct rg_db *db, int64_t user, int64_t id, enum rg_db_doc_state state,
                        double progress, const char *error, int64_t now, char *err)
{
    if ((unsigned)state >= RG_DB_DOC_N_STATES) return rg_err_set(err, RG_EINVAL, "bad state");
    char e[RG_DB_LIB_ERROR_MAX + 1];
    rg_db_copy_utf8(e, RG_DB_LIB_ERROR_MAX, state == RG_DB_DOC_ERROR && error ? error : "");
    for (char *p = e; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f) *p = ' ';
    if (!(progress >= 0)) progress = 0; /* NaN too */
    if (progress > 1) progress = 1;
    NEED_ID(user, "document");
    NEED_ID(id, "document");
    WITH_CONN(db, err, db->ops->lib_doc_set_state(c, user, id, (int)state, progress, e, now, err));
}

int rg_db_doc_update(struct rg_db *db, int64_t user, int64_t id, const struct rg_db_doc_change *ch,
                     struct rg_db_document *out, char *err)
{
    memset(out, 0, sizeof *out);
    char tags[sizeof out->tags];
    int rc =
        check_doc_meta(ch->title, ch->authors, ch->language, ch->identifier, ch->encoding, err);
    if (!rc) rc = check_format(ch->format, false, err);
    if (!rc) rc = check_hash_opt(ch->content_hash, err);
    if (!rc) rc = check_line("embedding model", ch->embed_model, 128, err);
    if (!rc && ch->tags) rc = norm_tags(ch->tags, tags, sizeof tags, err);
    if (rc) return rc;
    if (ch->size < -1 || ch->mtime < -1) return rg_err_set(err, RG_EINVAL, "bad size or mtime");
    NEED_ID(user, "document");
    NEED_ID(id, "document");
    struct rg_db_doc_change v = *ch;
    if (ch->tags) v.tags = tags;
    WITH_CONN(db, err, db->ops->lib_doc_update(c, user, id, &v, out, err));
}

int rg_db_doc_delete(struct rg_db *db, int64_t user, int64_t id, char *err)
{
    NEED_ID(user, "document");
    NEED_ID(id, "document");
    WITH_CONN(db, err, db->ops->lib_doc_delete(c, user, id, err));
}

int rg_db_chunks_replace(struct rg_db *db, int64_t user, int64_t doc_id,
                         const struct rg_db_chunk *chunks, size_t n, int64_t *ids, char *err)
{
    if (n > 0 && !chunks) return rg_err_set(err, RG_EINVAL, "no chunks given");
    if (n > 10000000) return rg_err_set(err, RG_EINVAL, "too many chunks");
    for (size_t i = 0; i < n; i++) {
        const struct rg_db_chunk *k = &chunks[i];
        int rc = check_body("a chunk's text", k->text, RG_DB_LIB_CHUNK_MAX, true, err);
        if (!rc) rc = check_line("heading", k->heading, sizeof k->heading, err);
        if (!rc) rc = check_line("section", k->section, sizeof k->section, err);
        if (!rc) rc = check_line("part", k->part, sizeof k->part, err);
        if (rc) return rc;
        if (k->page_from < 0 || k->page_to < k->page_from || k->byte_from < 0 ||
            k->byte_to < k->byte_from || k->tokens < 0)
            return rg_err_set(err, RG_EINVAL, "chunk %zu: bad page or byte range", i);
    }
    NEED_ID(user, "document");
    NEED_ID(doc_id, "document");
    int64_t now = now_ms();
    WITH_CONN(db, err, db->ops->lib_chunks_replace(c, user, doc_id, chunks, n, ids, now, err));
}

int rg_db_chunks_set_embeddings(struct rg_db *db, int64_t user, const int64_t *ids, size_t n,
                                const float *vecs, int dim, const char *model, char *err)
{
    if (n == 0) return RG_OK;
    if (n > 1024) return rg_err_set(err, RG_EINVAL, "at most 1024 embeddings a call");
    if (dim < 1 || dim > RG_DB_LIB_DIM_MAX)
        return rg_err_set(err, RG_EINVAL, "dimension must be 1..%d", RG_DB_LIB_DIM_MAX);
    int rc = rg_db_check_text("embedding model", model, 128, true, err);
    if (rc) return rc;
    for (size_t i = 0; i < n * (size_t)dim; i++)
        if (!isfinite(vecs[i])) return rg_err_set(err, RG_EINVAL, "an embedding is not finite");
    for (size_t i = 0; i < n; i++)
        NEED_ID(ids[i], "chunk");
    NEED_ID(user, "chunk");
    WITH_CONN(db, err, db->ops->lib_chunks_embed(c, user, ids, n, vecs, dim, model, err));
}

int rg_db_chunk_get(struct rg_db *db, int64_t user, int64_t id, struct rg_db_chunk *out,
                    struct rg_db_document *doc, char *err)
{
    memset(out, 0, sizeof *out);
    if (doc) memset(doc, 0, sizeof *doc);
    NEED_ID(user, "chunk");
    NEED_ID(id, "chunk");
    WITH_CONN(db, err, db->ops->lib_chunk_get(c, user, id, out, doc, err));
}

int rg_db_chunk_list(struct rg_db *db, int64_t user, int64_t doc_id, int from, int limit,
                     struct rg_db_chunk **out, size_t *n, char *err)
{
    *out = NULL;
    *n = 0;
    if (from < 0 || limit < 1 || limit > 1000)
        return rg_err_set(err, RG_EINVAL, "from must be >= 0 and limit 1..1000");
    NEED_ID(user, "document");
    NEED_ID(doc_id, "document");
    WITH_CONN(db, err, db->ops->lib_chunk_list(c, user, doc_id, from, limit, out, n, err));
}

int rg_db_vec_page(struct rg_db *db, const char *model, int64_t after, int limit,
                   struct rg_db_vec_page *out, char *err)
{
    memset(out, 0, sizeof *out);
    int rc = rg_db_check_text("embedding model", model, 128, true, err);
    if (rc) return rc;
    if (limit < 1 || limit > 10000) return rg_err_set(err, RG_EINVAL, "limit must be 1..10000");
    WITH_CONN(db, err, db->ops->lib_vec_page(c, model, after, limit, out, err));
}

int rg_db_vec_stats(struct rg_db *db, const char *model, int64_t *count, int64_t *max_id, char *err)
{
    *count = *max_id = 0;
    int rc = rg_db_check_text("embedding model", model, 128, true, err);
    if (rc) return rc;
    WITH_CONN(db, err, db->ops->lib_vec_stats(c, model, count, max_id, err));
}

/* The checks a chunk query's filters share; colls gets its ids as "1,2,3"
 * ("" when given but empty: nothing can match). */
static int check_chunk_query(const struct rg_db_chunk_query *q, char *colls, size_t size, char *tag,
                             char *err)
{
    if (q->n_collections > 256) return rg_err_set(err, RG_EINVAL, "at most 256 collections");
    if (q->doc_id < 0) return rg_err_set(err, RG_EINVAL, "bad document filter");
    int rc = check_line("language", q->language, 36, err);
    if (rc) return rc;
    tag[0] = '\0';
    if (q->tag) {
        if ((rc = norm_tags(q->tag, tag, RG_DB_CONV_TAG_MAX + 8, err))) return rc;
        if (strchr(tag, ',')) return rg_err_set(err, RG_EINVAL, "filter by one tag");
    }
    colls[0] = '\0';
    size_t o = 0;
    for (size_t i = 0; q->collections && i < q->n_collections; i++) {
        int k = snprintf(colls + o, size - o, "%s%lld", o ? "," : "", (long long)q->collections[i]);
        RG_ASSERT(k > 0 && (size_t)k < size - o);
        o += (size_t)k;
    }
    return RG_OK;
}

#define COLLS_SIZE (256 * 21 + 1)

int rg_db_chunk_search(struct rg_db *db, int64_t user, const struct rg_db_chunk_query *q,
                       struct rg_db_chunk_hit **out, size_t *n, char *err)
{
    *out = NULL;
    *n = 0;
    if (q->limit < 1 || q->limit > 1000) return rg_err_set(err, RG_EINVAL, "limit must be 1..1000");
    char tag[RG_DB_CONV_TAG_MAX + 8];
    char *colls = rg_malloc(COLLS_SIZE);
    struct rg_db_words *w = rg_malloc(sizeof *w);
    int rc = colls && w ? RG_OK : rg_err_set(err, RG_ENOMEM, "out of memory");
    if (!rc) rc = check_chunk_query(q, colls, COLLS_SIZE, tag, err);
    if (!rc) rc = rg_db_search_words(q->q ? q->q : "", w, err);
    if (!rc && w->n > 0 && user > 0) {
        struct rg_db_chunk_query v = *q;
        v.tag = q->tag ? tag : NULL;
        int slot = rg_db_conn_acquire(db, err);
        if (slot < 0) {
            rc = RG_EBUSY;
        } else {
            rc = db->ops->lib_chunk_search(db->conns[slot], user, &v, q->collections ? colls : NULL,
                                           w, out, n, err);
            rg_db_conn_release(db, slot);
        }
    }
    rg_free(colls);
    rg_free(w);
    return rc;
}

int rg_db_chunk_locate(struct rg_db *db, int64_t user, const int64_t *ids, size_t n,
                       const struct rg_db_chunk_query *q, struct rg_db_chunk_hit **out,
                       size_t *n_out, char *err)
{
    *out = NULL;
    *n_out = 0;
    if (n > 1000) return rg_err_set(err, RG_EINVAL, "at most 1000 chunks");
    char tag[RG_DB_CONV_TAG_MAX + 8];
    char *colls = rg_malloc(COLLS_SIZE);
    struct rg_db_words *w = rg_malloc(sizeof *w);
    int rc = colls && w ? RG_OK : rg_err_set(err, RG_ENOMEM, "out of memory");
    if (!rc) rc = check_chunk_query(q, colls, COLLS_SIZE, tag, err);
    if (!rc) rc = rg_db_search_words(q->q ? q->q : "", w, err);
    if (!rc && n > 0 && user > 0) {
        struct rg_db_chunk_query v = *q;
        v.tag = q->tag ? tag : NULL;
        int slot = rg_db_conn_acquire(db, err);
        if (slot < 0) {
            rc = RG_EBUSY;
        } else {
            rc = db->ops->lib_chunk_locate(db->conns[slot], user, ids, n, &v,
                                           q->collections ? colls : NULL, w->n ? w : NULL, out,
                                           n_out, err);
            rg_db_conn_release(db, slot);
        }
    }
    rg_free(colls);
    rg_free(w);
    return rc;
}

/* Where one of w's words starts at text[i] (a word start), its length; 0 if none. */
static size_t word_at(const char *text, size_t len, size_t i, const struct rg_db_words *w)
{
    if (!word_byte((unsigned char)text[i]) || (i > 0 && word_byte((unsigned char)text[i - 1])))
        return 0;
    size_t end = i;
    while (end < len && word_byte((unsigned char)text[end]))
        end++;
    for (int k = 0; k < w->n; k++) {
        size_t wl = strlen(w->w[k]);
        if (wl == 0 || i + wl > len || strncasecmp(text + i, w->w[k], wl) != 0) continue;
        if (i + wl == end || k == w->n - 1) return end - i; /* mark the whole word */
    }
    return 0;
}

void rg_db_lib_snippet(const char *text, const struct rg_db_words *w, char *out, size_t size)
{
    RG_ASSERT(size >= RG_DB_LIB_SNIPPET_MAX + 1);
    const size_t MAX = RG_DB_LIB_SNIPPET_MAX;
    size_t len = strlen(text), at = 0;
    bool found = false;
    for (size_t i = 0; w && i < len && !found; i++)
        if (word_at(text, len, i, w)) {
            at = i;
            found = true;
        }
    size_t start = 0;
    if (found && at > 80) { /* some context before the word, starting after a space */
        start = at - 80;
        while (start < at && text[start] != ' ' && text[start] != '\n')
            start++;
        start = start < at ? start + 1 : at - 80;
        while (start < at && ((unsigned char)text[start] & 0xC0) == 0x80)
            start++;
    }
    size_t o = 0;
    if (start > 0) {
        memcpy(out, "…", 3);
        o = 3;
    }
    /* copy whole characters (and whole marked words) while they fit with room for "…" */
    size_t i = start;
    while (i < len) {
        size_t wl = w ? word_at(text, len, i, w) : 0;
        size_t need = wl ? wl + 2 : 1;
        if (!wl) {
            unsigned char ch = (unsigned char)text[i];
            need = ch < 0x80 ? 1 : ch >= 0xF0 ? 4 : ch >= 0xE0 ? 3 : 2;
            if (i + need > len) break;
        }
        bool last = i + (wl ? wl : need) >= len;
        if (o + need + (last ? 0 : 3) > MAX) break;
        if (wl) {
            out[o++] = RG_DB_LIB_MARK_ON[0];
            memcpy(out + o, text + i, wl);
            o += wl;
            out[o++] = RG_DB_LIB_MARK_OFF[0];
            i += wl;
        } else {
            for (size_t k = 0; k < need; k++) {
                char ch = text[i + k];
                out[o++] = ch == '\n' || ch == '\r' || ch == '\t' ? ' ' : ch;
            }
            i += need;
        }
    }
    if (i < len) {
        memcpy(out + o, "…", 3);
        o += 3;
    }
    out[o] = '\0';
}
