/* The deterministic test embedder: unit length, words decide nearness,
 * the same text always gives the same vector. */
#include "test.h"

#include <math.h>
#include <string.h>

#include "index/library.h"

static float dot(const float *a, const float *b)
{
    double s = 0;
    for (int i = 0; i < RG_HASH_EMBED_DIM; i++)
        s += (double)a[i] * b[i];
    return (float)s;
}

static void embed(const char *t, float *out)
{
    rg_hash_embed_text(t, strlen(t), out);
}

static void test_unit_length_and_nearness(void **state)
{
    (void)state;
    float a[RG_HASH_EMBED_DIM], b[RG_HASH_EMBED_DIM], c[RG_HASH_EMBED_DIM],
        d[RG_HASH_EMBED_DIM];
    embed("How do I purify water from a stream?", a);
    embed("purify STREAM water: how?", b);
    embed("Tell me about medieval castles and kings", c);
    embed("", d);
    assert_true(fabsf(dot(a, a) - 1.0f) < 1e-5f);
    assert_true(fabsf(dot(d, d) - 1.0f) < 1e-5f);
    assert_true(dot(a, b) > 0.6f);        /* the same words, case and order aside */
    assert_true(fabsf(dot(a, c)) < 0.5f); /* no word in common */
    float a2[RG_HASH_EMBED_DIM];
    embed("How do I purify water from a stream?", a2);
    assert_memory_equal(a, a2, sizeof a);
}

static void test_as_an_embedder(void **state)
{
    (void)state;
    struct rg_library_embedder e;
    rg_hash_embedder(&e);
    assert_string_equal(e.model, RG_HASH_EMBED_MODEL);
    void *s = NULL;
    int dim = 0;
    size_t max = 0;
    char err[256];
    assert_int_equal(e.hold(e.user, &s, &dim, &max, err), RG_OK);
    assert_int_equal(dim, RG_HASH_EMBED_DIM);
    const char *texts[2] = {"water water", "fire"};
    size_t lens[2] = {11, 4};
    float out[2 * RG_HASH_EMBED_DIM], one[RG_HASH_EMBED_DIM];
    assert_int_equal(e.embed(s, texts, lens, 2, out, err), RG_OK);
    embed("fire", one);
    assert_memory_equal(out + RG_HASH_EMBED_DIM, one, sizeof one);
    assert_true(e.count("three small words", 17, s) == 3);
    e.release(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unit_length_and_nearness),
        cmocka_unit_test(test_as_an_embedder),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
