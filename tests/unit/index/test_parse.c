/*
 * The parsers on files the test makes at run time: plain text (UTF-8,
 * Latin-1, Windows-1252), Markdown with front matter, an HTML page, a
 * Project-Gutenberg-style EPUB 2 with an NCX, an EPUB 3 with a nav, a PDF made
 * by ghostscript's ps2pdf, a ZIM made by zimwriterfs, Debian's handbook HTML
 * when installed; format detection; allocation failures.
 */
#include "test.h"

#include <sys/wait.h>

#include "index/doc.h"
#include "index/doc_internal.h"
#include "parse_util.h"

static struct rg_doc *load_mem(enum rg_doc_format f, const char *s)
{
    struct rg_doc *d = NULL;
    char err[RG_ERR_SIZE] = "";
    int rc = rg_doc_load_mem(f, s, strlen(s), NULL, &d, err);
    if (rc) fprintf(stderr, "parse: %d %s\n", rc, err);
    assert_int_equal(rc, RG_OK);
    assert_non_null(d);
    for (size_t i = 0; i < d->n_blocks; i++) {
        assert_true(rg_doc_utf8_valid(d->blocks[i].text, d->blocks[i].text_len));
        assert_int_equal(strlen(d->blocks[i].text), d->blocks[i].text_len);
        assert_true(d->blocks[i].section < (int)d->n_sections);
    }
    for (size_t i = 0; i < d->n_sections; i++)
        assert_true(d->sections[i].parent < (int)i);
    return d;
}

static struct rg_doc *load_file(const char *path)
{
    struct rg_doc *d = NULL;
    char err[RG_ERR_SIZE] = "";
    int rc = rg_doc_load_file(path, NULL, &d, err);
    if (rc) fprintf(stderr, "parse %s: %d %s\n", path, rc, err);
    assert_int_equal(rc, RG_OK);
    return d;
}

static void test_detect(void **state)
{
    (void)state;
    assert_int_equal(rg_doc_format_detect("a.md", "# x", 3), RG_DOC_FORMAT_MARKDOWN);
    assert_int_equal(rg_doc_format_detect("a.TXT", "x", 1), RG_DOC_FORMAT_TEXT);
    assert_int_equal(rg_doc_format_detect("noext", "%PDF-1.4", 8), RG_DOC_FORMAT_PDF);
    assert_int_equal(rg_doc_format_detect("x.txt", "%PDF-1.4", 8), RG_DOC_FORMAT_PDF);
    assert_int_equal(rg_doc_format_detect(NULL, "\n<!DOCTYPE html><html>", 22), RG_DOC_FORMAT_HTML);
    assert_int_equal(rg_doc_format_detect("a.zim", NULL, 0), RG_DOC_FORMAT_ZIM);
    assert_int_equal(rg_doc_format_detect("a", "ZIM\x04", 4), RG_DOC_FORMAT_ZIM);
    assert_int_equal(rg_doc_format_detect("a.bin",
                                          "\x7f"
                                          "ELF",
                                          4),
                     RG_DOC_FORMAT_UNKNOWN);
    static const char epub_head[] = "PK\3\4"
                                    "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0"
                                    "mimetypeapplication/epub+zip";
    assert_int_equal(rg_doc_format_detect("book.zip", epub_head, sizeof epub_head - 1),
                     RG_DOC_FORMAT_EPUB);
    assert_string_equal(rg_doc_format_name(RG_DOC_FORMAT_MARKDOWN), "markdown");
    assert_int_equal(rg_doc_format_from_name("EPUB"), RG_DOC_FORMAT_EPUB);
    assert_int_equal(rg_doc_format_from_name("docx"), RG_DOC_FORMAT_UNKNOWN);
}

static void test_text_encodings(void **state)
{
    (void)state;
    struct rg_doc *d = load_mem(RG_DOC_FORMAT_TEXT, "First para\nline two.\n\n\n  Second  para\n");
    assert_string_equal(d->meta.encoding, "utf-8");
    assert_int_equal(d->n_blocks, 2);
    assert_string_equal(d->blocks[0].text, "First para line two.");
    assert_string_equal(d->blocks[1].text, "Second para");
    assert_int_equal(d->blocks[1].src_start, 23);
    assert_int_equal(d->blocks[0].section, -1);
    rg_doc_free(d);

    /* "café crème" in Latin-1: é = 0xE9, è = 0xE8 */
    char path[512];
    static const char latin1[] = "caf\xe9 cr\xe8me\n\nna\xefve";
    write_bytes(tmp_path(path, sizeof path, "latin1.txt"), latin1, sizeof latin1 - 1);
    d = load_file(path);
    assert_int_equal(d->format, RG_DOC_FORMAT_TEXT);
    assert_string_equal(d->meta.encoding, "latin-1");
    assert_string_equal(d->blocks[0].text, "caf\xc3\xa9 cr\xc3\xa8me");
    assert_string_equal(d->blocks[1].text, "na\xc3\xafve");
    rg_doc_free(d);

    /* Windows-1252 curly quotes 0x93 0x94 and the euro 0x80 */
    d = load_mem(RG_DOC_FORMAT_TEXT, "\x93quoted\x94 costs 5\x80");
    assert_string_equal(d->meta.encoding, "windows-1252");
    assert_string_equal(d->blocks[0].text, "\xe2\x80\x9cquoted\xe2\x80\x9d costs 5\xe2\x82\xac");
    rg_doc_free(d);

    /* a UTF-8 BOM is dropped */
    d = load_mem(RG_DOC_FORMAT_TEXT, "\xEF\xBB\xBFh\xc3\xa9llo");
    assert_string_equal(d->meta.encoding, "utf-8");
    assert_string_equal(d->blocks[0].text, "h\xc3\xa9llo");
    rg_doc_free(d);
}

static const char md_src[] = "---\n"
                             "title: \"Field Notes\"\n"
                             "authors: [Ann Lee, Bo Chen]\n"
                             "language: en\n"
                             "tags:\n"
                             "  - rivers\n"
                             "  - maps\n"
                             "---\n"
                             "# Rivers\n\n"
                             "The Loire is long &amp; wide.\n"
                             "It flows west.\n\n"
                             "## Deltas\n\n"
                             "- silt builds up\n"
                             "- channels split\n\n"
                             "> a quoted line\n\n"
                             "```\ncode line 1\n  indented\n```\n\n"
                             "| a | b |\n|---|---|\n| 1 | 2 |\n\n"
                             "# Mountains\n\n"
                             "Tall ones.\n";

static void test_markdown(void **state)
{
    (void)state;
    struct rg_doc *d = load_mem(RG_DOC_FORMAT_MARKDOWN, md_src);
    assert_string_equal(d->meta.title, "Field Notes");
    assert_string_equal(d->meta.authors, "Ann Lee; Bo Chen");
    assert_string_equal(d->meta.language, "en");
    assert_string_equal(d->meta.tags, "rivers, maps");
    assert_int_equal(d->n_sections, 3);
    assert_string_equal(d->sections[0].title, "Rivers");
    assert_string_equal(d->sections[1].title, "Deltas");
    assert_int_equal(d->sections[1].parent, 0);
    assert_int_equal(d->sections[1].level, 2);
    assert_int_equal(d->sections[2].parent, -1);
    long p = find_block(d, "The Loire");
    assert_true(p >= 0);
    assert_string_equal(d->blocks[p].text, "The Loire is long & wide. It flows west.");
    assert_int_equal(d->blocks[p].kind, RG_DOC_BLOCK_PARAGRAPH);
    assert_int_equal(d->blocks[p].section, 0);
    assert_src_has(d, p, md_src, "It flows west.");
    long li = find_block(d, "channels split");
    assert_int_equal(d->blocks[li].kind, RG_DOC_BLOCK_LIST_ITEM);
    assert_int_equal(d->blocks[li].section, 1);
    assert_src_has(d, li, md_src, "channels split");
    assert_int_equal(d->blocks[find_block(d, "a quoted line")].kind, RG_DOC_BLOCK_QUOTE);
    long code = find_block(d, "code line 1");
    assert_int_equal(d->blocks[code].kind, RG_DOC_BLOCK_CODE);
    assert_string_equal(d->blocks[code].text, "code line 1\n  indented");
    long t = find_block(d, "1 | 2");
    assert_true(t >= 0);
    assert_int_equal(d->blocks[t].kind, RG_DOC_BLOCK_TABLE);
    assert_string_equal(d->blocks[t].text, "a | b\n1 | 2");
    long h = find_block(d, "Mountains");
    assert_int_equal(d->blocks[h].kind, RG_DOC_BLOCK_HEADING);
    assert_int_equal(d->blocks[h].section, 2);
    rg_doc_free(d);

    /* a "---" with no closing line is a thematic break, not front matter */
    d = load_mem(RG_DOC_FORMAT_MARKDOWN, "---\ntitle: no\n\ntext");
    assert_null(d->meta.title);
    rg_doc_free(d);
}

static const char html_src[] =
    "<!DOCTYPE html>\n<html lang=\"de\"><head><title>Die Seite</title>"
    "<meta name=\"author\" content=\"K. Autor\"><style>p{color:red}</style>"
    "<script>var hidden = 1;</script></head>\n<body>\n"
    "<h1>Top</h1>\n<p>First <b>bold</b> paragraph.</p>\n"
    "<div>Loose text in a div\n<p>Para in div</p></div>\n"
    "<h2>Sub</h2><ul><li>one</li><li>two <i>x</i></li></ul>\n"
    "<pre>line1\n  line2</pre>\n"
    "<blockquote><p>Quoted words</p></blockquote>\n"
    "<table><tr><th>k</th><th>v</th></tr><tr><td>a</td><td>1</td></tr></table>\n"
    "<p>Entities &amp; &eacute;l&egrave;ve<br>next line\n</body></html>\n";

static void test_html(void **state)
{
    (void)state;
    struct rg_doc *d = load_mem(RG_DOC_FORMAT_HTML, html_src);
    assert_string_equal(d->meta.title, "Die Seite");
    assert_string_equal(d->meta.language, "de");
    assert_string_equal(d->meta.authors, "K. Autor");
    assert_int_equal(find_block(d, "hidden"), -1);
    assert_int_equal(find_block(d, "color"), -1);
    assert_int_equal(d->n_sections, 2);
    assert_int_equal(d->sections[1].parent, 0);
    long p = find_block(d, "First bold paragraph.");
    assert_true(p >= 0);
    assert_src_has(d, p, html_src, "<b>bold</b> paragraph.");
    assert_string_equal(d->blocks[find_block(d, "Loose text")].text, "Loose text in a div");
    assert_src_has(d, find_block(d, "Para in div"), html_src, "Para in div");
    long li = find_block(d, "two x");
    assert_int_equal(d->blocks[li].kind, RG_DOC_BLOCK_LIST_ITEM);
    assert_int_equal(d->blocks[li].section, 1);
    assert_src_has(d, li, html_src, "two <i>x</i>");
    long pre = find_block(d, "line1");
    assert_int_equal(d->blocks[pre].kind, RG_DOC_BLOCK_CODE);
    assert_string_equal(d->blocks[pre].text, "line1\n  line2");
    assert_int_equal(d->blocks[find_block(d, "Quoted words")].kind, RG_DOC_BLOCK_QUOTE);
    long t = find_block(d, "k | v");
    assert_int_equal(d->blocks[t].kind, RG_DOC_BLOCK_TABLE);
    assert_string_equal(d->blocks[t].text, "k | v\na | 1");
    assert_src_has(d, t, html_src, "<td>a</td>");
    assert_string_equal(d->blocks[find_block(d, "Entities")].text,
                        "Entities & \xc3\xa9l\xc3\xa8ve next line");
    rg_doc_free(d);
}

/* ---- EPUB 2, Project Gutenberg style: NCX, chapters split over files ---- */

static const char epub2_opf[] =
    "<?xml version='1.0' encoding='utf-8'?>\n"
    "<package xmlns=\"http://www.idpf.org/2007/opf\" version=\"2.0\" unique-identifier=\"id\">"
    "<metadata xmlns:dc=\"http://purl.org/dc/elements/1.1/\">"
    "<dc:identifier id=\"other\">urn:isbn:0000</dc:identifier>"
    "<dc:title>The River Book</dc:title><dc:creator>Mary Shore</dc:creator>"
    "<dc:creator>Tom Bank</dc:creator><dc:language>en</dc:language>"
    "<dc:identifier id=\"id\">http://www.gutenberg.org/ebooks/12345</dc:identifier>"
    "<dc:subject>Rivers -- Fiction</dc:subject></metadata>"
    "<manifest><item id=\"ncx\" href=\"toc.ncx\" media-type=\"application/x-dtbncx+xml\"/>"
    "<item id=\"c1\" href=\"text/ch1.xhtml\" media-type=\"application/xhtml+xml\"/>"
    "<item id=\"c2\" href=\"text/chapter%202.xhtml\" media-type=\"application/xhtml+xml\"/>"
    "<item id=\"img\" href=\"cover.jpg\" media-type=\"image/jpeg\"/></manifest>"
    "<spine toc=\"ncx\"><itemref idref=\"c1\"/><itemref idref=\"img\"/><itemref "
    "idref=\"c2\"/></spine>"
    "</package>";

static const char epub2_ncx[] =
    "<?xml version='1.0' encoding='utf-8'?>\n"
    "<ncx xmlns=\"http://www.daisy.org/z3986/2005/ncx/\" version=\"2005-1\"><head/>"
    "<docTitle><text>The River Book</text></docTitle><navMap>"
    "<navPoint id=\"n1\" playOrder=\"1\"><navLabel><text>Chapter I</text></navLabel>"
    "<content src=\"text/ch1.xhtml\"/></navPoint>"
    "<navPoint id=\"n2\" playOrder=\"2\"><navLabel><text>Chapter II</text></navLabel>"
    "<content src=\"text/chapter%202.xhtml#c2\"/>"
    "<navPoint id=\"n3\" playOrder=\"3\"><navLabel><text>The Ford</text></navLabel>"
    "<content src=\"text/chapter%202.xhtml#ford\"/></navPoint></navPoint>"
    "</navMap></ncx>";

static const char epub2_ch1[] =
    "<?xml version='1.0' encoding='utf-8'?>\n"
    "<!DOCTYPE html PUBLIC \"-//W3C//DTD XHTML 1.1//EN\" "
    "\"http://www.w3.org/TR/xhtml11/DTD/xhtml11.dtd\">\n"
    "<html xmlns=\"http://www.w3.org/1999/xhtml\"><head><title>ch1</title></head><body>\n"
    "<h2>CHAPTER I</h2>\n<p>It was a dark night on the river.</p>\n"
    "<ul><li>a listed thing</li></ul>\n</body></html>\n";

static const char epub2_ch2[] =
    "<?xml version='1.0' encoding='utf-8'?>\n"
    "<html xmlns=\"http://www.w3.org/1999/xhtml\"><head><title>ch2</title></head><body>\n"
    "<h2 id=\"c2\">Chapter II</h2>\n<p>The rivers ran high.</p>\n"
    "<div><a id=\"ford\"></a><h3>The Ford</h3></div>\n<p>They crossed the ford at dawn.</p>\n"
    "<blockquote><p>Wade in.</p></blockquote>\n</body></html>\n";

static void make_epub2(const char *path)
{
    struct entry e[] = {
        {"mimetype", "application/epub+zip", 0}, {"META-INF/container.xml", CONTAINER_XML, 0},
        {"OEBPS/content.opf", epub2_opf, 0},     {"OEBPS/toc.ncx", epub2_ncx, 0},
        {"OEBPS/text/ch1.xhtml", epub2_ch1, 0},  {"OEBPS/text/chapter 2.xhtml", epub2_ch2, 0},
        {"OEBPS/cover.jpg", "\xff\xd8\xff", 3},
    };
    write_zip(path, e, RG_ARRAY_LEN(e));
}

static void test_epub2(void **state)
{
    (void)state;
    char path[512];
    make_epub2(tmp_path(path, sizeof path, "book2.epub"));
    struct rg_doc *d = load_file(path);
    assert_int_equal(d->format, RG_DOC_FORMAT_EPUB);
    assert_string_equal(d->meta.title, "The River Book");
    assert_string_equal(d->meta.authors, "Mary Shore; Tom Bank");
    assert_string_equal(d->meta.language, "en");
    assert_string_equal(d->meta.identifier, "http://www.gutenberg.org/ebooks/12345");
    assert_string_equal(d->meta.tags, "Rivers -- Fiction");
    assert_int_equal(d->n_parts, 2);
    assert_string_equal(d->parts[0], "OEBPS/text/ch1.xhtml");
    assert_string_equal(d->parts[1], "OEBPS/text/chapter 2.xhtml");
    for (size_t i = 0; i < d->n_sections; i++)
        fprintf(stderr, "section %zu: %s level %d parent %d\n", i, d->sections[i].title,
                d->sections[i].level, d->sections[i].parent);
    long c1 = find_section(d, "Chapter I"), c2 = find_section(d, "Chapter II"),
         ford = find_section(d, "The Ford");
    assert_true(c1 >= 0 && c2 > c1 && ford > c2);
    assert_int_equal(d->sections[ford].parent, c2);
    assert_int_equal(d->n_sections, 3); /* chapter headings under their TOC entries add none */
    long b = find_block(d, "dark night");
    assert_int_equal(d->blocks[b].section, c1);
    assert_int_equal(d->blocks[b].part, 0);
    assert_src_has(d, b, epub2_ch1, "It was a dark night");
    assert_int_equal(d->blocks[find_block(d, "a listed thing")].kind, RG_DOC_BLOCK_LIST_ITEM);
    b = find_block(d, "ran high");
    assert_int_equal(d->blocks[b].section, c2);
    assert_int_equal(d->blocks[b].part, 1);
    assert_src_has(d, b, epub2_ch2, "The rivers ran high.");
    b = find_block(d, "crossed the ford");
    assert_int_equal(d->blocks[b].section, ford);
    assert_src_has(d, b, epub2_ch2, "crossed the ford");
    assert_int_equal(d->blocks[find_block(d, "Wade in.")].kind, RG_DOC_BLOCK_QUOTE);
    rg_doc_free(d);
}

/* ---- EPUB 3 with nav.xhtml ---- */

static const char epub3_opf[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    "<package xmlns=\"http://www.idpf.org/2007/opf\" version=\"3.0\" unique-identifier=\"uid\">"
    "<metadata xmlns:dc=\"http://purl.org/dc/elements/1.1/\">"
    "<dc:identifier id=\"uid\">urn:uuid:12345678-1234-1234-1234-123456789abc</dc:identifier>"
    "<dc:title>Montagnes</dc:title><dc:creator>Jeanne Roc</dc:creator>"
    "<dc:language>fr</dc:language></metadata>"
    "<manifest><item id=\"nav\" href=\"nav.xhtml\" media-type=\"application/xhtml+xml\" "
    "properties=\"nav\"/>"
    "<item id=\"a\" href=\"a.xhtml\" media-type=\"application/xhtml+xml\"/>"
    "<item id=\"b\" href=\"sub/b.xhtml\" media-type=\"application/xhtml+xml\"/></manifest>"
    "<spine><itemref idref=\"a\"/><itemref idref=\"b\"/></spine></package>";

static const char epub3_nav[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<html xmlns=\"http://www.w3.org/1999/xhtml\" "
    "xmlns:epub=\"http://www.idpf.org/2007/ops\"><head><title>Nav</title></head><body>"
    "<nav epub:type=\"landmarks\"><ol><li><a href=\"a.xhtml\">Wrong list</a></li></ol></nav>"
    "<nav epub:type=\"toc\"><h1>Contents</h1><ol>"
    "<li><a href=\"a.xhtml\">Les Alpes</a><ol><li><a "
    "href=\"a.xhtml#glaciers\">Glaciers</a></li></ol></li>"
    "<li><a href=\"sub/b.xhtml\">Les Pyr\xc3\xa9n\xc3\xa9"
    "es</a></li></ol></nav></body></html>";

static const char epub3_a[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<html xmlns=\"http://www.w3.org/1999/xhtml\">"
    "<head><title>A</title></head><body><section><h1>Les Alpes</h1><p>Le mont Blanc domine.</p>"
    "<section id=\"glaciers\"><h2>Glaciers</h2><p>La mer de glace recule.</p>"
    "<h3>Detail</h3><p>Un d\xc3\xa9tail.</p></section></section></body></html>";

static const char epub3_b[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<html xmlns=\"http://www.w3.org/1999/xhtml\">"
    "<head><title>B</title></head><body><p>Le pic du Midi.</p></body></html>";

static void test_epub3(void **state)
{
    (void)state;
    char path[512];
    struct entry e[] = {
        {"mimetype", "application/epub+zip", 0}, {"META-INF/container.xml", CONTAINER_XML, 0},
        {"OEBPS/content.opf", epub3_opf, 0},     {"OEBPS/nav.xhtml", epub3_nav, 0},
        {"OEBPS/a.xhtml", epub3_a, 0},           {"OEBPS/sub/b.xhtml", epub3_b, 0},
    };
    write_zip(tmp_path(path, sizeof path, "book3.epub"), e, RG_ARRAY_LEN(e));
    struct rg_doc *d = load_file(path);
    assert_string_equal(d->meta.title, "Montagnes");
    assert_string_equal(d->meta.language, "fr");
    assert_string_equal(d->meta.identifier, "urn:uuid:12345678-1234-1234-1234-123456789abc");
    for (size_t i = 0; i < d->n_sections; i++)
        fprintf(stderr, "section %zu: %s level %d parent %d\n", i, d->sections[i].title,
                d->sections[i].level, d->sections[i].parent);
    assert_int_equal(find_section(d, "Wrong list"), -1);
    long alpes = find_section(d, "Les Alpes"), gl = find_section(d, "Glaciers"),
         det = find_section(d, "Detail"),
         pyr = find_section(d, "Les Pyr\xc3\xa9n\xc3\xa9"
                               "es");
    assert_true(alpes >= 0 && gl > alpes && det > gl && pyr > det);
    assert_int_equal(d->sections[gl].parent, alpes);
    assert_int_equal(d->sections[det].parent, gl);
    assert_int_equal(d->sections[pyr].parent, -1);
    assert_int_equal(d->n_sections, 4);
    assert_int_equal(d->blocks[find_block(d, "mont Blanc")].section, alpes);
    long g = find_block(d, "mer de glace");
    assert_int_equal(d->blocks[g].section, gl);
    assert_src_has(d, g, epub3_a, "La mer de glace recule.");
    assert_int_equal(d->blocks[find_block(d, "pic du Midi")].section, pyr);
    assert_int_equal(d->blocks[find_block(d, "pic du Midi")].part, 1);
    rg_doc_free(d);

    /* the same book from memory */
    size_t len = 0;
    char *data = rg_test_read_file(path, &len);
    assert_non_null(data);
    char err[RG_ERR_SIZE];
    assert_int_equal(rg_doc_load_mem(RG_DOC_FORMAT_EPUB, data, len, NULL, &d, err), RG_OK);
    assert_int_equal(d->n_sections, 4);
    rg_doc_free(d);
    free(data);
}

/* ---- PDF via ghostscript ---- */

static int run_cmd(const char *cmd)
{
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void test_pdf(void **state)
{
    (void)state;
    if (run_cmd("command -v ps2pdf >/dev/null 2>&1") != 0) {
        fprintf(stderr,
                "SKIP: ps2pdf (ghostscript) is not installed (scripts/deps.sh installs it)\n");
        skip();
    }
    char ps[512], pdf[512], cmd[1200];
    static const char src[] =
        "%!PS\n"
        "[ /Title (Atlas of Rivers) /Author (Ida Maps) /Keywords (rivers, atlas) /DOCINFO pdfmark\n"
        "[ /Title (Part One) /Page 1 /View [/XYZ null null null] /OUT pdfmark\n"
        "[ /Title (Part Two) /Page 2 /View [/XYZ null null null] /OUT pdfmark\n"
        "/Helvetica findfont 12 scalefont setfont\n"
        "72 720 moveto (The Nile is the longest river.) show\n"
        "72 680 moveto (A second paragraph here.) show\n"
        "showpage\n"
        "72 720 moveto (The Amazon carries the most water.) show\n"
        "showpage\n";
    write_bytes(tmp_path(ps, sizeof ps, "atlas.ps"), src, sizeof src - 1);
    tmp_path(pdf, sizeof pdf, "atlas.pdf");
    snprintf(cmd, sizeof cmd, "ps2pdf '%s' '%s' >/dev/null 2>&1", ps, pdf);
    assert_int_equal(run_cmd(cmd), 0);
    struct rg_doc *d = load_file(pdf);
    assert_int_equal(d->format, RG_DOC_FORMAT_PDF);
    assert_string_equal(d->meta.title, "Atlas of Rivers");
    assert_string_equal(d->meta.authors, "Ida Maps");
    long nile = find_block(d, "Nile is the longest"), amazon = find_block(d, "Amazon carries");
    assert_true(nile >= 0 && amazon > nile);
    assert_int_equal(d->blocks[nile].page, 1);
    assert_int_equal(d->blocks[amazon].page, 2);
    assert_int_equal(d->blocks[nile].src_start, -1);
    assert_int_equal(d->n_sections, 2);
    assert_int_equal(d->blocks[nile].section, find_section(d, "Part One"));
    assert_int_equal(d->blocks[amazon].section, find_section(d, "Part Two"));
    rg_doc_free(d);
}

/* ---- ZIM via zimwriterfs ---- */

static void test_zim(void **state)
{
    (void)state;
    if (run_cmd("command -v zimwriterfs >/dev/null 2>&1") != 0) {
        fprintf(stderr,
                "SKIP: zimwriterfs (zim-tools) is not installed (scripts/deps.sh installs it)\n");
        skip();
    }
    char dir[512], p[700], zim[512], cmd[2000];
    tmp_path(dir, sizeof dir, "zimsrc");
    mkdir(dir, 0755);
    snprintf(p, sizeof p, "%s/index.html", dir);
    const char *index = "<html><head><title>Welcome</title></head><body><h1>Welcome</h1>"
                        "<p>See <a href=\"water.html\">Water</a>.</p></body></html>";
    write_bytes(p, index, strlen(index));
    snprintf(p, sizeof p, "%s/water.html", dir);
    const char *water = "<html><head><title>Water purification</title></head><body>"
                        "<h1>Water purification</h1><p>Boil water for one minute.</p>"
                        "<h2>Filters</h2><p>Sand filters remove sediment.</p></body></html>";
    write_bytes(p, water, strlen(water));
    snprintf(p, sizeof p, "%s/fav.png", dir);
    write_png48(p);
    tmp_path(zim, sizeof zim, "test.zim");
    snprintf(cmd, sizeof cmd,
             "zimwriterfs --welcome=index.html --illustration=fav.png --language=eng "
             "--title=Test --description=Test --creator=RustyGPT --publisher=RustyGPT "
             "--name=test --withoutFTIndex '%s' '%s' >%s/zimwriterfs.log 2>&1",
             dir, zim, tmp_dir());
    int rc = run_cmd(cmd);
    if (rc != 0) {
        snprintf(cmd, sizeof cmd, "cat %s/zimwriterfs.log >&2", tmp_dir());
        run_cmd(cmd);
    }
    assert_int_equal(rc, 0);
    struct docs ds = {0};
    char err[RG_ERR_SIZE] = "";
    rc = rg_doc_parse_file(zim, NULL, collect, &ds, err);
    if (rc) fprintf(stderr, "zim: %s\n", err);
    assert_int_equal(rc, RG_OK);
    assert_int_equal(ds.n, 2); /* the two HTML pages; the PNG and metadata are not articles */
    const struct rg_doc *w = NULL;
    for (size_t i = 0; i < ds.n; i++) {
        assert_int_equal(ds.d[i]->format, RG_DOC_FORMAT_ZIM);
        assert_true(ds.d[i]->total >= ds.d[i]->seq + 1);
        if (ds.d[i]->meta.title && !strcmp(ds.d[i]->meta.title, "Water purification")) w = ds.d[i];
    }
    assert_non_null(w);
    assert_string_equal(w->meta.language, "eng");
    assert_int_equal(w->n_parts, 1);
    assert_non_null(strstr(w->parts[0], "water"));
    long b = find_block(w, "Sand filters");
    assert_true(b >= 0);
    assert_int_equal(w->blocks[b].section, find_section(w, "Filters"));
    assert_int_equal(w->sections[find_section(w, "Filters")].parent,
                     find_section(w, "Water purification"));
    docs_free(&ds);

    /* the first document alone */
    struct rg_doc *one = NULL;
    assert_int_equal(rg_doc_load_file(zim, NULL, &one, err), RG_OK);
    assert_int_equal(one->seq, 0);
    rg_doc_free(one);

    /* a truncated archive (libzim is not fuzzed here): errors or fewer articles, no crash */
    size_t len = 0;
    char *data = rg_test_read_file(zim, &len);
    assert_non_null(data);
    char cut[600];
    int errors = 0;
    for (size_t at = 0; at < len; at += len / 17 + 1) {
        snprintf(cut, sizeof cut, "%s.cut.zim", zim);
        write_bytes(cut, data, at);
        rc = rg_doc_parse_file(cut, NULL, collect, &ds, err);
        docs_free(&ds);
        if (rc) {
            errors++;
            assert_true(rc == RG_EFORMAT || rc == RG_EIO);
        }
    }
    free(data);
    assert_true(errors > 0);
}

/* ---- Debian's own HTML documents, when installed ---- */

static void test_debian_handbook(void **state)
{
    (void)state;
    const char *dirs[] = {"/usr/share/doc/debian-handbook/html/en-US",
                          "/usr/share/doc/debian-handbook/html"};
    char path[600];
    const char *found = NULL;
    for (size_t i = 0; i < RG_ARRAY_LEN(dirs) && !found; i++) {
        snprintf(path, sizeof path, "%s/sect.apt-get.html", dirs[i]);
        if (access(path, R_OK) == 0) found = path;
    }
    if (!found) {
        fprintf(stderr, "SKIP: debian-handbook's HTML is not installed\n");
        skip();
    }
    struct rg_doc *d = load_file(found);
    assert_int_equal(d->format, RG_DOC_FORMAT_HTML);
    assert_non_null(d->meta.title);
    assert_true(d->n_blocks > 10);
    assert_true(d->n_sections > 1);
    long b = find_block(d, "apt-get");
    assert_true(b >= 0);
    size_t len = 0;
    char *src = rg_test_read_file(found, &len);
    assert_non_null(src);
    /* every block with a range points at a stretch of the file that has tags or its text */
    for (size_t i = 0; i < d->n_blocks; i++) {
        assert_true(d->blocks[i].src_end <= (int64_t)len);
        assert_true(d->blocks[i].src_start <= d->blocks[i].src_end);
    }
    free(src);
    rg_doc_free(d);
}

/* Every allocation failing in turn: a clean RG_ENOMEM, no leak (ASan). */
static void test_alloc_failures(void **state)
{
    (void)state;
    char path[512];
    make_epub2(tmp_path(path, sizeof path, "book2f.epub"));
    size_t elen = 0;
    char *epub = rg_test_read_file(path, &elen);
    struct {
        enum rg_doc_format f;
        const char *data;
        size_t len;
    } cases[] = {
        {RG_DOC_FORMAT_TEXT, "para one\n\npara \xe9 two", 0},
        {RG_DOC_FORMAT_MARKDOWN, md_src, 0},
        {RG_DOC_FORMAT_HTML, html_src, 0},
        {RG_DOC_FORMAT_EPUB, epub, elen},
    };
    for (size_t c = 0; c < RG_ARRAY_LEN(cases); c++) {
        size_t len = cases[c].len ? cases[c].len : strlen(cases[c].data);
        int rc = RG_ENOMEM;
        long n;
        for (n = 0; rc == RG_ENOMEM && n < 100000; n++) {
            struct rg_doc *d = NULL;
            rg_alloc_fail_after(n);
            rc = rg_doc_load_mem(cases[c].f, cases[c].data, len, NULL, &d, NULL);
            rg_alloc_fail_after(-1);
            if (rc == RG_OK)
                assert_non_null(d);
            else
                assert_null(d);
            rg_doc_free(d);
        }
        if (rc) fprintf(stderr, "case %zu: rc %d after %ld failures\n", c, rc, n);
        assert_int_equal(rc, RG_OK);
        assert_true(n > 1);
    }
    free(epub);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_detect),
        cmocka_unit_test(test_text_encodings),
        cmocka_unit_test(test_markdown),
        cmocka_unit_test(test_html),
        cmocka_unit_test(test_epub2),
        cmocka_unit_test(test_epub3),
        cmocka_unit_test(test_pdf),
        cmocka_unit_test(test_zim),
        cmocka_unit_test(test_debian_handbook),
        cmocka_unit_test(test_alloc_failures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
