/*
 * Helpers shared by the parser tests: a scratch directory, files written at
 * run time, EPUBs built with libzip from (name, content) pairs, a 48x48 PNG
 * for zimwriterfs, collecting the documents a parse delivers.
 */
#ifndef RG_TESTS_INDEX_PARSE_UTIL_H
#define RG_TESTS_INDEX_PARSE_UTIL_H

#include <stdint.h>
#include <sys/stat.h>
#include <zip.h>

#include "common/alloc.h"
#include "common/err.h"
#include "index/doc.h"

static char tmp_dir_path[256];

static inline void tmp_dir_remove(void)
{
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp_dir_path);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmp_dir_path);
}

/* A fresh directory under TMPDIR for this process, removed at exit. */
static inline const char *tmp_dir(void)
{
    if (!tmp_dir_path[0]) {
        const char *t = getenv("TMPDIR");
        snprintf(tmp_dir_path, sizeof tmp_dir_path, "%s/rg_index_test_XXXXXX",
                 t && *t ? t : "/tmp");
        if (!mkdtemp(tmp_dir_path)) return "/tmp";
        atexit(tmp_dir_remove);
    }
    return tmp_dir_path;
}

static inline const char *tmp_path(char *buf, size_t n, const char *name)
{
    snprintf(buf, n, "%s/%s", tmp_dir(), name);
    return buf;
}

static inline void write_bytes(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    fclose(f);
}

struct entry {
    const char *name;
    const char *data; /* NUL-terminated unless len is set */
    size_t len;
};

/* Writes a zip with entries in order; the first ("mimetype") stored. */
static inline void write_zip(const char *path, const struct entry *e, size_t n)
{
    int zerr = 0;
    zip_t *z = zip_open(path, ZIP_CREATE | ZIP_TRUNCATE, &zerr);
    assert_non_null(z);
    for (size_t i = 0; i < n; i++) {
        size_t len = e[i].len ? e[i].len : strlen(e[i].data);
        zip_source_t *s = zip_source_buffer(z, e[i].data, len, 0);
        assert_non_null(s);
        zip_int64_t idx = zip_file_add(z, e[i].name, s, ZIP_FL_OVERWRITE);
        assert_true(idx >= 0);
        if (!strcmp(e[i].name, "mimetype"))
            zip_set_file_compression(z, (zip_uint64_t)idx, ZIP_CM_STORE, 0);
    }
    assert_int_equal(zip_close(z), 0);
}

#define CONTAINER_XML                                                                              \
    "<?xml version=\"1.0\"?>\n<container version=\"1.0\" "                                         \
    "xmlns=\"urn:oasis:names:tc:opendocument:xmlns:container\"><rootfiles>"                        \
    "<rootfile full-path=\"OEBPS/content.opf\" media-type=\"application/oebps-package+xml\"/>"     \
    "</rootfiles></container>"

struct docs {
    struct rg_doc *d[16];
    size_t n;
};

static inline int collect(struct rg_doc *doc, void *user)
{
    struct docs *ds = user;
    if (ds->n < 16)
        ds->d[ds->n++] = doc;
    else
        rg_doc_free(doc);
    return 0;
}

static inline void docs_free(struct docs *ds)
{
    for (size_t i = 0; i < ds->n; i++)
        rg_doc_free(ds->d[i]);
    ds->n = 0;
}

/* Index of the first block whose text contains s, or -1. */
static inline long find_block(const struct rg_doc *d, const char *s)
{
    for (size_t i = 0; i < d->n_blocks; i++)
        if (strstr(d->blocks[i].text, s)) return (long)i;
    return -1;
}

static inline long find_section(const struct rg_doc *d, const char *title)
{
    for (size_t i = 0; i < d->n_sections; i++)
        if (!strcmp(d->sections[i].title, title)) return (long)i;
    return -1;
}

/* Asserts that source[src_start, src_end) of block bi holds needle. */
static inline void assert_src_has(const struct rg_doc *d, long bi, const char *source,
                                  const char *needle)
{
    assert_true(bi >= 0);
    const struct rg_doc_block *b = &d->blocks[bi];
    assert_true(b->src_start >= 0);
    assert_true(b->src_end > b->src_start);
    assert_true((size_t)b->src_end <= strlen(source));
    size_t n = (size_t)(b->src_end - b->src_start);
    char *s = malloc(n + 1);
    memcpy(s, source + b->src_start, n);
    s[n] = 0;
    if (!strstr(s, needle)) fprintf(stderr, "source range [%s] lacks [%s]\n", s, needle);
    assert_non_null(strstr(s, needle));
    free(s);
}

static inline uint32_t crc32_of(const unsigned char *p, size_t n, uint32_t c)
{
    c = ~c;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = c & 1 ? (c >> 1) ^ 0xEDB88320u : c >> 1;
    }
    return ~c;
}

static inline void be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24), p[1] = (unsigned char)(v >> 16),
    p[2] = (unsigned char)(v >> 8), p[3] = (unsigned char)v;
}

/* A 48x48 grey RGB PNG, zlib data in one stored block (no compressor needed). */
static inline void write_png48(const char *path)
{
    enum { W = 48, ROW = 1 + W * 3, RAW = ROW * W };
    static unsigned char raw[RAW];
    for (size_t i = 0; i < RAW; i++)
        raw[i] = i % ROW == 0 ? 0 : 0x80;
    static unsigned char png[8 + 25 + 12 + 2 + 5 + RAW + 4 + 12];
    size_t n = 0;
    memcpy(png, "\x89PNG\r\n\x1a\n", 8), n = 8;
    unsigned char ihdr[17] = "IHDR";
    be32(ihdr + 4, W), be32(ihdr + 8, W);
    ihdr[12] = 8, ihdr[13] = 2, ihdr[14] = 0, ihdr[15] = 0, ihdr[16] = 0;
    be32(png + n, 13), n += 4;
    memcpy(png + n, ihdr, 17), n += 17;
    be32(png + n, crc32_of(ihdr, 17, 0)), n += 4;
    size_t idat_len = 2 + 5 + RAW + 4;
    be32(png + n, (uint32_t)idat_len), n += 4;
    size_t idat = n;
    memcpy(png + n, "IDAT", 4), n += 4;
    png[n++] = 0x78, png[n++] = 0x01;
    png[n++] = 1, png[n++] = RAW & 0xFF, png[n++] = RAW >> 8, png[n++] = (~RAW) & 0xFF,
    png[n++] = ((~RAW) >> 8) & 0xFF;
    memcpy(png + n, raw, RAW), n += RAW;
    uint32_t a = 1, b = 0;
    for (size_t i = 0; i < RAW; i++)
        a = (a + raw[i]) % 65521, b = (b + a) % 65521;
    be32(png + n, (b << 16) | a), n += 4;
    be32(png + n, crc32_of(png + idat, n - idat, 0)), n += 4;
    be32(png + n, 0), n += 4;
    memcpy(png + n, "IEND", 4), n += 4;
    be32(png + n, crc32_of((const unsigned char *)"IEND", 4, 0)), n += 4;
    write_bytes(path, png, n);
}

#endif
