/*
 * `rustygpt user add|list|role|disable|enable|approve`: accounts from the
 * command line, for the first admin of a server that allows no sign-up and
 * for recovering a lost admin. Works on the database directly (the server
 * may be running: SQLite in WAL mode and PostgreSQL both allow it).
 */
#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "auth/password.h"
#include "cli/cli.h"
#include "common/alloc.h"
#include "db/db.h"

static int user_usage(FILE *out)
{
    fprintf(out, "usage: rustygpt user <command> [--db URL] [--data-dir DIR]\n\n"
                 "  add EMAIL [--name NAME] [--role admin|user|readonly] [--password-stdin]\n"
                 "              create an account; the password is asked for (or read from\n"
                 "              standard input); without --role the first account is the admin\n"
                 "  list [--json]           every account\n"
                 "  role EMAIL ROLE         change an account's role\n"
                 "  disable EMAIL           stop an account signing in (ends its sessions)\n"
                 "  enable EMAIL            undo disable\n"
                 "  approve EMAIL           let an account made under --signup approval in\n");
    return out == stdout ? RG_EXIT_OK : RG_EXIT_USAGE;
}

/* Reads one line (without its newline) from stdin; with echo off on a terminal. */
static int read_password(const char *prompt, char *buf, size_t size)
{
    bool tty = isatty(STDIN_FILENO);
    struct termios old, quiet;
    if (tty) {
        fprintf(stderr, "%s", prompt);
        fflush(stderr);
        tcgetattr(STDIN_FILENO, &old);
        quiet = old;
        quiet.c_lflag &= ~(tcflag_t)ECHO;
        tcsetattr(STDIN_FILENO, TCSANOW, &quiet);
    }
    char *ok = fgets(buf, (int)size, stdin);
    if (tty) {
        tcsetattr(STDIN_FILENO, TCSANOW, &old);
        fputc('\n', stderr);
    }
    if (!ok) return RG_EIO;
    buf[strcspn(buf, "\r\n")] = '\0';
    return RG_OK;
}

static int add(struct rg_db *db, const char *email, const struct rg_cli_db_flags *f)
{
    char pw[1100], again[1100], err[RG_ERR_SIZE], hash[192];
    if (!f->password_stdin && !isatty(STDIN_FILENO)) {
        fprintf(stderr, "rustygpt user add: no terminal to ask the password on: pipe it with "
                        "--password-stdin\n");
        return RG_EXIT_USAGE;
    }
    if (read_password("password: ", pw, sizeof pw) != RG_OK) {
        fprintf(stderr, "rustygpt user add: no password given\n");
        return RG_EXIT_FAIL;
    }
    if (isatty(STDIN_FILENO)) {
        if (read_password("again: ", again, sizeof again) != RG_OK || strcmp(pw, again) != 0) {
            fprintf(stderr, "rustygpt user add: the passwords differ\n");
            return RG_EXIT_FAIL;
        }
        OPENSSL_cleanse(again, sizeof again);
    }
    int rc = rg_password_check_rules(pw, email, err);
    if (!rc) rc = rg_password_hash(pw, hash, sizeof hash, err);
    OPENSSL_cleanse(pw, sizeof pw);
    if (rc) {
        fprintf(stderr, "rustygpt user add: %s\n", err);
        return RG_EXIT_FAIL;
    }
    struct rg_db_new_user nu = {.email = email,
                                .name = f->name,
                                .pw_hash = hash,
                                .role = f->role,
                                .now = (int64_t)time(NULL)};
    struct rg_db_user u;
    rc = rg_db_user_create(db, &nu, &u, err);
    OPENSSL_cleanse(hash, sizeof hash);
    if (rc) {
        fprintf(stderr, "rustygpt user add: %s\n",
                rc == RG_EEXISTS ? "an account with this email exists" : err);
        return RG_EXIT_FAIL;
    }
    printf("created %s (id %lld, role %s)\n", u.email, (long long)u.id, u.role);
    return RG_EXIT_OK;
}

static int list(struct rg_db *db, bool json)
{
    struct rg_db_user *v = NULL;
    size_t n = 0;
    char err[RG_ERR_SIZE];
    if (rg_db_user_list(db, &v, &n, err) != RG_OK) {
        fprintf(stderr, "rustygpt user list: %s\n", err);
        return RG_EXIT_FAIL;
    }
    if (json) {
        printf("[");
        for (size_t i = 0; i < n; i++) {
            /* emails and names are checked free of control characters by src/db;
             * quotes and backslashes still need escaping */
            printf("%s{\"id\":%lld,\"email\":\"", i ? "," : "", (long long)v[i].id);
            for (const char *p = v[i].email; *p; p++)
                printf(*p == '"' || *p == '\\' ? "\\%c" : "%c", *p);
            printf("\",\"role\":\"%s\",\"disabled\":%s,\"pending\":%s}", v[i].role,
                   v[i].disabled ? "true" : "false", v[i].pending ? "true" : "false");
        }
        printf("]\n");
    } else {
        printf("%-6s %-32s %-20s %-9s %s\n", "ID", "EMAIL", "NAME", "ROLE", "STATUS");
        for (size_t i = 0; i < n; i++)
            printf("%-6lld %-32s %-20s %-9s %s\n", (long long)v[i].id, v[i].email, v[i].name,
                   v[i].role,
                   v[i].disabled  ? "disabled"
                   : v[i].pending ? "pending"
                                  : "active");
    }
    rg_free(v);
    return RG_EXIT_OK;
}

static int change(struct rg_db *db, const char *cmd, const char *email,
                  const struct rg_db_user_change *ch)
{
    char err[RG_ERR_SIZE];
    struct rg_db_user u;
    int rc = rg_db_user_by_email(db, email, &u, err);
    if (rc == RG_ENOTFOUND) {
        fprintf(stderr, "rustygpt user %s: no account with email %s\n", cmd, email);
        return RG_EXIT_FAIL;
    }
    if (!rc) rc = rg_db_user_update(db, u.id, ch, &u, err);
    if (rc) {
        fprintf(stderr, "rustygpt user %s: %s\n", cmd, err);
        return RG_EXIT_FAIL;
    }
    printf("%s: role %s, %s\n", u.email, u.role,
           u.disabled  ? "disabled"
           : u.pending ? "pending"
                       : "active");
    return RG_EXIT_OK;
}

int rg_cmd_user(int argc, char **argv)
{
    if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")))
        return user_usage(stdout);
    struct rg_cli_db_flags f;
    const char *pos[3];
    int n = rg_cli_db_flags(argc, argv, &f, pos, 3);
    if (n < 1) return user_usage(stderr);
    const char *cmd = pos[0];
    struct rg_db_user_change ch = {.disabled = -1, .pending = -1};
    bool known = true;
    if (!strcmp(cmd, "add") || !strcmp(cmd, "disable") || !strcmp(cmd, "enable") ||
        !strcmp(cmd, "approve")) {
        if (n != 2) return user_usage(stderr);
    } else if (!strcmp(cmd, "role")) {
        if (n != 3) return user_usage(stderr);
        if (!rg_db_role_valid(pos[2])) {
            fprintf(stderr, "rustygpt user role: ROLE must be admin, user or readonly\n");
            return RG_EXIT_USAGE;
        }
        ch.role = pos[2];
    } else if (!strcmp(cmd, "list")) {
        if (n != 1) return user_usage(stderr);
    } else {
        known = false;
    }
    if (!known) return user_usage(stderr);
    if (f.role && !rg_db_role_valid(f.role)) {
        fprintf(stderr, "rustygpt user: --role must be admin, user or readonly\n");
        return RG_EXIT_USAGE;
    }
    char err[RG_ERR_SIZE];
    struct rg_db *db = rg_cli_open_db(f.db, f.data_dir, true, err);
    if (!db) {
        fprintf(stderr, "rustygpt user %s: %s\n", cmd, err);
        return RG_EXIT_FAIL;
    }
    int rc;
    if (!strcmp(cmd, "add")) {
        rc = add(db, pos[1], &f);
    } else if (!strcmp(cmd, "list")) {
        rc = list(db, f.json);
    } else {
        if (!strcmp(cmd, "disable")) ch.disabled = 1;
        if (!strcmp(cmd, "enable")) ch.disabled = 0;
        if (!strcmp(cmd, "approve")) ch.pending = 0;
        rc = change(db, cmd, pos[1], &ch);
    }
    rg_db_close(db);
    return rc;
}
