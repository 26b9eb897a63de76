/*
 * `rustygpt pull REF`: downloads a GGUF model into the models directory.
 *
 * REF is an http(s) URL, or hf:OWNER/REPO/FILE.gguf[@REVISION], which becomes
 * <RUSTYGPT_HF_ENDPOINT>/OWNER/REPO/resolve/REVISION/FILE.gguf. No endpoint
 * is built in: the user names the hub they trust, and nothing in the binary
 * talks to a host it was not told about.
 *
 * The body is written to <dir>/<name>.partial and hashed (SHA-256) as it
 * arrives. An interrupted pull (network, Ctrl-C) leaves the .partial behind;
 * the next pull hashes what is there and asks for the rest with a Range
 * request. Only when the hash matches the published one (--sha256, or the
 * X-Linked-Etag / ETag header when it holds a SHA-256) and the file starts
 * with the GGUF magic is it synced and renamed to <dir>/<name>, so a model in
 * the directory is always complete. A complete file is never replaced
 * without --force.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/evp.h>

#include "cli/cli.h"
#include "common/alloc.h"
#include "common/err.h"
#include "common/str.h"
#include "net/net.h"

#define URL_MAX 8192
#define NAME_MAX_LEN 200
#define MAX_REDIRECTS 10
#define SHA_HEX 64

/* ---------------------------------------------------------------- usage */

static void usage(FILE *f)
{
    fprintf(f, "usage: rustygpt pull REF [--models-dir DIR] [--name FILE.gguf] [--sha256 HEX]\n"
               "                         [--force] [--offline] [-q|--quiet]\n\n"
               "Downloads a GGUF model into the models directory, with progress, resume and a\n"
               "SHA-256 check. REF is one of:\n"
               "  http(s)://HOST/PATH/FILE.gguf   a URL of a .gguf file\n"
               "  hf:OWNER/REPO/FILE.gguf[@REV]   a file of a model hub repository (REV defaults\n"
               "                                  to main), fetched from\n"
               "      $RUSTYGPT_HF_ENDPOINT/OWNER/REPO/resolve/REV/FILE.gguf\n"
               "RUSTYGPT_HF_ENDPOINT has no built-in default: set it to the base URL of the hub\n"
               "you use (for example the Hugging Face hub's URL), or pass a full URL instead.\n\n"
               "  --models-dir DIR   where to save (default $RUSTYGPT_MODELS_DIR or ./models)\n"
               "  --name FILE.gguf   file name to save as (default: the URL's last segment)\n"
               "  --sha256 HEX       expected SHA-256; otherwise a SHA-256 published by the\n"
               "                     server (X-Linked-Etag or ETag header) is checked, or the\n"
               "                     computed one is printed\n"
               "  --force            replace an existing file of the same name\n"
               "  --offline          refuse to touch the network (also RUSTYGPT_OFFLINE=1)\n"
               "  -q, --quiet        no progress output\n"
               "  --progress-json    progress as {\"total\":N,\"completed\":N} lines on stderr\n"
               "                     (for programs; the server's /api/pull uses it)\n\n"
               "The download goes to DIR/NAME.partial; run the same command again after an\n"
               "interruption to resume it. On success the saved path is printed on stdout.\n");
}

/* ---------------------------------------------------------------- state */

struct pull {
    /* what to fetch and where */
    char url[URL_MAX];
    char name[NAME_MAX_LEN + 1];
    char final_path[PATH_MAX];
    char part_path[PATH_MAX];
    char want_sha[SHA_HEX + 1]; /* from --sha256, "" if not given */
    bool quiet, force, tty;
    bool json; /* --progress-json: progress as {"total","completed"} lines on stderr */

    /* the partial file, locked while we write it */
    int fd;
    uint64_t have;    /* bytes in the partial (all of them hashed into md) */
    uint64_t resumed; /* bytes the partial had when the request was sent */
    EVP_MD_CTX *md;

    /* the transfer */
    CURL *curl;
    int64_t total;                /* expected size of the whole file, -1 unknown */
    bool body_started;            /* the final response's first body bytes were seen */
    bool not_body;                /* the final response is not a body we keep (4xx, 416...) */
    bool restarted;               /* the server ignored Range: the partial was emptied */
    bool bad_range;               /* 206 for a range we did not ask for */
    int write_errno;              /* writing the partial failed */
    char linked_sha[SHA_HEX + 1]; /* SHA-256 from X-Linked-Etag, any response of the chain */
    char etag_sha[SHA_HEX + 1];   /* SHA-256 from ETag, final response only */
    char content_range[128];      /* of the final response */
    char status_line[128];        /* of the final response */

    /* progress */
    double t_start, t_draw;
    uint64_t got; /* bytes received in this run */
    int quarter;  /* last quarter reported on a non-terminal */
};

static volatile sig_atomic_t g_interrupted;

static void on_signal(int sig)
{
    (void)sig;
    g_interrupted = 1;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void human_size(uint64_t b, char *buf, size_t n)
{
    const char *units[] = {"B", "KB", "MB", "GB", "TB"};
    double v = (double)b;
    size_t u = 0;
    while (v >= 1000.0 && u + 1 < RG_ARRAY_LEN(units)) {
        v /= 1000.0;
        u++;
    }
    snprintf(buf, n, u ? "%.1f %s" : "%.0f %s", v, units[u]);
}

/* ---------------------------------------------------------------- checks of input */

/* 64 hex digits, copied lower-cased into out (SHA_HEX + 1 bytes) unless it is NULL. */
static bool parse_sha(const char *s, size_t len, char *out)
{
    if (len != SHA_HEX) return false;
    for (size_t i = 0; i < SHA_HEX; i++)
        if (!isxdigit((unsigned char)s[i])) return false;
    for (size_t i = 0; out && i < SHA_HEX; i++)
        out[i] = (char)tolower((unsigned char)s[i]);
    if (out) out[SHA_HEX] = '\0';
    return true;
}

/* An ETag value that is a quoted (or bare) 64-hex SHA-256, as a hub sends for
 * large files. Weak tags (W/"...") name a version, not the bytes: ignored. */
static bool etag_to_sha(const char *v, size_t len, char out[SHA_HEX + 1])
{
    if (len >= 2 && v[0] == 'W' && v[1] == '/') return false;
    if (len >= 2 && v[0] == '"' && v[len - 1] == '"') {
        v++;
        len -= 2;
    }
    return parse_sha(v, len, out);
}

/* A file name we are willing to create in the models dir: ends in .gguf, has
 * something before it, no path separators, no "..", no leading dot (hidden or
 * special), no control characters. */
static bool valid_name(const char *s)
{
    size_t n = strlen(s);
    if (n <= 5 || n > NAME_MAX_LEN || !rg_str_ends_with(s, ".gguf")) return false;
    if (s[0] == '.' || strstr(s, "..")) return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '/' || c == '\\' || c < 0x20 || c == 0x7f) return false;
    }
    return true;
}

/* One segment of an hf: reference: non-empty, not "." or "..", printable,
 * no characters that would change the meaning of the URL path. */
static bool valid_segment(const char *s, size_t n)
{
    if (n == 0 || (n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.')) return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= 0x20 || c == 0x7f || c == '\\' || c == '?' || c == '#' || c == '%') return false;
    }
    return true;
}

struct hf_ref {
    const char *path; /* OWNER/REPO/FILE.gguf, not NUL-ended at path_len */
    size_t path_len;
    const char *rev; /* NUL-ended */
};

/*
 * Splits "OWNER/REPO/FILE.gguf[@REV]" (after "hf:"). FILE may hold folders
 * (OWNER/REPO/dir/FILE.gguf). The revision starts at the first '@' that
 * follows ".gguf", so a revision such as refs/pr/1 may hold '/'.
 * Returns false with a reason in why.
 */
static bool parse_hf(const char *s, struct hf_ref *r, const char **why)
{
    const char *at = NULL;
    for (const char *p = strchr(s, '@'); p; p = strchr(p + 1, '@')) {
        if (p - s >= 5 && !memcmp(p - 5, ".gguf", 5)) {
            at = p;
            break;
        }
    }
    r->path = s;
    r->path_len = at ? (size_t)(at - s) : strlen(s);
    r->rev = at ? at + 1 : "main";
    if (r->path_len < 5 || memcmp(s + r->path_len - 5, ".gguf", 5) != 0) {
        *why = "the file must end in .gguf";
        return false;
    }
    size_t segs = 0;
    for (size_t i = 0; i <= r->path_len;) {
        size_t j = i;
        while (j < r->path_len && s[j] != '/')
            j++;
        if (!valid_segment(s + i, j - i)) {
            *why = "expected OWNER/REPO/FILE.gguf with no empty, '.' or '..' parts";
            return false;
        }
        segs++;
        i = j + 1;
    }
    if (segs < 3) {
        *why = "expected OWNER/REPO/FILE.gguf";
        return false;
    }
    size_t rl = strlen(r->rev);
    if (rl == 0 || rl > 255 || strstr(r->rev, "..")) {
        *why = "bad revision after '@'";
        return false;
    }
    for (size_t i = 0; i < rl; i++)
        if ((unsigned char)r->rev[i] <= 0x20 || r->rev[i] == 0x7f) {
            *why = "bad revision after '@'";
            return false;
        }
    return true;
}

/* Appends s[0..n) percent-encoded to buf (at *len). false if it does not fit. */
static bool append_escaped(CURL *c, char *buf, size_t size, size_t *len, const char *s, size_t n)
{
    char *e = curl_easy_escape(c, s, (int)n);
    if (!e) return false;
    size_t el = strlen(e);
    bool ok = *len + el < size;
    if (ok) {
        memcpy(buf + *len, e, el + 1);
        *len += el;
    }
    curl_free(e);
    return ok;
}

static bool append_raw(char *buf, size_t size, size_t *len, const char *s)
{
    size_t n = strlen(s);
    if (*len + n >= size) return false;
    memcpy(buf + *len, s, n + 1);
    *len += n;
    return true;
}

/* <base>/OWNER/REPO/resolve/REV/FILE, each path segment and REV percent-encoded. */
static bool hf_url(CURL *c, const char *base, const struct hf_ref *r, char *buf, size_t size)
{
    size_t len = 0, bl = strlen(base);
    while (bl > 0 && base[bl - 1] == '/')
        bl--;
    if (bl >= size) return false;
    memcpy(buf, base, bl);
    buf[len = bl] = '\0';
    size_t seg = 0;
    for (size_t i = 0; i <= r->path_len; seg++) {
        size_t j = i;
        while (j < r->path_len && r->path[j] != '/')
            j++;
        if (!append_raw(buf, size, &len, "/") ||
            !append_escaped(c, buf, size, &len, r->path + i, j - i))
            return false;
        if (seg == 1 && (!append_raw(buf, size, &len, "/resolve/") ||
                         !append_escaped(c, buf, size, &len, r->rev, strlen(r->rev))))
            return false;
        i = j + 1;
    }
    return true;
}

/* The last path segment of a URL (query and fragment dropped), percent-decoded. */
static bool name_from_url(CURL *c, const char *url, char *out, size_t size)
{
    const char *p = strstr(url, "://");
    p = p ? p + 3 : url;
    size_t end = strcspn(p, "?#");
    const char *slash = NULL;
    for (size_t i = 0; i < end; i++)
        if (p[i] == '/') slash = p + i;
    if (!slash) return false;
    int n = 0;
    char *d = curl_easy_unescape(c, slash + 1, (int)(p + end - (slash + 1)), &n);
    if (!d) return false;
    bool ok = n > 0 && (size_t)n < size && memchr(d, '\0', (size_t)n) == NULL;
    if (ok) memcpy(out, d, (size_t)n + 1);
    curl_free(d);
    return ok;
}

/* mkdir -p: creates dir and its missing parents. */
static int make_dirs(const char *dir)
{
    char buf[PATH_MAX];
    if (rg_strlcpy(buf, dir, sizeof buf) >= sizeof buf) return errno = ENAMETOOLONG, -1;
    for (char *p = buf + 1;; p++) {
        if (*p != '/' && *p != '\0') continue;
        char c = *p;
        *p = '\0';
        if (mkdir(buf, 0755) != 0 && errno != EEXIST) return -1;
        *p = c;
        if (!c) break;
    }
    struct stat st;
    if (stat(dir, &st) != 0) return -1;
    if (!S_ISDIR(st.st_mode)) return errno = ENOTDIR, -1;
    return 0;
}

/* ---------------------------------------------------------------- progress */

/* One status line: redrawn in place on a terminal (at most 10 times a second),
 * else a plain line at each quarter of a known size (every 30 s otherwise). */
static void progress(struct pull *p, bool final)
{
    double t = now_s(), dt = t - p->t_start;
    if (p->json) { /* for a program that reports it (the server's /api/pull) */
        if (!final && t - p->t_draw < 0.25) return;
        p->t_draw = t;
        fprintf(stderr, "{\"total\":%lld,\"completed\":%llu}\n", (long long)p->total,
                (unsigned long long)p->have);
        fflush(stderr);
        return;
    }
    if (p->quiet) return;
    if (p->tty && !final && t - p->t_draw < 0.1) return;
    char have[32], total[32];
    human_size(p->have, have, sizeof have);
    char rate[32] = ""; /* left out until there is enough time to measure it */
    if (dt >= 0.2) snprintf(rate, sizeof rate, "%.1f MB/s", (double)p->got / dt / 1e6);
    int pct = p->total > 0 ? (int)(p->have * 100 / (uint64_t)p->total) : -1;
    if (p->tty) {
        p->t_draw = t;
        char bar[26] = "";
        if (pct >= 0) {
            int fill = pct * 24 / 100;
            for (int i = 0; i < 24; i++)
                bar[i] = i < fill ? '=' : (i == fill ? '>' : ' ');
            bar[24] = '\0';
        }
        if (p->total > 0) {
            human_size((uint64_t)p->total, total, sizeof total);
            fprintf(stderr, "\r[%s] %s / %s %3d%%  %s\033[K", bar, have, total, pct, rate);
        } else {
            fprintf(stderr, "\r%s  %s\033[K", have, rate);
        }
        if (final) fputc('\n', stderr);
        return;
    }
    if (p->total > 0) {
        int q = (int)(p->have * 4 / (uint64_t)p->total);
        if (!final && (q <= p->quarter || q >= 4)) return;
        p->quarter = q;
        human_size((uint64_t)p->total, total, sizeof total);
        fprintf(stderr, "rustygpt pull: %3d%% %s of %s%s%s\n", pct, have, total, *rate ? ", " : "",
                rate);
    } else {
        if (!final && t - p->t_draw < 30.0) return;
        p->t_draw = t;
        fprintf(stderr, "rustygpt pull: %s%s%s\n", have, *rate ? ", " : "", rate);
    }
}

/* ---------------------------------------------------------------- curl callbacks */

/* Finds "name: value" in a header line (name case-insensitive); value trimmed. */
static bool header_value(const char *line, size_t len, const char *name, const char **v,
                         size_t *vlen)
{
    size_t n = strlen(name);
    if (len <= n || strncasecmp(line, name, n) != 0 || line[n] != ':') return false;
    const char *s = line + n + 1, *e = line + len;
    while (s < e && (*s == ' ' || *s == '\t'))
        s++;
    while (e > s && (e[-1] == '\r' || e[-1] == '\n' || e[-1] == ' ' || e[-1] == '\t'))
        e--;
    *v = s;
    *vlen = (size_t)(e - s);
    return true;
}

static void copy_value(char *dst, size_t size, const char *v, size_t n)
{
    if (n >= size) n = size - 1;
    memcpy(dst, v, n);
    dst[n] = '\0';
}

/* Headers of every response of the redirect chain. A hub answers the resolve
 * URL with a redirect that carries X-Linked-Etag (the LFS SHA-256) and the
 * storage that serves the bytes sends its own ETag, so X-Linked-Etag is kept
 * across the chain while the rest belongs to the last response. */
static size_t on_header(char *buf, size_t size, size_t nitems, void *ud)
{
    struct pull *p = ud;
    size_t len = size * nitems;
    const char *v;
    size_t vl;
    char sha[SHA_HEX + 1];
    if (len >= 5 && !memcmp(buf, "HTTP/", 5)) {
        p->etag_sha[0] = '\0';
        p->content_range[0] = '\0';
        size_t n = len;
        while (n > 0 && (buf[n - 1] == '\r' || buf[n - 1] == '\n'))
            n--;
        copy_value(p->status_line, sizeof p->status_line, buf, n);
    } else if (header_value(buf, len, "x-linked-etag", &v, &vl)) {
        if (etag_to_sha(v, vl, sha)) memcpy(p->linked_sha, sha, sizeof sha);
    } else if (header_value(buf, len, "etag", &v, &vl)) {
        if (etag_to_sha(v, vl, sha)) memcpy(p->etag_sha, sha, sizeof sha);
    } else if (header_value(buf, len, "content-range", &v, &vl)) {
        copy_value(p->content_range, sizeof p->content_range, v, vl);
    }
    return len;
}

/* Content-Range of a 206 ("bytes START-END/TOTAL") or of a 416 (an asterisk
 * in place of START-END): START, or -1 for the asterisk; TOTAL, or -1 when
 * it is an asterisk or absent. */
static void parse_content_range(const char *s, int64_t *start, int64_t *total)
{
    *start = *total = -1;
    if (strncasecmp(s, "bytes ", 6) != 0) return;
    s += 6;
    char *end;
    if (*s != '*') {
        errno = 0;
        long long v = strtoll(s, &end, 10);
        if (errno || end == s || v < 0) return;
        *start = v;
    }
    const char *slash = strchr(s, '/');
    if (!slash || slash[1] == '*') return;
    errno = 0;
    long long t = strtoll(slash + 1, &end, 10);
    if (!errno && end != slash + 1 && t >= 0) *total = t;
}

static bool hash_reset(struct pull *p)
{
    return EVP_DigestInit_ex(p->md, EVP_sha256(), NULL) == 1;
}

/* First body bytes of the final response: decides what to do with them.
 * 200 to a Range request means the server sends the whole file: start over.
 * 206 must start where the partial ends. Anything else is not a body we keep.
 * Returns false to stop the transfer. */
static bool begin_body(struct pull *p)
{
    p->body_started = true;
    long code = 0;
    curl_easy_getinfo(p->curl, CURLINFO_RESPONSE_CODE, &code);
    curl_off_t cl = -1;
    curl_easy_getinfo(p->curl, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl);
    if (code == 200) {
        if (p->have > 0) {
            if (ftruncate(p->fd, 0) != 0 || !hash_reset(p)) {
                p->write_errno = errno ? errno : EIO;
                return false;
            }
            p->have = 0;
            p->restarted = true;
        }
        p->total = cl >= 0 ? (int64_t)cl : -1;
        return true;
    }
    if (code == 206) {
        int64_t start, total;
        parse_content_range(p->content_range, &start, &total);
        if (start != (int64_t)p->have) {
            p->bad_range = true;
            return false;
        }
        p->total = total >= 0 ? total : (cl >= 0 ? (int64_t)(p->have + (uint64_t)cl) : -1);
        if (p->total > 0) p->quarter = (int)(p->have * 4 / (uint64_t)p->total);
        return true;
    }
    p->not_body = true;
    return false;
}

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *ud)
{
    struct pull *p = ud;
    size_t n = size * nmemb;
    if (!p->body_started) {
        if (!begin_body(p)) return 0;
        if (!p->quiet && p->restarted)
            fprintf(stderr, "rustygpt pull: the server ignored the range request; starting over\n");
    }
    if (p->not_body || p->bad_range) return 0;
    for (size_t off = 0; off < n;) {
        ssize_t w = pwrite(p->fd, ptr + off, n - off, (off_t)(p->have + off));
        if (w < 0) {
            if (errno == EINTR) continue;
            p->write_errno = errno;
            return 0;
        }
        off += (size_t)w;
    }
    if (EVP_DigestUpdate(p->md, ptr, n) != 1) {
        p->write_errno = EIO;
        return 0;
    }
    p->have += n;
    p->got += n;
    return n;
}

static int on_xfer(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                   curl_off_t ulnow)
{
    struct pull *p = ud;
    if (g_interrupted) return 1;
    if (p->body_started && !p->not_body) progress(p, false);
    return 0;
}

/* ---------------------------------------------------------------- steps */

/* Hashes the bytes an earlier run left in the partial. */
static bool hash_partial(struct pull *p)
{
    size_t cap = 1 << 20;
    char *buf = rg_malloc(cap);
    if (!buf) return false;
    bool ok = true;
    for (uint64_t off = 0; ok && off < p->have && !g_interrupted;) {
        ssize_t r = pread(p->fd, buf, cap, (off_t)off);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            ok = false;
            break;
        }
        ok = EVP_DigestUpdate(p->md, buf, (size_t)r) == 1;
        off += (uint64_t)r;
    }
    rg_free(buf);
    return ok && !g_interrupted;
}

static void print_transfer_error(struct pull *p, CURLcode res, const char *errbuf)
{
    const char *detail = errbuf[0] ? errbuf : curl_easy_strerror(res);
    switch (res) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT:
        fprintf(stderr, "rustygpt pull: cannot connect for %s: %s\n", p->url, detail);
        break;
    case CURLE_TOO_MANY_REDIRECTS:
        fprintf(stderr, "rustygpt pull: %s: too many redirects (more than %d)\n", p->url,
                MAX_REDIRECTS);
        break;
    default: fprintf(stderr, "rustygpt pull: download failed: %s\n", detail); break;
    }
    if (p->have > 0) {
        char have[32];
        human_size(p->have, have, sizeof have);
        fprintf(stderr, "rustygpt pull: %s kept in %s; run the same command again to resume\n",
                have, p->part_path);
    }
}

static void print_http_error(struct pull *p, long code)
{
    /* The reason phrase of HTTP/1.x ("HTTP/1.1 404 Not Found"); HTTP/2 has none. */
    const char *reason = "";
    const char *sp = strchr(p->status_line, ' ');
    if (sp) sp = strchr(sp + 1, ' ');
    if (sp) reason = sp + 1;
    const char *hint = "";
    if (code == 401 || code == 403)
        hint = " (the file may be private or gated; this version sends no credentials)";
    else if (code == 404)
        hint = " (check the URL, or OWNER/REPO, file name and revision)";
    else if (code == 429 || code >= 500)
        hint = " (try again later)";
    fprintf(stderr, "rustygpt pull: %s: HTTP %ld%s%s%s\n", p->url, code, *reason ? " " : "", reason,
            hint);
}

/* Removes the partial when it holds nothing worth resuming. */
static void drop_empty_partial(struct pull *p)
{
    if (p->have == 0) unlink(p->part_path);
}

static int sync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd < 0) return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

/* Moves the partial into place; refuses to replace an existing file unless
 * --force, atomically where the file system allows it. */
static int install(struct pull *p)
{
    if (p->force) return rename(p->part_path, p->final_path);
    if (renameat2(AT_FDCWD, p->part_path, AT_FDCWD, p->final_path, RENAME_NOREPLACE) == 0) return 0;
    if (errno != EINVAL && errno != ENOSYS) return -1;
    if (access(p->final_path, F_OK) == 0) return errno = EEXIST, -1;
    return rename(p->part_path, p->final_path);
}

/* The body is all in the partial: check hash and magic, sync, rename. */
static int finish(struct pull *p, const char *dir)
{
    unsigned char dig[EVP_MAX_MD_SIZE];
    unsigned int dlen = 0;
    if (EVP_DigestFinal_ex(p->md, dig, &dlen) != 1 || dlen != 32) {
        fprintf(stderr, "rustygpt pull: cannot compute SHA-256\n");
        return RG_EXIT_FAIL;
    }
    char got[SHA_HEX + 1];
    for (unsigned i = 0; i < 32; i++)
        snprintf(got + 2 * i, 3, "%02x", dig[i]);
    const char *want = NULL, *src = NULL;
    if (p->want_sha[0])
        want = p->want_sha, src = "--sha256";
    else if (p->linked_sha[0])
        want = p->linked_sha, src = "the server's X-Linked-Etag";
    else if (p->etag_sha[0])
        want = p->etag_sha, src = "the server's ETag";
    if (want && strcmp(want, got) != 0) {
        unlink(p->part_path);
        fprintf(stderr,
                "rustygpt pull: %s: SHA-256 mismatch: expected %s (from %s), got %s; "
                "the download was deleted\n",
                p->name, want, src, got);
        return RG_EXIT_FAIL;
    }
    char magic[4] = {0};
    if (p->have < 4 || pread(p->fd, magic, 4, 0) != 4 || memcmp(magic, "GGUF", 4) != 0) {
        unlink(p->part_path);
        fprintf(stderr,
                "rustygpt pull: %s: not a GGUF file (it does not start with \"GGUF\"%s); "
                "the download was deleted\n",
                p->url, magic[0] == '<' ? ", it looks like an HTML page" : "");
        return RG_EXIT_FAIL;
    }
    if (fsync(p->fd) != 0) {
        fprintf(stderr, "rustygpt pull: %s: %s\n", p->part_path, strerror(errno));
        return RG_EXIT_FAIL;
    }
    if (install(p) != 0) {
        if (errno == EEXIST)
            fprintf(stderr,
                    "rustygpt pull: %s appeared while downloading; use --force to replace it "
                    "(the download is kept in %s)\n",
                    p->final_path, p->part_path);
        else
            fprintf(stderr, "rustygpt pull: cannot rename %s to %s: %s\n", p->part_path,
                    p->final_path, strerror(errno));
        return RG_EXIT_FAIL;
    }
    sync_dir(dir);
    if (!p->quiet) {
        char size[32];
        human_size(p->have, size, sizeof size);
        if (want)
            fprintf(stderr, "rustygpt pull: saved %s (%s), SHA-256 checked against %s\n",
                    p->final_path, size, src);
        else
            fprintf(stderr, "rustygpt pull: saved %s (%s)\n", p->final_path, size);
    }
    if (!want)
        fprintf(stderr,
                "rustygpt pull: sha256 %s (nothing was published to check it against: compare "
                "it with the publisher's)\n",
                got);
    printf("%s\n", p->final_path);
    return RG_EXIT_OK;
}

/* Runs the request (with a Range when resuming) and finishes the file. */
static int download(struct pull *p, const char *dir)
{
    char errbuf[CURL_ERROR_SIZE] = "";
    char range[32] = "";
    CURL *c = p->curl;
    char nerr[RG_ERR_SIZE];
    if (rg_net_curl_url(c, p->url, "a model pull", nerr) != RG_OK) {
        fprintf(stderr, "rustygpt pull: %s\n", nerr);
        drop_empty_partial(p);
        return RG_EXIT_FAIL;
    }
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, (long)MAX_REDIRECTS);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 30L);
    /* a transfer that stalls below 1 KB/s for a minute fails (and resumes later) */
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1024L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 60L);
    curl_easy_setopt(c, CURLOPT_BUFFERSIZE, 256L * 1024);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, p);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, p);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_xfer);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, p);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    if (p->have > 0) {
        /* CURLOPT_RANGE rather than RESUME_FROM: curl then leaves a 200 reply to us */
        snprintf(range, sizeof range, "%" PRIu64 "-", p->have);
        curl_easy_setopt(c, CURLOPT_RANGE, range);
    }
    p->resumed = p->have;
    p->t_start = p->t_draw = now_s();
    CURLcode res = curl_easy_perform(c);
    long code = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);

    if (g_interrupted) {
        if (p->tty && !p->quiet && p->body_started) fputc('\n', stderr);
        char have[32];
        human_size(p->have, have, sizeof have);
        fprintf(stderr,
                "rustygpt pull: interrupted; %s kept in %s, run the same command again to "
                "resume\n",
                have, p->part_path);
        drop_empty_partial(p);
        return RG_EXIT_FAIL;
    }
    if (p->write_errno) {
        fprintf(stderr, "rustygpt pull: writing %s: %s\n", p->part_path, strerror(p->write_errno));
        drop_empty_partial(p);
        return RG_EXIT_FAIL;
    }
    if (p->bad_range) {
        unlink(p->part_path);
        fprintf(stderr,
                "rustygpt pull: %s: the server sent a range (%s) that does not continue the "
                "partial download; deleted it, run again to start over\n",
                p->url, p->content_range);
        return RG_EXIT_FAIL;
    }
    if (res != CURLE_OK && !(res == CURLE_WRITE_ERROR && p->not_body)) {
        if (p->tty && !p->quiet && p->body_started) fputc('\n', stderr);
        print_transfer_error(p, res, errbuf);
        drop_empty_partial(p);
        return RG_EXIT_FAIL;
    }
    if (code == 416 && p->have > 0) {
        /* nothing left past the end of the partial: it should be the whole file */
        int64_t start, total;
        parse_content_range(p->content_range, &start, &total);
        if (total >= 0 && (uint64_t)total != p->have) {
            unlink(p->part_path);
            fprintf(stderr,
                    "rustygpt pull: %s holds %" PRIu64 " bytes but the file has %" PRId64
                    "; deleted it, run again to start over\n",
                    p->part_path, p->have, total);
            return RG_EXIT_FAIL;
        }
        if (!p->quiet) fprintf(stderr, "rustygpt pull: %s is already complete\n", p->part_path);
        return finish(p, dir);
    }
    if (code != 200 && code != 206) {
        print_http_error(p, code);
        drop_empty_partial(p);
        return RG_EXIT_FAIL;
    }
    if (!p->body_started && !begin_body(p)) { /* an empty body: nothing was written */
        fprintf(stderr, "rustygpt pull: %s: unexpected empty reply (HTTP %ld%s%s)\n", p->url, code,
                p->content_range[0] ? ", Content-Range " : "", p->content_range);
        drop_empty_partial(p);
        return RG_EXIT_FAIL;
    }
    progress(p, true);
    return finish(p, dir);
}

/* ---------------------------------------------------------------- command */

/* Reads the value of a flag given as "--flag VALUE" or "--flag=VALUE". */
static bool flag_value(int argc, char **argv, int *i, const char *flag, const char **out)
{
    const char *a = argv[*i];
    size_t n = strlen(flag);
    if (strncmp(a, flag, n) != 0) return false;
    if (a[n] == '=') {
        *out = a + n + 1;
        return true;
    }
    if (a[n] != '\0') return false;
    *out = *i + 1 < argc ? argv[++*i] : NULL;
    return true;
}

struct opts {
    const char *ref, *dir, *name, *sha;
    bool offline, quiet, force, json;
};

/* Flags into o. Returns -1 to go on, else the exit code (--help, bad usage). */
static int parse_args(int argc, char **argv, struct opts *o)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return RG_EXIT_OK;
        } else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) {
            o->quiet = true;
        } else if (!strcmp(a, "--offline")) {
            o->offline = true;
        } else if (!strcmp(a, "--force")) {
            o->force = true;
        } else if (!strcmp(a, "--progress-json")) {
            o->json = true;
        } else if (flag_value(argc, argv, &i, "--models-dir", &v) ||
                   flag_value(argc, argv, &i, "--name", &v) ||
                   flag_value(argc, argv, &i, "--sha256", &v)) {
            if (!v || !*v) {
                fprintf(stderr, "rustygpt pull: %.*s: missing value\n", (int)strcspn(a, "="), a);
                return RG_EXIT_USAGE;
            }
            if (!strncmp(a, "--models-dir", 12))
                o->dir = v;
            else if (!strncmp(a, "--name", 6))
                o->name = v;
            else
                o->sha = v;
        } else if (a[0] == '-' && a[1] != '\0') {
            fprintf(stderr, "rustygpt pull: unknown option %s (see --help)\n", a);
            return RG_EXIT_USAGE;
        } else if (o->ref) {
            fprintf(stderr, "rustygpt pull: unexpected argument '%s' (one REF at a time)\n", a);
            return RG_EXIT_USAGE;
        } else {
            o->ref = a;
        }
    }
    if (!o->ref) {
        usage(stderr);
        return RG_EXIT_USAGE;
    }
    if (o->sha && !parse_sha(o->sha, strlen(o->sha), NULL)) {
        fprintf(stderr, "rustygpt pull: --sha256: expected 64 hex digits, got '%s'\n", o->sha);
        return RG_EXIT_USAGE;
    }
    if (o->name && !valid_name(o->name)) {
        fprintf(stderr,
                "rustygpt pull: --name '%s': expected a file name ending in .gguf, without '/', "
                "'..' or a leading '.'\n",
                o->name);
        return RG_EXIT_USAGE;
    }
    const char *env = getenv("RUSTYGPT_OFFLINE");
    bool env_off = false;
    if (env && *env && rg_parse_bool(env, &env_off) != RG_OK) {
        fprintf(stderr, "rustygpt pull: RUSTYGPT_OFFLINE: expected 1/0, true/false, got '%s'\n",
                env);
        return RG_EXIT_USAGE;
    }
    o->offline = o->offline || env_off;
    if (!o->dir) o->dir = getenv("RUSTYGPT_MODELS_DIR");
    if (!o->dir || !*o->dir) o->dir = "./models";
    return -1;
}

/*
 * REF into p->url and p->name. Usage errors (exit 2) come first, then what
 * depends on the environment (exit 1): offline mode, a missing endpoint for
 * hf:. Returns -1 to go on, else the exit code.
 */
static int resolve_ref(struct pull *p, const struct opts *o)
{
    const char *ref = o->ref;
    struct hf_ref hf = {0};
    bool is_hf = rg_str_starts_with(ref, "hf:");
    char def_name[NAME_MAX_LEN + 1] = "";
    if (is_hf) {
        const char *why = NULL;
        if (!parse_hf(ref + 3, &hf, &why)) {
            fprintf(stderr, "rustygpt pull: %s: %s\n", ref, why);
            return RG_EXIT_USAGE;
        }
        const char *base = hf.path + hf.path_len;
        while (base > hf.path && base[-1] != '/')
            base--;
        size_t bl = (size_t)(hf.path + hf.path_len - base);
        if (bl < sizeof def_name) {
            memcpy(def_name, base, bl);
            def_name[bl] = '\0';
        }
    } else if (rg_str_starts_with(ref, "http://") || rg_str_starts_with(ref, "https://")) {
        for (const char *s = ref; *s; s++)
            if ((unsigned char)*s <= 0x20 || *s == 0x7f) {
                fprintf(stderr, "rustygpt pull: the URL has spaces or control characters\n");
                return RG_EXIT_USAGE;
            }
        if (rg_strlcpy(p->url, ref, sizeof p->url) >= sizeof p->url) {
            fprintf(stderr, "rustygpt pull: URL too long\n");
            return RG_EXIT_USAGE;
        }
        if (!name_from_url(p->curl, ref, def_name, sizeof def_name)) def_name[0] = '\0';
    } else {
        fprintf(stderr,
                "rustygpt pull: '%s': expected an http(s):// URL or hf:OWNER/REPO/FILE.gguf\n",
                ref);
        return RG_EXIT_USAGE;
    }
    if (!o->name && !valid_name(def_name)) {
        fprintf(stderr,
                "rustygpt pull: cannot take a .gguf file name from '%s'; pass --name FILE.gguf\n",
                ref);
        return RG_EXIT_USAGE;
    }
    rg_strlcpy(p->name, o->name ? o->name : def_name, sizeof p->name);

    if (rg_net_offline()) {
        fprintf(stderr,
                "rustygpt pull: " RG_NET_OFFLINE_MSG " (--offline or RUSTYGPT_OFFLINE): it "
                "downloads nothing; run without it to fetch %s\n",
                ref);
        return RG_EXIT_FAIL;
    }
    if (!is_hf) return -1;
    const char *base = getenv("RUSTYGPT_HF_ENDPOINT");
    if (!base || !*base) {
        fprintf(stderr, "rustygpt pull: hf: references need RUSTYGPT_HF_ENDPOINT, the base URL of "
                        "the model hub (for example the Hugging Face hub's URL); or pass the "
                        "file's full https:// URL\n");
        return RG_EXIT_FAIL;
    }
    if (!rg_str_starts_with(base, "http://") && !rg_str_starts_with(base, "https://")) {
        fprintf(stderr,
                "rustygpt pull: RUSTYGPT_HF_ENDPOINT must start with http:// or https://, got "
                "'%s'\n",
                base);
        return RG_EXIT_FAIL;
    }
    if (!hf_url(p->curl, base, &hf, p->url, sizeof p->url)) {
        fprintf(stderr, "rustygpt pull: URL too long\n");
        return RG_EXIT_FAIL;
    }
    return -1;
}

/*
 * Opens and locks DIR/NAME.partial (creating DIR), refusing when DIR/NAME
 * exists without --force, and hashes what an earlier run left in it.
 * Returns -1 to go on, else the exit code.
 */
static int open_partial(struct pull *p, const char *dir)
{
    int n = snprintf(p->part_path, sizeof p->part_path, "%s/%s.partial", dir, p->name);
    if (n < 0 || (size_t)n >= sizeof p->part_path) {
        fprintf(stderr, "rustygpt pull: %s: path too long\n", dir);
        return RG_EXIT_FAIL;
    }
    snprintf(p->final_path, sizeof p->final_path, "%s/%s", dir, p->name); /* shorter: fits */
    if (!p->force && access(p->final_path, F_OK) == 0) {
        fprintf(stderr, "rustygpt pull: %s already exists (use --force to download it again)\n",
                p->final_path);
        return RG_EXIT_FAIL;
    }
    if (make_dirs(dir) != 0) {
        fprintf(stderr, "rustygpt pull: --models-dir %s: %s\n", dir, strerror(errno));
        return RG_EXIT_FAIL;
    }
    int fd = open(p->part_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        fprintf(stderr, "rustygpt pull: %s: %s\n", p->part_path, strerror(errno));
        return RG_EXIT_FAIL;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        fprintf(stderr, "rustygpt pull: %s: another pull is writing it\n", p->part_path);
        close(fd);
        return RG_EXIT_FAIL;
    }
    p->fd = fd; /* from here on the partial is ours */
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        fprintf(stderr, "rustygpt pull: %s: not a regular file\n", p->part_path);
        return RG_EXIT_FAIL;
    }
    p->have = (uint64_t)st.st_size;
    if (!p->quiet) fprintf(stderr, "rustygpt pull: %s -> %s\n", p->url, p->final_path);
    if (p->have == 0) return -1;
    if (!p->quiet) {
        char have[32];
        human_size(p->have, have, sizeof have);
        fprintf(stderr, "rustygpt pull: resuming after %s already downloaded\n", have);
    }
    if (!hash_partial(p)) {
        fprintf(stderr, "rustygpt pull: %s: %s\n", p->part_path,
                g_interrupted ? "interrupted" : "cannot read it");
        return RG_EXIT_FAIL;
    }
    return -1;
}

int rg_cmd_pull(int argc, char **argv)
{
    struct opts o = {0};
    int rc = parse_args(argc, argv, &o);
    if (rc >= 0) return rc;

    struct pull *p = rg_calloc(1, sizeof *p);
    if (!p) {
        fprintf(stderr, "rustygpt pull: out of memory\n");
        return RG_EXIT_FAIL;
    }
    p->fd = -1;
    p->quiet = o.quiet;
    p->force = o.force;
    p->json = o.json;
    p->tty = isatty(STDERR_FILENO);
    p->total = -1;
    if (o.sha) parse_sha(o.sha, strlen(o.sha), p->want_sha);
    bool curl_ready = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
    rg_net_set_offline(o.offline);
    if (curl_ready) p->curl = rg_net_curl(NULL);
    p->md = EVP_MD_CTX_new();
    if (!p->curl || !p->md || !hash_reset(p)) {
        fprintf(stderr, "rustygpt pull: cannot initialise libcurl or OpenSSL\n");
        rc = RG_EXIT_FAIL;
        goto out;
    }
    /* Ctrl-C stops the transfer at the next progress callback, keeping the partial */
    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    rc = resolve_ref(p, &o);
    if (rc < 0) rc = open_partial(p, o.dir);
    if (rc < 0) rc = download(p, o.dir);

out:
    if (p->fd >= 0) close(p->fd);
    if (p->curl) curl_easy_cleanup(p->curl);
    EVP_MD_CTX_free(p->md);
    if (curl_ready) curl_global_cleanup();
    rg_free(p);
    return rc;
}
