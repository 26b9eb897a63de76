/*
 * `rustygpt db migrate|check|seed`: database upkeep, and the database
 * opening that `rustygpt user` shares.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "auth/password.h"
#include "auth/token.h"
#include "cli/cli.h"
#include "common/alloc.h"
#include "common/config.h"
#include "db/db.h"

struct rg_db *rg_cli_open_db(const char *db_flag, const char *data_dir_flag, bool migrate,
                             char *err)
{
    const char *db_env = getenv("RUSTYGPT_DB"), *dir_env = getenv("RUSTYGPT_DATA_DIR");
    const char *dir = data_dir_flag ? data_dir_flag : dir_env && *dir_env ? dir_env : "./data";
    const char *url = db_flag ? db_flag : db_env && *db_env ? db_env : NULL;
    char buf[1200];
    if (!url) {
        if (snprintf(buf, sizeof buf, "sqlite:%s/rustygpt.db", dir) >= (int)sizeof buf) {
            rg_err_set(err, RG_EINVAL, "--data-dir is too long");
            return NULL;
        }
        url = buf;
        mkdir(dir, 0700); /* the default database lives in the data dir; EEXIST is fine */
    }
    struct rg_db_params p;
    rg_db_default_params(&p);
    p.url = url;
    p.pool = 1;
    struct rg_db *db = rg_db_open(&p, err);
    if (!db) return NULL;
    if (migrate) {
        char merr[RG_ERR_SIZE];
        int rc = rg_db_migrate(db, NULL, merr);
        if (rc) {
            rg_err_set(err, rc, "%s", merr);
            rg_db_close(db);
            return NULL;
        }
    }
    return db;
}

/* Parses the flags every db/user subcommand takes; leaves the rest in
 * pos[] (positional arguments) and returns their count, or -1 (usage). */
int rg_cli_db_flags(int argc, char **argv, struct rg_cli_db_flags *f, const char **pos, int max)
{
    int n = 0;
    memset(f, 0, sizeof *f);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char **slot = NULL;
        if (!strcmp(a, "--db"))
            slot = &f->db;
        else if (!strcmp(a, "--data-dir"))
            slot = &f->data_dir;
        else if (!strcmp(a, "--name"))
            slot = &f->name;
        else if (!strcmp(a, "--role"))
            slot = &f->role;
        else if (!strcmp(a, "--password-stdin"))
            f->password_stdin = true;
        else if (!strcmp(a, "--force"))
            f->force = true;
        else if (!strcmp(a, "--json"))
            f->json = true;
        else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "unknown option %s\n", a);
            return -1;
        } else if (n < max) {
            pos[n++] = a;
        } else {
            fprintf(stderr, "unexpected argument '%s'\n", a);
            return -1;
        }
        if (slot) {
            if (i + 1 >= argc) {
                fprintf(stderr, "%s needs a value\n", a);
                return -1;
            }
            *slot = argv[++i];
        }
    }
    return n;
}

static int db_usage(FILE *out)
{
    fprintf(out, "usage: rustygpt db migrate|check|seed [--db URL] [--data-dir DIR] [--force]\n\n"
                 "  migrate  apply the migrations this binary has (also done by serve at start)\n"
                 "  check    print the backend and schema version; exit 1 if not up to date\n"
                 "  seed     create a demo admin and user for development (refuses when the\n"
                 "           database has accounts, unless --force)\n"
                 "--db defaults to RUSTYGPT_DB, else sqlite:<data-dir>/rustygpt.db\n");
    return out == stdout ? RG_EXIT_OK : RG_EXIT_USAGE;
}

static int seed(struct rg_db *db, bool force)
{
    char err[RG_ERR_SIZE];
    int64_t n = 0;
    if (rg_db_user_count(db, &n, err) != RG_OK) {
        fprintf(stderr, "rustygpt db seed: %s\n", err);
        return RG_EXIT_FAIL;
    }
    if (n > 0 && !force) {
        fprintf(stderr,
                "rustygpt db seed: the database already has %lld account(s); refusing "
                "(--force adds the demo accounts anyway)\n",
                (long long)n);
        return RG_EXIT_FAIL;
    }
    static const struct {
        const char *email, *name, *role;
    } demo[] = {{"admin@example.com", "Demo Admin", "admin"},
                {"user@example.com", "Demo User", "user"}};
    for (size_t i = 0; i < RG_ARRAY_LEN(demo); i++) {
        char pw[64], hash[192];
        if (rg_token_random(pw, sizeof pw, 12) != RG_OK ||
            rg_password_hash(pw, hash, sizeof hash, err) != RG_OK) {
            fprintf(stderr, "rustygpt db seed: %s\n", err);
            return RG_EXIT_FAIL;
        }
        struct rg_db_new_user nu = {.email = demo[i].email,
                                    .name = demo[i].name,
                                    .pw_hash = hash,
                                    .role = demo[i].role,
                                    .now = (int64_t)time(NULL)};
        struct rg_db_user u;
        int rc = rg_db_user_create(db, &nu, &u, err);
        if (rc == RG_EEXISTS) {
            struct rg_db_user_change ch = {.pw_hash = hash, .disabled = 0, .pending = 0};
            if ((rc = rg_db_user_by_email(db, demo[i].email, &u, err)) == RG_OK)
                rc = rg_db_user_update(db, u.id, &ch, &u, err);
        }
        if (rc) {
            fprintf(stderr, "rustygpt db seed: %s: %s\n", demo[i].email, err);
            return RG_EXIT_FAIL;
        }
        printf("%-8s %-20s password %s\n", demo[i].role, demo[i].email, pw);
    }
    return RG_EXIT_OK;
}

int rg_cmd_db(int argc, char **argv)
{
    struct rg_cli_db_flags f;
    const char *pos[2];
    if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")))
        return db_usage(stdout);
    int n = rg_cli_db_flags(argc, argv, &f, pos, 2);
    if (n != 1) return db_usage(stderr);
    const char *cmd = pos[0];
    if (strcmp(cmd, "migrate") && strcmp(cmd, "check") && strcmp(cmd, "seed"))
        return db_usage(stderr);
    char err[RG_ERR_SIZE];
    bool migrate = strcmp(cmd, "check") != 0;
    struct rg_db *db = rg_cli_open_db(f.db, f.data_dir, false, err);
    if (!db) {
        fprintf(stderr, "rustygpt db %s: %s\n", cmd, err);
        return RG_EXIT_FAIL;
    }
    int rc = RG_EXIT_OK, cur = 0, latest = 0, applied = 0;
    if (migrate && rg_db_migrate(db, &applied, err) != RG_OK) {
        fprintf(stderr, "rustygpt db %s: %s\n", cmd, err);
        rg_db_close(db);
        return RG_EXIT_FAIL;
    }
    if (rg_db_version(db, &cur, &latest, err) != RG_OK) {
        fprintf(stderr, "rustygpt db %s: %s\n", cmd, err);
        rg_db_close(db);
        return RG_EXIT_FAIL;
    }
    if (!strcmp(cmd, "migrate")) {
        printf("%s database at schema version %d (%d migration%s applied now)\n", rg_db_backend(db),
               cur, applied, applied == 1 ? "" : "s");
    } else if (!strcmp(cmd, "check")) {
        printf("backend %s\nschema version %d\nlatest %d\n", rg_db_backend(db), cur, latest);
        if (cur < latest) {
            fprintf(stderr,
                    "rustygpt db check: behind by %d migration(s): run rustygpt db migrate\n",
                    latest - cur);
            rc = RG_EXIT_FAIL;
        } else if (cur > latest) {
            fprintf(stderr, "rustygpt db check: the database is newer than this rustygpt\n");
            rc = RG_EXIT_FAIL;
        }
    } else {
        rc = seed(db, f.force);
    }
    rg_db_close(db);
    return rc;
}
