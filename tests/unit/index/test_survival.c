/* Survival tagging: rules over title, headings and text; zero-shot with the
 * deterministic test embedder; a manual choice wins. */
#include "test.h"

#include <string.h>

#include "index/library.h"
#include "index/survival.h"

static bool has(const struct rg_surv_tag *t, size_t n, const char *id, enum rg_surv_source src)
{
    int c = rg_surv_category_find(id);
    for (size_t i = 0; i < n; i++)
        if (t[i].category == c && t[i].source == src) return true;
    return false;
}

static bool any(const struct rg_surv_tag *t, size_t n, const char *id)
{
    int c = rg_surv_category_find(id);
    for (size_t i = 0; i < n; i++)
        if (t[i].category == c) return true;
    return false;
}

static void test_table(void **state)
{
    (void)state;
    const struct rg_surv_category *c = rg_surv_categories();
    const char *want[] = {"water", "food",       "shelter", "first-aid",
                          "fire",  "navigation", "tools",   "communication"};
    for (int i = 0; i < RG_SURV_N_CATEGORIES; i++) {
        assert_string_equal(c[i].id, want[i]);
        assert_int_equal(rg_surv_category_find(want[i]), i);
        assert_true(strlen(c[i].description) > 40);
        assert_non_null(c[i].words[0]);
    }
    assert_int_equal(rg_surv_category_find("weapons"), -1);
    assert_int_equal(rg_surv_category_find(NULL), -1);
    assert_string_equal(rg_surv_source_name(RG_SURV_MANUAL), "manual");
}

static void test_rules(void **state)
{
    (void)state;
    struct rg_surv_params p;
    rg_surv_default_params(&p);
    double w[RG_SURV_N_CATEGORIES];
    struct rg_surv_tag t[RG_SURV_N_CATEGORIES];

    /* a title and a heading are strong evidence */
    const char *heads[] = {"Boiling and filtering"};
    const char *texts[] = {"Bring it to a rolling boil for one minute. A cloth filter removes "
                           "silt first; purification tablets work too."};
    struct rg_surv_doc d = {"Safe drinking water", heads, 1, texts, 1};
    size_t n = rg_surv_rules(&d, &p, w, t);
    assert_true(has(t, n, "water", RG_SURV_RULE));
    assert_false(any(t, n, "fire"));
    assert_false(any(t, n, "navigation"));
    assert_true(w[rg_surv_category_find("water")] >= 3 + 3 + 2 + 2);
    for (size_t i = 0; i < n; i++)
        assert_true(t[i].score > 0 && t[i].score < 1);

    /* text alone: dense enough */
    const char *aid[] = {"Press on the wound to stop the bleeding, then bandage it. Splint a "
                         "fracture before moving the injured person; watch for shock."};
    struct rg_surv_doc d2 = {NULL, NULL, 0, aid, 1};
    n = rg_surv_rules(&d2, &p, w, t);
    assert_true(has(t, n, "first-aid", RG_SURV_RULE));
    assert_false(any(t, n, "water"));

    /* a long text with a passing mention is not tagged */
    static char big[40000];
    size_t k = 0;
    while (k + 40 < sizeof big - 64) {
        memcpy(big + k, "the quiet village market sold cloth. ", 37);
        k += 37;
    }
    memcpy(big + k, "fire fire fire", 14);
    big[k + 14] = '\0';
    const char *bigs[] = {big};
    struct rg_surv_doc d3 = {"A history of the village", NULL, 0, bigs, 1};
    n = rg_surv_rules(&d3, &p, w, t);
    assert_true(w[rg_surv_category_find("fire")] >= 3);
    assert_false(any(t, n, "fire"));

    /* plurals and prefixes, and no match inside other words */
    const char *kn[] = {"knives and knots; tarps"};
    struct rg_surv_doc d4 = {NULL, NULL, 0, kn, 1};
    rg_surv_rules(&d4, &p, w, t);
    assert_true(w[rg_surv_category_find("tools")] >= 2);
    assert_true(w[rg_surv_category_find("shelter")] >= 1);
    const char *no[] = {"wellbeing waterloo"}; /* "well" whole word only; water* is not a rule */
    struct rg_surv_doc d5 = {NULL, NULL, 0, no, 1};
    rg_surv_rules(&d5, &p, w, t);
    assert_true(w[rg_surv_category_find("water")] == 0);

    /* nothing */
    struct rg_surv_doc empty = {0};
    assert_int_equal(rg_surv_rules(&empty, &p, w, t), 0);
}

static void test_zero_shot(void **state)
{
    (void)state;
    struct rg_library_embedder emb;
    rg_hash_embedder(&emb);
    struct rg_surv_params p;
    rg_surv_default_params(&p);
    struct rg_surv_tag t[RG_SURV_N_CATEGORIES];
    size_t n = 0;
    /* words of the navigation description without rule words in a title */
    const char *nav[] = {"Use the map and compass: take a bearing on a landmark, follow the "
                         "trail north by the stars and the sun.",
                         "Latitude and longitude on the map give the route; GPS helps "
                         "orienteering."};
    struct rg_surv_doc d = {NULL, NULL, 0, nav, 2};
    assert_int_equal(rg_surv_zero_shot(&d, &emb, &p, t, &n, NULL), RG_OK);
    assert_true(has(t, n, "navigation", RG_SURV_EMBEDDING));
    assert_false(any(t, n, "food"));
    for (size_t i = 0; i < n; i++)
        assert_true(t[i].score >= p.zs_threshold && t[i].score <= 1.0001);

    /* unrelated text gets no category; a threshold over 1 none at all */
    const char *castle[] = {"Medieval castles had moats, kings and queens held court."};
    struct rg_surv_doc d2 = {NULL, NULL, 0, castle, 1};
    assert_int_equal(rg_surv_zero_shot(&d2, &emb, &p, t, &n, NULL), RG_OK);
    assert_int_equal(n, 0);
    p.zs_threshold = 1.5;
    assert_int_equal(rg_surv_zero_shot(&d, &emb, &p, t, &n, NULL), RG_OK);
    assert_int_equal(n, 0);
    rg_surv_default_params(&p);

    /* many chunks: only zs_chunks are embedded, spread over the document */
    const char *many[40];
    for (int i = 0; i < 40; i++)
        many[i] = i % 2 ? "kindling tinder fuel wood embers flint sparks campfire smoke"
                        : "tinder kindling matches fire embers fuel";
    struct rg_surv_doc d3 = {NULL, NULL, 0, many, 40};
    assert_int_equal(rg_surv_zero_shot(&d3, &emb, &p, t, &n, NULL), RG_OK);
    assert_int_equal(n, 1);
    assert_string_equal(rg_surv_categories()[t[0].category].id, "fire");

    /* both merged: rules keep their source, zero-shot adds what rules missed */
    const char *mix[] = {"Boil the water, filter the water, purify the water.",
                         "Use the map and compass, take a bearing on a landmark, latitude and "
                         "longitude, trails and routes."};
    struct rg_surv_doc d4 = {"Water", NULL, 0, mix, 2};
    assert_int_equal(rg_surv_tag(&d4, &emb, &p, t, &n, NULL), RG_OK);
    assert_true(has(t, n, "water", RG_SURV_RULE));
    assert_true(any(t, n, "navigation"));
    assert_int_equal(rg_surv_tag(&d4, NULL, &p, t, &n, NULL), RG_OK); /* rules only */
    assert_true(has(t, n, "water", RG_SURV_RULE));
}

static void test_manual_wins(void **state)
{
    (void)state;
    struct rg_surv_tag autos[] = {{0, RG_SURV_RULE, 0.5}, {4, RG_SURV_EMBEDDING, 0.4}};
    struct rg_surv_tag out[RG_SURV_N_CATEGORIES];
    assert_int_equal(rg_surv_resolve(autos, 2, NULL, 0, out), 2);
    assert_int_equal(out[1].category, 4);
    int manual[] = {3, 3, 99, -1, 6};
    size_t n = rg_surv_resolve(autos, 2, manual, 5, out);
    assert_int_equal(n, 2);
    assert_int_equal(out[0].category, 3);
    assert_int_equal(out[0].source, RG_SURV_MANUAL);
    assert_int_equal(out[1].category, 6);
    assert_true(out[1].score == 1.0);
    int none[1] = {0};
    assert_int_equal(rg_surv_resolve(autos, 2, none, 0, out), 0); /* "none of them" */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_rules),
        cmocka_unit_test(test_zero_shot),
        cmocka_unit_test(test_manual_wins),
    };
    return cmocka_run_group_tests_name("survival", tests, NULL, NULL);
}
