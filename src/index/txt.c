/*
 * Plain text: UTF-8 when the bytes are valid UTF-8 (a BOM is dropped), else
 * Windows-1252 when bytes 0x80-0x9F occur (they are printable there and
 * control codes in Latin-1), else Latin-1; the choice is recorded in
 * meta.encoding. Paragraphs are runs of lines separated by blank lines, each
 * block keeping its byte range in the file. Plain text has no sections.
 */
#include <string.h>

#include "common/alloc.h"
#include "common/buf.h"
#include "index/doc_internal.h"

/* Windows-1252's 0x80-0x9F; 0 where the code page leaves a hole (kept as U+FFFD). */
static const unsigned short cp1252_high[32] = {
    0x20AC, 0,      0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160,
    0x2039, 0x0152, 0,      0x017D, 0,      0,      0x2018, 0x2019, 0x201C, 0x201D, 0x2022,
    0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0,      0x017E, 0x0178,
};

enum enc { ENC_UTF8, ENC_CP1252, ENC_LATIN1 };

/* Appends text[0..len) in encoding e to b as UTF-8. */
static int to_utf8(struct rg_buf *b, const unsigned char *t, size_t len, enum enc e)
{
    if (e == ENC_UTF8) return rg_buf_append(b, t, len);
    for (size_t i = 0; i < len; i++) {
        unsigned cp = t[i];
        if (cp >= 0x80 && cp < 0xA0 && e == ENC_CP1252)
            cp = cp1252_high[cp - 0x80] ? cp1252_high[cp - 0x80] : 0xFFFD;
        char u[3];
        size_t n;
        if (cp < 0x80)
            u[0] = (char)cp, n = 1;
        else if (cp < 0x800)
            u[0] = (char)(0xC0 | cp >> 6), u[1] = (char)(0x80 | (cp & 0x3F)), n = 2;
        else
            u[0] = (char)(0xE0 | cp >> 12), u[1] = (char)(0x80 | ((cp >> 6) & 0x3F)),
            u[2] = (char)(0x80 | (cp & 0x3F)), n = 3;
        int rc = rg_buf_append(b, u, n);
        if (rc) return rc;
    }
    return RG_OK;
}

static bool blank_line(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\f') return false;
    return true;
}

int rg_doc_parse_text_mem(const char *data, size_t len, const struct rg_doc_limits *lim,
                          struct rg_doc **out, char *err)
{
    struct rg_docb b;
    int rc = rg_docb_init(&b, RG_DOC_FORMAT_TEXT, lim, err);
    if (rc) return rc;
    size_t start = 0;
    enum enc e = ENC_UTF8;
    if (len >= 3 && memcmp(data, "\xEF\xBB\xBF", 3) == 0 && rg_doc_utf8_valid(data + 3, len - 3))
        start = 3;
    else if (!rg_doc_utf8_valid(data, len)) {
        e = ENC_LATIN1;
        for (size_t i = 0; i < len; i++)
            if ((unsigned char)data[i] >= 0x80 && (unsigned char)data[i] < 0xA0) {
                e = ENC_CP1252;
                break;
            }
    }
    static const char *const names[] = {"utf-8", "windows-1252", "latin-1"};
    rc = rg_docb_meta(&b, &b.doc->meta.encoding, names[e], strlen(names[e]));
    struct rg_buf para;
    rg_buf_init(&para, (size_t)lim->max_text_bytes);
    size_t pstart = start, i = start;
    bool in_para = false;
    while (!rc && i <= len) {
        size_t eol = i;
        while (eol < len && data[eol] != '\n')
            eol++;
        bool blank = blank_line(data + i, eol - i);
        if (!blank && !in_para) in_para = true, pstart = i;
        if ((blank || eol >= len) && in_para) {
            size_t pend = blank ? i : eol;
            rg_buf_reset(&para);
            rc = to_utf8(&para, (const unsigned char *)data + pstart, pend - pstart, e);
            if (rc == RG_ETOOBIG)
                rc = rg_err_set(err, RG_ETOOBIG, "text over max_text_bytes");
            else if (rc)
                rc = rg_err_set(err, rc, "out of memory");
            if (!rc)
                rc = rg_docb_block(&b, RG_DOC_BLOCK_PARAGRAPH, para.data ? para.data : "", para.len,
                                   (int64_t)pstart, (int64_t)pend);
            in_para = false;
        }
        i = eol + 1;
    }
    rg_buf_free(&para);
    if (rc) {
        rg_docb_fail(&b);
        return rc;
    }
    *out = rg_docb_finish(&b);
    return RG_OK;
}
