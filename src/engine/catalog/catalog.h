/*
 * Model catalog: what is in a models directory, read from each GGUF's header
 * without loading weights (the file is mapped; only metadata pages are read).
 * Used by `rustygpt models` and, later, by /v1/models and model lookup by name.
 */
#ifndef RG_ENGINE_CATALOG_H
#define RG_ENGINE_CATALOG_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

struct rg_model_entry {
    char *name;        /* file name without .gguf */
    char *path;        /* full path */
    char *arch;        /* general.architecture, NULL if absent */
    char *quant;       /* "Q4_K_M" from general.file_type, else the most common tensor type */
    uint64_t size;     /* bytes on disk */
    uint64_t ctx;      /* <arch>.context_length, 0 if absent */
    uint64_t n_params; /* sum of tensor elements */
    char *error;       /* non-NULL: the file is not a usable GGUF; the reason */
};

struct rg_model_list {
    struct rg_model_entry *v;
    size_t n;
};

/* Fills e from one file; never fails except on ENOMEM (a bad file sets e->error). */
int rg_catalog_inspect(const char *path, struct rg_model_entry *e);
void rg_catalog_entry_free(struct rg_model_entry *e);

/*
 * Lists the *.gguf files of dir, sorted by name. RG_ENOTFOUND with err set when
 * dir cannot be opened; RG_ENOMEM.
 */
int rg_catalog_scan(const char *dir, struct rg_model_list *out, char *err);
void rg_catalog_free(struct rg_model_list *l);

/* llama.cpp's general.file_type numbering to its usual name ("Q4_K_M"), or NULL. */
const char *rg_catalog_file_type_name(uint32_t ftype);

#endif
