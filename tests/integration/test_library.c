/*
 * The knowledge library against the real server (docs/library.md): uploads
 * of a Markdown file and an EPUB (made here with libzip) indexed and found
 * by full-text search; with a random-weight bert GGUF from tools/gguf_gen as
 * --embedding-model, vectors stored and hybrid and vector search answering;
 * isolation between users, a readonly user who may search but not upload;
 * hostile uploads that end as document errors while the server lives; a
 * watched folder (--library) that follows adds, changes, renames and
 * deletes within 2 s of the debounce, never follows a link out of the
 * folder, and catches up after a restart; and `rustygpt index` on the
 * database directly.
 *
 * Runs on SQLite, then again on PostgreSQL when one is reachable (PGHOST
 * set, as under pg_virtualenv; RG_REQUIRE_PG=1 makes its absence a
 * failure). Waits are deadlines, not timings, except the watcher's 2 s.
 */
#include "test.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zip.h>

#include "integration/harness_auth.h"

#define DEBOUNCE_MS 300
static const char *const ENV[] = {"RUSTYGPT_TEST_DEBOUNCE_MS=300", NULL};

/* ---- helpers --------------------------------------------------------------- */

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static long req(struct rg_server *s, const char *method, const char *path, const char *bearer,
                const char *ctype, const char *body, size_t len, struct rg_resp *out)
{
    char auth[1200], ct[200];
    const char *hdrs[4];
    int n = 0;
    snprintf(ct, sizeof ct, "Content-Type: %s", ctype ? ctype : "application/json");
    hdrs[n++] = ct;
    if (bearer) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", bearer);
        hdrs[n++] = auth;
    }
    hdrs[n] = NULL;
    memset(out, 0, sizeof *out);
    assert_int_equal(rg_http(s, method, path, hdrs, body, len, out), 0);
    return out->status;
}

static json_t *call(struct rg_server *s, const char *method, const char *path, const char *bearer,
                    const char *body, long want)
{
    struct rg_resp r;
    long st = req(s, method, path, bearer, NULL, body, body ? strlen(body) : 0, &r);
    if (st != want)
        fail_msg("%s %s: %ld (wanted %ld) %.*s", method, path, st, want, (int)r.len, r.body);
    json_t *o = r.len ? json_loadb(r.body, r.len, 0, NULL) : json_object();
    if (!o) fail_msg("%s %s: not JSON: %.*s", method, path, (int)r.len, r.body);
    rg_resp_free(&r);
    return o;
}

static long status_of(struct rg_server *s, const char *method, const char *path, const char *bearer,
                      const char *body)
{
    struct rg_resp r;
    long st = req(s, method, path, bearer, NULL, body, body ? strlen(body) : 0, &r);
    rg_resp_free(&r);
    return st;
}

static const char *login(struct rg_server *s, const char *email, int slot)
{
    static char tokens[4][1024];
    char body[256];
    rg_harness_credentials(body, sizeof body, email, "correct horse battery");
    json_t *o = call(s, "POST", "/auth/login", NULL, body, 200);
    snprintf(tokens[slot], sizeof tokens[slot], "%s",
             json_string_value(json_object_get(o, "access_token")));
    json_decref(o);
    assert_true(strlen(tokens[slot]) > 20);
    return tokens[slot];
}

static const char *signup(struct rg_server *s, const char *email, int slot)
{
    char body[256];
    rg_harness_credentials(body, sizeof body, email, "correct horse battery");
    json_decref(call(s, "POST", "/auth/register", NULL, body, 202));
    return login(s, email, slot);
}

/* Uploads data as a raw body named name; the new document's id. */
static int64_t last_job; /* the job of the last upload */

static int64_t upload(struct rg_server *s, const char *tok, const char *name, const void *data,
                      size_t len)
{
    char path[300];
    snprintf(path, sizeof path, "/library/documents?name=%s", name);
    struct rg_resp r;
    long st = req(s, "POST", path, tok, "application/octet-stream", data, len, &r);
    if (st != 201) fail_msg("upload %s: %ld %.*s", name, st, (int)r.len, r.body);
    json_t *o = json_loadb(r.body, r.len, 0, NULL);
    rg_resp_free(&r);
    assert_non_null(o);
    int64_t id = json_integer_value(json_object_get(o, "id"));
    assert_true(id > 0);
    last_job = json_integer_value(json_object_get(o, "job_id"));
    assert_true(last_job > 0);
    json_decref(o);
    return id;
}

/* Waits (up to 60 s) for a document to leave queued/indexing; its final
 * state into state (and the row, caller decrefs, into *doc when asked). */
static void wait_done(struct rg_server *s, const char *tok, int64_t id, char *state, size_t size,
                      json_t **doc)
{
    char path[100];
    snprintf(path, sizeof path, "/library/documents/%lld", (long long)id);
    double end = now_s() + 60;
    for (;;) {
        json_t *o = call(s, "GET", path, tok, NULL, 200);
        const char *stv = json_string_value(json_object_get(o, "state"));
        if (stv && (!strcmp(stv, "ready") || !strcmp(stv, "error"))) {
            snprintf(state, size, "%s", stv);
            if (doc)
                *doc = o;
            else
                json_decref(o);
            return;
        }
        json_decref(o);
        if (now_s() > end) fail_msg("document %lld still %s after 60 s", (long long)id, stv);
        sleep_ms(100);
    }
}

/* GET /search?...: the reply (caller decrefs). */
static json_t *search(struct rg_server *s, const char *tok, const char *query)
{
    char path[600];
    snprintf(path, sizeof path, "/search?%s", query);
    return call(s, "GET", path, tok, NULL, 200);
}

static size_t n_results(json_t *o)
{
    return json_array_size(json_object_get(o, "results"));
}

/* How many hits a full-text search for word has (and the first's source). */
static size_t hits(struct rg_server *s, const char *tok, const char *word, char *source,
                   size_t size)
{
    char q[200];
    snprintf(q, sizeof q, "q=%s&mode=fulltext", word);
    json_t *o = search(s, tok, q);
    size_t n = n_results(o);
    if (source && size) {
        const char *src = json_string_value(
            json_object_get(json_array_get(json_object_get(o, "results"), 0), "source"));
        snprintf(source, size, "%s", src ? src : "");
    }
    json_decref(o);
    return n;
}

/* An EPUB 3 with one chapter holding text (made with libzip, as the parser
 * tests do); malloc'd bytes. */
static char *make_epub(const char *dir, const char *text, size_t *len)
{
    char path[512];
    snprintf(path, sizeof path, "%s/book.epub", dir);
    int zerr = 0;
    zip_t *z = zip_open(path, ZIP_CREATE | ZIP_TRUNCATE, &zerr);
    assert_non_null(z);
    static char chapter[2048];
    snprintf(chapter, sizeof chapter,
             "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<html "
             "xmlns=\"http://www.w3.org/1999/xhtml\"><head><title>One</title></head><body>"
             "<h1>Chapter One</h1><p>%s</p><p>The second paragraph of the book.</p></body></html>",
             text);
    const struct {
        const char *name, *data;
    } files[] = {
        {"mimetype", "application/epub+zip"},
        {"META-INF/container.xml",
         "<?xml version=\"1.0\"?><container version=\"1.0\" "
         "xmlns=\"urn:oasis:names:tc:opendocument:xmlns:container\"><rootfiles><rootfile "
         "full-path=\"OEBPS/content.opf\" media-type=\"application/oebps-package+xml\"/>"
         "</rootfiles></container>"},
        {"OEBPS/content.opf",
         "<?xml version=\"1.0\"?><package xmlns=\"http://www.idpf.org/2007/opf\" version=\"3.0\" "
         "unique-identifier=\"id\"><metadata xmlns:dc=\"http://purl.org/dc/elements/1.1/\">"
         "<dc:identifier id=\"id\">urn:test:library</dc:identifier><dc:title>A Test "
         "Book</dc:title><dc:language>en</dc:language><dc:creator>Ann Author</dc:creator>"
         "</metadata><manifest><item id=\"nav\" href=\"nav.xhtml\" "
         "media-type=\"application/xhtml+xml\" properties=\"nav\"/><item id=\"c1\" "
         "href=\"c1.xhtml\" media-type=\"application/xhtml+xml\"/></manifest><spine><itemref "
         "idref=\"c1\"/></spine></package>"},
        {"OEBPS/nav.xhtml",
         "<?xml version=\"1.0\"?><html xmlns=\"http://www.w3.org/1999/xhtml\" "
         "xmlns:epub=\"http://www.idpf.org/2007/ops\"><body><nav epub:type=\"toc\"><ol><li><a "
         "href=\"c1.xhtml\">Chapter One</a></li></ol></nav></body></html>"},
        {"OEBPS/c1.xhtml", chapter},
    };
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        zip_source_t *src = zip_source_buffer(z, files[i].data, strlen(files[i].data), 0);
        assert_non_null(src);
        zip_int64_t idx = zip_file_add(z, files[i].name, src, ZIP_FL_ENC_UTF_8);
        assert_true(idx >= 0);
        if (i == 0) zip_set_file_compression(z, (zip_uint64_t)idx, ZIP_CM_STORE, 0);
    }
    assert_int_equal(zip_close(z), 0);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return buf;
}

static void write_file(const char *path, const char *text)
{
    char tmp[600];
    snprintf(tmp, sizeof tmp, "%s.part", path); /* whole files appear at once, as editors do */
    FILE *f = fopen(tmp, "wb");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    assert_int_equal(rename(tmp, path), 0);
}

static int sh(const char *cmd)
{
    return system(cmd);
}

/* ---- uploads, full-text search, isolation, roles, hostile files ----------------- */

static void test_upload_and_search(void **state)
{
    (void)state;
    struct rg_server s;
    rg_harness_start(&s, "rg_lib", NULL, ENV);
    const char *admin = signup(&s, "admin@example.com", 0);

    json_t *st = call(&s, "GET", "/library/status", admin, NULL, 200);
    json_t *missing = json_object_get(st, "missing");
    assert_int_equal(json_array_size(missing), 1);
    assert_non_null(strstr(json_string_value(json_array_get(missing, 0)), "--embedding-model"));
    assert_true(json_is_null(json_object_get(st, "embedding_model")));
    json_decref(st);

    const char md[] = "---\ntitle: Field Notes\ntags: [birds, coast]\n---\n# Shore\n\nThe "
                      "zanzibarite glints on the beach at low tide.\n\n## Cliffs\n\nPuffins "
                      "nest here.\n";
    int64_t md_id = upload(&s, admin, "notes.md", md, sizeof md - 1);
    int64_t md_job = last_job;
    size_t elen = 0;
    char dir[] = "/tmp/rg_lib_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char *epub = make_epub(dir, "A quokkaberry grows where the river bends.", &elen);
    int64_t ep_id = upload(&s, admin, "book.epub", epub, elen);
    free(epub);
    char stv[32];
    json_t *doc = NULL;
    wait_done(&s, admin, md_id, stv, sizeof stv, &doc);
    assert_string_equal(stv, "ready");
    assert_true(json_integer_value(json_object_get(doc, "chunks")) >= 1);
    assert_string_equal(json_string_value(json_object_get(doc, "format")), "markdown");
    assert_true(json_real_value(json_object_get(doc, "progress")) == 1.0);
    json_decref(doc);
    char jpath[64]; /* the indexing job ran to its end with its progress */
    snprintf(jpath, sizeof jpath, "/jobs/%lld", (long long)md_job);
    for (double end = now_s() + 10;; sleep_ms(50)) {
        json_t *j = call(&s, "GET", jpath, admin, NULL, 200);
        bool done = !strcmp(json_string_value(json_object_get(j, "state")), "done");
        if (done) {
            assert_string_equal(json_string_value(json_object_get(j, "kind")), "library.index");
            assert_true(json_real_value(json_object_get(j, "progress")) == 1.0);
        }
        json_decref(j);
        if (done) break;
        if (now_s() > end) fail_msg("the index job did not end");
    }
    wait_done(&s, admin, ep_id, stv, sizeof stv, &doc);
    assert_string_equal(stv, "ready");
    assert_string_equal(json_string_value(json_object_get(doc, "title")), "A Test Book");
    json_decref(doc);

    /* full-text: each word finds its own document, marked, with a location */
    json_t *o = search(&s, admin, "q=zanzibarite&mode=fulltext");
    assert_int_equal(n_results(o), 1);
    json_t *h = json_array_get(json_object_get(o, "results"), 0);
    assert_int_equal(json_integer_value(json_object_get(h, "document_id")), md_id);
    assert_non_null(
        strstr(json_string_value(json_object_get(h, "snippet")), "<mark>zanzibarite</mark>"));
    assert_non_null(strstr(
        json_string_value(json_object_get(json_object_get(h, "location"), "heading")), "Shore"));
    int64_t chunk = json_integer_value(json_object_get(h, "chunk_id"));
    json_decref(o);
    o = search(&s, admin, "q=quokkaberry");
    assert_int_equal(n_results(o), 1);
    assert_int_equal(json_integer_value(json_object_get(
                         json_array_get(json_object_get(o, "results"), 0), "document_id")),
                     ep_id);
    assert_string_equal(json_string_value(json_object_get(o, "mode")), "fulltext");
    json_decref(o);

    /* the passage a citation opens */
    char path[200];
    snprintf(path, sizeof path, "/library/chunks/%lld?context=2", (long long)chunk);
    o = call(&s, "GET", path, admin, NULL, 200);
    assert_non_null(strstr(json_string_value(json_object_get(json_object_get(o, "chunk"), "text")),
                           "zanzibarite"));
    assert_int_equal(json_integer_value(json_object_get(json_object_get(o, "document"), "id")),
                     md_id);
    json_decref(o);

    /* another user sees nothing of it, and cannot read or delete by id */
    const char *other = signup(&s, "other@example.com", 1);
    assert_int_equal(hits(&s, other, "zanzibarite", NULL, 0), 0);
    snprintf(path, sizeof path, "/library/documents/%lld", (long long)md_id);
    assert_int_equal(status_of(&s, "GET", path, other, NULL), 404);
    assert_int_equal(status_of(&s, "DELETE", path, other, NULL), 404);
    snprintf(path, sizeof path, "/library/chunks/%lld", (long long)chunk);
    assert_int_equal(status_of(&s, "GET", path, other, NULL), 404);
    o = call(&s, "GET", "/library/documents", other, NULL, 200);
    assert_int_equal(json_array_size(json_object_get(o, "documents")), 0);
    json_decref(o);
    /* a collection an admin publishes is readable, not writable, by everyone */
    assert_int_equal(
        status_of(&s, "POST", "/library/collections", other, "{\"name\":\"Mine\",\"shared\":true}"),
        403);
    json_t *col = call(&s, "POST", "/library/collections", admin,
                       "{\"name\":\"Reference\",\"shared\":true}", 201);
    int64_t col_id = json_integer_value(json_object_get(col, "id"));
    json_decref(col);
    char up[120];
    snprintf(up, sizeof up, "ref.md&collection=%lld", (long long)col_id);
    const char ref[] = "# Atlas\n\nThe sharedword is for everyone.\n";
    int64_t ref_id = upload(&s, admin, up, ref, sizeof ref - 1);
    wait_done(&s, admin, ref_id, stv, sizeof stv, NULL);
    assert_string_equal(stv, "ready");
    assert_int_equal(hits(&s, other, "sharedword", NULL, 0), 1);
    snprintf(path, sizeof path, "/library/documents/%lld", (long long)ref_id);
    assert_int_equal(status_of(&s, "GET", path, other, NULL), 200);
    assert_int_equal(status_of(&s, "DELETE", path, other, NULL), 403);
    snprintf(path, sizeof path, "/library/collections/%lld", (long long)col_id);
    assert_int_equal(status_of(&s, "PATCH", path, other, "{\"name\":\"Taken\"}"), 403);
    /* folders are the admin's */
    assert_int_equal(status_of(&s, "POST", "/library/folders", other, "{\"path\":\"/tmp\"}"), 403);

    /* a readonly user searches but does not upload */
    signup(&s, "reader@example.com", 2);
    o = call(&s, "GET", "/auth/me", login(&s, "reader@example.com", 2), NULL, 200);
    int64_t reader_id = json_integer_value(json_object_get(o, "id"));
    json_decref(o);
    snprintf(path, sizeof path, "/admin/users/%lld", (long long)reader_id);
    json_decref(call(&s, "PATCH", path, admin, "{\"role\":\"readonly\"}", 200));
    const char *reader = login(&s, "reader@example.com", 2);
    assert_int_equal(hits(&s, reader, "zanzibarite", NULL, 0), 0);
    struct rg_resp r;
    assert_int_equal(req(&s, "POST", "/library/documents?name=x.md", reader,
                         "application/octet-stream", "hello", 5, &r),
                     403);
    rg_resp_free(&r);

    /* hostile uploads end as document errors; the server lives */
    const char bad_epub[] = "PK\x03\x04 this is no zip archive at all";
    int64_t b1 = upload(&s, admin, "broken.epub", bad_epub, sizeof bad_epub - 1);
    const char bad_pdf[] = "%PDF-1.7\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\ntrailer";
    int64_t b2 = upload(&s, admin, "broken.pdf", bad_pdf, sizeof bad_pdf - 1);
    char zdir[600];
    snprintf(zdir, sizeof zdir, "%s/evil.epub", dir);
    int zerr = 0;
    zip_t *z = zip_open(zdir, ZIP_CREATE | ZIP_TRUNCATE, &zerr);
    assert_non_null(z);
    zip_file_add(z, "mimetype", zip_source_buffer(z, "application/epub+zip", 20, 0), 0);
    zip_file_add(z, "../../../../tmp/escaped.txt", zip_source_buffer(z, "owned", 5, 0), 0);
    assert_int_equal(zip_close(z), 0);
    FILE *zf = fopen(zdir, "rb");
    char ebuf[4096];
    size_t en = fread(ebuf, 1, sizeof ebuf, zf);
    fclose(zf);
    int64_t b3 = upload(&s, admin, "evil.epub", ebuf, en);
    const char bad_utf8[] = "# Title \xff\xfe\n\nbytes \xc3\x28 that are not UTF-8 \x80\x81\n";
    int64_t b4 = upload(&s, admin, "latin.md", bad_utf8, sizeof bad_utf8 - 1);
    wait_done(&s, admin, b1, stv, sizeof stv, &doc);
    assert_string_equal(stv, "error");
    assert_true(strlen(json_string_value(json_object_get(doc, "error"))) > 0);
    json_decref(doc);
    wait_done(&s, admin, b2, stv, sizeof stv, NULL);
    assert_string_equal(stv, "error");
    wait_done(&s, admin, b3, stv, sizeof stv, NULL);
    assert_string_equal(stv, "error");
    wait_done(&s, admin, b4, stv, sizeof stv, NULL); /* a Latin-1 fallback may read it */
    assert_true(!strcmp(stv, "ready") || !strcmp(stv, "error"));
    struct stat est;
    assert_int_not_equal(stat("/tmp/escaped.txt", &est), 0);
    assert_int_equal(status_of(&s, "GET", "/healthz", NULL, NULL), 200);
    o = call(&s, "GET", "/library/status", admin, NULL, 200);
    assert_true(json_integer_value(json_object_get(json_object_get(o, "states"), "error")) >= 3);
    json_decref(o);

    /* a deleted document is no longer found */
    snprintf(path, sizeof path, "/library/documents/%lld", (long long)md_id);
    assert_int_equal(status_of(&s, "DELETE", path, admin, NULL), 204);
    assert_int_equal(hits(&s, admin, "zanzibarite", NULL, 0), 0);
    assert_int_equal(status_of(&s, "GET", path, admin, NULL), 404);
    rg_harness_stop(&s);
    snprintf(path, sizeof path, "rm -rf '%s'", dir);
    sh(path);
}

/* ---- embeddings: vectors stored, hybrid and vector search ------------------------ */

static void test_embeddings(void **state)
{
    (void)state;
    /* first without a model (full-text only), then restarted with one: the
     * document is embedded without being touched */
    char base[] = "/tmp/rg_libe_XXXXXX";
    assert_non_null(mkdtemp(base));
    char data[600], models[600];
    snprintf(data, sizeof data, "%s/data", base);
    snprintf(models, sizeof models, "%s/models", base);
    assert_int_equal(mkdir(data, 0700), 0);
    assert_int_equal(mkdir(models, 0700), 0);
    const char *b = getenv("RG_BUILD_DIR");
    char cmd[1400];
    snprintf(cmd, sizeof cmd,
             "'%s/gguf_gen' --arch bert --n-embd 64 --n-layer 2 --n-head 4 --n-ff 128 --type F16 "
             "-o '%s/enc.gguf' >/dev/null",
             b ? b : "build", models);
    assert_int_equal(sh(cmd), 0);
    struct rg_server s;
    const char *plain[] = {"--data-dir", data, "--models-dir", models, NULL};
    rg_harness_start(&s, "rg_lib", plain, ENV);
    const char *admin = signup(&s, "admin@example.com", 0);
    const char md[] = "# Rivers\n\nThe marrowfen river floods every spring and the farmers "
                      "move their sheep uphill.\n\n# Mountains\n\nSnow stays on the peaks until "
                      "July; the passes open late.\n";
    int64_t id = upload(&s, admin, "geo.md", md, sizeof md - 1);
    char stv[32];
    json_t *doc;
    wait_done(&s, admin, id, stv, sizeof stv, &doc);
    assert_string_equal(stv, "ready");
    assert_true(json_is_null(json_object_get(doc, "embedding_model")));
    json_decref(doc);
    json_t *o = search(&s, admin, "q=marrowfen&mode=hybrid");
    assert_true(json_is_true(json_object_get(o, "degraded")));
    assert_int_equal(n_results(o), 1);
    json_decref(o);
    assert_int_equal(rg_server_stop(&s), 0);

    const char *extra[] = {"--data-dir", data, "--models-dir", models, "--embedding-model",
                           "enc",        NULL};
    rg_harness_start_on(&s, extra, ENV);
    admin = login(&s, "admin@example.com", 0);
    char dpath[100];
    snprintf(dpath, sizeof dpath, "/library/documents/%lld", (long long)id);
    double end = now_s() + 60;
    for (;;) {
        doc = call(&s, "GET", dpath, admin, NULL, 200);
        const char *m = json_string_value(json_object_get(doc, "embedding_model"));
        const char *sv = json_string_value(json_object_get(doc, "state"));
        bool done = m && !strcmp(m, "enc") && !strcmp(sv, "ready");
        json_decref(doc);
        if (done) break;
        if (now_s() > end) fail_msg("the document was not embedded after the restart");
        sleep_ms(100);
    }
    char path[200];
    snprintf(path, sizeof path, "/library/documents/%lld/chunks", (long long)id);
    o = call(&s, "GET", path, admin, NULL, 200);
    json_t *cs = json_object_get(o, "chunks");
    assert_true(json_array_size(cs) >= 1);
    for (size_t i = 0; i < json_array_size(cs); i++)
        assert_string_equal(
            json_string_value(json_object_get(json_array_get(cs, i), "embedding_model")), "enc");
    json_decref(o);
    o = call(&s, "GET", "/library/status", admin, NULL, 200);
    assert_int_equal(json_array_size(json_object_get(o, "missing")), 0);
    assert_true(
        json_integer_value(json_object_get(json_object_get(o, "embedding_model"), "vectors")) >= 1);
    json_decref(o);

    o = search(&s, admin, "q=marrowfen&mode=hybrid");
    assert_string_equal(json_string_value(json_object_get(o, "mode")), "hybrid");
    assert_false(json_is_true(json_object_get(o, "degraded")));
    assert_true(n_results(o) >= 1);
    json_t *h = json_array_get(json_object_get(o, "results"), 0);
    assert_int_equal(json_integer_value(json_object_get(h, "document_id")), id);
    assert_true(json_integer_value(json_object_get(h, "rank_fulltext")) == 1);
    json_decref(o);
    o = search(&s, admin, "q=sheep%20on%20hills&mode=vector&limit=5");
    assert_string_equal(json_string_value(json_object_get(o, "mode")), "vector");
    assert_true(n_results(o) >= 1); /* random weights: some chunk, ranked by cosine */
    assert_true(json_integer_value(json_object_get(json_array_get(json_object_get(o, "results"), 0),
                                                   "rank_vector")) == 1);
    json_decref(o);
    /* another user's vector search finds none of it */
    const char *other = signup(&s, "other@example.com", 1);
    o = search(&s, other, "q=marrowfen&mode=vector");
    assert_int_equal(n_results(o), 0);
    json_decref(o);
    rg_harness_stop(&s);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", base);
    sh(cmd);
}

/* ---- the watched folder ------------------------------------------------------------ */

/* Waits until a full-text search for word has want hits (within ms);
 * fails with the time it took otherwise. */
static void await_hits(struct rg_server *s, const char *tok, const char *word, size_t want, int ms,
                       char *source, size_t size)
{
    double end = now_s() + ms / 1000.0, t0 = now_s();
    for (;;) {
        size_t n = hits(s, tok, word, source, size);
        if (n == want) return;
        if (now_s() > end)
            fail_msg("'%s': %zu hits, wanted %zu, after %.1f s", word, n, want, now_s() - t0);
        sleep_ms(50);
    }
}

static void test_watched_folder(void **state)
{
    (void)state;
    char base[] = "/tmp/rg_libw_XXXXXX";
    assert_non_null(mkdtemp(base));
    char books[600], data[600], outside[700], p[800], q[800], link[800];
    snprintf(books, sizeof books, "%s/books", base);
    snprintf(data, sizeof data, "%s/data", base);
    assert_int_equal(mkdir(books, 0700), 0);
    assert_int_equal(mkdir(data, 0700), 0);
    snprintf(p, sizeof p, "%s/a.md", books);
    write_file(p, "# A\n\nThe alphaword is here.\n");
    snprintf(outside, sizeof outside, "%s/secret.md", base);
    write_file(outside, "# Secret\n\nThe outsideword must never be indexed.\n");
    snprintf(link, sizeof link, "%s/leak.md", books);
    assert_int_equal(symlink(outside, link), 0);
    snprintf(q, sizeof q, "%s/ignored.fifo", books);
    assert_int_equal(mkfifo(q, 0600), 0); /* a special file: skipped, not hung on */

    const char *extra[] = {"--library", books, "--data-dir", data, NULL};
    struct rg_server s;
    rg_harness_start(&s, "rg_lib", extra, ENV);
    const char *admin = signup(&s, "admin@example.com", 0); /* the folder's owner */
    await_hits(&s, admin, "alphaword", 1, 20000, NULL, 0);  /* the catch-up at start */
    json_t *o = call(&s, "GET", "/library/folders", admin, NULL, 200);
    assert_int_equal(json_array_size(json_object_get(o, "folders")), 1);
    json_decref(o);
    o = call(&s, "GET", "/library/collections", admin, NULL, 200);
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(o, "collections"), 0), "name")),
                        "books");
    json_decref(o);
    assert_int_equal(hits(&s, admin, "outsideword", NULL, 0), 0);

    const int within = DEBOUNCE_MS + 2000; /* the bound */
    /* add */
    snprintf(p, sizeof p, "%s/b.md", books);
    write_file(p, "# B\n\nThe betaword arrives.\n");
    await_hits(&s, admin, "betaword", 1, within, NULL, 0);
    /* a new directory with a file in it */
    snprintf(q, sizeof q, "%s/sub", books);
    assert_int_equal(mkdir(q, 0700), 0);
    snprintf(q, sizeof q, "%s/sub/c.txt", books);
    write_file(q, "The subdirword lives deeper.\n");
    await_hits(&s, admin, "subdirword", 1, within, NULL, 0);
    /* change */
    snprintf(p, sizeof p, "%s/a.md", books);
    write_file(p, "# A\n\nNow the gammaword replaced it.\n");
    await_hits(&s, admin, "gammaword", 1, within, NULL, 0);
    await_hits(&s, admin, "alphaword", 0, within, NULL, 0);
    /* rename */
    char src[800];
    snprintf(p, sizeof p, "%s/b.md", books);
    snprintf(q, sizeof q, "%s/renamed.md", books);
    assert_int_equal(rename(p, q), 0);
    double t0 = now_s();
    for (;;) {
        if (hits(&s, admin, "betaword", src, sizeof src) == 1 && strstr(src, "renamed.md")) break;
        if (now_s() - t0 > within / 1000.0) fail_msg("the rename was not followed: %s", src);
        sleep_ms(50);
    }
    /* delete */
    assert_int_equal(unlink(q), 0);
    await_hits(&s, admin, "betaword", 0, within, NULL, 0);
    assert_int_equal(hits(&s, admin, "outsideword", NULL, 0), 0);

    /* stopped: changes made meanwhile are caught up at the next start */
    assert_int_equal(rg_server_stop(&s), 0); /* the data dir is ours: it stays */
    snprintf(p, sizeof p, "%s/d.md", books);
    write_file(p, "# D\n\nThe deltaword came while the server slept.\n");
    snprintf(p, sizeof p, "%s/a.md", books);
    assert_int_equal(unlink(p), 0);
    rg_harness_start_on(&s, extra, ENV);
    admin = login(&s, "admin@example.com", 0);
    await_hits(&s, admin, "deltaword", 1, 20000, NULL, 0);
    await_hits(&s, admin, "gammaword", 0, 20000, NULL, 0);
    await_hits(&s, admin, "subdirword", 1, 1000, NULL, 0);
    rg_harness_stop(&s);
    snprintf(p, sizeof p, "rm -rf '%s'", base);
    sh(p);
}

/* ---- the CLI ----------------------------------------------------------------------- */

static void test_cli(void **state)
{
    (void)state;
    if (rg_harness_pg)
        skip(); /* the CLI opens the database as the server does: SQLite is
                   enough to test the command itself */
    char dir[] = "/tmp/rg_libc_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char data[600], file[700], bad[700];
    snprintf(data, sizeof data, "%s/data", dir);
    snprintf(file, sizeof file, "%s/notes.md", dir);
    snprintf(bad, sizeof bad, "%s/broken.epub", dir);
    write_file(file, "# Notes\n\nThe clivernword is in the notes.\n");
    write_file(bad, "PK\x03\x04 nothing");
    struct rg_run r;
    const char *uadd[] = {"user", "add", "admin@example.com", "--password-stdin", "--data-dir",
                          data,   NULL};
    assert_int_equal(rg_run_cli(uadd, NULL, "correct horse battery\n", 30, &r), 0);
    assert_int_equal(r.status, 0);
    rg_run_free(&r);

    const char *add[] = {"index", "add", file, "--data-dir", data, NULL};
    assert_int_equal(rg_run_cli(add, NULL, NULL, 60, &r), 0);
    if (r.status != 0) fail_msg("index add: %d %s %s", r.status, r.out, r.err);
    assert_non_null(strstr(r.out, "ready"));
    rg_run_free(&r);
    const char *addbad[] = {"index", "add", bad, "--data-dir", data, NULL};
    assert_int_equal(rg_run_cli(addbad, NULL, NULL, 60, &r), 0);
    assert_int_equal(r.status, 1);
    assert_non_null(strstr(r.out, "error"));
    rg_run_free(&r);

    const char *list[] = {"index", "list", "--json", "--data-dir", data, NULL};
    assert_int_equal(rg_run_cli(list, NULL, NULL, 30, &r), 0);
    assert_int_equal(r.status, 0);
    assert_int_equal(rg_count(r.out, "\n"), 2);
    assert_non_null(strstr(r.out, "\"state\":\"ready\""));
    json_t *first = NULL;
    for (char *line = r.out; line && *line;) { /* the ready one's id */
        char *nl = strchr(line, '\n');
        json_t *o = json_loadb(line, nl ? (size_t)(nl - line) : strlen(line), 0, NULL);
        if (o && !strcmp(json_string_value(json_object_get(o, "state")), "ready"))
            first = o;
        else
            json_decref(o);
        line = nl ? nl + 1 : NULL;
    }
    rg_run_free(&r);
    assert_non_null(first);
    char id[32];
    snprintf(id, sizeof id, "%lld", (long long)json_integer_value(json_object_get(first, "id")));
    json_decref(first);

    const char *find[] = {"index", "search", "clivernword", "--data-dir", data, NULL};
    assert_int_equal(rg_run_cli(find, NULL, NULL, 30, &r), 0);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "*clivernword*"));
    rg_run_free(&r);

    const char *rm[] = {"index", "remove", id, "--data-dir", data, NULL};
    assert_int_equal(rg_run_cli(rm, NULL, NULL, 30, &r), 0);
    assert_int_equal(r.status, 0);
    rg_run_free(&r);
    assert_int_equal(rg_run_cli(find, NULL, NULL, 30, &r), 0);
    assert_int_equal(r.status, 0);
    assert_null(strstr(r.out, "clivernword"));
    rg_run_free(&r);

    const char *usage[] = {"index", "frobnicate", NULL};
    assert_int_equal(rg_run_cli(usage, NULL, NULL, 10, &r), 0);
    assert_int_equal(r.status, 2);
    rg_run_free(&r);
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    sh(cmd);
}

#define TESTS                                                                                      \
    cmocka_unit_test(test_upload_and_search), cmocka_unit_test(test_embeddings),                   \
        cmocka_unit_test(test_watched_folder), cmocka_unit_test(test_cli)

int main(void)
{
    const struct CMUnitTest tests[] = {TESTS};
    int failed = cmocka_run_group_tests_name("library/sqlite", tests, NULL, NULL);
    int pg = rg_harness_pg_pass("library");
    if (pg < 0) return 1;
    if (pg) {
        const struct CMUnitTest pg_tests[] = {TESTS};
        failed += cmocka_run_group_tests_name("library/postgres", pg_tests, NULL, NULL);
    }
    return failed;
}
