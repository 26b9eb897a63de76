/* `rustygpt tokenize MODEL [TEXT|-] [--ids] [--special]` */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "common/alloc.h"
#include "engine/engine.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: rustygpt tokenize MODEL [TEXT|-] [--ids] [--special]\n\n"
               "Prints the tokens of TEXT (or of standard input, byte-exact, with -).\n"
               "  --ids       the ids on one line, separated by spaces\n"
               "  --special   add BOS/EOS as the model says and parse special tokens in the text\n"
               "Works on vocab-only GGUF files.\n");
}

static char *read_stdin(size_t *len)
{
    size_t cap = 4096, n = 0;
    char *buf = rg_malloc(cap);
    size_t got;
    while (buf && (got = fread(buf + n, 1, cap - n, stdin)) > 0) {
        n += got;
        if (n == cap) {
            char *nb = rg_realloc(buf, cap * 2);
            if (!nb) {
                rg_free(buf);
                return NULL;
            }
            buf = nb;
            cap *= 2;
        }
    }
    *len = n;
    return buf;
}

int rg_cmd_tokenize(int argc, char **argv)
{
    const char *model = NULL, *text = NULL;
    bool ids = false, special = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            usage(stdout);
            return RG_EXIT_OK;
        } else if (!strcmp(argv[i], "--ids")) {
            ids = true;
        } else if (!strcmp(argv[i], "--special")) {
            special = true;
        } else if (argv[i][0] == '-' && argv[i][1] && strcmp(argv[i], "-") != 0) {
            fprintf(stderr, "rustygpt tokenize: unknown option %s\n", argv[i]);
            return RG_EXIT_USAGE;
        } else if (!model) {
            model = argv[i];
        } else if (!text) {
            text = argv[i];
        } else {
            fprintf(stderr, "rustygpt tokenize: unexpected argument '%s'\n", argv[i]);
            return RG_EXIT_USAGE;
        }
    }
    if (!model) {
        usage(stderr);
        return RG_EXIT_USAGE;
    }
    char pbuf[4096], err[RG_ERR_SIZE];
    struct rg_model_params mp = rg_model_default_params();
    mp.vocab_only = true;
    struct rg_model *m = rg_model_load(rg_cli_model_path(model, NULL, pbuf, sizeof pbuf), &mp, err);
    if (!m) {
        fprintf(stderr, "rustygpt tokenize: %s\n", err);
        return RG_EXIT_FAIL;
    }
    char *owned = NULL;
    size_t len;
    if (!text || !strcmp(text, "-")) {
        owned = read_stdin(&len);
        text = owned ? owned : "";
        if (!owned) len = 0;
    } else {
        len = strlen(text);
    }
    const struct rg_vocab *v = rg_model_vocab(m);
    size_t n = 0;
    int32_t *toks = NULL;
    int rc = rg_tokenize_alloc(v, text, len, special, special, &toks, &n);
    int exit_code = RG_EXIT_OK;
    if (rc == RG_EUNSUPPORTED) {
        fprintf(stderr,
                "rustygpt tokenize: this vocabulary's tokenizer (%s) is not implemented yet\n",
                rg_vocab_kind(v) == RG_VOCAB_BPE ? "byte-level BPE" : "WordPiece");
        exit_code = RG_EXIT_FAIL;
    } else if (rc != RG_OK) {
        fprintf(stderr, "rustygpt tokenize: %s\n", rg_strerror(rc));
        exit_code = RG_EXIT_FAIL;
    } else if (ids) {
        for (size_t i = 0; i < n; i++)
            printf(i ? " %d" : "%d", toks[i]);
        putchar('\n');
    } else {
        char piece[256];
        for (size_t i = 0; i < n; i++) {
            int pl = rg_token_to_piece(v, toks[i], true, piece, sizeof piece);
            if (pl < 0) pl = 0;
            printf("%6d -> '%.*s'\n", toks[i], pl > (int)sizeof piece ? (int)sizeof piece : pl,
                   piece);
        }
    }
    rg_free(toks);
    rg_free(owned);
    rg_model_free(m);
    return exit_code;
}
