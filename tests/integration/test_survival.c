/*
 * The survival library against the real server (docs/memory.md "Survival
 * mode"), with the deterministic test embedder (--embedding-model test-hash
 * under RUSTYGPT_TEST_ROUTES=1) and stories260K to answer: water, first aid
 * and fire texts (and a ZIM made by zimwriterfs when zim-tools is
 * installed) in a collection marked survival are tagged by the survival.tag
 * job; browsed by category; searched alone (a non-survival collection's
 * passage never appears); asked, with sources, and refusing to run a model
 * when nothing is found; a manual choice kept over a retag; another user
 * sees none of it (404).
 *
 * Runs on SQLite, then again on PostgreSQL when one is reachable (PGHOST
 * set, as under pg_virtualenv; RG_REQUIRE_PG=1 makes its absence a
 * failure). Waits are deadlines.
 */
#include "test.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "integration/harness_auth.h"
#include "unit/index/parse_util.h" /* write_png48 for zimwriterfs */

static char g_model[512];
static const char *const ENV[] = {"RUSTYGPT_TEST_ROUTES=1", NULL};
static const char *const ARGS[] = {"--embedding-model", "test-hash", NULL};

/* ---- helpers --------------------------------------------------------------- */

static void nap_ms(int ms)
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

static long long ival(const json_t *o, const char *k)
{
    return json_integer_value(json_object_get(o, k));
}

static const char *sval(const json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

static const char *signup(struct rg_server *s, const char *email, int slot)
{
    static char tokens[4][1024];
    char body[256];
    rg_harness_credentials(body, sizeof body, email, "correct horse battery");
    json_decref(call(s, "POST", "/auth/register", NULL, body, 202));
    json_t *o = call(s, "POST", "/auth/login", NULL, body, 200);
    snprintf(tokens[slot], sizeof tokens[slot], "%s", sval(o, "access_token"));
    json_decref(o);
    assert_true(strlen(tokens[slot]) > 20);
    return tokens[slot];
}

static long long collection(struct rg_server *s, const char *tok, const char *name)
{
    char body[200];
    snprintf(body, sizeof body, "{\"name\":\"%s\"}", name);
    json_t *o = call(s, "POST", "/library/collections", tok, body, 201);
    long long id = ival(o, "id");
    json_decref(o);
    assert_true(id > 0);
    return id;
}

/* Uploads data into collection col; waits (60 s) until it is ready. */
static long long upload(struct rg_server *s, const char *tok, long long col, const char *name,
                        const void *data, size_t len)
{
    char path[300];
    snprintf(path, sizeof path, "/library/documents?name=%s&collection=%lld", name, col);
    struct rg_resp r;
    long st = req(s, "POST", path, tok, "application/octet-stream", data, len, &r);
    if (st != 201) fail_msg("upload %s: %ld %.*s", name, st, (int)r.len, r.body);
    json_t *o = json_loadb(r.body, r.len, 0, NULL);
    rg_resp_free(&r);
    long long id = ival(o, "id");
    json_decref(o);
    assert_true(id > 0);
    snprintf(path, sizeof path, "/library/documents/%lld", id);
    double until = now_s() + 60;
    for (;;) {
        json_t *d = call(s, "GET", path, tok, NULL, 200);
        bool ready = !strcmp(sval(d, "state"), "ready");
        if (!strcmp(sval(d, "state"), "error")) fail_msg("indexing failed: %s", json_dumps(d, 0));
        json_decref(d);
        if (ready) return id;
        if (now_s() > until) fail_msg("document %lld never ready", id);
        nap_ms(100);
    }
}

/* Waits (60 s) for job id to end; its final object (caller decrefs). */
static json_t *job_wait(struct rg_server *s, const char *tok, long long id)
{
    char path[64];
    snprintf(path, sizeof path, "/jobs/%lld", id);
    double until = now_s() + 60;
    for (;;) {
        json_t *j = call(s, "GET", path, tok, NULL, 200);
        const char *st = sval(j, "state");
        if (!strcmp(st, "done")) return j;
        if (!strcmp(st, "failed") || !strcmp(st, "cancelled"))
            fail_msg("job %lld %s: %s", id, st, json_dumps(j, 0));
        json_decref(j);
        if (now_s() > until) fail_msg("job %lld never ended", id);
        nap_ms(100);
    }
}

/* PUT /survival/collections with ids; waits for its tagging job; the
 * job's result (caller decrefs). */
static json_t *set_survival(struct rg_server *s, const char *tok, const char *ids_json)
{
    char body[200];
    snprintf(body, sizeof body, "{\"collections\":%s}", ids_json);
    json_t *o = call(s, "PUT", "/survival/collections", tok, body, 200);
    long long job = ival(o, "job");
    json_decref(o);
    assert_true(job > 0);
    json_t *j = job_wait(s, tok, job);
    json_t *res = json_incref(json_object_get(j, "result"));
    json_decref(j);
    return res;
}

/* The categories of document id in GET /survival/documents (all of them),
 * as "id:source" words joined by spaces into out; false when it is absent. */
static bool doc_cats(struct rg_server *s, const char *tok, long long id, char *out, size_t size)
{
    json_t *o = call(s, "GET", "/survival/documents?limit=100", tok, NULL, 200);
    bool found = false;
    out[0] = '\0';
    size_t i, k;
    json_t *e, *c;
    json_array_foreach(json_object_get(o, "data"), i, e)
    {
        if (ival(json_object_get(e, "document"), "id") != id) continue;
        found = true;
        json_array_foreach(json_object_get(e, "categories"), k, c)
        {
            size_t n = strlen(out);
            snprintf(out + n, size - n, "%s%s:%s", n ? " " : "", sval(c, "id"), sval(c, "source"));
            double sc = json_number_value(json_object_get(c, "score"));
            assert_true(sc >= 0 && sc <= 1);
        }
    }
    json_decref(o);
    return found;
}

/* Whether GET /survival/documents?category=cat lists document id. */
static bool in_category(struct rg_server *s, const char *tok, const char *cat, long long id)
{
    char path[120];
    snprintf(path, sizeof path, "/survival/documents?category=%s", cat);
    json_t *o = call(s, "GET", path, tok, NULL, 200);
    bool found = false;
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(o, "data"), i, e) found |=
        ival(json_object_get(e, "document"), "id") == id;
    json_decref(o);
    return found;
}

/* A streamed reply taken apart. */
struct sse {
    char names[256][16];
    json_t *data[256];
    int n;
    char deltas[65536];
};

static void sse_parse(const char *body, size_t len, struct sse *e)
{
    memset(e, 0, sizeof *e);
    const char *p = body, *end = body + len;
    char name[16] = "";
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol) eol = end;
        size_t n = (size_t)(eol - p);
        if (n > 7 && !strncmp(p, "event: ", 7)) {
            snprintf(name, sizeof name, "%.*s", (int)(n - 7), p + 7);
        } else if (n > 6 && !strncmp(p, "data: ", 6)) {
            json_t *d = json_loadb(p + 6, n - 6, 0, NULL);
            if (!d) fail_msg("an event's data is not JSON: %.*s", (int)n, p);
            assert_true(e->n < 256);
            snprintf(e->names[e->n], sizeof e->names[e->n], "%s", name);
            if (!strcmp(name, "delta"))
                strncat(e->deltas, sval(d, "content"), sizeof e->deltas - strlen(e->deltas) - 1);
            e->data[e->n++] = d;
            name[0] = '\0';
        }
        p = eol + 1;
    }
}

static void sse_free(struct sse *e)
{
    for (int i = 0; i < e->n; i++)
        json_decref(e->data[i]);
}

static void ask_stream(struct rg_server *s, const char *tok, const char *body, struct sse *e)
{
    struct rg_resp r;
    long st = req(s, "POST", "/survival/ask", tok, NULL, body, strlen(body), &r);
    if (st != 200) fail_msg("ask: %ld %.*s", st, (int)r.len, r.body);
    char ct[128];
    assert_non_null(rg_resp_header(&r, "content-type", ct, sizeof ct));
    assert_non_null(strstr(ct, "text/event-stream"));
    sse_parse(r.body, r.len, e);
    rg_resp_free(&r);
    assert_true(e->n >= 2);
    assert_string_equal(e->names[0], "start");
    if (strcmp(e->names[e->n - 1], "end") != 0)
        fail_msg("last event %s: %s", e->names[e->n - 1], json_dumps(e->data[e->n - 1], 0));
}

static int sh(const char *cmd)
{
    int rc = system(cmd);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

/* A small ZIM of two survival articles (water, fire), or NULL (no
 * zimwriterfs). *len its size; caller frees. */
static char *make_zim(const char *base, size_t *len)
{
    if (sh("command -v zimwriterfs >/dev/null 2>&1") != 0) return NULL;
    char dir[600], p[700], zim[700], cmd[2400];
    snprintf(dir, sizeof dir, "%s/zimsrc", base);
    mkdir(dir, 0755);
    snprintf(p, sizeof p, "%s/index.html", dir);
    const char *index = "<html><head><title>Field notes</title></head><body><h1>Field notes"
                        "</h1><p>See <a href=\"water.html\">Water</a>.</p></body></html>";
    write_bytes(p, index, strlen(index));
    snprintf(p, sizeof p, "%s/water.html", dir);
    const char *water = "<html><head><title>Rain catchment</title></head><body>"
                        "<h1>Rain catchment</h1><p>Collect rain water in a clean tarp and "
                        "boil the water before you drink it; filter cloudy water first.</p>"
                        "</body></html>";
    write_bytes(p, water, strlen(water));
    snprintf(p, sizeof p, "%s/fav.png", dir);
    write_png48(p);
    snprintf(zim, sizeof zim, "%s/notes.zim", base);
    snprintf(cmd, sizeof cmd,
             "zimwriterfs --welcome=index.html --illustration=fav.png --language=eng "
             "--title=Notes --description=Notes --creator=RustyGPT --publisher=RustyGPT "
             "--name=notes --withoutFTIndex '%s' '%s' >'%s/zim.log' 2>&1",
             dir, zim, base);
    assert_int_equal(sh(cmd), 0);
    FILE *f = fopen(zim, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *data = malloc((size_t)n);
    assert_int_equal(fread(data, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return data;
}

/* ---- the test -------------------------------------------------------------- */

static const char WATER[] =
    "# Safe drinking water\n\n## Boiling\n\nBring water to a rolling boil for one minute to "
    "purify it. Let it cool in a clean container.\n\n## Filtering\n\nA cloth filter removes "
    "silt; then boil or use purification tablets. Collect rain water when you can.\n";
static const char FIRST_AID[] =
    "# First aid for wounds\n\n## Bleeding\n\nPress firmly on the wound to stop the bleeding, "
    "then bandage it. Raise the injured limb.\n\n## Fractures\n\nSplint a fracture before "
    "moving the injured person and watch for shock.\n";
static const char FIRE[] =
    "Making a fire\n\nGather tinder, kindling and fuel wood before you strike a match. Blow "
    "gently on the embers until the kindling catches. Keep water nearby to douse the fire and "
    "never leave a campfire burning.\n";
static const char NOVEL[] =
    "# The lighthouse keeper\n\nThe water shone under the moon and the keeper wrote his "
    "letters about the sea water, the gulls and the quiet harbour.\n";

static void test_survival(void **state)
{
    (void)state;
    if (!g_model[0]) skip();
    struct rg_server srv;
    rg_harness_start(&srv, "rg_surv", ARGS, ENV);
    assert_int_equal(rg_server_add_model(&srv, "stories", g_model), 0);
    const char *tok = signup(&srv, "a@example.com", 0);
    const char *other = signup(&srv, "b@example.com", 1);

    long long surv = collection(&srv, tok, "Survival");
    long long novels = collection(&srv, tok, "Novels");
    long long water = upload(&srv, tok, surv, "water.md", WATER, sizeof WATER - 1);
    long long aid = upload(&srv, tok, surv, "first-aid.md", FIRST_AID, sizeof FIRST_AID - 1);
    long long fire = upload(&srv, tok, surv, "fire.txt", FIRE, sizeof FIRE - 1);
    long long novel = upload(&srv, tok, novels, "novel.md", NOVEL, sizeof NOVEL - 1);
    char base[] = "/tmp/rg_survzim_XXXXXX";
    assert_non_null(mkdtemp(base));
    size_t zlen = 0;
    char *zdata = make_zim(base, &zlen);
    long long zim = zdata ? upload(&srv, tok, surv, "notes.zim", zdata, zlen) : 0;
    free(zdata);
    if (!zim) fprintf(stderr, "note: zimwriterfs absent, no ZIM document in this run\n");

    /* the routes are described, their schemas parse */
    json_t *api = call(&srv, "GET", "/openapi.json", NULL, NULL, 200);
    const char *const routes[] = {"/survival/categories", "/survival/collections",
                                  "/survival/documents",  "/survival/documents/{id}/categories",
                                  "/survival/search",     "/survival/ask"};
    for (size_t k = 0; k < sizeof routes / sizeof *routes; k++)
        if (!json_object_get(json_object_get(api, "paths"), routes[k]))
            fail_msg("%s is not in /openapi.json", routes[k]);
    json_decref(api);

    /* before any survival collection: nothing in the library, no model runs */
    json_t *o = call(&srv, "GET", "/survival/collections", tok, NULL, 200);
    assert_int_equal(json_array_size(json_object_get(o, "collections")), 0);
    json_decref(o);
    o = call(&srv, "GET", "/survival/search?q=water", tok, NULL, 200);
    assert_int_equal(json_array_size(json_object_get(o, "results")), 0);
    json_decref(o);
    o = call(&srv, "GET", "/search?q=water", tok, NULL, 200); /* the whole library has it */
    assert_true(json_array_size(json_object_get(o, "results")) >= 2);
    json_decref(o);

    /* marked survival: the tagging job tags every document */
    char ids[64];
    snprintf(ids, sizeof ids, "[%lld]", surv);
    json_t *res = set_survival(&srv, tok, ids);
    assert_int_equal(ival(res, "tagged"), zim ? 4 : 3);
    json_decref(res);
    o = call(&srv, "GET", "/survival/collections", tok, NULL, 200);
    assert_int_equal(json_array_size(json_object_get(o, "collections")), 1);
    assert_int_equal(json_integer_value(json_array_get(json_object_get(o, "collections"), 0)),
                     surv);
    json_decref(o);

    char cats[400];
    assert_true(doc_cats(&srv, tok, water, cats, sizeof cats));
    assert_non_null(strstr(cats, "water:rule"));
    assert_null(strstr(cats, "first-aid"));
    assert_true(doc_cats(&srv, tok, aid, cats, sizeof cats));
    assert_non_null(strstr(cats, "first-aid:"));
    assert_null(strstr(cats, "water"));
    assert_true(doc_cats(&srv, tok, fire, cats, sizeof cats));
    assert_non_null(strstr(cats, "fire:"));
    assert_false(doc_cats(&srv, tok, novel, cats, sizeof cats)); /* not in the library */
    if (zim) {
        assert_true(doc_cats(&srv, tok, zim, cats, sizeof cats));
        assert_non_null(strstr(cats, "water:"));
    }

    /* a document added later is queued for tagging when the library is browsed */
    static const char NAV[] = "# Finding north\n\nUse the compass and the map; take a bearing "
                              "on a landmark and follow the trail north by the stars.\n";
    long long nav = upload(&srv, tok, surv, "north.md", NAV, sizeof NAV - 1);
    o = call(&srv, "GET", "/survival/documents", tok, NULL, 200);
    long long later = ival(o, "job");
    json_decref(o);
    assert_true(later > 0);
    json_decref(job_wait(&srv, tok, later));
    o = call(&srv, "GET", "/survival/documents", tok, NULL, 200);
    assert_null(json_object_get(o, "job")); /* claimed once */
    json_decref(o);
    assert_true(doc_cats(&srv, tok, nav, cats, sizeof cats));
    assert_non_null(strstr(cats, "navigation:"));

    /* browse by category, with counts */
    assert_true(in_category(&srv, tok, "water", water));
    assert_false(in_category(&srv, tok, "water", aid));
    assert_true(in_category(&srv, tok, "first-aid", aid));
    assert_true(in_category(&srv, tok, "fire", fire));
    assert_false(in_category(&srv, tok, "navigation", water));
    o = call(&srv, "GET", "/survival/categories", tok, NULL, 200);
    json_t *data = json_object_get(o, "data");
    assert_int_equal(json_array_size(data), 8);
    size_t i;
    json_t *c;
    json_array_foreach(data, i, c)
    {
        assert_true(strlen(sval(c, "description")) > 20);
        if (!strcmp(sval(c, "id"), "water")) assert_int_equal(ival(c, "n_documents"), zim ? 2 : 1);
        if (!strcmp(sval(c, "id"), "first-aid")) assert_int_equal(ival(c, "n_documents"), 1);
    }
    assert_string_equal(sval(json_array_get(data, 0), "id"), "water");
    json_decref(o);
    assert_int_equal(status_of(&srv, "GET", "/survival/documents?category=weapons", tok, NULL),
                     400);

    /* search: only the survival library; with a category, only its documents */
    o = call(&srv, "GET", "/survival/search?q=water", tok, NULL, 200);
    json_t *hits = json_object_get(o, "results");
    assert_true(json_array_size(hits) >= 2);
    bool saw_fire = false;
    json_array_foreach(hits, i, c)
    {
        assert_int_equal(ival(c, "collection_id"), surv);
        assert_true(ival(c, "document_id") != novel);
        saw_fire |= ival(c, "document_id") == fire;
    }
    assert_true(saw_fire);
    json_decref(o);
    o = call(&srv, "GET", "/survival/search?q=water&category=fire", tok, NULL, 200);
    hits = json_object_get(o, "results");
    assert_true(json_array_size(hits) >= 1);
    json_array_foreach(hits, i, c) assert_int_equal(ival(c, "document_id"), fire);
    json_decref(o);
    o = call(&srv, "GET", "/survival/search?q=lighthouse", tok, NULL, 200); /* the novel's word */
    assert_int_equal(json_array_size(json_object_get(o, "results")), 0);
    json_decref(o);

    /* ask: answered from the passages, with sources; streamed and not */
    o = call(&srv, "POST", "/survival/ask", tok,
             "{\"question\":\"How do I purify water to drink?\",\"model\":\"stories\","
             "\"max_tokens\":4,\"temperature\":0,\"stream\":false}",
             200);
    json_t *src = json_object_get(o, "sources");
    assert_true(json_array_size(src) >= 1);
    json_array_foreach(src, i, c)
    {
        assert_int_equal(ival(c, "n"), (long long)i + 1);
        assert_int_equal(ival(c, "collection_id"), surv);
        assert_true(ival(c, "document_id") != novel);
        assert_true(ival(c, "chunk_id") > 0);
    }
    assert_true(json_is_string(json_object_get(o, "content")));
    assert_string_equal(sval(o, "model"), "stories");
    long long prompt = ival(json_object_get(o, "usage"), "prompt_tokens");
    assert_true(prompt > 30); /* the passages were read */
    assert_true(ival(json_object_get(o, "usage"), "completion_tokens") >= 1);
    json_decref(o);
    struct sse e;
    ask_stream(&srv, tok,
               "{\"question\":\"How do I stop bleeding from a wound?\",\"category\":\"first-aid\","
               "\"model\":\"stories\",\"max_tokens\":4,\"temperature\":0,\"stream\":true}",
               &e);
    json_t *s0 = json_object_get(e.data[0], "sources");
    assert_true(json_array_size(s0) >= 1);
    json_array_foreach(s0, i, c) assert_int_equal(ival(c, "document_id"), aid);
    json_t *end = e.data[e.n - 1];
    assert_true(json_equal(json_object_get(end, "sources"), s0));
    assert_string_equal(sval(end, "content"), e.deltas);
    assert_true(ival(json_object_get(end, "usage"), "prompt_tokens") > 30);
    for (int k = 1; k < e.n - 1; k++)
        assert_string_equal(e.names[k], "delta");
    sse_free(&e);

    /* nothing found: said so, and no model runs (an unknown one is never loaded) */
    o = call(&srv, "POST", "/survival/ask", tok,
             "{\"question\":\"xylophone quartet rehearsal\",\"model\":\"no-such-model\","
             "\"stream\":false}",
             200);
    assert_int_equal(json_array_size(json_object_get(o, "sources")), 0);
    assert_non_null(strstr(sval(o, "content"), "nothing"));
    assert_true(json_is_null(json_object_get(o, "model")));
    assert_int_equal(ival(json_object_get(o, "usage"), "prompt_tokens"), 0);
    json_decref(o);
    ask_stream(&srv, tok,
               "{\"question\":\"lighthouse keeper letters\",\"model\":\"no-such-model\","
               "\"stream\":true}",
               &e); /* the novel has these words; the survival library does not */
    assert_int_equal(e.n, 3);
    assert_string_equal(e.names[1], "delta");
    assert_int_equal(json_array_size(json_object_get(e.data[2], "sources")), 0);
    assert_non_null(strstr(e.deltas, "nothing"));
    sse_free(&e);
    assert_int_equal(status_of(&srv, "POST", "/survival/ask", tok, "{\"question\":\"\"}"), 400);
    assert_int_equal(
        status_of(&srv, "POST", "/survival/ask", tok, "{\"question\":\"x\",\"category\":\"z\"}"),
        400);

    /* a manual choice wins, also over a retag; null goes back to automatic */
    char path[160];
    snprintf(path, sizeof path, "/survival/documents/%lld/categories", water);
    o = call(&srv, "PUT", path, tok, "{\"categories\":[\"shelter\",\"tools\"]}", 200);
    assert_true(json_is_true(json_object_get(o, "manual")));
    assert_int_equal(json_array_size(json_object_get(o, "categories")), 2);
    json_decref(o);
    res = set_survival(&srv, tok, ids); /* a retag */
    assert_int_equal(ival(res, "kept_manual"), 1);
    assert_int_equal(ival(res, "tagged"), zim ? 5 : 4);
    json_decref(res);
    assert_true(doc_cats(&srv, tok, water, cats, sizeof cats));
    assert_string_equal(cats, "shelter:manual tools:manual");
    assert_false(in_category(&srv, tok, "water", water));
    assert_true(in_category(&srv, tok, "shelter", water));
    assert_int_equal(status_of(&srv, "PUT", path, tok, "{\"categories\":[\"weapons\"]}"), 400);
    o = call(&srv, "PUT", path, tok, "{\"categories\":null}", 200);
    assert_false(json_is_true(json_object_get(o, "manual")));
    long long job = ival(o, "job");
    assert_true(job > 0);
    json_decref(o);
    json_decref(job_wait(&srv, tok, job));
    assert_true(doc_cats(&srv, tok, water, cats, sizeof cats));
    assert_non_null(strstr(cats, "water:rule"));
    assert_null(strstr(cats, "manual"));
    snprintf(path, sizeof path, "/survival/documents/%lld/categories", novel);
    assert_int_equal(status_of(&srv, "PUT", path, tok, "{\"categories\":[\"water\"]}"), 404);

    /* another user: none of it */
    snprintf(path, sizeof path, "/survival/documents/%lld/categories", water);
    assert_int_equal(status_of(&srv, "PUT", path, other, "{\"categories\":[\"water\"]}"), 404);
    assert_int_equal(
        status_of(&srv, "PUT", "/survival/collections", other, "{\"collections\":[999999]}"), 404);
    char body[120];
    snprintf(body, sizeof body, "{\"collections\":[%lld]}", surv);
    assert_int_equal(status_of(&srv, "PUT", "/survival/collections", other, body), 404);
    o = call(&srv, "GET", "/survival/documents", other, NULL, 200);
    assert_int_equal(json_array_size(json_object_get(o, "data")), 0);
    json_decref(o);
    o = call(&srv, "GET", "/survival/search?q=water", other, NULL, 200);
    assert_int_equal(json_array_size(json_object_get(o, "results")), 0);
    json_decref(o);
    o = call(&srv, "GET", "/survival/categories", other, NULL, 200);
    json_array_foreach(json_object_get(o, "data"), i, c)
        assert_int_equal(ival(c, "n_documents"), 0);
    json_decref(o);

    /* leaving the library: its documents leave the survival views */
    o = call(&srv, "PUT", "/survival/collections", tok, "{\"collections\":[]}", 200);
    assert_int_equal(json_array_size(json_object_get(o, "collections")), 0);
    json_decref(o);
    o = call(&srv, "GET", "/survival/documents", tok, NULL, 200);
    assert_int_equal(json_array_size(json_object_get(o, "data")), 0);
    json_decref(o);
    o = call(&srv, "GET", "/survival/search?q=water", tok, NULL, 200);
    assert_int_equal(json_array_size(json_object_get(o, "results")), 0);
    json_decref(o);
    rg_harness_stop(&srv);
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", base);
    sh(cmd);
}

int main(void)
{
    if (!rg_test_data_path(g_model, sizeof g_model, "models/stories260K.gguf")) {
        fprintf(stderr, "SKIP: ../shared/testdata/models/stories260K.gguf is absent\n");
        g_model[0] = '\0';
    }
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_survival)};
    int failed = cmocka_run_group_tests_name("survival/sqlite", tests, NULL, NULL);
    int pg = rg_harness_pg_pass("survival");
    if (pg < 0) return 1;
    if (pg) failed += cmocka_run_group_tests_name("survival/postgres", tests, NULL, NULL);
    return failed;
}
