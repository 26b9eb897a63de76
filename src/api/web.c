/*
 * The web app: index.html at "/" and the content-hashed files under
 * /assets/, from the copy embedded at build time (web_assets.h) or, with
 * --web-dir DIR, from disk (read on every request, for development).
 *
 * Hashed assets are cached forever (immutable); index.html is revalidated
 * every time, so a new binary's app is picked up at once. index.html carries
 * a Content-Security-Policy that allows only this origin's scripts and no
 * inline script: model output rendered as text cannot become code even if a
 * bug let markup through. gzip is the HTTP layer's.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/web_assets.h"
#include "common/alloc.h"

#define CSP                                                                                        \
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' "     \
    "data:; connect-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'none'; "      \
    "form-action 'self'"

static const struct rg_web_asset *find(const char *path)
{
    for (size_t i = 0; i < rg_web_n_assets; i++)
        if (!strcmp(rg_web_assets[i].path, path)) return &rg_web_assets[i];
    return NULL;
}

static const char *type_of(const char *name)
{
    const char *dot = strrchr(name, '.');
    if (!dot) return "application/octet-stream";
    if (!strcmp(dot, ".html")) return "text/html; charset=utf-8";
    if (!strcmp(dot, ".js")) return "text/javascript; charset=utf-8";
    if (!strcmp(dot, ".css")) return "text/css; charset=utf-8";
    if (!strcmp(dot, ".svg")) return "image/svg+xml";
    if (!strcmp(dot, ".png")) return "image/png";
    if (!strcmp(dot, ".json")) return "application/json";
    return "application/octet-stream";
}

static void headers(struct rg_http_req *r, bool immutable, bool html)
{
    rg_http_set_header(r, "Cache-Control",
                       immutable ? "public, max-age=31536000, immutable" : "no-cache");
    rg_http_set_header(r, "X-Content-Type-Options", "nosniff");
    if (html) {
        rg_http_set_header(r, "Content-Security-Policy", CSP);
        rg_http_set_header(r, "Referrer-Policy", "no-referrer");
        rg_http_set_header(r, "X-Frame-Options", "DENY");
    }
}

/* Serves rel ("/index.html", "/assets/x.js") from --web-dir or the embedded copy. */
static void serve(struct rg_http_req *r, const struct rg_config *cfg, const char *rel)
{
    bool html = !strcmp(rel, "/index.html");
    bool immutable = !strncmp(rel, "/assets/", 8);
    if (cfg->web_dir) {
        char path[2048];
        snprintf(path, sizeof path, "%s%s", cfg->web_dir, rel);
        FILE *f = fopen(path, "rb");
        if (!f) {
            rg_http_reply_error(r, 404, NULL, "not_found", NULL, "no such file in --web-dir");
            return;
        }
        char *buf = NULL;
        long n = -1;
        if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && n <= (64L << 20) &&
            fseek(f, 0, SEEK_SET) == 0 && (buf = rg_malloc((size_t)n + 1)) &&
            fread(buf, 1, (size_t)n, f) == (size_t)n) {
            headers(r, false, html); /* from disk: files change under us */
            rg_http_reply(r, 200, type_of(rel), buf, (size_t)n);
        } else {
            rg_http_reply_error(r, 500, NULL, NULL, NULL, "cannot read %s", rel);
        }
        rg_free(buf);
        fclose(f);
        return;
    }
    const struct rg_web_asset *a = find(rel);
    if (!a) {
        rg_http_reply_error(r, 404, NULL, "not_found", NULL, "no such file");
        return;
    }
    headers(r, immutable && a->immutable, html);
    rg_http_reply(r, 200, a->type, a->data, a->len);
}

static void index_page(struct rg_http_req *r, void *ctx)
{
    struct rg_api_state *st = ctx;
    serve(r, st->cfg, "/index.html");
}

static void asset(struct rg_http_req *r, void *ctx)
{
    struct rg_api_state *st = ctx;
    const char *name = rg_http_req_param(r, "file");
    /* one path segment (the router's {file}); no dot files, no way up */
    if (!name || !*name || name[0] == '.' || strstr(name, "..") || strchr(name, '/') ||
        strchr(name, '\\') || strlen(name) > 200) {
        rg_http_reply_error(r, 404, NULL, "not_found", NULL, "no such file");
        return;
    }
    char rel[256];
    snprintf(rel, sizeof rel, "/assets/%s", name);
    serve(r, st->cfg, rel);
}

static void favicon(struct rg_http_req *r, void *ctx)
{
    struct rg_api_state *st = ctx;
    serve(r, st->cfg, "/favicon.svg");
}

size_t rg_api_web_routes(struct rg_route *out, size_t max, struct rg_api_state *st)
{
    const struct rg_route routes[] = {
        {RG_HTTP_GET | RG_HTTP_HEAD, "/", index_page, st, RG_ROLE_PUBLIC, RG_ROUTE_HIDDEN, "web",
         "The web app", NULL, NULL},
        /* the app's own screens: a reload or a shared link opens the app there */
        {RG_HTTP_GET | RG_HTTP_HEAD, "/c/{id}", index_page, st, RG_ROLE_PUBLIC, RG_ROUTE_HIDDEN,
         "web", "The web app: a conversation", NULL, NULL},
        {RG_HTTP_GET | RG_HTTP_HEAD, "/admin", index_page, st, RG_ROLE_PUBLIC, RG_ROUTE_HIDDEN,
         "web", "The web app: administration", NULL, NULL},
        {RG_HTTP_GET | RG_HTTP_HEAD, "/settings", index_page, st, RG_ROLE_PUBLIC, RG_ROUTE_HIDDEN,
         "web", "The web app: settings", NULL, NULL},
        {RG_HTTP_GET | RG_HTTP_HEAD, "/library", index_page, st, RG_ROLE_PUBLIC, RG_ROUTE_HIDDEN,
         "web", "The web app: the library", NULL, NULL},
        {RG_HTTP_GET | RG_HTTP_HEAD, "/library/search", index_page, st, RG_ROLE_PUBLIC,
         RG_ROUTE_HIDDEN, "web", "The web app: searching the library", NULL, NULL},
        {RG_HTTP_GET | RG_HTTP_HEAD, "/survival", index_page, st, RG_ROLE_PUBLIC, RG_ROUTE_HIDDEN,
         "web", "The web app: survival mode", NULL, NULL},
        {RG_HTTP_GET | RG_HTTP_HEAD, "/assets/{file}", asset, st, RG_ROLE_PUBLIC, RG_ROUTE_HIDDEN,
         "web", "The web app's scripts and styles", NULL, NULL},
        {RG_HTTP_GET | RG_HTTP_HEAD, "/favicon.svg", favicon, st, RG_ROLE_PUBLIC, RG_ROUTE_HIDDEN,
         "web", "Icon", NULL, NULL},
    };
    size_t n = RG_ARRAY_LEN(routes) < max ? RG_ARRAY_LEN(routes) : max;
    memcpy(out, routes, n * sizeof *routes);
    return n;
}
