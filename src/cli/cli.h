/*
 * Subcommands of the rustygpt binary. Each lives in its own cmd_<name>.c and
 * returns the process exit code: 0 success, 1 failure at run time, 2 bad usage
 * (unknown flag, bad value), as in the CLI contract of ARCHITECTURE.md.
 * A subcommand that is not built yet is declared weak here and main() says so.
 */
#ifndef RG_CLI_H
#define RG_CLI_H

#define RG_EXIT_OK 0
#define RG_EXIT_FAIL 1
#define RG_EXIT_USAGE 2

#ifndef RG_VERSION
#define RG_VERSION "0.0.0"
#endif

#define RG_CLI_COMMANDS(X)                                                                         \
    X(serve, "serve the API and web app")                                                          \
    X(run, "run a model: one-shot completion or interactive chat")                                 \
    X(chat, "interactive chat with a model (same as run without a prompt)")                        \
    X(tokenize, "print the tokens of a text")                                                      \
    X(bench, "measure prompt and generation speed")                                                \
    X(quantize, "requantize a GGUF model")                                                         \
    X(pull, "download a model")                                                                    \
    X(models, "list models")                                                                       \
    X(user, "manage accounts")                                                                     \
    X(db, "database upkeep")                                                                       \
    X(index, "knowledge library")

#include <stdbool.h>
#include <stddef.h>

/* MODEL as the CLI contract says: a readable path, else <models_dir>/<id>.gguf
 * (models_dir NULL: RUSTYGPT_MODELS_DIR or ./models). Returns arg unchanged
 * when neither exists, so the loader's error names what the user typed. */
const char *rg_cli_model_path(const char *arg, const char *models_dir, char *buf, size_t size);

/* Account and database commands (cmd_db.c, cmd_user.c). */
struct rg_db;
struct rg_cli_db_flags {
    const char *db, *data_dir, *name, *role;
    bool password_stdin, force, json;
};
int rg_cli_db_flags(int argc, char **argv, struct rg_cli_db_flags *f, const char **pos, int max);
/* --db, else RUSTYGPT_DB, else sqlite:<data-dir>/rustygpt.db (data dir from
 * --data-dir, RUSTYGPT_DATA_DIR or ./data); migrates when asked. */
struct rg_db *rg_cli_open_db(const char *db_flag, const char *data_dir_flag, bool migrate,
                             char *err);

#define RG_X_DECL(name, help) int rg_cmd_##name(int argc, char **argv) __attribute__((weak));
RG_CLI_COMMANDS(RG_X_DECL)
#undef RG_X_DECL

#endif
