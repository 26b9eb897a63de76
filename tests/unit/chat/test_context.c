/*
 * chat/context: the budgeted prompt. The counts are checked against the
 * model's own tokenizer (stories260K's vocabulary, rendered in ChatML): the
 * prompt never has more tokens than the budget, whole messages go in newest
 * first, the sources follow their priority order, a source turned off is
 * left out and said so, and the record tells each piece's cost and reason.
 */
#include "test.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "chat/chat.h"
#include "chat/context.h"
#include "common/alloc.h"

static struct rg_model *model;
static const struct rg_vocab *vocab;

static int setup(void **state)
{
    (void)state;
    char path[512];
    if (!rg_test_data_path(path, sizeof path, "models/stories260K.gguf")) {
        fprintf(stderr, "SKIP: ../shared/testdata/models/stories260K.gguf is absent\n");
        return 0;
    }
    struct rg_model_params p = rg_model_default_params();
    p.vocab_only = true;
    char err[RG_ERR_SIZE];
    model = rg_model_load(path, &p, err);
    vocab = model ? rg_model_vocab(model) : NULL;
    return model ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    rg_model_free(model);
    return 0;
}

/* Tokens of a JSON messages array rendered in ChatML: the count the engine sees. */
static size_t rendered(const json_t *msgs)
{
    size_t n = json_array_size(msgs);
    struct rg_chat_msg *m = rg_calloc(n + 1, sizeof *m);
    for (size_t i = 0; i < n; i++) {
        json_t *o = json_array_get(msgs, i);
        m[i].role = json_string_value(json_object_get(o, "role"));
        m[i].content = json_string_value(json_object_get(o, "content"));
    }
    int32_t *t = NULL;
    size_t nt = 0;
    char err[RG_ERR_SIZE];
    assert_int_equal(rg_chat_tokenize_msgs(vocab, RG_CHAT_CHATML, m, n, &t, &nt, err), RG_OK);
    rg_free(t);
    rg_free(m);
    return nt;
}

#define N_MSG 12
static char texts[N_MSG][128];
static json_t *refs[N_MSG];

/* A conversation of N_MSG messages (ids 1..N_MSG), the last the new one. */
static size_t conversation(struct rg_ctx_piece *p)
{
    for (int i = 0; i < N_MSG; i++) {
        snprintf(texts[i], sizeof texts[i],
                 "Message %d: once upon a time a little girl named Lily went to the park %d.",
                 i + 1, i * 7);
        if (!refs[i]) refs[i] = json_pack("{s:i}", "message_id", i + 1);
        p[i] = (struct rg_ctx_piece){.source = RG_CTX_MESSAGE,
                                     .role = i % 2 ? "assistant" : "user",
                                     .text = texts[i],
                                     .ref = refs[i],
                                     .reason = "recent message",
                                     .required = i == N_MSG - 1};
    }
    return N_MSG;
}

static json_t *find(json_t *rec, const char *source, size_t nth)
{
    json_t *items = json_object_get(rec, "items");
    size_t i, k = 0;
    json_t *it;
    json_array_foreach(items, i, it)
    {
        if (!strcmp(json_string_value(json_object_get(it, "source")), source) && k++ == nth)
            return it;
    }
    return NULL;
}

static bool included(json_t *it)
{
    return it && json_is_true(json_object_get(it, "included"));
}

static void test_everything_fits(void **state)
{
    (void)state;
    if (!model) skip();
    struct rg_ctx_piece p[N_MSG + 2];
    size_t n = conversation(p);
    p[n++] = (struct rg_ctx_piece){
        .source = RG_CTX_SYSTEM, .text = "Be kind.", .reason = "your instructions"};
    struct rg_ctx_in in = {
        .v = vocab, .fmt = RG_CHAT_CHATML, .n_ctx = 100000, .budget = 100000, .pieces = p, .n = n};
    struct rg_ctx_out out;
    struct rg_req_err e;
    assert_int_equal(rg_ctx_build(&in, &out, &e), RG_OK);
    assert_int_equal(json_array_size(out.messages), N_MSG + 1);
    json_t *first = json_array_get(out.messages, 0);
    assert_string_equal(json_string_value(json_object_get(first, "role")), "system");
    assert_string_equal(json_string_value(json_object_get(first, "content")), "Be kind.");
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(out.messages, 1), "content")), texts[0]);
    assert_int_equal(out.used, rendered(out.messages));
    /* the costs add up to the rendered prompt (ChatML joins nothing) */
    json_t *items = json_object_get(out.record, "items");
    size_t sum = 0, i;
    json_t *it;
    json_array_foreach(items, i, it) sum +=
        (size_t)json_integer_value(json_object_get(it, "tokens"));
    struct rg_chat_msg none;
    int32_t *t = NULL;
    size_t base = 0;
    char err[RG_ERR_SIZE];
    assert_int_equal(rg_chat_tokenize_msgs(vocab, RG_CHAT_CHATML, &none, 0, &t, &base, err), RG_OK);
    rg_free(t);
    assert_int_equal(sum + base, out.used);
    assert_int_equal(json_integer_value(json_object_get(out.record, "used")), out.used);
    /* the order: system, then messages newest first */
    assert_string_equal(json_string_value(json_object_get(json_array_get(items, 0), "source")),
                        "system");
    assert_int_equal(json_integer_value(json_object_get(
                         json_object_get(json_array_get(items, 1), "ref"), "message_id")),
                     N_MSG);
    rg_ctx_out_free(&out);
}

/* Every budget from too small to all: never over, and greedy to the token. */
static void test_budget_is_exact(void **state)
{
    (void)state;
    if (!model) skip();
    struct rg_ctx_piece p[N_MSG + 1];
    size_t n = conversation(p);
    p[n++] = (struct rg_ctx_piece){
        .source = RG_CTX_SYSTEM, .text = "Answer briefly.", .reason = "your instructions"};
    struct rg_ctx_in in = {.v = vocab, .fmt = RG_CHAT_CHATML, .n_ctx = 512, .pieces = p, .n = n};
    struct rg_ctx_out out;
    struct rg_req_err e;
    in.budget = 100000;
    assert_int_equal(rg_ctx_build(&in, &out, &e), RG_OK);
    size_t all = out.used;
    rg_ctx_out_free(&out);
    int ok = 0, refused = 0;
    for (size_t b = 1; b <= all + 2; b++) {
        in.budget = b;
        int rc = rg_ctx_build(&in, &out, &e);
        if (rc != RG_OK) {
            assert_int_equal(e.status, 400);
            assert_string_equal(e.code, "context_length_exceeded");
            refused++;
            continue;
        }
        ok++;
        assert_true(out.used <= b);
        assert_int_equal(out.used, rendered(out.messages));
        /* the new message is always there, last */
        size_t nm = json_array_size(out.messages);
        assert_string_equal(
            json_string_value(json_object_get(json_array_get(out.messages, nm - 1), "content")),
            texts[N_MSG - 1]);
        /* the first message left out would not have fitted */
        json_t *items = json_object_get(out.record, "items");
        size_t i;
        json_t *it;
        bool seen_out = false;
        json_array_foreach(items, i, it)
        {
            if (strcmp(json_string_value(json_object_get(it, "source")), "message")) continue;
            if (!included(it)) {
                if (!seen_out)
                    assert_true(
                        out.used + (size_t)json_integer_value(json_object_get(it, "tokens")) > b);
                seen_out = true;
                assert_string_equal(json_string_value(json_object_get(it, "reason")),
                                    "over the budget");
            } else {
                assert_false(seen_out); /* whole messages, newest first, no gap */
            }
        }
        rg_ctx_out_free(&out);
    }
    assert_true(ok > 0);
    assert_true(refused > 0);
    in.budget = all;
    assert_int_equal(rg_ctx_build(&in, &out, &e), RG_OK);
    assert_int_equal(out.used, all);
    assert_int_equal(json_array_size(out.messages), N_MSG + 1);
    rg_ctx_out_free(&out);
}

/* The enrichments, their order, the summary only for a left-out part, and switches. */
static void test_sources_order_and_switches(void **state)
{
    (void)state;
    if (!model) skip();
    struct rg_ctx_piece p[N_MSG + 8];
    size_t n = conversation(p);
    json_t *sref = json_pack("{s:i, s:i}", "message_id", 55, "thread_id", 3);
    json_t *gref = json_pack("{s:i, s:s}", "glossary_id", 4, "term", "Lily");
    json_t *lref = json_pack("{s:i, s:i}", "chunk_id", 9, "document_id", 2);
    json_t *pref = json_pack("{s:i, s:i}", "message_id", 301, "conversation_id", 12);
    p[n++] = (struct rg_ctx_piece){.source = RG_CTX_PRIOR,
                                   .text = "PRIOR: the girl liked red.",
                                   .ref = pref,
                                   .reason = "similar"};
    p[n++] = (struct rg_ctx_piece){.source = RG_CTX_LIBRARY,
                                   .text = "[1] Parks\nA park is green.",
                                   .ref = lref,
                                   .reason = "passage [1]"};
    p[n++] = (struct rg_ctx_piece){.source = RG_CTX_GLOSSARY,
                                   .text = "Lily: a girl.",
                                   .ref = gref,
                                   .reason = "'Lily' appears"};
    p[n++] = (struct rg_ctx_piece){.source = RG_CTX_SUMMARY,
                                   .text = "SUMMARY: Lily went to parks.",
                                   .ref = sref,
                                   .reason = "summary of 8 older messages"};
    p[n++] = (struct rg_ctx_piece){
        .source = RG_CTX_STYLE, .text = "Ask questions.", .reason = "style socratic"};
    p[n++] = (struct rg_ctx_piece){
        .source = RG_CTX_SYSTEM, .text = "Be kind.", .reason = "your instructions"};
    struct rg_ctx_in in = {
        .v = vocab, .fmt = RG_CHAT_CHATML, .n_ctx = 4096, .budget = 100000, .pieces = p, .n = n};
    in.intro[RG_CTX_LIBRARY] = "Cite these:\n";
    struct rg_ctx_out out;
    struct rg_req_err e;
    /* all fits: the summary is not needed */
    assert_int_equal(rg_ctx_build(&in, &out, &e), RG_OK);
    json_t *it = find(out.record, "summary", 0);
    assert_non_null(it);
    assert_false(included(it));
    assert_true(included(find(out.record, "prior", 0)));
    const char *sys =
        json_string_value(json_object_get(json_array_get(out.messages, 0), "content"));
    assert_string_equal(sys, "Be kind.\n\nAsk questions.\n\nLily: a girl.\n\nCite these:\n[1] "
                             "Parks\nA park is green.\n\nPRIOR: the girl liked red.");
    size_t all = out.used;
    rg_ctx_out_free(&out);
    /* a budget that leaves old messages out: the summary goes in */
    in.budget = all - 60;
    assert_int_equal(rg_ctx_build(&in, &out, &e), RG_OK);
    assert_true(out.used <= in.budget);
    assert_int_equal(out.used, rendered(out.messages));
    it = find(out.record, "summary", 0);
    assert_true(included(it));
    assert_int_equal(json_integer_value(json_object_get(json_object_get(it, "ref"), "thread_id")),
                     3);
    assert_string_equal(json_string_value(json_object_get(it, "reason")),
                        "summary of 8 older messages");
    sys = json_string_value(json_object_get(json_array_get(out.messages, 0), "content"));
    assert_non_null(strstr(sys, "SUMMARY: Lily"));
    /* the record's order: system, style, messages, summary, glossary, library, prior */
    const char *want[] = {"system", "style", "message", "summary", "glossary", "library", "prior"};
    json_t *items = json_object_get(out.record, "items");
    size_t w = 0, i;
    json_array_foreach(items, i, it)
    {
        const char *s = json_string_value(json_object_get(it, "source"));
        while (w < 7 && strcmp(want[w], s))
            w++;
        assert_true(w < 7);
    }
    rg_ctx_out_free(&out);
    /* each enrichment turned off: left out of the prompt, said once */
    for (int s = RG_CTX_SUMMARY; s < RG_CTX_N_SOURCES; s++) {
        memset(in.off, 0, sizeof in.off);
        in.off[s] = true;
        assert_int_equal(rg_ctx_build(&in, &out, &e), RG_OK);
        it = find(out.record, rg_ctx_source_name(s), 0);
        assert_non_null(it);
        assert_false(included(it));
        assert_string_equal(json_string_value(json_object_get(it, "reason")), "turned off");
        assert_int_equal(json_integer_value(json_object_get(it, "tokens")), 0);
        assert_null(find(out.record, rg_ctx_source_name(s), 1));
        sys = json_string_value(json_object_get(json_array_get(out.messages, 0), "content"));
        const char *mark[] = {[RG_CTX_SUMMARY] = "SUMMARY",
                              [RG_CTX_GLOSSARY] = "Lily: a girl",
                              [RG_CTX_LIBRARY] = "Parks",
                              [RG_CTX_PRIOR] = "PRIOR"};
        assert_null(strstr(sys, mark[s]));
        assert_true(out.used <= in.budget);
        rg_ctx_out_free(&out);
    }
    memset(in.off, 0, sizeof in.off);
    /* the style off: its instructions are gone */
    in.off[RG_CTX_STYLE] = true;
    in.budget = 100000;
    assert_int_equal(rg_ctx_build(&in, &out, &e), RG_OK);
    sys = json_string_value(json_object_get(json_array_get(out.messages, 0), "content"));
    assert_null(strstr(sys, "Ask questions"));
    rg_ctx_out_free(&out);
    json_decref(sref);
    json_decref(gref);
    json_decref(lref);
    json_decref(pref);
}

/* A low-priority piece that does not fit is left out while a smaller later one goes in. */
static void test_enrichment_over_budget(void **state)
{
    (void)state;
    if (!model) skip();
    static char big[4000];
    memset(big, 0, sizeof big);
    for (size_t i = 0; i + 20 < sizeof big; i += 19)
        memcpy(big + i, "the sun was bright ", 19);
    struct rg_ctx_piece p[] = {
        {.source = RG_CTX_MESSAGE,
         .role = "user",
         .text = "Hello there.",
         .required = true,
         .reason = "new message"},
        {.source = RG_CTX_GLOSSARY, .text = big, .reason = "big"},
        {.source = RG_CTX_GLOSSARY, .text = "Sun: a star.", .reason = "small"},
    };
    struct rg_ctx_in in = {
        .v = vocab, .fmt = RG_CHAT_CHATML, .n_ctx = 512, .budget = 200, .pieces = p, .n = 3};
    struct rg_ctx_out out;
    struct rg_req_err e;
    assert_int_equal(rg_ctx_build(&in, &out, &e), RG_OK);
    json_t *a = find(out.record, "glossary", 0), *b = find(out.record, "glossary", 1);
    assert_false(included(a));
    assert_string_equal(json_string_value(json_object_get(a, "reason")), "over the budget");
    assert_true(json_integer_value(json_object_get(a, "tokens")) > 200);
    assert_true(included(b));
    assert_true(out.used <= 200);
    assert_int_equal(out.used, rendered(out.messages));
    rg_ctx_out_free(&out);
    /* the required message alone over the budget: refused */
    in.budget = 5;
    assert_int_not_equal(rg_ctx_build(&in, &out, &e), RG_OK);
    assert_string_equal(e.code, "context_length_exceeded");
    assert_string_equal(e.param, "content");
}

/* Many old messages: the record lists a bounded number and sums the rest. */
static void test_record_is_bounded(void **state)
{
    (void)state;
    if (!model) skip();
    enum { N = RG_CTX_RECORD_MESSAGES + 40 };
    struct rg_ctx_piece *p = rg_calloc(N, sizeof *p);
    for (int i = 0; i < N; i++)
        p[i] = (struct rg_ctx_piece){.source = RG_CTX_MESSAGE,
                                     .role = i % 2 ? "assistant" : "user",
                                     .text = "A short line of the story.",
                                     .required = i == N - 1,
                                     .reason = "recent message"};
    struct rg_ctx_in in = {
        .v = vocab, .fmt = RG_CHAT_CHATML, .n_ctx = 512, .budget = 100, .pieces = p, .n = N};
    struct rg_ctx_out out;
    struct rg_req_err e;
    assert_int_equal(rg_ctx_build(&in, &out, &e), RG_OK);
    size_t msgs = 0, i;
    json_t *it, *last = NULL;
    json_array_foreach(json_object_get(out.record, "items"), i, it)
    {
        if (!strcmp(json_string_value(json_object_get(it, "source")), "message")) {
            msgs++;
            last = it;
        }
    }
    size_t in_prompt = json_array_size(out.messages);
    assert_int_equal(msgs, in_prompt + RG_CTX_RECORD_MESSAGES + 1);
    char want[64];
    snprintf(want, sizeof want, "%zu older messages over the budget",
             (size_t)N - in_prompt - RG_CTX_RECORD_MESSAGES);
    assert_string_equal(json_string_value(json_object_get(last, "reason")), want);
    rg_ctx_out_free(&out);
    rg_free(p);
}

/* A branch over the budget with a thread summary: room is kept for the
 * summary before older messages, at every budget where it fits beside the
 * new message, and the prompt never exceeds the budget. */
static void test_summary_keeps_its_room(void **state)
{
    (void)state;
    if (!model) skip();
    struct rg_ctx_piece p[N_MSG + 1];
    size_t n = conversation(p);
    json_t *sref = json_pack("{s:i, s:i}", "message_id", 55, "thread_id", 3);
    p[n++] = (struct rg_ctx_piece){
        .source = RG_CTX_SUMMARY,
        .text = "SUMMARY: Lily went to many parks with her mother and her dog, played on the "
                "swings, met a boy named Tim, shared her red ball, and came home happy each "
                "evening before the sun went down.",
        .ref = sref,
        .reason = "summary of older messages"};
    struct rg_ctx_in in = {
        .v = vocab, .fmt = RG_CHAT_CHATML, .n_ctx = 4096, .budget = 100000, .pieces = p, .n = n};
    struct rg_ctx_out out;
    struct rg_req_err e;
    assert_int_equal(rg_ctx_build(&in, &out, &e), RG_OK);
    size_t all = out.used; /* every message, no summary */
    assert_false(included(find(out.record, "summary", 0)));
    rg_ctx_out_free(&out);
    in.budget = 1;
    size_t smallest = 0;
    for (size_t b = 20; b < all && !smallest; b++) { /* the least that takes the new message */
        in.budget = b;
        if (rg_ctx_build(&in, &out, &e) == RG_OK) {
            smallest = b;
            rg_ctx_out_free(&out);
        }
    }
    assert_true(smallest > 0);
    /* what the summary costs as a system turn beside the new message alone */
    json_t *one = json_pack("[{s:s, s:s}]", "role", "user", "content", texts[N_MSG - 1]);
    json_t *two = json_pack("[{s:s, s:s}, {s:s, s:s}]", "role", "system", "content",
                            p[N_MSG].text, "role", "user", "content", texts[N_MSG - 1]);
    size_t summary = rendered(two) - rendered(one);
    json_decref(one);
    json_decref(two);
    size_t with = 0;
    for (size_t b = smallest; b < all; b++) {
        in.budget = b;
        assert_int_equal(rg_ctx_build(&in, &out, &e), RG_OK);
        assert_true(out.used <= b);
        assert_int_equal(out.used, rendered(out.messages));
        bool in_sum = included(find(out.record, "summary", 0));
        if (b >= smallest + summary + 8 && !in_sum) /* room for it: it is there */
            fail_msg("budget %zu (smallest %zu, summary %zu, all %zu): no summary", b, smallest,
                     summary, all);
        with += in_sum;
        assert_true(included(find(out.record, "message", 0))); /* the new message, always */
        rg_ctx_out_free(&out);
    }
    assert_true(with > 0);
    json_decref(sref);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_everything_fits),
        cmocka_unit_test(test_budget_is_exact),
        cmocka_unit_test(test_sources_order_and_switches),
        cmocka_unit_test(test_enrichment_over_budget),
        cmocka_unit_test(test_record_is_bounded),
        cmocka_unit_test(test_summary_keeps_its_room),
    };
    int rc = cmocka_run_group_tests(tests, setup, teardown);
    for (int i = 0; i < N_MSG; i++)
        json_decref(refs[i]);
    return rc;
}
