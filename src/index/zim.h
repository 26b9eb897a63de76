/*
 * The C face of the ZIM reader (zim.cpp, over Kiwix's C++ libzim): opens an
 * archive and walks its entries in the archive's efficient order, handing one
 * HTML article at a time; nothing is loaded whole. Every C++ exception stops
 * at this boundary and comes back as an error string.
 */
#ifndef RG_INDEX_ZIM_H
#define RG_INDEX_ZIM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct rg_zim;

struct rg_zim_article {
    const char *path, *title; /* valid until the next rg_zim_next or rg_zim_close */
    const char *data;         /* the article's HTML, len bytes; NULL when too_big */
    size_t len;
    int too_big; /* the article is over max_bytes and was not read */
};

/* Opens path; NULL with a message in err (errsz bytes) on failure. */
struct rg_zim *rg_zim_open(const char *path, char *err, size_t errsz);
/* Entries the archive holds (for progress). */
uint64_t rg_zim_entry_count(const struct rg_zim *z);
/* The archive's "Language" metadata ("eng"), "" when none. Valid until close. */
const char *rg_zim_language(const struct rg_zim *z);
/* Next HTML article (redirects and other types skipped): 1 with *a filled, 0 at
 * the end, -1 on a read error (message in err). */
int rg_zim_next(struct rg_zim *z, uint64_t max_bytes, struct rg_zim_article *a, char *err,
                size_t errsz);
void rg_zim_close(struct rg_zim *z);

#ifdef __cplusplus
}
#endif

#endif
