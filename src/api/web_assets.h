/* The built web app, embedded at build time (tools/web_embed writes the
 * table into a generated source; see cmake/RgWeb.cmake). */
#ifndef RG_API_WEB_ASSETS_H
#define RG_API_WEB_ASSETS_H

#include <stddef.h>

struct rg_web_asset {
    const char *path; /* "/index.html", "/assets/index-3f2a1b.js" */
    const char *type; /* Content-Type */
    const unsigned char *data;
    size_t len;
    int immutable; /* a content-hashed name: cache forever */
};

extern const struct rg_web_asset rg_web_assets[];
extern const size_t rg_web_n_assets;

#endif
