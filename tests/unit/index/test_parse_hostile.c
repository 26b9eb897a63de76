/*
 * The hostile corpus: every input here is built to hurt (zip bomb, entries
 * that climb out of the archive, billion laughs, external entities, invalid
 * UTF-8, deep nesting, files over the limits, truncated archives, DRM). Each
 * must give a clear error (or a safe document), never a crash, a hang or an
 * unbounded allocation; the ASan build runs the same binary.
 */
#include "test.h"

#include <sys/wait.h>

#include "index/doc.h"
#include "index/doc_internal.h"
#include "parse_util.h"

static const char opf_min[] =
    "<?xml version=\"1.0\"?><package xmlns=\"http://www.idpf.org/2007/opf\" version=\"3.0\">"
    "<metadata xmlns:dc=\"http://purl.org/dc/elements/1.1/\"><dc:title>T</dc:title></metadata>"
    "<manifest><item id=\"a\" href=\"a.xhtml\" media-type=\"application/xhtml+xml\"/></manifest>"
    "<spine><itemref idref=\"a\"/></spine></package>";
static const char xhtml_min[] = "<html><body><p>Safe text.</p></body></html>";

static int parse_epub(const struct entry *e, size_t n, const struct rg_doc_limits *lim,
                      struct rg_doc **out, char *err)
{
    char path[512];
    static int seq;
    char name[64];
    snprintf(name, sizeof name, "hostile%d.epub", seq++);
    write_zip(tmp_path(path, sizeof path, name), e, n);
    *out = NULL;
    err[0] = 0;
    int rc = rg_doc_load_file(path, lim, out, err);
    fprintf(stderr, "  -> %d %s\n", rc, err);
    return rc;
}

static void test_baseline_epub(void **state)
{
    (void)state;
    struct entry e[] = {{"mimetype", "application/epub+zip", 0},
                        {"META-INF/container.xml", CONTAINER_XML, 0},
                        {"OEBPS/content.opf", opf_min, 0},
                        {"OEBPS/a.xhtml", xhtml_min, 0}};
    struct rg_doc *d;
    char err[RG_ERR_SIZE];
    assert_int_equal(parse_epub(e, 4, NULL, &d, err), RG_OK);
    assert_int_equal(find_block(d, "Safe text."), 0);
    rg_doc_free(d);
}

static void test_zip_bomb(void **state)
{
    (void)state;
    size_t n = 64u << 20; /* 64 MiB of zeros deflate to ~64 KiB */
    char *zeros = calloc(1, n);
    assert_non_null(zeros);
    struct entry e[] = {{"mimetype", "application/epub+zip", 0},
                        {"META-INF/container.xml", CONTAINER_XML, 0},
                        {"OEBPS/content.opf", opf_min, 0},
                        {"OEBPS/a.xhtml", zeros, n}};
    struct rg_doc *d;
    char err[RG_ERR_SIZE];
    assert_int_equal(parse_epub(e, 4, NULL, &d, err), RG_ETOOBIG);
    assert_null(d);
    assert_non_null(strstr(err, "max_"));
    /* the per-entry and total limits hold even where the ratio would pass */
    struct rg_doc_limits lim = {.max_entry_bytes = 1 << 20, .max_ratio = 100000};
    assert_int_equal(parse_epub(e, 4, &lim, &d, err), RG_ETOOBIG);
    assert_non_null(strstr(err, "max_entry_bytes"));
    lim = (struct rg_doc_limits){.max_uncompressed_bytes = 1 << 20, .max_ratio = 100000};
    assert_int_equal(parse_epub(e, 4, &lim, &d, err), RG_ETOOBIG);
    assert_non_null(strstr(err, "max_uncompressed_bytes"));
    free(zeros);
}

static void test_path_traversal(void **state)
{
    (void)state;
    const char *bad[] = {"../../etc/passwd", "/etc/passwd", "OEBPS/../../x", "a\\..\\b", "C:/x"};
    for (size_t i = 0; i < RG_ARRAY_LEN(bad); i++) {
        struct entry e[] = {{"mimetype", "application/epub+zip", 0},
                            {"META-INF/container.xml", CONTAINER_XML, 0},
                            {"OEBPS/content.opf", opf_min, 0},
                            {"OEBPS/a.xhtml", xhtml_min, 0},
                            {bad[i], "root:x:0:0", 0}};
        struct rg_doc *d;
        char err[RG_ERR_SIZE];
        assert_int_equal(parse_epub(e, 5, NULL, &d, err), RG_EFORMAT);
        assert_non_null(strstr(err, "leaves the archive"));
    }
    /* an href that climbs out is never followed either */
    static const char opf_up[] =
        "<?xml version=\"1.0\"?><package xmlns=\"http://www.idpf.org/2007/opf\" version=\"3.0\">"
        "<metadata/><manifest><item id=\"a\" href=\"../../../../etc/passwd\" "
        "media-type=\"application/xhtml+xml\"/><item id=\"b\" href=\"a.xhtml\" "
        "media-type=\"application/xhtml+xml\"/></manifest>"
        "<spine><itemref idref=\"a\"/><itemref idref=\"b\"/></spine></package>";
    struct entry e[] = {{"mimetype", "application/epub+zip", 0},
                        {"META-INF/container.xml", CONTAINER_XML, 0},
                        {"OEBPS/content.opf", opf_up, 0},
                        {"OEBPS/a.xhtml", xhtml_min, 0}};
    struct rg_doc *d;
    char err[RG_ERR_SIZE];
    assert_int_equal(parse_epub(e, 4, NULL, &d, err), RG_OK);
    assert_int_equal(d->n_parts, 1);
    assert_int_equal(find_block(d, "root:"), -1);
    rg_doc_free(d);
}

static void test_too_many_entries(void **state)
{
    (void)state;
    struct entry e[40];
    char names[40][32];
    e[0] = (struct entry){"mimetype", "application/epub+zip", 0};
    e[1] = (struct entry){"META-INF/container.xml", CONTAINER_XML, 0};
    e[2] = (struct entry){"OEBPS/content.opf", opf_min, 0};
    e[3] = (struct entry){"OEBPS/a.xhtml", xhtml_min, 0};
    for (int i = 4; i < 40; i++) {
        snprintf(names[i], sizeof names[i], "OEBPS/pad%d.txt", i);
        e[i] = (struct entry){names[i], "x", 0};
    }
    struct rg_doc_limits lim = {.max_entries = 20};
    struct rg_doc *d;
    char err[RG_ERR_SIZE];
    assert_int_equal(parse_epub(e, 40, &lim, &d, err), RG_ETOOBIG);
    assert_non_null(strstr(err, "max_entries"));
}

#define LAUGHS                                                                                     \
    "<!DOCTYPE lolz [<!ENTITY lol \"lol\">"                                                        \
    "<!ENTITY lol1 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">"                        \
    "<!ENTITY lol2 \"&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;\">"              \
    "<!ENTITY lol3 \"&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;\">"              \
    "<!ENTITY lol4 \"&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;\">"              \
    "<!ENTITY lol5 \"&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;\">"              \
    "<!ENTITY lol6 \"&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;\">"              \
    "<!ENTITY lol7 \"&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;\">"              \
    "<!ENTITY lol8 \"&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;\">"              \
    "<!ENTITY lol9 \"&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;\">]>"

#define XXE "<!DOCTYPE x [<!ENTITY xxe SYSTEM \"file:///etc/passwd\">]>"

static void test_xml_entities(void **state)
{
    (void)state;
    static const char opf_laughs[] =
        "<?xml version=\"1.0\"?>" LAUGHS
        "<package xmlns=\"http://www.idpf.org/2007/opf\" version=\"3.0\">"
        "<metadata "
        "xmlns:dc=\"http://purl.org/dc/elements/1.1/\"><dc:title>&lol9;</dc:title></metadata>"
        "<manifest><item id=\"a\" href=\"a.xhtml\" "
        "media-type=\"application/xhtml+xml\"/></manifest>"
        "<spine><itemref idref=\"a\"/></spine></package>";
    static const char opf_xxe[] =
        "<?xml version=\"1.0\"?>" XXE
        "<package xmlns=\"http://www.idpf.org/2007/opf\" version=\"3.0\">"
        "<metadata "
        "xmlns:dc=\"http://purl.org/dc/elements/1.1/\"><dc:title>&xxe;</dc:title></metadata>"
        "<manifest><item id=\"a\" href=\"a.xhtml\" "
        "media-type=\"application/xhtml+xml\"/></manifest>"
        "<spine><itemref idref=\"a\"/></spine></package>";
    const char *opfs[] = {opf_laughs, opf_xxe};
    for (size_t i = 0; i < 2; i++) {
        struct entry e[] = {{"mimetype", "application/epub+zip", 0},
                            {"META-INF/container.xml", CONTAINER_XML, 0},
                            {"OEBPS/content.opf", opfs[i], 0},
                            {"OEBPS/a.xhtml", xhtml_min, 0}};
        struct rg_doc *d;
        char err[RG_ERR_SIZE];
        assert_int_equal(parse_epub(e, 4, NULL, &d, err), RG_EFORMAT);
        assert_non_null(strstr(err, "entities"));
    }
    /* the same inside a chapter (read by the HTML parser): no expansion, no file read */
    static const char ch_laughs[] =
        "<?xml version=\"1.0\"?>" LAUGHS "<html><body><p>a &lol9; b</p></body></html>";
    static const char ch_xxe[] =
        "<?xml version=\"1.0\"?>" XXE "<html><body><p>a &xxe; b</p></body></html>";
    const char *chs[] = {ch_laughs, ch_xxe};
    for (size_t i = 0; i < 2; i++) {
        struct entry e[] = {{"mimetype", "application/epub+zip", 0},
                            {"META-INF/container.xml", CONTAINER_XML, 0},
                            {"OEBPS/content.opf", opf_min, 0},
                            {"OEBPS/a.xhtml", chs[i], 0}};
        struct rg_doc *d;
        char err[RG_ERR_SIZE];
        assert_int_equal(parse_epub(e, 4, NULL, &d, err), RG_OK);
        size_t total = 0;
        for (size_t k = 0; k < d->n_blocks; k++) {
            total += d->blocks[k].text_len;
            assert_null(strstr(d->blocks[k].text, "root:"));
            assert_null(strstr(d->blocks[k].text, "lollol"));
        }
        assert_true(total < 4096);
        rg_doc_free(d);
        /* and as a plain HTML file */
        assert_int_equal(rg_doc_load_mem(RG_DOC_FORMAT_HTML, chs[i], strlen(chs[i]), NULL, &d, err),
                         RG_OK);
        for (size_t k = 0; k < d->n_blocks; k++)
            assert_null(strstr(d->blocks[k].text, "root:"));
        rg_doc_free(d);
    }
}

static void check_utf8(const struct rg_doc *d)
{
    for (size_t k = 0; k < d->n_blocks; k++)
        assert_true(rg_doc_utf8_valid(d->blocks[k].text, d->blocks[k].text_len));
    for (size_t k = 0; k < d->n_sections; k++)
        assert_true(rg_doc_utf8_valid(d->sections[k].title, strlen(d->sections[k].title)));
}

static void test_invalid_utf8(void **state)
{
    (void)state;
    static const char bad[] = "# Ti\xff\xfetle\n\nover\xc0\xaflong \xed\xa0\x80 surrogate "
                              "\xf4\x90\x80\x80 big, cut \xe2\x82\n\nnul\x01 ctl";
    enum rg_doc_format fs[] = {RG_DOC_FORMAT_TEXT, RG_DOC_FORMAT_MARKDOWN, RG_DOC_FORMAT_HTML};
    for (size_t i = 0; i < RG_ARRAY_LEN(fs); i++) {
        struct rg_doc *d;
        char err[RG_ERR_SIZE];
        assert_int_equal(rg_doc_load_mem(fs[i], bad, sizeof bad - 1, NULL, &d, err), RG_OK);
        assert_true(d->n_blocks > 0);
        check_utf8(d);
        rg_doc_free(d);
    }
    /* Markdown keeps UTF-8 it can and marks the rest */
    struct rg_doc *d;
    char err[RG_ERR_SIZE];
    assert_int_equal(rg_doc_load_mem(RG_DOC_FORMAT_MARKDOWN, bad, sizeof bad - 1, NULL, &d, err),
                     RG_OK);
    assert_non_null(strstr(d->sections[0].title, "\xEF\xBF\xBD"));
    rg_doc_free(d);
}

static void test_limits(void **state)
{
    (void)state;
    char path[512], err[RG_ERR_SIZE];
    size_t n = 4096;
    char *big = malloc(n);
    memset(big, 'a', n);
    for (size_t i = 100; i < n; i += 100)
        big[i] = '\n', big[i - 1] = '\n';
    write_bytes(tmp_path(path, sizeof path, "big.txt"), big, n);
    struct rg_doc_limits lim = {.max_file_bytes = 1000};
    struct rg_doc *d;
    assert_int_equal(rg_doc_load_file(path, &lim, &d, err), RG_ETOOBIG);
    assert_non_null(strstr(err, "max_file_bytes"));
    assert_int_equal(rg_doc_load_mem(RG_DOC_FORMAT_TEXT, big, n, &lim, &d, err), RG_ETOOBIG);
    lim = (struct rg_doc_limits){.max_blocks = 5};
    assert_int_equal(rg_doc_load_mem(RG_DOC_FORMAT_TEXT, big, n, &lim, &d, err), RG_ETOOBIG);
    assert_non_null(strstr(err, "max_blocks"));
    lim = (struct rg_doc_limits){.max_text_bytes = 1000};
    assert_int_equal(rg_doc_load_mem(RG_DOC_FORMAT_TEXT, big, n, &lim, &d, err), RG_ETOOBIG);
    assert_int_equal(rg_doc_load_mem(RG_DOC_FORMAT_MARKDOWN, big, n, &lim, &d, err), RG_ETOOBIG);
    free(big);
    /* sections */
    char md[4000] = "";
    for (int i = 0; i < 200; i++)
        strcat(md, "# h\n\n");
    lim = (struct rg_doc_limits){.max_sections = 50};
    assert_int_equal(rg_doc_load_mem(RG_DOC_FORMAT_MARKDOWN, md, strlen(md), &lim, &d, err),
                     RG_ETOOBIG);
    assert_non_null(strstr(err, "max_sections"));
    /* nesting */
    size_t depth = 20000;
    char *deep = malloc(depth * 5 + 64);
    size_t k = 0;
    k += (size_t)sprintf(deep, "<html><body>");
    for (size_t i = 0; i < depth; i++)
        memcpy(deep + k, "<div>", 5), k += 5;
    k += (size_t)sprintf(deep + k, "deep");
    int rc = rg_doc_load_mem(RG_DOC_FORMAT_HTML, deep, k, NULL, &d, err);
    fprintf(stderr, "deep html: %d %s\n", rc, err);
    assert_int_equal(rc, RG_ETOOBIG);
    assert_non_null(strstr(err, "max_xml_depth"));
    /* deep Markdown quotes and lists: md4c copes, the result is safe */
    k = 0;
    for (size_t i = 0; i < depth; i++)
        deep[k++] = '>';
    memcpy(deep + k, " x\n", 3), k += 3;
    rc = rg_doc_load_mem(RG_DOC_FORMAT_MARKDOWN, deep, k, NULL, &d, err);
    assert_true(rc == RG_OK || rc < 0);
    if (rc == RG_OK) rg_doc_free(d);
    free(deep);
    /* not a regular file, and absent */
    assert_int_equal(rg_doc_load_file("/", NULL, &d, err), RG_EIO);
    assert_int_equal(rg_doc_load_file("/nonexistent/x.txt", NULL, &d, err), RG_EIO);
}

static int run_cmd(const char *cmd)
{
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Each archive cut at several points: an error or a document, never a crash. */
static void test_truncated(void **state)
{
    (void)state;
    char path[512], cut[512], err[RG_ERR_SIZE];
    struct entry e[] = {{"mimetype", "application/epub+zip", 0},
                        {"META-INF/container.xml", CONTAINER_XML, 0},
                        {"OEBPS/content.opf", opf_min, 0},
                        {"OEBPS/a.xhtml", xhtml_min, 0}};
    write_zip(tmp_path(path, sizeof path, "whole.epub"), e, 4);
    const char *files[3] = {path, NULL, NULL};
    char pdf[512], ps[512], cmd[1200];
    if (run_cmd("command -v ps2pdf >/dev/null 2>&1") == 0) {
        static const char src[] = "%!PS\n/Helvetica findfont 12 scalefont setfont\n"
                                  "72 720 moveto (Hello page.) show showpage\n";
        write_bytes(tmp_path(ps, sizeof ps, "t.ps"), src, sizeof src - 1);
        tmp_path(pdf, sizeof pdf, "t.pdf");
        snprintf(cmd, sizeof cmd, "ps2pdf '%s' '%s' >/dev/null 2>&1", ps, pdf);
        if (run_cmd(cmd) == 0) files[1] = pdf;
    }
    int failures = 0;
    for (size_t f = 0; f < 3; f++) {
        if (!files[f]) continue;
        size_t len = 0;
        char *data = rg_test_read_file(files[f], &len);
        assert_non_null(data);
        for (size_t at = 0; at < len; at += len / 23 + 1) {
            snprintf(cut, sizeof cut, "%s.cut%zu%s", files[f], at, f == 0 ? ".epub" : ".pdf");
            write_bytes(cut, data, at);
            struct rg_doc *d = NULL;
            int rc = rg_doc_load_file(cut, NULL, &d, err);
            if (rc)
                failures++;
            else
                rg_doc_free(d);
            /* and from memory */
            rc = rg_doc_load_mem(f == 0 ? RG_DOC_FORMAT_EPUB : RG_DOC_FORMAT_PDF, data, at, NULL,
                                 &d, err);
            if (rc == RG_OK)
                rg_doc_free(d);
            else
                assert_true(rc == RG_EFORMAT || rc == RG_ETOOBIG || rc == RG_EUNSUPPORTED);
            unlink(cut);
        }
        free(data);
    }
    assert_true(failures > 0);
}

static void test_drm(void **state)
{
    (void)state;
    static const char enc[] =
        "<encryption xmlns=\"urn:oasis:names:tc:opendocument:xmlns:container\" "
        "xmlns:enc=\"http://www.w3.org/2001/04/xmlenc#\"><enc:EncryptedData>"
        "<enc:EncryptionMethod Algorithm=\"http://www.w3.org/2001/04/xmlenc#aes128-cbc\"/>"
        "<enc:CipherData><enc:CipherReference URI=\"OEBPS/a.xhtml\"/></enc:CipherData>"
        "</enc:EncryptedData></encryption>";
    struct entry e[] = {{"mimetype", "application/epub+zip", 0},
                        {"META-INF/container.xml", CONTAINER_XML, 0},
                        {"META-INF/encryption.xml", enc, 0},
                        {"OEBPS/content.opf", opf_min, 0},
                        {"OEBPS/a.xhtml", xhtml_min, 0}};
    struct rg_doc *d;
    char err[RG_ERR_SIZE];
    assert_int_equal(parse_epub(e, 5, NULL, &d, err), RG_EUNSUPPORTED);
    /* not an EPUB at all: a zip of something else */
    struct entry z[] = {{"readme.txt", "hello", 0}};
    char path[512];
    write_zip(tmp_path(path, sizeof path, "plain.zip"), z, 1);
    assert_int_equal(rg_doc_load_file(path, NULL, &d, err), RG_EUNSUPPORTED);
    /* an EPUB name with no container */
    write_zip(tmp_path(path, sizeof path, "nocontainer.epub"), z, 1);
    assert_int_equal(rg_doc_load_file(path, NULL, &d, err), RG_EFORMAT);
}

static void test_garbage(void **state)
{
    (void)state;
    char err[RG_ERR_SIZE];
    struct rg_doc *d;
    unsigned char junk[4096];
    uint32_t x = 12345;
    for (size_t i = 0; i < sizeof junk; i++)
        x = x * 1103515245u + 12345u, junk[i] = (unsigned char)(x >> 16);
    enum rg_doc_format fs[] = {RG_DOC_FORMAT_TEXT, RG_DOC_FORMAT_MARKDOWN, RG_DOC_FORMAT_HTML,
                               RG_DOC_FORMAT_EPUB, RG_DOC_FORMAT_PDF};
    for (size_t i = 0; i < RG_ARRAY_LEN(fs); i++) {
        int rc = rg_doc_load_mem(fs[i], junk, sizeof junk, NULL, &d, err);
        if (rc == RG_OK) {
            check_utf8(d);
            rg_doc_free(d);
        } else {
            assert_true(rc == RG_EFORMAT || rc == RG_EUNSUPPORTED);
        }
    }
    assert_int_equal(rg_doc_load_mem(RG_DOC_FORMAT_ZIM, junk, 10, NULL, &d, err), RG_EUNSUPPORTED);
    char path[512];
    write_bytes(tmp_path(path, sizeof path, "junk.zim"), junk, sizeof junk);
    assert_int_equal(rg_doc_load_file(path, NULL, &d, err), RG_EFORMAT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_baseline_epub),
        cmocka_unit_test(test_zip_bomb),
        cmocka_unit_test(test_path_traversal),
        cmocka_unit_test(test_too_many_entries),
        cmocka_unit_test(test_xml_entities),
        cmocka_unit_test(test_invalid_utf8),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_drm),
        cmocka_unit_test(test_garbage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
