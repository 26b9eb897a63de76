/*
 * The response_format automaton: documents of a schema are accepted byte by
 * byte and complete at their last byte, every prefix of them stays alive,
 * and texts that break the schema die at the first byte that breaks it.
 */
#include "test.h"

#include <jansson.h>

#include "engine/constrain/grammar.h"
#include "common/err.h"

static struct rg_jg *compile(const char *schema_text)
{
    char err[256];
    json_error_t je;
    json_t *s = schema_text ? json_loads(schema_text, 0, &je) : NULL;
    if (schema_text && !s) fail_msg("test schema does not parse: %s", je.text);
    struct rg_jg *g = NULL;
    int rc = rg_jg_compile(s, &g, err, sizeof err);
    if (rc != RG_OK) fail_msg("compile %s: %s", schema_text, err);
    json_decref(s);
    return g;
}

/* 1: complete document, 0: dies somewhere, 2: alive but not complete */
static int verdict(const struct rg_jg *g, const char *text)
{
    struct rg_jg_state st;
    rg_jg_start(g, &st);
    for (size_t i = 0; text[i]; i++)
        if (!rg_jg_feed(g, &st, text + i, 1)) return 0;
    return rg_jg_can_end(g, &st) ? 1 : 2;
}

/* Fed whole, the same answer as byte by byte. */
static int verdict_whole(const struct rg_jg *g, const char *text)
{
    struct rg_jg_state st;
    rg_jg_start(g, &st);
    if (!rg_jg_feed(g, &st, text, strlen(text))) return 0;
    return rg_jg_can_end(g, &st) ? 1 : 2;
}

struct tcase {
    const char *text;
    int want;
};

static void check(const char *schema, const struct tcase *cases, size_t n)
{
    struct rg_jg *g = compile(schema);
    for (size_t i = 0; i < n; i++) {
        int v = verdict(g, cases[i].text), w = verdict_whole(g, cases[i].text);
        if (v != cases[i].want || w != v)
            fail_msg("schema %s\ntext %s: got %d (whole %d), want %d", schema ? schema : "(object)",
                     cases[i].text, v, w, cases[i].want);
    }
    rg_jg_free(g);
}

static void test_json_object_mode(void **state)
{
    (void)state;
    static const struct tcase c[] = {
        {"{}", 1},
        {" { \"a\" : [1, -2.5e3, true, null, \"x\\n\\u00e9\"], \"b\": {\"c\": false} }", 1},
        {"{\"a\":1", 2},
        {"[1]", 0}, /* the top level must be an object */
        {"{\"a\":01}", 0},
        {"{\"a\":1,}", 0},
        {"{\"a\" 1}", 0},
        {"{\"a\":tru}", 0},
        {"{\"a\":\"\x01\"}", 0},
        {"{\"a\":\"\\q\"}", 0},
        {"{\"a\":1.}", 0},
        {"{\"a\":-}", 0},
        {"{} x", 0},
        {"{\"\xc3\xa9\":\"\xe2\x82\xac\"}", 1},
        {"{\n  \"a\": [\n\t\t1\n  ]\n}", 1}, /* pretty-printed */
        {"{  \"a\":1}", 0},                  /* one space at most */
        {"{\"a\":1}\n", 0},                  /* nothing after the document */
        {"{\r\"a\":1}", 0},
    };
    check(NULL, c, sizeof c / sizeof c[0]);
}

static void test_object_properties(void **state)
{
    (void)state;
    const char *schema =
        "{\"type\":\"object\",\"properties\":{\"name\":{\"type\":\"string\",\"maxLength\":5},"
        "\"age\":{\"type\":\"integer\"},\"nick\":{\"type\":\"string\"},\"ok\":{\"type\":"
        "\"boolean\"}},\"required\":[\"name\",\"ok\"],\"additionalProperties\":false}";
    static const struct tcase c[] = {
        {"{\"name\":\"Ann\",\"age\":31,\"nick\":\"a\",\"ok\":true}", 1},
        {"{\"name\":\"Ann\",\"ok\":false}", 1}, /* optional ones left out */
        {"{\"name\":\"Ann\",\"nick\":\"x\",\"ok\":true}", 1},
        {"{\"ok\":true,\"name\":\"Ann\"}", 0},             /* out of order */
        {"{\"name\":\"Ann\"}", 0},                         /* a required one missing */
        {"{\"name\":\"Annabel\",\"ok\":true}", 0},         /* too long */
        {"{\"name\":\"Ann\",\"age\":3.5,\"ok\":true}", 0}, /* not an integer */
        {"{\"name\":\"Ann\",\"extra\":1,\"ok\":true}", 0}, /* unknown key */
        {"{\"name\":\"Ann\",\"ok\":true,}", 0},
        {"{\"nam\":\"Ann\",\"ok\":true}", 0},
        {"{\"name\":\"Ann\",\"age\":1e3,\"ok\":true}", 0},
        {"{\"name\":\"Ann\",\"ok\":", 2},
    };
    check(schema, c, sizeof c / sizeof c[0]);
}

static void test_arrays_enums_unions(void **state)
{
    (void)state;
    const char *schema =
        "{\"type\":\"object\",\"properties\":{\"tags\":{\"type\":\"array\",\"items\":{\"enum\":["
        "\"red\",\"green\",1,12,null,{\"a\":1}]},\"minItems\":1,\"maxItems\":3},\"v\":{\"anyOf\":["
        "{\"type\":\"number\"},{\"type\":\"object\",\"properties\":{\"x\":{\"const\":\"y\"}},"
        "\"required\":[\"x\"]}]},\"n\":{\"type\":[\"string\",\"null\"]}},\"required\":[\"tags\","
        "\"v\",\"n\"]}";
    static const struct tcase c[] = {
        {"{\"tags\":[\"red\"],\"v\":1,\"n\":null}", 1},
        {"{\"tags\":[12, 1, {\"a\":1}],\"v\":{\"x\":\"y\"},\"n\":\"s\"}", 1},
        {"{\"tags\":[null,\"green\"],\"v\":-0.5,\"n\":\"\"}", 1},
        {"{\"tags\":[],\"v\":1,\"n\":null}", 0},         /* minItems */
        {"{\"tags\":[1,1,1,1],\"v\":1,\"n\":null}", 0},  /* maxItems */
        {"{\"tags\":[\"blue\"],\"v\":1,\"n\":null}", 0}, /* not a member */
        {"{\"tags\":[123],\"v\":1,\"n\":null}", 0},
        {"{\"tags\":[1],\"v\":{\"x\":\"z\"},\"n\":null}", 0},
        {"{\"tags\":[1],\"v\":\"1\",\"n\":null}", 0},
        {"{\"tags\":[1],\"v\":1,\"n\":3}", 0},
    };
    check(schema, c, sizeof c / sizeof c[0]);
}

static void test_refs_and_top_level(void **state)
{
    (void)state;
    /* a recursive definition */
    const char *tree = "{\"$ref\":\"#/$defs/node\",\"$defs\":{\"node\":{\"type\":\"object\","
                       "\"properties\":{\"v\":{\"type\":\"integer\"},\"kids\":{\"type\":\"array\","
                       "\"items\":{\"$ref\":\"#/$defs/node\"}}},\"required\":[\"v\"]}}}";
    static const struct tcase c1[] = {
        {"{\"v\":1,\"kids\":[{\"v\":2},{\"v\":3,\"kids\":[]}]}", 1},
        {"{\"v\":1,\"kids\":[{\"w\":2}]}", 0},
    };
    check(tree, c1, sizeof c1 / sizeof c1[0]);
    /* a number at the top level can end only at the end of the text */
    static const struct tcase c2[] = {{"42", 1}, {"4.", 2}, {"4 ", 0}, {"x", 0}};
    check("{\"type\":\"number\"}", c2, sizeof c2 / sizeof c2[0]);
    /* any value */
    static const struct tcase c3[] = {{"[1,{\"a\":[]}]", 1}, {"\"s\"", 1}, {"true", 1}, {"]", 0}};
    check("{}", c3, sizeof c3 / sizeof c3[0]);
}

static void test_every_prefix_lives(void **state)
{
    (void)state;
    struct rg_jg *g = compile(NULL);
    const char *doc = "{\"k\": [1.5e-3, {\"z\": \"\\\"q\\\"\"}], \"t\": true}";
    struct rg_jg_state st;
    rg_jg_start(g, &st);
    for (size_t i = 0; doc[i]; i++) {
        assert_true(rg_jg_feed(g, &st, doc + i, 1));
        assert_int_equal(rg_jg_complete(&st), doc[i + 1] == '\0');
    }
    /* the state copies */
    struct rg_jg_state c;
    rg_jg_copy(&c, &st);
    assert_true(rg_jg_complete(&c));
    /* bounded nesting: a document deeper than the limit dies */
    rg_jg_start(g, &st);
    bool alive = rg_jg_feed(g, &st, "{\"a\":", 5);
    for (int i = 0; alive && i < 2 * RG_JG_DEPTH; i++)
        alive = rg_jg_feed(g, &st, "[", 1);
    assert_false(alive);
    /* bounded whitespace */
    rg_jg_start(g, &st);
    alive = true;
    for (int i = 0; alive && i < 1000; i++)
        alive = rg_jg_feed(g, &st, " ", 1);
    assert_false(alive);
    rg_jg_free(g);
}

static void test_bad_schemas(void **state)
{
    (void)state;
    static const struct {
        const char *schema, *msg;
    } bad[] = {
        {"{\"type\":\"strin\"}", "unknown type strin"},
        {"{\"type\":\"string\",\"pattern\":\"^a\"}", "unsupported keyword pattern"},
        {"{\"type\":\"integer\",\"minimum\":3}", "unsupported keyword minimum"},
        {"{\"$ref\":\"#/$defs/missing\"}", "cannot resolve $ref"},
        {"{\"properties\":{\"a\":{}},\"required\":[\"b\"]}", "not in 'properties'"},
        {"{\"enum\":[]}", "non-empty"},
        {"{\"properties\":{\"a\":{\"type\":7}}}", "schema/properties/a"},
        {"false", "accepts nothing"},
        {"{\"anyOf\":{}}", "anyOf"},
        {"{\"minItems\":3,\"maxItems\":2}", "minimum is above"},
        {"[1]", "must be an object"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char err[256] = "";
        json_t *s = json_loads(bad[i].schema, JSON_DECODE_ANY, NULL);
        assert_non_null(s);
        struct rg_jg *g = (struct rg_jg *)1;
        int rc = rg_jg_compile(s, &g, err, sizeof err);
        json_decref(s);
        if (rc != RG_EINVAL || g != NULL || !strstr(err, bad[i].msg))
            fail_msg("%s: rc %d, error '%s', want '%s'", bad[i].schema, rc, err, bad[i].msg);
    }
}

static void test_random_bytes_never_crash(void **state)
{
    (void)state;
    struct rg_jg *g = compile("{\"type\":\"object\",\"properties\":{\"a\":{\"anyOf\":[{\"type\":"
                              "\"array\",\"items\":{\"$ref\":\"#\"}},{\"type\":\"string\"}]}}}");
    uint64_t seed = 3;
    int alive_steps = 0;
    for (int round = 0; round < 200; round++) {
        struct rg_jg_state st, keep;
        rg_jg_start(g, &st);
        /* a random walk that backs off from dead bytes, so it goes deep */
        for (int i = 0; i < 256; i++) {
            bool alive = false;
            seed = seed * 6364136223846793005ull + 1;
            /* closing brackets last, or every walk ends at its first "}" */
            for (int t = 0; !alive && t < 17; t++) {
                char ch =
                    "{[\",: a\\u0123x}]"[t < 15 ? ((seed >> 33) + (uint64_t)t) % 15 : (uint64_t)t];
                rg_jg_copy(&keep, &st);
                alive = rg_jg_feed(g, &st, &ch, 1);
                if (!alive) rg_jg_copy(&st, &keep);
            }
            if (!alive) break;
            alive_steps++;
        }
    }
    assert_true(alive_steps > 4000); /* the walk does reach inside documents */
    rg_jg_free(g);
}

static void test_wrapped(void **state)
{
    (void)state;
    char err[256];
    json_error_t je;
    json_t *s = json_loads("{\"type\":\"object\",\"properties\":{\"name\":{\"const\":\"f\"}},"
                           "\"required\":[\"name\"]}",
                           0, &je);
    struct rg_jg *g = NULL;
    assert_int_equal(
        rg_jg_compile_wrapped(s, "<tool_call>", "</tool_call>", false, &g, err, sizeof err), RG_OK);
    json_decref(s);
    static const struct tcase c[] = {
        {"<tool_call>\n{\"name\": \"f\"}\n</tool_call>", 1},
        {"<tool_call>{\"name\":\"f\"}</tool_call>", 1},
        {"<tool_call>{\"name\":\"f\"}", 2},
        {"{\"name\":\"f\"}", 0},
        {"<tool_call>{\"name\":\"g\"}</tool_call>", 0},
        {"<tool_call>{\"name\":\"f\"}</tool_call>x", 0},
        {"<tool_cal>", 0},
    };
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
        int v = verdict(g, c[i].text), w = verdict_whole(g, c[i].text);
        if (v != c[i].want || w != v)
            fail_msg("%s: got %d (whole %d), want %d", c[i].text, v, w, c[i].want);
    }
    rg_jg_free(g);
    /* lenient: a keyword it cannot enforce is left out, not refused */
    s = json_loads("{\"type\":\"string\",\"pattern\":\"^a\",\"maxLength\":2}", 0, &je);
    assert_int_equal(rg_jg_compile_wrapped(s, NULL, NULL, false, &g, err, sizeof err), RG_EINVAL);
    assert_int_equal(rg_jg_compile_wrapped(s, NULL, NULL, true, &g, err, sizeof err), RG_OK);
    json_decref(s);
    assert_int_equal(verdict(g, "\"zz\""), 1);
    assert_int_equal(verdict(g, "\"zzz\""), 0);
    rg_jg_free(g);
}

/* "a":"{\"$ref\":\"#\"}" repeated n times, comma-separated, into buf */
static size_t repeat(char *buf, size_t cap, const char *item, int n)
{
    size_t o = 0;
    for (int i = 0; i < n; i++)
        o += (size_t)snprintf(buf + o, cap - o, "%s%s", i ? "," : "", item);
    return o;
}

/* Feeds text byte by byte; the most automaton steps one byte cost. */
static int feed_counted(const struct rg_jg *g, const char *text, uint64_t *max_steps)
{
    struct rg_jg_state st;
    rg_jg_start(g, &st);
    *max_steps = 0;
    for (size_t i = 0; text[i]; i++) {
        uint64_t before = rg_jg_steps();
        bool alive = rg_jg_feed(g, &st, text + i, 1);
        uint64_t d = rg_jg_steps() - before;
        if (d > *max_steps) *max_steps = d;
        if (!alive) return 0;
    }
    return rg_jg_can_end(g, &st) ? 1 : 2;
}

/* Issue 23: a $ref back into a 16-way anyOf of itself made one token cost
 * minutes (each byte explored 16^8 chains of references). Now every such
 * schema either compiles to leaves fixed at compile time, with a bounded
 * cost per byte, or is refused naming the limit. */
static void test_recursive_anyof_bounded(void **state)
{
    (void)state;
    char alts[2048], schema[16384];
    static const struct tcase self_or_string[] = {
        {"1", 0}, {"\"abc\"", 1}, {"[1]", 0}, {"\"a", 2}, {"  \"x\"", 0}};
    static const struct tcase arrays[] = {
        {"[[[[[[[[[[]]]]]]]]]]", 1}, {"[[[[[[1", 0}, {"[[], [[]], []]", 1}, {"[[[[", 2}};
    static const struct tcase objects[] = {{"{\"a\":{\"a\":{\"a\":{}}}}", 1},
                                           {"{\"a\":{\"a\":{\"b\":{}}}}", 0},
                                           {"{\"a\":{\"a\":", 2}};
    struct {
        const char *pre, *item, *post;
        const struct tcase *cases;
        size_t n;
    } attacks[] = {
        {"{\"anyOf\":[", "{\"$ref\":\"#\"}", ",{\"type\":\"string\"}]}", self_or_string, 5},
        {"{\"anyOf\":[", "{\"type\":\"array\",\"items\":{\"$ref\":\"#\"}}", ",{\"$ref\":\"#\"}]}",
         arrays, 4},
        {"{\"$ref\":\"#/$defs/u\",\"$defs\":{\"u\":{\"anyOf\":[", "{\"$ref\":\"#/$defs/u\"}",
         ",{\"type\":\"object\",\"properties\":{\"a\":{\"$ref\":\"#/$defs/u\"}}}]}}}", objects, 3},
    };
    for (size_t a = 0; a < sizeof attacks / sizeof attacks[0]; a++) {
        repeat(alts, sizeof alts, attacks[a].item, 15); /* 16 alternatives with the last */
        snprintf(schema, sizeof schema, "%s%s%s", attacks[a].pre, alts, attacks[a].post);
        struct rg_jg *g = compile(schema);
        for (size_t i = 0; i < attacks[a].n; i++) {
            uint64_t max_steps;
            int v = feed_counted(g, attacks[a].cases[i].text, &max_steps);
            if (v != attacks[a].cases[i].want)
                fail_msg("attack %zu, text %s: got %d, want %d", a, attacks[a].cases[i].text, v,
                         attacks[a].cases[i].want);
            /* the bound, and far below it: the leaves are few */
            if (max_steps > RG_JG_STEPS || max_steps > 4 * RG_JG_ALTS * 17)
                fail_msg("attack %zu, text %s: %llu steps for one byte", a,
                         attacks[a].cases[i].text, (unsigned long long)max_steps);
        }
        rg_jg_free(g);
    }
    /* too many ways for one value: refused at compile time, naming the limit */
    char inner[1024], outer[8192];
    size_t o = 0;
    for (int i = 0; i < 16; i++) {
        size_t k = 0;
        for (int j = 0; j < 16; j++)
            k += (size_t)snprintf(inner + k, sizeof inner - k, "%s{\"const\":%d}", j ? "," : "",
                                  i * 16 + j);
        o += (size_t)snprintf(outer + o, sizeof outer - o, "%s{\"anyOf\":[%s]}", i ? "," : "",
                              inner);
    }
    snprintf(schema, sizeof schema, "{\"anyOf\":[%s]}", outer);
    json_t *s = json_loads(schema, 0, NULL);
    assert_non_null(s);
    char err[256] = "";
    struct rg_jg *g = NULL;
    assert_int_equal(rg_jg_compile(s, &g, err, sizeof err), RG_EINVAL);
    assert_null(g);
    json_decref(s);
    if (!strstr(err, "too complex") || !strstr(err, "64 alternatives"))
        fail_msg("error '%s' does not name the limit", err);
    /* however the references are arranged, a byte costs at most RG_JG_STEPS:
     * 64 leaves (32 here, 32 more through the "#" inside), each an array of
     * the whole, so every reading survives '[' */
    o = 0;
    for (int i = 0; i < 16; i++)
        o += (size_t)snprintf(
            outer + o, sizeof outer - o,
            "%s{\"anyOf\":[{\"$ref\":\"#\"},{\"type\":\"array\",\"items\":{\"$ref\":"
            "\"#\"},\"maxItems\":%d},{\"type\":\"array\",\"items\":{\"$ref\":\"#\"},"
            "\"maxItems\":%d}]}",
            i ? "," : "", 10 + i, 30 + i);
    snprintf(schema, sizeof schema, "{\"anyOf\":[%s]}", outer);
    g = compile(schema);
    uint64_t max_steps;
    assert_int_equal(feed_counted(g, "[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]", &max_steps), 1);
    assert_true(max_steps <= RG_JG_STEPS);
    assert_int_equal(feed_counted(g, "[[[[[[[[[[[[[[[[[[[[1", &max_steps), 0);
    assert_true(max_steps <= RG_JG_STEPS);
    rg_jg_free(g);
}

/* Issue 23, break 10: schemas that can never produce a finite document were
 * accepted and failed mid-stream; they are refused at compile time. */
static void test_no_finite_document(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "{\"$ref\":\"#\"}",
        "{\"$ref\":\"#/$defs/a\",\"$defs\":{\"a\":{\"$ref\":\"#/$defs/a\"}}}",
        "{\"$ref\":\"#/$defs/a\",\"$defs\":{\"a\":{\"$ref\":\"#/$defs/b\"},\"b\":{\"$ref\":"
        "\"#/$defs/a\"}}}",
        "{\"anyOf\":[{\"$ref\":\"#\"},{\"$ref\":\"#\"}]}",
        "{\"type\":\"object\",\"properties\":{\"a\":{\"$ref\":\"#\"}},\"required\":[\"a\"]}",
        "{\"type\":\"array\",\"items\":{\"$ref\":\"#\"},\"minItems\":1}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char err[256] = "";
        json_t *s = json_loads(bad[i], 0, NULL);
        assert_non_null(s);
        struct rg_jg *g = (struct rg_jg *)1;
        int rc = rg_jg_compile(s, &g, err, sizeof err);
        json_decref(s);
        if (rc != RG_EINVAL || g != NULL || !strstr(err, "finite document"))
            fail_msg("%s: rc %d, error '%s'", bad[i], rc, err);
    }
    /* nesting that only a document deeper than the limit satisfies */
    for (int levels = RG_JG_DEPTH - 1; levels <= RG_JG_DEPTH; levels++) {
        char schema[4096];
        size_t o = 0;
        for (int i = 0; i < levels; i++)
            o += (size_t)snprintf(
                schema + o, sizeof schema - o,
                "{\"type\":\"object\",\"required\":[\"a\"],\"properties\":{\"a\":");
        o += (size_t)snprintf(schema + o, sizeof schema - o, "{\"type\":\"integer\"}");
        for (int i = 0; i < levels; i++)
            o += (size_t)snprintf(schema + o, sizeof schema - o, "}}");
        json_t *s = json_loads(schema, 0, NULL);
        assert_non_null(s);
        char err[256] = "";
        struct rg_jg *g = NULL;
        int rc = rg_jg_compile(s, &g, err, sizeof err);
        json_decref(s);
        if (levels < RG_JG_DEPTH) { /* 23 objects and the integer: just fits */
            assert_int_equal(rc, RG_OK);
            rg_jg_free(g);
        } else {
            assert_int_equal(rc, RG_EINVAL);
            if (!strstr(err, "24 levels")) fail_msg("error '%s' does not name the limit", err);
        }
    }
}

/* A reading never enters a schema it could not finish: an optional property
 * with no finite document is not offered, and at the nesting limit a
 * recursive object stops offering its recursive key. */
static void test_never_stuck(void **state)
{
    (void)state;
    static const struct tcase c[] = {
        {"{}", 1}, {"{\"b\":1}", 1}, {"{\"a\"", 0}, {"{\"a\":", 0}, {"{\"", 2}};
    check("{\"type\":\"object\",\"properties\":{\"a\":{\"$ref\":\"#/$defs/x\"},\"b\":{\"type\":"
          "\"integer\"}},\"$defs\":{\"x\":{\"type\":\"object\",\"properties\":{\"y\":{\"$ref\":"
          "\"#/$defs/x\"}},\"required\":[\"y\"]}}}",
          c, sizeof c / sizeof c[0]);
    struct rg_jg *g = compile("{\"type\":\"object\",\"properties\":{\"k\":{\"$ref\":\"#\"},\"n\":"
                              "{\"type\":\"object\",\"properties\":{\"m\":{\"type\":\"array\","
                              "\"items\":{\"type\":\"integer\"},\"minItems\":1}},\"required\":"
                              "[\"m\"]}}}");
    char text[1024];
    int deepest = 0;
    for (int n = 1; n < 2 * RG_JG_DEPTH; n++) {
        size_t o = 0;
        for (int i = 0; i < n; i++)
            o += (size_t)snprintf(text + o, sizeof text - o, "{\"k\":");
        text[o] = '\0';
        if (verdict(g, text) == 0) break;
        deepest = n;
        /* wherever the text is alive, it can still be finished */
        snprintf(text + o, sizeof text - o, "{}");
        o += 2;
        for (int i = 0; i < n; i++)
            text[o++] = '}';
        text[o] = '\0';
        assert_int_equal(verdict(g, text), 1);
    }
    assert_int_equal(deepest, RG_JG_DEPTH - 1);
    /* "n" needs three levels (object, array, integer): offered only where they fit */
    for (int k = RG_JG_DEPTH - 4; k <= RG_JG_DEPTH - 3; k++) {
        size_t o = 0;
        for (int i = 0; i < k; i++)
            o += (size_t)snprintf(text + o, sizeof text - o, "{\"k\":");
        snprintf(text + o, sizeof text - o, "{\"n\"");
        assert_int_equal(verdict(g, text), k == RG_JG_DEPTH - 4 ? 2 : 0);
        snprintf(text + o, sizeof text - o, "{\"n\":{\"m\":[1]}}");
        assert_int_equal(verdict(g, text), k == RG_JG_DEPTH - 4 ? 2 : 0);
    }
    rg_jg_free(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_object_mode),
        cmocka_unit_test(test_object_properties),
        cmocka_unit_test(test_arrays_enums_unions),
        cmocka_unit_test(test_refs_and_top_level),
        cmocka_unit_test(test_every_prefix_lives),
        cmocka_unit_test(test_bad_schemas),
        cmocka_unit_test(test_random_bytes_never_crash),
        cmocka_unit_test(test_wrapped),
        cmocka_unit_test(test_recursive_anyof_bounded),
        cmocka_unit_test(test_no_finite_document),
        cmocka_unit_test(test_never_stuck),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
