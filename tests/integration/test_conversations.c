/*
 * Kept conversations through the /chat API (docs/chat.md) against the real
 * server: create, list (filters, paging, search), read, change and delete
 * conversations; tree operations (switching the branch, deleting a subtree,
 * moving into threads) on a tree built by import, since posting messages
 * needs a model; export and import back; who may touch what (another
 * user's ids are 404 and change nothing, a readonly account reads but gets
 * 403 on every write); guessed ids and malformed bodies that store nothing.
 *
 * Runs on SQLite, then again on PostgreSQL when one is reachable (PGHOST set,
 * as under pg_virtualenv; RG_REQUIRE_PG=1 makes its absence a failure), each
 * server on a database of its own.
 */
#include "test.h"

#include <jansson.h>

#include "integration/harness_auth.h"

/* ---- helpers --------------------------------------------------------------- */

static void start(struct rg_server *s)
{
    rg_harness_start(s, "rg_conv", NULL, NULL);
}

static void stop(struct rg_server *s)
{
    rg_harness_stop(s);
}

/* A request with an optional bearer; the status. */
static long req(struct rg_server *s, const char *method, const char *path, const char *bearer,
                const char *body, struct rg_resp *out)
{
    char auth[1200];
    const char *hdrs[4];
    int n = 0;
    hdrs[n++] = "Content-Type: application/json";
    hdrs[n++] = "Accept: application/json";
    if (bearer) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", bearer);
        hdrs[n++] = auth;
    }
    hdrs[n] = NULL;
    memset(out, 0, sizeof *out);
    assert_int_equal(rg_http(s, method, path, hdrs, body, body ? strlen(body) : 0, out), 0);
    return out->status;
}

/* The JSON reply of a request that must answer `want` (NULL for a 204). */
static json_t *call(struct rg_server *s, const char *method, const char *path, const char *bearer,
                    const char *body, long want)
{
    struct rg_resp r;
    long st = req(s, method, path, bearer, body, &r);
    if (st != want)
        fail_msg("%s %s: %ld (wanted %ld) %.*s", method, path, st, want, (int)r.len, r.body);
    if (want == 204) {
        assert_int_equal(r.len, 0);
        rg_resp_free(&r);
        return NULL;
    }
    json_t *o = json_loadb(r.body, r.len, 0, NULL);
    if (!o) fail_msg("%s %s: not JSON: %.*s", method, path, (int)r.len, r.body);
    rg_resp_free(&r);
    return o;
}

/* The status of a request whose reply must be an error object when >= 400. */
static long status_of(struct rg_server *s, const char *method, const char *path, const char *bearer,
                      const char *body)
{
    struct rg_resp r;
    long st = req(s, method, path, bearer, body, &r);
    if (st >= 400 && !strstr(r.body ? r.body : "", "\"error\""))
        fail_msg("%s %s: %ld without an error body", method, path, st);
    rg_resp_free(&r);
    return st;
}

static const char *login(struct rg_server *s, const char *email, int slot)
{
    static char tokens[6][1024];
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

/* The account id of a token. */
static long long me(struct rg_server *s, const char *tok)
{
    json_t *o = call(s, "GET", "/auth/me", tok, NULL, 200);
    long long id = json_integer_value(json_object_get(o, "id"));
    json_decref(o);
    return id;
}

static long long jint(const json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_integer(v)) fail_msg("'%s' is not an integer", key);
    return json_integer_value(v);
}

static const char *jstr(const json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_string(v)) fail_msg("'%s' is not a string", key);
    return json_string_value(v);
}

static long long create(struct rg_server *s, const char *tok, const char *body)
{
    json_t *o = call(s, "POST", "/chat/conversations", tok, body, 201);
    long long id = jint(o, "id");
    assert_true(id > 0);
    json_decref(o);
    return id;
}

static json_t *get_conv(struct rg_server *s, const char *tok, long long id, const char *query)
{
    char path[128];
    snprintf(path, sizeof path, "/chat/conversations/%lld%s", id, query ? query : "");
    return call(s, "GET", path, tok, NULL, 200);
}

/* The list's data for query (after "?"); has_more into *more (may be NULL). */
static json_t *list(struct rg_server *s, const char *tok, const char *query, bool *more)
{
    char path[512];
    snprintf(path, sizeof path, "/chat/conversations%s%s", query ? "?" : "", query ? query : "");
    json_t *o = call(s, "GET", path, tok, NULL, 200);
    json_t *has = json_object_get(o, "has_more");
    assert_true(json_is_boolean(has));
    if (more) *more = json_is_true(has);
    json_t *d = json_incref(json_object_get(o, "data"));
    assert_true(json_is_array(d));
    json_decref(o);
    return d;
}

static size_t list_len(struct rg_server *s, const char *tok, const char *query)
{
    json_t *d = list(s, tok, query, NULL);
    size_t n = json_array_size(d);
    json_decref(d);
    return n;
}

/*
 * The known tree every tree test starts from, as an export (ids are the
 * exporter's: chosen unlike the ones the server will give):
 *
 *   101 user "Hello"                      main
 *   ├─ 102 assistant "Hi there" (m1)      main
 *   │   └─ 106 user "Side question"       Side
 *   │       └─ 107 note "a note"          Side
 *   └─ 103 assistant "Hey" (m2, length)   main
 *       └─ 104 user "Tell me more"        main
 *           └─ 105 assistant "More."      main   <- active leaf
 *   108 user "Second root"                main   (an edit of the first message)
 */
static const char TREE[] =
    "{\"format\":\"rustygpt.conversation\",\"version\":1,"
    "\"conversation\":{\"id\":9,\"title\":\"Imported talk\",\"title_auto\":false,\"model\":\"m1\","
    "\"settings\":{\"system\":\"Be brief.\",\"temperature\":0.5},\"folder\":\"work\","
    "\"tags\":[\"beta\",\"alpha\"],\"archived\":false,\"pinned\":true,\"active_leaf\":105,"
    "\"main_thread\":10,\"n_messages\":8,\"created_at\":1764770000000,"
    "\"updated_at\":1764770500000},"
    "\"threads\":[{\"id\":10,\"conversation_id\":9,\"title\":\"Main line\",\"root_id\":0,"
    "\"collapsed\":false,\"summary_id\":0,\"n_messages\":6,\"created_at\":1764770000000},"
    "{\"id\":11,\"conversation_id\":9,\"title\":\"Side\",\"root_id\":106,\"collapsed\":true,"
    "\"summary_id\":0,\"n_messages\":2,\"created_at\":1764770300000}],"
    "\"messages\":["
    "{\"id\":101,\"thread_id\":10,\"parent_id\":0,\"type\":\"user\",\"role\":\"user\","
    "\"content\":\"Hello\",\"created_at\":1764770100000},"
    "{\"id\":102,\"thread_id\":10,\"parent_id\":101,\"type\":\"assistant\",\"role\":\"assistant\","
    "\"content\":\"Hi there\",\"model\":\"m1\",\"finish\":\"stop\",\"prompt_tokens\":5,"
    "\"completion_tokens\":2,\"duration_ms\":30,\"settings\":{\"temperature\":0.5}},"
    "{\"id\":103,\"thread_id\":10,\"parent_id\":101,\"type\":\"assistant\",\"role\":\"assistant\","
    "\"content\":\"Hey\",\"model\":\"m2\",\"finish\":\"length\",\"incomplete\":false},"
    "{\"id\":104,\"thread_id\":10,\"parent_id\":103,\"type\":\"user\",\"content\":\"Tell me "
    "more\"},"
    "{\"id\":105,\"thread_id\":10,\"parent_id\":104,\"type\":\"assistant\","
    "\"content\":\"More.\\nWith a second line.\",\"model\":\"m1\",\"finish\":\"stop\"},"
    "{\"id\":106,\"thread_id\":11,\"parent_id\":102,\"type\":\"user\","
    "\"content\":\"Side question about zebras\"},"
    "{\"id\":107,\"thread_id\":11,\"parent_id\":106,\"type\":\"note\",\"content\":\"a note\"},"
    "{\"id\":108,\"thread_id\":10,\"parent_id\":0,\"type\":\"user\",\"content\":\"Second root\"}"
    "]}";

#define TREE_N 8

/* Imports body; the new conversation's id. */
static long long import(struct rg_server *s, const char *tok, const char *body)
{
    json_t *o = call(s, "POST", "/chat/import", tok, body, 201);
    long long id = jint(o, "id");
    json_decref(o);
    return id;
}

/* The message of a conversation's tree with this content; fails if none. */
static json_t *by_content(const json_t *conv, const char *content)
{
    size_t i;
    json_t *m;
    json_array_foreach(json_object_get(conv, "messages"), i, m)
    {
        if (!strcmp(jstr(m, "content"), content)) return m;
    }
    fail_msg("no message '%s'", content);
    return NULL;
}

static long long id_of(const json_t *conv, const char *content)
{
    return jint(by_content(conv, content), "id");
}

/* The content of the message of id in conv's messages. */
static const char *content_of(const json_t *conv, long long id)
{
    size_t i;
    json_t *m;
    json_array_foreach(json_object_get(conv, "messages"), i, m)
    {
        if (jint(m, "id") == id) return jstr(m, "content");
    }
    fail_msg("no message %lld", id);
    return NULL;
}

/* The active branch of a tree as contents joined with '|'. */
static void branch_text(const json_t *conv, char *buf, size_t size)
{
    size_t i, n = 0;
    json_t *v;
    buf[0] = '\0';
    json_array_foreach(json_object_get(conv, "branch"), i, v)
    {
        n += (size_t)snprintf(buf + n, size - n, "%s%s", i ? "|" : "",
                              content_of(conv, json_integer_value(v)));
        assert_true(n < size);
    }
}

/* The thread of conv whose title is title; its id (0 when none). */
static long long thread_named(const json_t *conv, const char *title)
{
    size_t i;
    json_t *t;
    json_array_foreach(json_object_get(conv, "threads"), i, t)
    {
        if (!strcmp(jstr(t, "title"), title)) return jint(t, "id");
    }
    return 0;
}

/* ---- conversations: CRUD, filters, paging, search -------------------------------------- */

static void test_crud(void **state)
{
    (void)state;
    struct rg_server srv;
    start(&srv);
    const char *tok = signup(&srv, "a@example.com", 0);
    assert_int_equal(list_len(&srv, tok, NULL), 0);

    json_t *c = call(&srv, "POST", "/chat/conversations", tok,
                     "{\"title\":\"Rust lifetimes\",\"model\":\"m1\",\"settings\":{\"system\":"
                     "\"Be brief.\",\"temperature\":0.7,\"max_tokens\":512},\"folder\":\"work\","
                     "\"tags\":[\"Rust\",\"work\"]}",
                     201);
    long long id = jint(c, "id");
    assert_string_equal(jstr(c, "title"), "Rust lifetimes");
    assert_false(json_is_true(json_object_get(c, "title_auto")));
    assert_string_equal(jstr(c, "model"), "m1");
    assert_string_equal(jstr(c, "folder"), "work");
    json_t *settings = json_object_get(c, "settings");
    assert_string_equal(jstr(settings, "system"), "Be brief.");
    assert_int_equal(jint(settings, "max_tokens"), 512);
    json_t *tags = json_object_get(c, "tags");
    assert_int_equal(json_array_size(tags), 2);
    assert_string_equal(json_string_value(json_array_get(tags, 0)), "rust"); /* normalised */
    assert_string_equal(json_string_value(json_array_get(tags, 1)), "work");
    assert_int_equal(jint(c, "n_messages"), 0);
    assert_int_equal(jint(c, "active_leaf"), 0);
    assert_true(jint(c, "main_thread") > 0);
    assert_true(jint(c, "created_at") > 1700000000000LL); /* milliseconds */
    json_decref(c);

    /* an untitled one: the title job may name it */
    c = call(&srv, "POST", "/chat/conversations", tok, "{}", 201);
    long long untitled = jint(c, "id");
    assert_string_equal(jstr(c, "title"), "");
    assert_true(json_is_true(json_object_get(c, "title_auto")));
    json_decref(c);

    c = get_conv(&srv, tok, id, NULL);
    assert_int_equal(jint(c, "id"), id);
    assert_int_equal(json_array_size(json_object_get(c, "messages")), 0);
    assert_int_equal(json_array_size(json_object_get(c, "branch")), 0);
    json_t *threads = json_object_get(c, "threads");
    assert_int_equal(json_array_size(threads), 1);
    assert_int_equal(jint(json_array_get(threads, 0), "id"), jint(c, "main_thread"));
    json_decref(c);

    char path[96];
    snprintf(path, sizeof path, "/chat/conversations/%lld", id);
    c = call(&srv, "PATCH", path, tok,
             "{\"title\":\"Borrowing\",\"tags\":[\"x\"],\"pinned\":true,\"settings\":{\"top_k\":"
             "40}}",
             200);
    assert_string_equal(jstr(c, "title"), "Borrowing");
    assert_true(json_is_true(json_object_get(c, "pinned")));
    assert_false(json_is_true(json_object_get(c, "archived")));
    assert_string_equal(jstr(c, "folder"), "work"); /* not given: kept */
    assert_string_equal(jstr(c, "model"), "m1");
    assert_int_equal(json_array_size(json_object_get(c, "tags")), 1);
    assert_int_equal(jint(json_object_get(c, "settings"), "top_k"), 40);
    assert_null(json_object_get(json_object_get(c, "settings"), "system")); /* replaced whole */
    json_decref(c);
    c = get_conv(&srv, tok, id, NULL); /* and stored */
    assert_string_equal(jstr(c, "title"), "Borrowing");
    json_decref(c);

    /* emptying the title hands it back to the title job */
    snprintf(path, sizeof path, "/chat/conversations/%lld", untitled);
    c = call(&srv, "PATCH", path, tok, "{\"title\":\"Named\"}", 200);
    assert_false(json_is_true(json_object_get(c, "title_auto")));
    json_decref(c);
    c = call(&srv, "PATCH", path, tok, "{\"title\":\"\"}", 200);
    assert_true(json_is_true(json_object_get(c, "title_auto")));
    json_decref(c);

    json_decref(call(&srv, "DELETE", path, tok, NULL, 204));
    assert_int_equal(status_of(&srv, "GET", path, tok, NULL), 404);
    assert_int_equal(status_of(&srv, "DELETE", path, tok, NULL), 404);
    assert_int_equal(status_of(&srv, "PATCH", path, tok, "{\"title\":\"x\"}"), 404);
    assert_int_equal(list_len(&srv, tok, NULL), 1);
    stop(&srv);
}

static void test_list_filters_and_paging(void **state)
{
    (void)state;
    struct rg_server srv;
    start(&srv);
    const char *tok = signup(&srv, "a@example.com", 0);
    long long ids[5];
    char body[256], path[96];
    for (int i = 0; i < 5; i++) {
        snprintf(body, sizeof body, "{\"title\":\"Chat %d\",\"folder\":\"%s\",\"tags\":[\"%s\"]}",
                 i, i % 2 ? "odd" : "even", i < 2 ? "low" : "high");
        ids[i] = create(&srv, tok, body);
    }
    /* most recently updated first: the newest first */
    json_t *d = list(&srv, tok, NULL, NULL);
    assert_int_equal(json_array_size(d), 5);
    for (int i = 0; i < 5; i++)
        assert_int_equal(jint(json_array_get(d, (size_t)i), "id"), ids[4 - i]);
    json_decref(d);

    /* paging: limit and offset, has_more */
    bool more = false;
    d = list(&srv, tok, "limit=2", &more);
    assert_int_equal(json_array_size(d), 2);
    assert_true(more);
    assert_int_equal(jint(json_array_get(d, 0), "id"), ids[4]);
    json_decref(d);
    d = list(&srv, tok, "limit=2&offset=2", &more);
    assert_int_equal(json_array_size(d), 2);
    assert_true(more);
    assert_int_equal(jint(json_array_get(d, 0), "id"), ids[2]);
    json_decref(d);
    d = list(&srv, tok, "limit=2&offset=4", &more);
    assert_int_equal(json_array_size(d), 1);
    assert_false(more);
    assert_int_equal(jint(json_array_get(d, 0), "id"), ids[0]);
    json_decref(d);
    d = list(&srv, tok, "offset=50", &more);
    assert_int_equal(json_array_size(d), 0);
    assert_false(more);
    json_decref(d);

    /* a change moves a conversation up; a pinned one is first whatever its age */
    snprintf(path, sizeof path, "/chat/conversations/%lld", ids[1]);
    json_decref(call(&srv, "PATCH", path, tok, "{\"pinned\":true}", 200));
    snprintf(path, sizeof path, "/chat/conversations/%lld", ids[3]);
    json_decref(call(&srv, "PATCH", path, tok, "{\"archived\":true}", 200));
    d = list(&srv, tok, NULL, NULL);
    assert_int_equal(json_array_size(d), 4); /* archived ones are left out by default */
    assert_int_equal(jint(json_array_get(d, 0), "id"), ids[1]);
    for (size_t i = 0; i < json_array_size(d); i++)
        assert_true(jint(json_array_get(d, i), "id") != ids[3]);
    json_decref(d);
    d = list(&srv, tok, "archived=1", NULL);
    assert_int_equal(json_array_size(d), 1);
    assert_int_equal(jint(json_array_get(d, 0), "id"), ids[3]);
    json_decref(d);
    assert_int_equal(list_len(&srv, tok, "archived=all"), 5);
    assert_int_equal(list_len(&srv, tok, "archived=0"), 4);

    /* folder and tag */
    assert_int_equal(list_len(&srv, tok, "folder=odd&archived=all"), 2);
    assert_int_equal(list_len(&srv, tok, "folder=even"), 3);
    assert_int_equal(list_len(&srv, tok, "folder=none"), 0);
    assert_int_equal(list_len(&srv, tok, "tag=low"), 2);
    assert_int_equal(list_len(&srv, tok, "tag=high&archived=all"), 3);
    assert_int_equal(list_len(&srv, tok, "tag=high&folder=even"), 2);
    assert_int_equal(list_len(&srv, tok, "tag=nope"), 0);

    /* search: titles, and messages' text (an imported conversation has some) */
    long long imp = import(&srv, tok, TREE);
    json_t *conv = get_conv(&srv, tok, imp, NULL);
    long long zebra = id_of(conv, "Side question about zebras");
    json_decref(conv);
    d = list(&srv, tok, "q=zebras", NULL);
    assert_int_equal(json_array_size(d), 1);
    json_t *hit = json_array_get(d, 0);
    assert_int_equal(jint(hit, "id"), imp);
    json_t *match = json_object_get(hit, "match");
    assert_int_equal(jint(match, "message_id"), zebra);
    assert_non_null(strstr(jstr(match, "snippet"), "zebras"));
    json_decref(d);
    d = list(&srv, tok, "q=CHAT%202&archived=all", NULL); /* every word; any case */
    assert_int_equal(json_array_size(d), 1);
    assert_int_equal(jint(json_array_get(d, 0), "id"), ids[2]);
    json_decref(d);
    assert_int_equal(list_len(&srv, tok, "q=chat%203&archived=all"), 1);
    assert_int_equal(list_len(&srv, tok, "q=chat%203"), 0); /* it is archived */
    assert_int_equal(list_len(&srv, tok, "q=chat"), 4);
    assert_int_equal(list_len(&srv, tok, "q=chat&folder=odd"), 1);
    d = list(&srv, tok, "q=imported", NULL);
    assert_int_equal(json_array_size(d), 1);
    assert_int_equal(jint(json_object_get(json_array_get(d, 0), "match"), "message_id"), 0);
    json_decref(d);
    assert_int_equal(list_len(&srv, tok, "q=zeb"), 1); /* the last word may be a prefix */
    assert_int_equal(list_len(&srv, tok, "q=giraffes"), 0);
    /* without q there is no match object */
    d = list(&srv, tok, NULL, NULL);
    assert_null(json_object_get(json_array_get(d, 0), "match"));
    json_decref(d);
    stop(&srv);
}

/* ---- the tree: read, switch, move, delete ----------------------------------------------- */

static void test_tree_operations(void **state)
{
    (void)state;
    struct rg_server srv;
    start(&srv);
    const char *tok = signup(&srv, "a@example.com", 0);
    long long id = import(&srv, tok, TREE);
    json_t *c = get_conv(&srv, tok, id, NULL);
    assert_int_equal(json_array_size(json_object_get(c, "messages")), TREE_N);
    assert_int_equal(jint(c, "n_messages"), TREE_N);
    long long hello = id_of(c, "Hello"), hi = id_of(c, "Hi there"), hey = id_of(c, "Hey");
    long long more = id_of(c, "Tell me more"), side = id_of(c, "Side question about zebras");
    long long note = id_of(c, "a note"), root2 = id_of(c, "Second root");
    long long last = id_of(c, "More.\nWith a second line.");
    /* oldest first, the tree as exported */
    json_t *msgs = json_object_get(c, "messages");
    for (size_t i = 1; i < json_array_size(msgs); i++)
        assert_true(jint(json_array_get(msgs, i), "id") > jint(json_array_get(msgs, i - 1), "id"));
    assert_int_equal(jint(by_content(c, "Hello"), "parent_id"), 0);
    assert_int_equal(jint(by_content(c, "Hey"), "parent_id"), hello);
    assert_int_equal(jint(by_content(c, "a note"), "parent_id"), side);
    assert_int_equal(jint(by_content(c, "Hello"), "n_children"), 2);
    /* versions of one turn: siblings oldest first, and this one's place */
    json_t *m = by_content(c, "Hey");
    json_t *sib = json_object_get(m, "siblings");
    assert_int_equal(json_array_size(sib), 2);
    assert_int_equal(json_integer_value(json_array_get(sib, 0)), hi);
    assert_int_equal(json_integer_value(json_array_get(sib, 1)), hey);
    assert_int_equal(jint(m, "sibling_index"), 1);
    m = by_content(c, "Second root"); /* roots are versions of each other */
    assert_int_equal(jint(m, "sibling_index"), 1);
    assert_int_equal(json_array_size(json_object_get(m, "siblings")), 2);
    assert_string_equal(jstr(by_content(c, "a note"), "type"), "note");
    assert_string_equal(jstr(by_content(c, "Hey"), "finish"), "length");
    assert_string_equal(jstr(by_content(c, "Hey"), "model"), "m2");
    assert_int_equal(jint(by_content(c, "Hi there"), "completion_tokens"), 2);
    char text[512];
    branch_text(c, text, sizeof text);
    assert_string_equal(text, "Hello|Hey|Tell me more|More.\nWith a second line.");
    assert_int_equal(jint(c, "active_leaf"), last);
    /* threads as exported */
    long long main_t = jint(c, "main_thread"), side_t = thread_named(c, "Side");
    assert_int_equal(thread_named(c, "Main line"), main_t);
    assert_true(side_t > 0 && side_t != main_t);
    assert_int_equal(jint(by_content(c, "a note"), "thread_id"), side_t);
    assert_int_equal(jint(by_content(c, "Hello"), "thread_id"), main_t);
    json_decref(c);

    /* ?view=branch: only the active path, root first, still with siblings */
    c = get_conv(&srv, tok, id, "?view=branch");
    msgs = json_object_get(c, "messages");
    assert_int_equal(json_array_size(msgs), 4);
    assert_int_equal(jint(json_array_get(msgs, 0), "id"), hello);
    assert_int_equal(jint(json_array_get(msgs, 1), "id"), hey);
    assert_int_equal(jint(json_array_get(msgs, 1), "sibling_index"), 1);
    assert_int_equal(jint(json_array_get(msgs, 3), "id"), last);
    json_decref(c);

    /* switching to the other version follows its newest answers down to a leaf */
    char path[96], body[128];
    snprintf(path, sizeof path, "/chat/conversations/%lld/active", id);
    snprintf(body, sizeof body, "{\"message_id\":%lld}", hi);
    json_t *a = call(&srv, "POST", path, tok, body, 200);
    assert_int_equal(jint(a, "active_leaf"), note);
    json_t *br = json_object_get(a, "branch");
    assert_int_equal(json_array_size(br), 4);
    assert_int_equal(json_integer_value(json_array_get(br, 0)), hello);
    assert_int_equal(json_integer_value(json_array_get(br, 1)), hi);
    assert_int_equal(json_integer_value(json_array_get(br, 3)), note);
    json_decref(a);
    c = get_conv(&srv, tok, id, NULL);
    assert_int_equal(jint(c, "active_leaf"), note); /* stored */
    json_decref(c);
    snprintf(body, sizeof body, "{\"message_id\":%lld}", root2);
    a = call(&srv, "POST", path, tok, body, 200);
    assert_int_equal(jint(a, "active_leaf"), root2);
    assert_int_equal(json_array_size(json_object_get(a, "branch")), 1);
    json_decref(a);

    /* a message and its subtree into a new thread, and back */
    snprintf(path, sizeof path, "/chat/messages/%lld/move", more);
    json_t *t = call(&srv, "POST", path, tok, "{\"new_thread\":{\"title\":\"Moved\"}}", 200);
    long long moved_t = jint(t, "id");
    assert_string_equal(jstr(t, "title"), "Moved");
    assert_int_equal(jint(t, "root_id"), more);
    assert_int_equal(jint(t, "conversation_id"), id);
    json_decref(t);
    c = get_conv(&srv, tok, id, NULL);
    assert_int_equal(jint(by_content(c, "Tell me more"), "thread_id"), moved_t);
    assert_int_equal(jint(by_content(c, "More.\nWith a second line."), "thread_id"), moved_t);
    assert_int_equal(jint(by_content(c, "Hey"), "thread_id"), main_t);
    assert_int_equal(jint(by_content(c, "Tell me more"), "parent_id"), hey); /* not reparented */
    assert_int_equal(json_array_size(json_object_get(c, "threads")), 3);
    json_decref(c);
    snprintf(body, sizeof body, "{\"thread_id\":%lld}", main_t);
    t = call(&srv, "POST", path, tok, body, 200);
    assert_int_equal(jint(t, "id"), main_t);
    json_decref(t);
    c = get_conv(&srv, tok, id, NULL);
    assert_int_equal(thread_named(c, "Moved"), 0); /* left empty: gone */
    assert_int_equal(jint(by_content(c, "More.\nWith a second line."), "thread_id"), main_t);
    json_decref(c);

    /* threads: rename, collapse */
    snprintf(path, sizeof path, "/chat/threads/%lld", side_t);
    t = call(&srv, "PATCH", path, tok, "{\"title\":\"Zebras\",\"collapsed\":false}", 200);
    assert_string_equal(jstr(t, "title"), "Zebras");
    assert_false(json_is_true(json_object_get(t, "collapsed")));
    json_decref(t);
    t = call(&srv, "PATCH", path, tok, "{\"collapsed\":true}", 200);
    assert_string_equal(jstr(t, "title"), "Zebras");
    assert_true(json_is_true(json_object_get(t, "collapsed")));
    json_decref(t);

    /* deleting a message takes its subtree; the active leaf in it moves up
     * to the parent, then down its newest remaining answers */
    snprintf(path, sizeof path, "/chat/conversations/%lld/active", id);
    snprintf(body, sizeof body, "{\"message_id\":%lld}", last);
    json_decref(call(&srv, "POST", path, tok, body, 200));
    snprintf(path, sizeof path, "/chat/messages/%lld", hey);
    json_decref(call(&srv, "DELETE", path, tok, NULL, 204));
    assert_int_equal(status_of(&srv, "DELETE", path, tok, NULL), 404);
    c = get_conv(&srv, tok, id, NULL);
    assert_int_equal(json_array_size(json_object_get(c, "messages")), TREE_N - 3);
    assert_int_equal(jint(c, "n_messages"), TREE_N - 3);
    assert_int_equal(jint(c, "active_leaf"), note);
    branch_text(c, text, sizeof text);
    assert_string_equal(text, "Hello|Hi there|Side question about zebras|a note");
    m = by_content(c, "Hi there");
    assert_int_equal(json_array_size(json_object_get(m, "siblings")), 1);
    assert_int_equal(jint(m, "sibling_index"), 0);
    json_decref(c);
    /* the deleted ones are gone for every route */
    snprintf(path, sizeof path, "/chat/messages/%lld/move", last);
    assert_int_equal(status_of(&srv, "POST", path, tok, "{\"new_thread\":{}}"), 404);
    snprintf(path, sizeof path, "/chat/conversations/%lld/active", id);
    snprintf(body, sizeof body, "{\"message_id\":%lld}", more);
    assert_int_equal(status_of(&srv, "POST", path, tok, body), 404);
    stop(&srv);
}

/* ---- export and import --------------------------------------------------------------------- */

/* Two conversations hold the same tree: the same messages in the same
 * order with the same content, type, role, model and finish, the same
 * parent (by position), threads (by title) and active branch. */
static void assert_same_tree(const json_t *a, const json_t *b)
{
    json_t *ma = json_object_get(a, "messages"), *mb = json_object_get(b, "messages");
    assert_int_equal(json_array_size(ma), json_array_size(mb));
    for (size_t i = 0; i < json_array_size(ma); i++) {
        json_t *x = json_array_get(ma, i), *y = json_array_get(mb, i);
        static const char *const fields[] = {"content", "type", "role", "model", "finish"};
        for (size_t f = 0; f < sizeof fields / sizeof *fields; f++)
            assert_string_equal(jstr(x, fields[f]), jstr(y, fields[f]));
        assert_int_equal(json_is_true(json_object_get(x, "incomplete")),
                         json_is_true(json_object_get(y, "incomplete")));
        assert_int_equal(jint(x, "sibling_index"), jint(y, "sibling_index"));
        assert_int_equal(jint(x, "completion_tokens"), jint(y, "completion_tokens"));
        assert_true(json_equal(json_object_get(x, "settings"), json_object_get(y, "settings")));
        long long px = jint(x, "parent_id"), py = jint(y, "parent_id");
        assert_int_equal(px == 0, py == 0);
        if (px) assert_string_equal(content_of(a, px), content_of(b, py));
        /* the same thread, by title */
        const char *tx = NULL, *ty = NULL;
        size_t k;
        json_t *t;
        json_array_foreach(json_object_get(a, "threads"), k, t)
        {
            if (jint(t, "id") == jint(x, "thread_id")) tx = jstr(t, "title");
        }
        json_array_foreach(json_object_get(b, "threads"), k, t)
        {
            if (jint(t, "id") == jint(y, "thread_id")) ty = jstr(t, "title");
        }
        assert_non_null(tx);
        assert_non_null(ty);
        assert_string_equal(tx, ty);
    }
    char ba[1024], bb[1024];
    branch_text(a, ba, sizeof ba);
    branch_text(b, bb, sizeof bb);
    assert_string_equal(ba, bb);
    assert_int_equal(json_array_size(json_object_get(a, "threads")),
                     json_array_size(json_object_get(b, "threads")));
    static const char *const conv_fields[] = {"title", "model", "folder"};
    for (size_t f = 0; f < sizeof conv_fields / sizeof *conv_fields; f++)
        assert_string_equal(jstr(a, conv_fields[f]), jstr(b, conv_fields[f]));
    static const char *const same[] = {"settings", "tags", "pinned", "archived", "title_auto"};
    for (size_t f = 0; f < sizeof same / sizeof *same; f++)
        if (!json_equal(json_object_get(a, same[f]), json_object_get(b, same[f])))
            fail_msg("'%s' differs", same[f]);
}

static void test_export_import_round_trip(void **state)
{
    (void)state;
    struct rg_server srv;
    start(&srv);
    const char *tok = signup(&srv, "a@example.com", 0);
    long long id = import(&srv, tok, TREE);
    json_t *first = get_conv(&srv, tok, id, NULL);
    assert_string_equal(jstr(first, "title"), "Imported talk");
    assert_true(json_is_true(json_object_get(first, "pinned")));
    assert_int_equal(json_array_size(json_object_get(first, "tags")), 2);
    assert_string_equal(jstr(json_object_get(first, "settings"), "system"), "Be brief.");
    assert_true(json_is_true(json_object_get(json_array_get(json_object_get(first, "threads"), 1),
                                             "collapsed"))); /* as exported */

    char path[96];
    snprintf(path, sizeof path, "/chat/conversations/%lld/export", id);
    json_t *ex = call(&srv, "GET", path, tok, NULL, 200);
    assert_string_equal(jstr(ex, "format"), "rustygpt.conversation");
    assert_int_equal(jint(ex, "version"), 1);
    assert_int_equal(jint(json_object_get(ex, "conversation"), "id"), id);
    assert_int_equal(json_array_size(json_object_get(ex, "messages")), TREE_N);
    assert_int_equal(json_array_size(json_object_get(ex, "threads")), 2);
    snprintf(path, sizeof path, "/chat/conversations/%lld/export?format=json", id);
    json_t *ex2 = call(&srv, "GET", path, tok, NULL, 200);
    assert_true(json_equal(ex, ex2));
    json_decref(ex2);

    /* and back: a second conversation with new ids and the same tree */
    char *txt = json_dumps(ex, JSON_COMPACT);
    long long id2 = import(&srv, tok, txt);
    free(txt);
    json_decref(ex);
    assert_true(id2 != id);
    json_t *second = get_conv(&srv, tok, id2, NULL);
    assert_same_tree(first, second);
    assert_true(jint(second, "active_leaf") != jint(first, "active_leaf")); /* new ids */
    assert_int_equal(list_len(&srv, tok, NULL), 2);
    json_decref(first);

    /* Markdown: the active branch, a title line, headings, content as is */
    snprintf(path, sizeof path, "/chat/conversations/%lld/export?format=markdown", id2);
    const char *hdrs[] = {NULL, NULL};
    char auth[1200];
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", tok);
    hdrs[0] = auth;
    struct rg_resp r;
    assert_int_equal(rg_http(&srv, "GET", path, hdrs, NULL, 0, &r), 0);
    assert_int_equal(r.status, 200);
    char h[256];
    assert_non_null(rg_resp_header(&r, "Content-Type", h, sizeof h));
    assert_non_null(strstr(h, "text/markdown"));
    assert_non_null(rg_resp_header(&r, "Content-Disposition", h, sizeof h));
    assert_true(!strncmp(h, "attachment", 10));
    const char *want = "# Imported talk\n\n"
                       "## You\n\nHello\n\n"
                       "## Assistant (m2)\n\nHey\n\n"
                       "## You\n\nTell me more\n\n"
                       "## Assistant (m1)\n\nMore.\nWith a second line.\n";
    if (r.len < strlen(want) || strncmp(r.body, want, strlen(want)) != 0)
        fail_msg("markdown:\n%.*s", (int)r.len, r.body);
    assert_null(strstr(r.body, "Hi there")); /* another branch */
    assert_null(strstr(r.body, "Second root"));
    rg_resp_free(&r);

    /* the branch switched: the Markdown follows it */
    long long hi = id_of(second, "Hi there");
    json_decref(second);
    char body[96];
    snprintf(body, sizeof body, "{\"message_id\":%lld}", hi);
    snprintf(path, sizeof path, "/chat/conversations/%lld/active", id2);
    json_decref(call(&srv, "POST", path, tok, body, 200));
    snprintf(path, sizeof path, "/chat/conversations/%lld/export?format=markdown", id2);
    assert_int_equal(rg_http(&srv, "GET", path, hdrs, NULL, 0, &r), 0);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "## Assistant (m1)\n\nHi there\n\n## You\n\nSide question"));
    assert_non_null(strstr(r.body, "## Note\n\na note"));
    assert_null(strstr(r.body, "Tell me more"));
    rg_resp_free(&r);
    snprintf(path, sizeof path, "/chat/conversations/%lld/export?format=pdf", id2);
    assert_int_equal(status_of(&srv, "GET", path, tok, NULL), 400);

    /* a wide tree (as many versions of one turn as an import may hold), read
     * whole: every version lists them all, oldest first */
    size_t cap = 128 + 202 * 64;
    char *wide = malloc(cap);
    size_t len = (size_t)snprintf(wide, cap,
                                  "{\"format\":\"rustygpt.conversation\",\"version\":1,"
                                  "\"conversation\":{\"active_leaf\":1000},\"messages\":[");
    for (int i = 1; i <= 200; i++)
        len += (size_t)snprintf(wide + len, cap - len,
                                "%s{\"id\":%d,\"type\":\"user\",\"content\":\"v%d\"}",
                                i > 1 ? "," : "", i, i);
    len += (size_t)snprintf(wide + len, cap - len,
                            ",{\"id\":1000,\"parent_id\":150,\"type\":\"assistant\","
                            "\"content\":\"answer\"}]}");
    assert_true(len < cap);
    long long wid = import(&srv, tok, wide);
    free(wide);
    json_t *w = get_conv(&srv, tok, wid, NULL);
    json_t *wm = json_object_get(w, "messages");
    assert_int_equal(json_array_size(wm), 201);
    for (size_t i = 0; i < 200; i++) {
        json_t *v = json_array_get(wm, i), *vs = json_object_get(v, "siblings");
        char want_content[16];
        snprintf(want_content, sizeof want_content, "v%zu", i + 1);
        assert_string_equal(jstr(v, "content"), want_content);
        assert_int_equal(jint(v, "sibling_index"), i);
        assert_int_equal(json_array_size(vs), 200);
        assert_int_equal(json_integer_value(json_array_get(vs, i)), jint(v, "id"));
    }
    json_t *ans = by_content(w, "answer");
    assert_int_equal(json_array_size(json_object_get(ans, "siblings")), 1);
    assert_int_equal(jint(ans, "sibling_index"), 0);
    assert_int_equal(jint(ans, "parent_id"), id_of(w, "v150"));
    char text[64];
    branch_text(w, text, sizeof text);
    assert_string_equal(text, "v150|answer");
    json_decref(w);
    w = get_conv(&srv, tok, wid, "?view=branch");
    wm = json_object_get(w, "messages");
    assert_int_equal(json_array_size(wm), 2);
    assert_int_equal(jint(json_array_get(wm, 0), "sibling_index"), 149);
    json_decref(w);

    /* a minimal hand-made export: no threads, no ids for the main thread */
    long long id3 = import(&srv, tok,
                           "{\"format\":\"rustygpt.conversation\",\"version\":1,\"conversation\":{"
                           "\"title\":\"Tiny\"},\"messages\":[{\"id\":1,\"type\":\"user\","
                           "\"content\":\"only\"},{\"id\":2,\"parent_id\":1,\"type\":"
                           "\"assistant\",\"content\":\"reply\"}]}");
    json_t *tiny = get_conv(&srv, tok, id3, NULL);
    assert_int_equal(json_array_size(json_object_get(tiny, "messages")), 2);
    assert_int_equal(jint(by_content(tiny, "reply"), "parent_id"), id_of(tiny, "only"));
    assert_int_equal(jint(by_content(tiny, "reply"), "thread_id"), jint(tiny, "main_thread"));
    assert_string_equal(jstr(by_content(tiny, "reply"), "role"), "assistant");
    json_decref(tiny);
    stop(&srv);
}

static void test_import_refused(void **state)
{
    (void)state;
    struct rg_server srv;
    start(&srv);
    const char *tok = signup(&srv, "a@example.com", 0);
#define HEAD                                                                                       \
    "{\"format\":\"rustygpt.conversation\",\"version\":1,\"conversation\":{\"title\":\"x\"},"
#define M1 "{\"id\":1,\"type\":\"user\",\"content\":\"a\"}"
    const char *bad[] = {
        /* the parent is later in the list, or not in it */
        HEAD "\"messages\":[{\"id\":2,\"parent_id\":1,\"type\":\"user\",\"content\":\"b\"}," M1
             "]}",
        HEAD "\"messages\":[" M1
             ",{\"id\":2,\"parent_id\":7,\"type\":\"user\",\"content\":\"b\"}]}",
        HEAD "\"messages\":[" M1
             ",{\"id\":2,\"parent_id\":2,\"type\":\"user\",\"content\":\"b\"}]}",
        /* ids */
        HEAD "\"messages\":[" M1 "," M1 "]}",
        HEAD "\"messages\":[{\"type\":\"user\",\"content\":\"a\"}]}",
        HEAD "\"messages\":[{\"id\":0,\"type\":\"user\",\"content\":\"a\"}]}",
        HEAD "\"messages\":[{\"id\":-3,\"type\":\"user\",\"content\":\"a\"}]}",
        HEAD "\"messages\":[{\"id\":\"1\",\"type\":\"user\",\"content\":\"a\"}]}",
        /* threads */
        HEAD "\"threads\":[{\"id\":5}],\"messages\":[{\"id\":1,\"thread_id\":6,\"type\":\"user\","
             "\"content\":\"a\"}]}",
        HEAD "\"threads\":[{\"id\":5},{\"id\":5}],\"messages\":[]}",
        HEAD "\"threads\":[{\"id\":5,\"bogus\":1}],\"messages\":[]}",
        HEAD "\"threads\":{},\"messages\":[]}",
        /* what storage would refuse midway is refused before anything is made */
        HEAD "\"threads\":[{\"id\":5},{\"id\":6,\"title\":\"bad\\u0007\"}],\"messages\":[{"
             "\"id\":1,\"thread_id\":5,\"type\":\"user\",\"content\":\"a\"},{\"id\":2,"
             "\"thread_id\":6,\"type\":\"user\",\"content\":\"b\"}]}",
        HEAD "\"messages\":[" M1 ",{\"id\":2,\"type\":\"user\",\"model\":\"a\\nb\","
             "\"content\":\"b\"}]}",
        "{\"format\":\"rustygpt.conversation\",\"version\":1,\"conversation\":{\"main_thread\":4},"
        "\"threads\":[{\"id\":5}],\"messages\":[]}",
        /* fields, types, sizes */
        HEAD "\"messages\":[{\"id\":1,\"type\":\"robot\",\"content\":\"a\"}]}",
        HEAD "\"messages\":[{\"id\":1,\"content\":\"a\"}]}",
        HEAD "\"messages\":[{\"id\":1,\"type\":\"user\",\"content\":7}]}",
        HEAD "\"messages\":[{\"id\":1,\"type\":\"user\",\"role\":\"robot\",\"content\":\"a\"}]}",
        HEAD "\"messages\":[{\"id\":1,\"type\":\"user\",\"finish\":\"done\",\"content\":\"a\"}]}",
        HEAD "\"messages\":[{\"id\":1,\"type\":\"user\",\"settings\":[1],\"content\":\"a\"}]}",
        HEAD "\"messages\":[{\"id\":1,\"type\":\"user\",\"content\":\"a\",\"extra\":true}]}",
        HEAD "\"messages\":[{\"id\":1,\"type\":\"user\",\"content\":\"a\",\"incomplete\":1}]}",
        HEAD "\"messages\":[1]}",
        HEAD "\"messages\":{}}",
        "{\"format\":\"rustygpt.conversation\",\"version\":1,\"conversation\":{\"active_leaf\":9},"
        "\"messages\":[" M1 "]}",
        "{\"format\":\"rustygpt.conversation\",\"version\":1,\"conversation\":{\"tags\":\"a\"}}",
        "{\"format\":\"rustygpt.conversation\",\"version\":1,\"conversation\":{\"settings\":"
        "{\"temperature\":9}}}",
        "{\"format\":\"rustygpt.conversation\",\"version\":1,\"conversation\":{\"who\":1}}",
        "{\"format\":\"rustygpt.conversation\",\"version\":1,\"conversation\":[]}",
        "{\"format\":\"rustygpt.conversation\",\"version\":1}",
        "{\"format\":\"rustygpt.conversation\",\"version\":2,\"conversation\":{}}",
        "{\"format\":\"other\",\"version\":1,\"conversation\":{}}",
        "{\"version\":1,\"conversation\":{}}",
        "{\"format\":\"rustygpt.conversation\",\"version\":1,\"conversation\":{},\"x\":[]}",
        "[]",
        "{\"format\":",
    };
#undef HEAD
#undef M1
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        struct rg_resp r;
        long st = req(&srv, "POST", "/chat/import", tok, bad[i], &r);
        if (st != 400) fail_msg("import %zu: %ld %.*s", i, st, (int)r.len, r.body);
        assert_non_null(strstr(r.body, "\"error\""));
        rg_resp_free(&r);
    }
    /* a title over the limit */
    char *big = malloc(300);
    snprintf(big, 300,
             "{\"format\":\"rustygpt.conversation\",\"version\":1,\"conversation\":{"
             "\"title\":\"%0201d\"}}",
             0);
    assert_int_equal(status_of(&srv, "POST", "/chat/import", tok, big), 400);
    free(big);
    /* more versions of one turn than an import may hold */
    size_t cap = 64 + 201 * 48;
    char *wide = malloc(cap);
    size_t len = (size_t)snprintf(wide, cap,
                                  "{\"format\":\"rustygpt.conversation\",\"version\":1,"
                                  "\"conversation\":{},\"messages\":[");
    for (int i = 1; i <= 201; i++)
        len += (size_t)snprintf(wide + len, cap - len, "%s{\"id\":%d,\"type\":\"user\"}",
                                i > 1 ? "," : "", i);
    snprintf(wide + len, cap - len, "]}");
    assert_int_equal(status_of(&srv, "POST", "/chat/import", tok, wide), 400);
    free(wide);
    assert_int_equal(list_len(&srv, tok, "archived=all"), 0); /* nothing was created */
    /* a valid one still goes in */
    long long ok = import(&srv, tok,
                          "{\"format\":\"rustygpt.conversation\",\"version\":1,\"conversation\":"
                          "{},\"messages\":[{\"id\":1,\"type\":\"user\",\"content\":\"a\"}]}");
    assert_true(ok > 0);
    assert_int_equal(list_len(&srv, tok, "archived=all"), 1);
    stop(&srv);
}

/* ---- who may touch what ------------------------------------------------------------------- */

/* Every route of the store half on conversation conv, message msg and
 * thread thr, each with a body that would be valid; *n gets how many. */
struct probe {
    const char *method;
    char path[128];
    char body[128];
    bool write;
};

static size_t probes(struct probe *p, long long conv, long long msg, long long thr)
{
    size_t n = 0;
#define P(m, w, b, ...)                                                                            \
    do {                                                                                           \
        p[n].method = m;                                                                           \
        p[n].write = w;                                                                            \
        snprintf(p[n].path, sizeof p[n].path, __VA_ARGS__);                                        \
        snprintf(p[n].body, sizeof p[n].body, "%s", b);                                            \
        n++;                                                                                       \
    } while (0)
    char body[128];
    P("GET", false, "", "/chat/conversations/%lld", conv);
    P("GET", false, "", "/chat/conversations/%lld?view=branch", conv);
    P("GET", false, "", "/chat/conversations/%lld/export", conv);
    P("GET", false, "", "/chat/conversations/%lld/export?format=markdown", conv);
    P("PATCH", true, "{\"title\":\"taken\"}", "/chat/conversations/%lld", conv);
    snprintf(body, sizeof body, "{\"message_id\":%lld}", msg);
    P("POST", true, body, "/chat/conversations/%lld/active", conv);
    P("POST", true, "{\"new_thread\":{\"title\":\"t\"}}", "/chat/messages/%lld/move", msg);
    snprintf(body, sizeof body, "{\"thread_id\":%lld}", thr);
    P("POST", true, body, "/chat/messages/%lld/move", msg);
    P("PATCH", true, "{\"title\":\"taken\"}", "/chat/threads/%lld", thr);
    P("DELETE", true, "", "/chat/messages/%lld", msg);
    P("DELETE", true, "", "/chat/conversations/%lld", conv);
#undef P
    return n;
}

static void test_other_users_ids(void **state)
{
    (void)state;
    struct rg_server srv;
    start(&srv);
    const char *a = signup(&srv, "a@example.com", 0);
    const char *b = signup(&srv, "b@example.com", 1);
    long long conv = import(&srv, a, TREE);
    json_t *before = get_conv(&srv, a, conv, NULL);
    long long msg = id_of(before, "Hey"), thr = thread_named(before, "Side");
    long long b_conv = import(&srv, b, TREE);
    json_t *b_before = get_conv(&srv, b, b_conv, NULL);

    struct probe p[16];
    size_t n = probes(p, conv, msg, thr);
    for (size_t i = 0; i < n; i++) {
        long st = status_of(&srv, p[i].method, p[i].path, b, p[i].body[0] ? p[i].body : NULL);
        if (st != 404) fail_msg("%s %s as another user: %ld", p[i].method, p[i].path, st);
    }
    /* mixing: B's own conversation with A's message or thread */
    char path[96], body[96];
    snprintf(path, sizeof path, "/chat/conversations/%lld/active", b_conv);
    snprintf(body, sizeof body, "{\"message_id\":%lld}", msg);
    assert_int_equal(status_of(&srv, "POST", path, b, body), 404);
    snprintf(path, sizeof path, "/chat/messages/%lld/move", id_of(b_before, "Hey"));
    snprintf(body, sizeof body, "{\"thread_id\":%lld}", thr);
    assert_int_equal(status_of(&srv, "POST", path, b, body), 404);
    /* nor A's message into another of A's own conversations' threads */
    long long conv2 = import(&srv, a, TREE);
    json_t *other = get_conv(&srv, a, conv2, NULL);
    snprintf(path, sizeof path, "/chat/messages/%lld/move", msg);
    snprintf(body, sizeof body, "{\"thread_id\":%lld}", thread_named(other, "Side"));
    assert_int_equal(status_of(&srv, "POST", path, a, body), 404);
    snprintf(path, sizeof path, "/chat/conversations/%lld/active", conv2);
    snprintf(body, sizeof body, "{\"message_id\":%lld}", msg);
    assert_int_equal(status_of(&srv, "POST", path, a, body), 404);
    json_decref(other);

    /* nothing changed, and the lists are each their own */
    json_t *after = get_conv(&srv, a, conv, NULL);
    assert_true(json_equal(before, after));
    json_decref(after);
    after = get_conv(&srv, b, b_conv, NULL);
    assert_true(json_equal(b_before, after));
    json_decref(after);
    json_t *d = list(&srv, b, "archived=all", NULL);
    assert_int_equal(json_array_size(d), 1);
    assert_int_equal(jint(json_array_get(d, 0), "id"), b_conv);
    json_decref(d);
    assert_int_equal(list_len(&srv, b, "q=zebras"), 1); /* search too: only B's own */
    assert_int_equal(list_len(&srv, a, "q=zebras"), 2);

    /* A is the first account, an admin: that gives no way into B's */
    json_t *bm = json_object_get(b_before, "messages");
    n = probes(p, b_conv, jint(json_array_get(bm, 0), "id"), thread_named(b_before, "Side"));
    for (size_t i = 0; i < n; i++) {
        long st = status_of(&srv, p[i].method, p[i].path, a, p[i].body[0] ? p[i].body : NULL);
        if (st != 404) fail_msg("%s %s as an admin: %ld", p[i].method, p[i].path, st);
    }
    after = get_conv(&srv, b, b_conv, NULL);
    assert_true(json_equal(b_before, after));
    json_decref(after);
    assert_int_equal(status_of(&srv, "GET", "/chat/conversations", NULL, NULL), 401);
    assert_int_equal(status_of(&srv, "GET", "/chat/conversations", NULL, NULL), 401);
    snprintf(path, sizeof path, "/chat/conversations/%lld", conv);
    assert_int_equal(status_of(&srv, "GET", path, NULL, NULL), 401);
    json_decref(before);
    json_decref(b_before);
    stop(&srv);
}

static void test_readonly(void **state)
{
    (void)state;
    struct rg_server srv;
    start(&srv);
    const char *admin = signup(&srv, "admin@example.com", 0); /* the first account */
    const char *u = signup(&srv, "u@example.com", 1);
    long long conv = import(&srv, u, TREE);
    json_t *before = get_conv(&srv, u, conv, NULL);
    long long msg = id_of(before, "Hey"), thr = thread_named(before, "Side");
    char path[96];
    snprintf(path, sizeof path, "/admin/users/%lld", me(&srv, u));
    json_decref(call(&srv, "PATCH", path, admin, "{\"role\":\"readonly\"}", 200));
    const char *ro = login(&srv, "u@example.com", 2);

    struct probe p[16];
    size_t n = probes(p, conv, msg, thr);
    for (size_t i = 0; i < n; i++) {
        long st = status_of(&srv, p[i].method, p[i].path, ro, p[i].body[0] ? p[i].body : NULL);
        if (st != (p[i].write ? 403 : 200))
            fail_msg("%s %s as readonly: %ld", p[i].method, p[i].path, st);
    }
    assert_int_equal(status_of(&srv, "POST", "/chat/conversations", ro, "{}"), 403);
    assert_int_equal(status_of(&srv, "POST", "/chat/import", ro, TREE), 403);
    assert_int_equal(list_len(&srv, ro, NULL), 1);
    assert_int_equal(list_len(&srv, ro, "q=zebras"), 1);
    json_t *after = get_conv(&srv, ro, conv, NULL);
    assert_true(json_equal(before, after));
    json_decref(after);
    json_decref(before);
    stop(&srv);
}

/* ---- guessed ids and malformed input --------------------------------------------------------- */

static void test_guessed_ids(void **state)
{
    (void)state;
    struct rg_server srv;
    start(&srv);
    const char *tok = signup(&srv, "a@example.com", 0);
    long long conv = import(&srv, tok, TREE);
    json_t *before = get_conv(&srv, tok, conv, NULL);
    long long top = 0;
    size_t i;
    json_t *m;
    json_array_foreach(json_object_get(before, "messages"), i, m)
    {
        if (jint(m, "id") > top) top = jint(m, "id");
    }
    long long thr = thread_named(before, "Side");
    char guess[6][32];
    snprintf(guess[0], sizeof guess[0], "%lld", (conv > top ? conv : top) + thr + 1);
    snprintf(guess[1], sizeof guess[1], "0");
    snprintf(guess[2], sizeof guess[2], "-1");
    snprintf(guess[3], sizeof guess[3], "99999999999999999999999");
    snprintf(guess[4], sizeof guess[4], "abc");
    snprintf(guess[5], sizeof guess[5], "9223372036854775807");
    static const char *const paths[][4] = {
        {"GET", "/chat/conversations/", "", NULL},
        {"PATCH", "/chat/conversations/", "", "{\"title\":\"x\"}"},
        {"DELETE", "/chat/conversations/", "", NULL},
        {"POST", "/chat/conversations/", "/active", "{\"message_id\":1}"},
        {"GET", "/chat/conversations/", "/export", NULL},
        {"DELETE", "/chat/messages/", "", NULL},
        {"POST", "/chat/messages/", "/move", "{\"new_thread\":{}}"},
        {"PATCH", "/chat/threads/", "", "{\"title\":\"x\"}"},
    };
    for (size_t g = 0; g < 6; g++)
        for (size_t k = 0; k < sizeof paths / sizeof *paths; k++) {
            char path[256];
            snprintf(path, sizeof path, "%s%s%s", paths[k][1], guess[g], paths[k][2]);
            long st = status_of(&srv, paths[k][0], path, tok, paths[k][3]);
            if (st != 404) fail_msg("%s %s: %ld", paths[k][0], path, st);
        }
    /* ids in bodies: not positive integers are 400, unknown ones 404 */
    char path[96], body[128];
    snprintf(path, sizeof path, "/chat/conversations/%lld/active", conv);
    const char *bad_ids[] = {"0", "-1", "\"5\"", "1.5", "null", "true", "99999999999999999999999"};
    for (size_t k = 0; k < sizeof bad_ids / sizeof *bad_ids; k++) {
        snprintf(body, sizeof body, "{\"message_id\":%s}", bad_ids[k]);
        long st = status_of(&srv, "POST", path, tok, body);
        if (st != 400) fail_msg("message_id %s: %ld", bad_ids[k], st);
    }
    snprintf(body, sizeof body, "{\"message_id\":%lld}", top + 1000);
    assert_int_equal(status_of(&srv, "POST", path, tok, body), 404);
    assert_int_equal(status_of(&srv, "POST", path, tok, "{\"message_id\":9223372036854775807}"),
                     404);
    snprintf(path, sizeof path, "/chat/messages/%lld/move", top);
    for (size_t k = 0; k < sizeof bad_ids / sizeof *bad_ids; k++) {
        snprintf(body, sizeof body, "{\"thread_id\":%s}", bad_ids[k]);
        long st = status_of(&srv, "POST", path, tok, body);
        if (st != 400) fail_msg("thread_id %s: %ld", bad_ids[k], st);
    }
    snprintf(body, sizeof body, "{\"thread_id\":%lld}", thr + 1000);
    assert_int_equal(status_of(&srv, "POST", path, tok, body), 404);
    json_t *after = get_conv(&srv, tok, conv, NULL);
    assert_true(json_equal(before, after));
    json_decref(after);
    json_decref(before);
    stop(&srv);
}

static void test_malformed_bodies(void **state)
{
    (void)state;
    struct rg_server srv;
    start(&srv);
    const char *tok = signup(&srv, "a@example.com", 0);
    char long_title[300];
    snprintf(long_title, sizeof long_title, "{\"title\":\"%0201d\"}", 0);
    char many_tags[600] = "{\"tags\":[";
    for (int i = 0; i < 17; i++)
        snprintf(many_tags + strlen(many_tags), sizeof many_tags - strlen(many_tags), "%s\"t%d\"",
                 i ? "," : "", i);
    strcat(many_tags, "]}");
    const char *bad[] = {
        "{\"title\":5}",
        "{\"title\":[\"x\"]}",
        "{\"bogus\":1}",
        "{\"archived\":true}", /* not a field of a new conversation */
        "{\"tags\":\"a,b\"}",
        "{\"tags\":[1]}",
        "{\"tags\":[\"\"]}",
        "{\"tags\":[\"a,b\"]}",
        "{\"settings\":[]}",
        "{\"settings\":\"{}\"}",
        "{\"settings\":{\"temperature\":\"hot\"}}",
        "{\"settings\":{\"temperature\":3}}",
        "{\"settings\":{\"max_tokens\":0}}",
        "{\"settings\":{\"top_k\":1.5}}",
        "{\"settings\":{\"system\":1}}",
        "{\"settings\":{\"temprature\":1}}",
        "{\"model\":7}",
        "{\"folder\":false}",
        "{\"title\":\"two\\nlines\"}",
        "{\"model\":\"m\\u0001\"}",
        long_title,
        many_tags,
        "[]",
        "\"x\"",
        "{\"title\":",
        "",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        struct rg_resp r;
        long st = req(&srv, "POST", "/chat/conversations", tok, bad[i], &r);
        if (st != 400) fail_msg("create %s: %ld %.*s", bad[i], st, (int)r.len, r.body);
        assert_non_null(strstr(r.body, "\"error\""));
        rg_resp_free(&r);
    }
    assert_int_equal(list_len(&srv, tok, "archived=all"), 0); /* nothing stored */

    long long id = create(&srv, tok, "{\"title\":\"Keep\"}");
    json_t *before = get_conv(&srv, tok, id, NULL);
    char path[96];
    snprintf(path, sizeof path, "/chat/conversations/%lld", id);
    const char *bad_patch[] = {"{\"title\":5}",
                               "{\"archived\":\"yes\"}",
                               "{\"pinned\":1}",
                               "{\"id\":3}",
                               "{\"n_messages\":0}",
                               "{\"tags\":{}}",
                               long_title,
                               "[]",
                               ""};
    for (size_t i = 0; i < sizeof bad_patch / sizeof *bad_patch; i++) {
        long st = status_of(&srv, "PATCH", path, tok, bad_patch[i]);
        if (st != 400) fail_msg("patch %s: %ld", bad_patch[i], st);
    }
    json_t *after = get_conv(&srv, tok, id, NULL);
    assert_true(json_equal(before, after));
    json_decref(after);
    json_decref(before);

    long long imp = import(&srv, tok, TREE);
    json_t *tree = get_conv(&srv, tok, imp, NULL);
    long long msg = id_of(tree, "Hey"), thr = thread_named(tree, "Side");
    snprintf(path, sizeof path, "/chat/messages/%lld/move", msg);
    char both[128];
    snprintf(both, sizeof both, "{\"thread_id\":%lld,\"new_thread\":{}}", thr);
    const char *bad_move[] = {"{}",
                              both,
                              "{\"new_thread\":\"t\"}",
                              "{\"new_thread\":{\"x\":1}}",
                              "{\"new_thread\":{\"title\":3}}",
                              "{\"thread\":1}"};
    for (size_t i = 0; i < sizeof bad_move / sizeof *bad_move; i++) {
        long st = status_of(&srv, "POST", path, tok, bad_move[i]);
        if (st != 400) fail_msg("move %s: %ld", bad_move[i], st);
    }
    snprintf(path, sizeof path, "/chat/threads/%lld", thr);
    const char *bad_thread[] = {"{\"title\":1}", "{\"collapsed\":\"no\"}", "{\"summary_id\":1}",
                                long_title};
    for (size_t i = 0; i < sizeof bad_thread / sizeof *bad_thread; i++) {
        long st = status_of(&srv, "PATCH", path, tok, bad_thread[i]);
        if (st != 400) fail_msg("thread %s: %ld", bad_thread[i], st);
    }
    snprintf(path, sizeof path, "/chat/conversations/%lld/active", imp);
    assert_int_equal(status_of(&srv, "POST", path, tok, "{}"), 400);
    assert_int_equal(status_of(&srv, "POST", path, tok, "{\"message_id\":1,\"x\":2}"), 400);
    after = get_conv(&srv, tok, imp, NULL);
    assert_true(json_equal(tree, after));
    json_decref(after);
    json_decref(tree);

    /* query limits */
    const char *bad_q[] = {"limit=0",  "limit=201",  "limit=abc",    "limit=",   "offset=-1",
                           "offset=x", "archived=2", "archived=yes", "limit=1e3"};
    for (size_t i = 0; i < sizeof bad_q / sizeof *bad_q; i++) {
        char p[128];
        snprintf(p, sizeof p, "/chat/conversations?%s", bad_q[i]);
        long st = status_of(&srv, "GET", p, tok, NULL);
        if (st != 400) fail_msg("list ?%s: %ld", bad_q[i], st);
    }
    /* a search query over its cap (raw: longer than the harness's URLs) */
    char q[601], raw[2400];
    memset(q, 'a', 600);
    q[600] = '\0';
    int len = snprintf(raw, sizeof raw,
                       "GET /chat/conversations?q=%s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                       "Authorization: Bearer %s\r\nConnection: close\r\n\r\n",
                       q, tok);
    int fd = rg_tcp_connect(srv.port);
    assert_true(fd >= 0);
    assert_int_equal(rg_tcp_send(fd, raw, (size_t)len), 0);
    size_t got = 0;
    char *reply = rg_tcp_read_until(fd, "\r\n", 1, 5000, &got);
    close(fd);
    assert_non_null(reply);
    if (strncmp(reply, "HTTP/1.1 400", 12) != 0) fail_msg("long q: %s", reply);
    free(reply);
    assert_int_equal(list_len(&srv, tok, "limit=200"), 2);
    snprintf(path, sizeof path, "/chat/conversations/%lld?view=list", imp);
    assert_int_equal(status_of(&srv, "GET", path, tok, NULL), 400);
    stop(&srv);
}

static void test_delete_conversation(void **state)
{
    (void)state;
    struct rg_server srv;
    start(&srv);
    const char *tok = signup(&srv, "a@example.com", 0);
    long long conv = import(&srv, tok, TREE);
    long long keep = import(&srv, tok, TREE);
    json_t *c = get_conv(&srv, tok, conv, NULL);
    json_t *kept = get_conv(&srv, tok, keep, NULL);
    long long thr = thread_named(c, "Side");
    char path[96];
    snprintf(path, sizeof path, "/chat/conversations/%lld", conv);
    json_decref(call(&srv, "DELETE", path, tok, NULL, 204));
    assert_int_equal(status_of(&srv, "GET", path, tok, NULL), 404);
    snprintf(path, sizeof path, "/chat/conversations/%lld/export", conv);
    assert_int_equal(status_of(&srv, "GET", path, tok, NULL), 404);
    /* its messages and threads are unreachable through every route */
    size_t i;
    json_t *m;
    json_array_foreach(json_object_get(c, "messages"), i, m)
    {
        struct probe p[16];
        size_t n = probes(p, conv, jint(m, "id"), thr);
        for (size_t k = 0; k < n; k++) {
            long st = status_of(&srv, p[k].method, p[k].path, tok, p[k].body[0] ? p[k].body : NULL);
            if (st != 404) fail_msg("%s %s after delete: %ld", p[k].method, p[k].path, st);
        }
    }
    assert_int_equal(list_len(&srv, tok, "archived=all"), 1);
    assert_int_equal(list_len(&srv, tok, "q=zebras"), 1); /* the other copy only */
    json_t *after = get_conv(&srv, tok, keep, NULL);
    assert_true(json_equal(kept, after));
    json_decref(after);
    json_decref(kept);
    json_decref(c);
    stop(&srv);
}

/* /v1 stays stateless: a chat completion keeps nothing. */
static void test_v1_keeps_nothing(void **state)
{
    (void)state;
    RG_SKIP_WITHOUT_TESTDATA(model, "models/stories260K.gguf");
    struct rg_server srv;
    start(&srv);
    assert_int_equal(rg_server_add_model(&srv, "stories260K", model), 0);
    const char *tok = signup(&srv, "a@example.com", 0);
    json_t *o = call(&srv, "POST", "/v1/chat/completions", tok,
                     "{\"model\":\"stories260K\",\"max_tokens\":4,\"temperature\":0,\"messages\":[{"
                     "\"role\":\"user\",\"content\":\"Once upon a time\"}]}",
                     200);
    assert_non_null(json_object_get(o, "choices"));
    json_decref(o);
    assert_int_equal(list_len(&srv, tok, "archived=all"), 0);
    stop(&srv);
}

#define TESTS                                                                                      \
    cmocka_unit_test(test_crud), cmocka_unit_test(test_list_filters_and_paging),                   \
        cmocka_unit_test(test_tree_operations), cmocka_unit_test(test_export_import_round_trip),   \
        cmocka_unit_test(test_import_refused), cmocka_unit_test(test_other_users_ids),             \
        cmocka_unit_test(test_readonly), cmocka_unit_test(test_guessed_ids),                       \
        cmocka_unit_test(test_malformed_bodies), cmocka_unit_test(test_delete_conversation),       \
        cmocka_unit_test(test_v1_keeps_nothing)

int main(void)
{
    const struct CMUnitTest tests[] = {TESTS};
    int failed = cmocka_run_group_tests_name("conversations/sqlite", tests, NULL, NULL);
    int pg = rg_harness_pg_pass("conversations");
    if (pg <= 0) return failed + (pg < 0 ? 1 : 0);
    const struct CMUnitTest pg_tests[] = {TESTS};
    failed += cmocka_run_group_tests_name("conversations/postgres", pg_tests, NULL, NULL);
    return failed;
}
