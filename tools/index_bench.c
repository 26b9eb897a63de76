/*
 * index_bench: parse + chunk throughput of the knowledge library's readers,
 * in MB of input per second, per format.
 *
 * Makes one input per format in memory (about --mb MB of generated prose:
 * words from a fixed vocabulary, sentences of 8-24 words, paragraphs of 2-8
 * sentences, a heading every 12 paragraphs): plain text, Markdown, HTML, an
 * EPUB of 20 chapters (libzip, deflated), and a PDF (ghostscript's ps2pdf
 * from generated PostScript, when installed, smaller: --pdf-pages pages).
 * Then times rg_doc_parse_mem + rg_chunk_doc (word counter, 256 tokens, 32
 * overlap), best of --reps runs. Prints one JSON object per line:
 * {"format":..,"input_mb":..,"blocks":..,"chunks":..,"best_s":..,"mb_s":..}.
 *
 * ZIM: 200 HTML articles (--mb / 4 in all) packed by zimwriterfs when installed;
 * its MB/s counts the articles' HTML bytes.
 *
 *   index_bench [--mb N] [--reps N] [--pdf-pages N]
 */
#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zip.h>

#include "common/alloc.h"
#include "common/buf.h"
#include "common/err.h"
#include "index/chunk.h"
#include "index/doc.h"

static const char *const vocab[] = {
    "river",    "water",  "the",  "of",     "and",     "a",    "flows", "north", "bank", "delta",
    "stone",    "bridge", "town", "people", "crossed", "at",   "dawn",  "silt",  "boat", "long",
    "mountain", "snow",   "melt", "spring", "valley",  "road", "map",   "old",   "new",  "was",
    "in",       "to",     "from", "with",   "under",   "over", "city",  "field", "rain", "wind"};

static unsigned long rng = 88172645463325252ul;
static unsigned rnd(unsigned n)
{
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return (unsigned)(rng % n);
}

static void sentence(struct rg_buf *b)
{
    unsigned n = 8 + rnd(17);
    for (unsigned i = 0; i < n; i++) {
        const char *w = vocab[rnd(RG_ARRAY_LEN(vocab))];
        if (i == 0) {
            char c = (char)(w[0] - 32);
            rg_buf_append(b, &c, 1);
            rg_buf_append_str(b, w + 1);
        } else {
            rg_buf_append_char(b, ' ');
            rg_buf_append_str(b, w);
        }
    }
    rg_buf_append_str(b, ". ");
}

static void paragraph(struct rg_buf *b)
{
    unsigned n = 2 + rnd(7);
    for (unsigned i = 0; i < n; i++)
        sentence(b);
}

enum style { S_TEXT, S_MD, S_HTML };

static void prose(struct rg_buf *b, size_t bytes, enum style s)
{
    if (s == S_HTML)
        rg_buf_append_str(b, "<!DOCTYPE html><html><head><title>Bench</title></head><body>\n");
    for (unsigned p = 0; b->len < bytes; p++) {
        if (p % 12 == 0) {
            if (s == S_MD)
                rg_buf_printf(b, "## Section %u\n\n", p / 12);
            else if (s == S_HTML)
                rg_buf_printf(b, "<h2>Section %u</h2>\n", p / 12);
            else
                rg_buf_printf(b, "SECTION %u\n\n", p / 12);
        }
        if (s == S_HTML) rg_buf_append_str(b, "<p>");
        paragraph(b);
        rg_buf_append_str(b, s == S_HTML ? "</p>\n" : "\n\n");
    }
    if (s == S_HTML) rg_buf_append_str(b, "</body></html>\n");
}

static char *make_epub(size_t bytes, size_t *len)
{
    zip_error_t ze;
    zip_error_init(&ze);
    zip_source_t *src = zip_source_buffer_create(NULL, 0, 0, &ze);
    zip_t *z = zip_open_from_source(src, ZIP_TRUNCATE, &ze);
    zip_source_keep(src);
    struct rg_buf opf, parts[20];
    rg_buf_init(&opf, 1 << 20);
    rg_buf_append_str(
        &opf,
        "<?xml version=\"1.0\"?><package xmlns=\"http://www.idpf.org/2007/opf\" version=\"3.0\">"
        "<metadata "
        "xmlns:dc=\"http://purl.org/dc/elements/1.1/\"><dc:title>Bench</dc:title></"
        "metadata><manifest>");
    for (int i = 0; i < 20; i++)
        rg_buf_printf(&opf,
                      "<item id=\"c%d\" href=\"c%d.xhtml\" media-type=\"application/xhtml+xml\"/>",
                      i, i);
    rg_buf_append_str(&opf, "</manifest><spine>");
    for (int i = 0; i < 20; i++)
        rg_buf_printf(&opf, "<itemref idref=\"c%d\"/>", i);
    rg_buf_append_str(&opf, "</spine></package>");
    static const char container[] =
        "<?xml version=\"1.0\"?><container version=\"1.0\" "
        "xmlns=\"urn:oasis:names:tc:opendocument:xmlns:container\">"
        "<rootfiles><rootfile full-path=\"OEBPS/content.opf\" "
        "media-type=\"application/oebps-package+xml\"/></rootfiles></container>";
    zip_int64_t mi =
        zip_file_add(z, "mimetype", zip_source_buffer(z, "application/epub+zip", 20, 0), 0);
    zip_set_file_compression(z, (zip_uint64_t)mi, ZIP_CM_STORE, 0);
    zip_file_add(z, "META-INF/container.xml", zip_source_buffer(z, container, strlen(container), 0),
                 0);
    zip_file_add(z, "OEBPS/content.opf", zip_source_buffer(z, opf.data, opf.len, 0), 0);
    for (int i = 0; i < 20; i++) {
        rg_buf_init(&parts[i], 1ul << 30);
        prose(&parts[i], bytes / 20, S_HTML);
        char name[64];
        snprintf(name, sizeof name, "OEBPS/c%d.xhtml", i);
        zip_file_add(z, name, zip_source_buffer(z, parts[i].data, parts[i].len, 0), 0);
    }
    zip_close(z);
    for (int i = 0; i < 20; i++)
        rg_buf_free(&parts[i]);
    rg_buf_free(&opf);
    zip_stat_t st;
    zip_source_stat(src, &st);
    char *out = malloc(st.size);
    zip_source_open(src);
    zip_source_read(src, out, st.size);
    zip_source_close(src);
    zip_source_free(src);
    *len = st.size;
    return out;
}

static char *make_pdf(int pages, size_t *len)
{
    if (system("command -v ps2pdf >/dev/null 2>&1") != 0) return NULL;
    char ps[] = "/tmp/index_bench_XXXXXX";
    int fd = mkstemp(ps);
    if (fd < 0) return NULL;
    FILE *f = fdopen(fd, "w");
    fprintf(f, "%%!PS\n/Helvetica findfont 10 scalefont setfont\n");
    for (int p = 0; p < pages; p++) {
        for (int line = 0; line < 60; line++) {
            struct rg_buf b;
            rg_buf_init(&b, 4096);
            unsigned n = 10 + rnd(4);
            for (unsigned i = 0; i < n; i++) {
                if (i) rg_buf_append_char(&b, ' ');
                rg_buf_append_str(&b, vocab[rnd(RG_ARRAY_LEN(vocab))]);
            }
            if (rnd(5) == 0) rg_buf_append_char(&b, '.');
            fprintf(f, "50 %d moveto (%s) show\n", 760 - line * 12, b.data);
            rg_buf_free(&b);
        }
        fprintf(f, "showpage\n");
    }
    fclose(f);
    char pdf[64], cmd[256];
    snprintf(pdf, sizeof pdf, "%s.pdf", ps);
    snprintf(cmd, sizeof cmd, "ps2pdf %s %s >/dev/null 2>&1", ps, pdf);
    int rc = system(cmd);
    unlink(ps);
    if (rc != 0) return NULL;
    FILE *in = fopen(pdf, "rb");
    if (!in) return NULL;
    fseek(in, 0, SEEK_END);
    long n = ftell(in);
    fseek(in, 0, SEEK_SET);
    char *out = malloc((size_t)n);
    if (fread(out, 1, (size_t)n, in) != (size_t)n) n = 0;
    fclose(in);
    unlink(pdf);
    *len = (size_t)n;
    return out;
}

/* A 48x48 grey PNG (zimwriterfs wants an illustration), zlib stored block. */
static uint32_t crc32_of(const unsigned char *p, size_t n)
{
    uint32_t c = ~0u;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = c & 1 ? (c >> 1) ^ 0xEDB88320u : c >> 1;
    }
    return ~c;
}

static void put32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24), p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8), p[3] = (unsigned char)v;
}

static int write_png48(const char *path)
{
    enum { W = 48, ROW = 1 + W * 3, RAW = ROW * W };
    static unsigned char raw[RAW], png[8 + 25 + 12 + 7 + RAW + 4 + 12];
    for (size_t i = 0; i < RAW; i++)
        raw[i] = i % ROW == 0 ? 0 : 0x80;
    size_t n = 8;
    memcpy(png, "\x89PNG\r\n\x1a\n", 8);
    unsigned char ihdr[17] = "IHDR";
    put32(ihdr + 4, W), put32(ihdr + 8, W);
    ihdr[12] = 8, ihdr[13] = 2;
    put32(png + n, 13), n += 4;
    memcpy(png + n, ihdr, 17), n += 17;
    put32(png + n, crc32_of(ihdr, 17)), n += 4;
    put32(png + n, 2 + 5 + RAW + 4), n += 4;
    size_t idat = n;
    memcpy(png + n, "IDAT", 4), n += 4;
    png[n++] = 0x78, png[n++] = 0x01, png[n++] = 1;
    png[n++] = RAW & 0xFF, png[n++] = RAW >> 8, png[n++] = (~RAW) & 0xFF,
    png[n++] = ((~RAW) >> 8) & 0xFF;
    memcpy(png + n, raw, RAW), n += RAW;
    uint32_t a = 1, b = 0;
    for (size_t i = 0; i < RAW; i++)
        a = (a + raw[i]) % 65521, b = (b + a) % 65521;
    put32(png + n, (b << 16) | a), n += 4;
    put32(png + n, crc32_of(png + idat, n - idat)), n += 4;
    put32(png + n, 0), n += 4;
    memcpy(png + n, "IEND", 4), n += 4;
    put32(png + n, crc32_of((const unsigned char *)"IEND", 4)), n += 4;
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t w = fwrite(png, 1, n, f);
    fclose(f);
    return w == n ? 0 : -1;
}

/* A ZIM of `articles` HTML pages (bytes in all) made by zimwriterfs; its
 * path in out, the HTML bytes in *html. Returns 0 when made. */
static int make_zim(size_t bytes, int articles, char *out, size_t outsz, size_t *html)
{
    if (system("command -v zimwriterfs >/dev/null 2>&1") != 0) return -1;
    char dir[] = "/tmp/index_bench_zim_XXXXXX";
    if (!mkdtemp(dir)) return -1;
    char src[128], path[256], cmd[1024];
    snprintf(src, sizeof src, "%s/src", dir);
    mkdir(src, 0755);
    *html = 0;
    for (int i = 0; i < articles; i++) {
        struct rg_buf b;
        rg_buf_init(&b, 1ul << 30);
        prose(&b, bytes / (size_t)articles, S_HTML);
        snprintf(path, sizeof path, "%s/a%d.html", src, i);
        FILE *f = fopen(path, "wb");
        if (!f) return -1;
        fwrite(b.data, 1, b.len, f);
        fclose(f);
        *html += b.len;
        rg_buf_free(&b);
    }
    snprintf(path, sizeof path, "%s/fav.png", src);
    if (write_png48(path)) return -1;
    snprintf(out, outsz, "%s/bench.zim", dir);
    snprintf(cmd, sizeof cmd,
             "zimwriterfs --welcome=a0.html --illustration=fav.png --language=eng --title=B "
             "--description=B --creator=B --publisher=B --name=b --withoutFTIndex %s %s "
             ">/dev/null 2>&1 && rm -rf %s",
             src, out, src);
    return system(cmd) == 0 ? 0 : -1;
}

struct result {
    size_t blocks, chunks;
};

static int on_doc(struct rg_doc *d, void *user)
{
    struct result *r = user;
    struct rg_chunk_params p;
    rg_chunk_default_params(&p);
    struct rg_chunks c;
    int rc = rg_chunk_doc(d, &p, &c, NULL);
    r->blocks += d->n_blocks;
    r->chunks += c.n;
    rg_chunks_free(&c);
    rg_doc_free(d);
    return rc;
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* path given: parse that file (len: the bytes to count for MB/s). */
static void bench_any(const char *name, enum rg_doc_format f, const char *data, const char *path,
                      size_t len, int reps)
{
    double best = 1e30;
    struct result r = {0};
    char err[RG_ERR_SIZE] = "";
    for (int i = 0; i < reps; i++) {
        r = (struct result){0};
        double t0 = now();
        int rc = path ? rg_doc_parse_file(path, NULL, on_doc, &r, err)
                      : rg_doc_parse_mem(f, data, len, NULL, on_doc, &r, err);
        double t = now() - t0;
        if (rc) {
            fprintf(stderr, "%s: %s\n", name, err);
            return;
        }
        if (t < best) best = t;
    }
    printf("{\"format\":\"%s\",\"input_mb\":%.2f,\"blocks\":%zu,\"chunks\":%zu,\"best_s\":%.4f,"
           "\"mb_s\":%.1f}\n",
           name, (double)len / 1e6, r.blocks, r.chunks, best, (double)len / 1e6 / best);
}

static void bench(const char *name, enum rg_doc_format f, const char *data, size_t len, int reps)
{
    bench_any(name, f, data, NULL, len, reps);
}

int main(int argc, char **argv)
{
    double mb = 16;
    int reps = 3, pdf_pages = 200;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--mb"))
            mb = strtod(argv[i + 1], NULL);
        else if (!strcmp(argv[i], "--reps"))
            reps = (int)strtol(argv[i + 1], NULL, 10);
        else if (!strcmp(argv[i], "--pdf-pages"))
            pdf_pages = (int)strtol(argv[i + 1], NULL, 10);
    }
    size_t bytes = (size_t)(mb * 1e6);
    struct rg_buf b;
    const struct {
        const char *name;
        enum rg_doc_format f;
        enum style s;
    } flat[] = {{"text", RG_DOC_FORMAT_TEXT, S_TEXT},
                {"markdown", RG_DOC_FORMAT_MARKDOWN, S_MD},
                {"html", RG_DOC_FORMAT_HTML, S_HTML}};
    for (size_t i = 0; i < RG_ARRAY_LEN(flat); i++) {
        rg_buf_init(&b, 1ul << 32);
        prose(&b, bytes, flat[i].s);
        bench(flat[i].name, flat[i].f, b.data, b.len, reps);
        rg_buf_free(&b);
    }
    size_t len;
    char *epub = make_epub(bytes, &len);
    bench("epub", RG_DOC_FORMAT_EPUB, epub, len, reps);
    free(epub);
    char *pdf = make_pdf(pdf_pages, &len);
    if (pdf)
        bench("pdf", RG_DOC_FORMAT_PDF, pdf, len, reps);
    else
        fprintf(stderr, "pdf: ps2pdf not installed, skipped\n");
    free(pdf);
    char zim[256];
    size_t html;
    if (make_zim(bytes / 4, 200, zim, sizeof zim, &html) == 0) {
        /* MB/s counts the articles' HTML (what is parsed), not the compressed file */
        bench_any("zim", RG_DOC_FORMAT_ZIM, NULL, zim, html, reps);
        unlink(zim);
    } else {
        fprintf(stderr, "zim: zimwriterfs not installed or failed, skipped\n");
    }
    return 0;
}
