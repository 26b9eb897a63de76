/* MODEL arguments: a path to a .gguf file, or a model id in the models dir. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"

const char *rg_cli_model_path(const char *arg, const char *models_dir, char *buf, size_t size)
{
    if (access(arg, R_OK) == 0) return arg;
    if (!models_dir || !*models_dir) models_dir = getenv("RUSTYGPT_MODELS_DIR");
    if (!models_dir || !*models_dir) models_dir = "./models";
    if (strchr(arg, '/')) return arg; /* a path that does not exist: let the loader say so */
    int n = snprintf(buf, size, "%s/%s%s", models_dir, arg, strstr(arg, ".gguf") ? "" : ".gguf");
    if (n < 0 || (size_t)n >= size || access(buf, R_OK) != 0) return arg;
    return buf;
}
