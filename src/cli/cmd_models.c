/* `rustygpt models [--models-dir DIR] [--json]`: what models are available. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli/cli.h"
#include "engine/catalog/catalog.h"

static void usage(FILE *out)
{
    fprintf(out, "usage: rustygpt models [--models-dir DIR] [--json]\n\n"
                 "Lists the .gguf models of the models directory (default ./models, or\n"
                 "RUSTYGPT_MODELS_DIR) with architecture, quantization, size and context.\n"
                 "  --models-dir DIR   directory to list\n"
                 "  --json             one JSON document for scripts\n");
}

static void human_size(uint64_t b, char *buf, size_t n)
{
    const char *units[] = {"B", "KB", "MB", "GB", "TB"};
    double v = (double)b;
    size_t u = 0;
    while (v >= 1000.0 && u + 1 < sizeof units / sizeof units[0]) {
        v /= 1000.0;
        u++;
    }
    snprintf(buf, n, u ? "%.1f %s" : "%.0f %s", v, units[u]);
}

static int print_json(const struct rg_model_list *l, const char *dir)
{
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < l->n; i++) {
        const struct rg_model_entry *e = &l->v[i];
        json_t *o = json_pack("{s:s, s:s, s:I}", "name", e->name, "path", e->path, "size",
                              (json_int_t)e->size);
        if (!o) break;
        if (e->error) {
            json_object_set_new(o, "error", json_string(e->error));
        } else {
            json_object_set_new(o, "arch", e->arch ? json_string(e->arch) : json_null());
            json_object_set_new(o, "quant", e->quant ? json_string(e->quant) : json_null());
            json_object_set_new(o, "context_length", json_integer((json_int_t)e->ctx));
            json_object_set_new(o, "n_params", json_integer((json_int_t)e->n_params));
        }
        json_array_append_new(arr, o);
    }
    json_t *root = json_pack("{s:s, s:o}", "models_dir", dir, "models", arr);
    if (!root) return RG_EXIT_FAIL;
    char *s = json_dumps(root, JSON_INDENT(2));
    json_decref(root);
    if (!s) return RG_EXIT_FAIL;
    puts(s);
    free(s);
    return RG_EXIT_OK;
}

static void print_table(const struct rg_model_list *l, const char *dir)
{
    if (l->n == 0) {
        printf("no models in %s (put .gguf files there, or use --models-dir)\n", dir);
        return;
    }
    printf("%-40s %-10s %-8s %10s %8s\n", "NAME", "ARCH", "QUANT", "SIZE", "CONTEXT");
    for (size_t i = 0; i < l->n; i++) {
        const struct rg_model_entry *e = &l->v[i];
        char size[32];
        human_size(e->size, size, sizeof size);
        if (e->error) {
            printf("%-40s error: %s\n", e->name, e->error);
            continue;
        }
        char ctx[24] = "-";
        if (e->ctx) snprintf(ctx, sizeof ctx, "%llu", (unsigned long long)e->ctx);
        printf("%-40s %-10s %-8s %10s %8s\n", e->name, e->arch ? e->arch : "?",
               e->quant ? e->quant : "?", size, ctx);
    }
}

int rg_cmd_models(int argc, char **argv)
{
    const char *dir = getenv("RUSTYGPT_MODELS_DIR");
    if (!dir || !*dir) dir = "./models";
    bool json = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return RG_EXIT_OK;
        } else if (!strcmp(a, "--json")) {
            json = true;
        } else if (!strcmp(a, "--models-dir")) {
            if (i + 1 >= argc) {
                fprintf(stderr, "rustygpt models: --models-dir: missing value (DIR)\n");
                return RG_EXIT_USAGE;
            }
            dir = argv[++i];
        } else if (!strncmp(a, "--models-dir=", 13)) {
            dir = a + 13;
        } else {
            fprintf(stderr, "rustygpt models: unknown option %s (see --help)\n", a);
            return RG_EXIT_USAGE;
        }
    }
    struct rg_model_list l;
    char err[RG_ERR_SIZE];
    if (rg_catalog_scan(dir, &l, err) != RG_OK) {
        fprintf(stderr, "rustygpt models: %s\n", err);
        return RG_EXIT_FAIL;
    }
    int rc = RG_EXIT_OK;
    if (json)
        rc = print_json(&l, dir);
    else
        print_table(&l, dir);
    rg_catalog_free(&l);
    return rc;
}
