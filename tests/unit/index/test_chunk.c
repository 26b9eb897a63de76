/*
 * The chunker: token bounds, overlap taken from the previous chunk of the
 * same section, no chunk across a section or a part, every word of the
 * document kept in order, locations (blocks, offsets, pages, source range)
 * that point at the chunk's own text, long paragraphs cut at sentences,
 * words and characters; allocation failures.
 */
#include "test.h"

#include "common/alloc.h"

#include "index/chunk.h"
#include "index/doc.h"
#include "index/doc_internal.h"

static struct rg_doc *md(const char *s)
{
    struct rg_doc *d = NULL;
    char err[RG_ERR_SIZE];
    assert_int_equal(rg_doc_load_mem(RG_DOC_FORMAT_MARKDOWN, s, strlen(s), NULL, &d, err), RG_OK);
    return d;
}

/* Next word of s at *i (spaces skipped); its length, 0 at the end. */
static size_t next_word(const char *s, size_t n, size_t *i)
{
    while (*i < n && (s[*i] == ' ' || s[*i] == '\n'))
        (*i)++;
    size_t st = *i;
    while (*i < n && s[*i] != ' ' && s[*i] != '\n')
        (*i)++;
    return *i - st;
}

/* The invariants every chunking must keep. */
static void check_chunks(const struct rg_doc *d, const struct rg_chunks *c, size_t max,
                         size_t overlap)
{
    assert_true(c->n > 0);
    /* words of the document, in order, must equal the words of the chunks' own texts */
    size_t bi = 0, boff = 0;
    for (size_t k = 0; k < c->n; k++) {
        const struct rg_chunk *ch = &c->items[k];
        assert_true(ch->tokens <= max);
        assert_int_equal(ch->tokens, rg_chunk_count_words(ch->text, ch->text_len, NULL));
        assert_int_equal(strlen(ch->text), ch->text_len);
        assert_true(rg_doc_utf8_valid(ch->text, ch->text_len));
        assert_true(ch->first_block <= ch->last_block && ch->last_block < d->n_blocks);
        for (size_t b = ch->first_block; b <= ch->last_block; b++) {
            assert_int_equal(d->blocks[b].section, ch->section); /* never across a section */
            assert_int_equal(d->blocks[b].part, ch->part);
        }
        bool first_of_section =
            k == 0 || c->items[k - 1].section != ch->section || c->items[k - 1].part != ch->part;
        if (first_of_section) assert_int_equal(ch->overlap_len, 0);
        if (ch->overlap_len) {
            const struct rg_chunk *prev = &c->items[k - 1];
            size_t ol = ch->overlap_len;
            while (ol && (ch->text[ol - 1] == ' ' || ch->text[ol - 1] == '\n'))
                ol--;
            assert_true(ol <= prev->text_len);
            assert_memory_equal(ch->text, prev->text + prev->text_len - ol, ol);
            assert_true(rg_chunk_count_words(ch->text, ol, NULL) <= overlap);
        }
        /* own text starts at first_offset of first_block */
        const char *own = ch->text + ch->overlap_len;
        size_t own_len = ch->text_len - ch->overlap_len;
        const struct rg_doc_block *fb = &d->blocks[ch->first_block],
                                  *lb = &d->blocks[ch->last_block];
        assert_true(ch->first_offset < fb->text_len);
        assert_true(ch->last_end <= lb->text_len);
        size_t w = 0, j = 0;
        while (j < fb->text_len && fb->text[ch->first_offset + j] != ' ' &&
               ch->first_offset + j < fb->text_len)
            j++;
        (void)w;
        assert_memory_equal(own, fb->text + ch->first_offset, RG_MIN(j, own_len));
        size_t tail = RG_MIN(ch->last_end, own_len);
        size_t t2 = 0;
        while (t2 < tail && lb->text[ch->last_end - 1 - t2] != ' ' &&
               lb->text[ch->last_end - 1 - t2] != '\n')
            t2++;
        assert_memory_equal(own + own_len - t2, lb->text + ch->last_end - t2, t2);
        /* word by word against the document */
        size_t i = 0;
        for (;;) {
            size_t st = i;
            size_t wl = next_word(own, own_len, &i);
            if (!wl) break;
            size_t dl;
            for (;;) {
                assert_true(bi < d->n_blocks);
                size_t bst = boff;
                dl = next_word(d->blocks[bi].text, d->blocks[bi].text_len, &boff);
                if (dl) {
                    st = i - wl;
                    assert_int_equal(wl, dl);
                    assert_memory_equal(own + st, d->blocks[bi].text + boff - dl, wl);
                    (void)bst;
                    break;
                }
                bi++, boff = 0;
            }
        }
        if (ch->src_start >= 0) {
            assert_int_equal(ch->src_start, fb->src_start);
            assert_int_equal(ch->src_end, lb->src_end);
        }
    }
    /* nothing left over */
    for (; bi < d->n_blocks; bi++, boff = 0) {
        size_t i = boff;
        assert_int_equal(next_word(d->blocks[bi].text, d->blocks[bi].text_len, &i), 0);
    }
}

static void test_structure_and_bounds(void **state)
{
    (void)state;
    char src[20000] = "# Rivers\n\n";
    for (int p = 0; p < 12; p++) {
        char para[400];
        snprintf(para, sizeof para,
                 "Paragraph %d speaks of water. It has eleven more words in it for sure. ", p);
        strcat(src, para);
        strcat(src, p % 3 == 2 ? "\n\n## Deltas\n\n" : "\n\n");
    }
    strcat(src, "# Mountains\n\nShort.\n");
    struct rg_doc *d = md(src);
    size_t sizes[][2] = {{20, 5}, {7, 3}, {3, 1}, {1, 0}, {256, 32}, {40, 0}};
    for (size_t s = 0; s < RG_ARRAY_LEN(sizes); s++) {
        struct rg_chunk_params p;
        rg_chunk_default_params(&p);
        p.max_tokens = sizes[s][0];
        p.overlap_tokens = sizes[s][1];
        struct rg_chunks c;
        char err[RG_ERR_SIZE];
        assert_int_equal(rg_chunk_doc(d, &p, &c, err), RG_OK);
        check_chunks(d, &c, p.max_tokens, p.overlap_tokens);
        if (sizes[s][0] == 20) {
            bool saw_deltas = false, some_overlap = false;
            for (size_t k = 0; k < c.n; k++) {
                if (!strcmp(c.items[k].heading_path, "Rivers > Deltas")) saw_deltas = true;
                if (c.items[k].overlap_len) some_overlap = true;
            }
            assert_true(saw_deltas);
            assert_true(some_overlap);
            assert_string_equal(c.items[c.n - 1].heading_path, "Mountains");
            assert_string_equal(c.items[0].heading_path, "Rivers");
        }
        if (sizes[s][0] == 256) /* big enough: one chunk per section, no overlap */
            assert_int_equal(c.n, d->n_sections);
        rg_chunks_free(&c);
    }
    rg_doc_free(d);
}

static void test_sentences(void **state)
{
    (void)state;
    /* one paragraph of five 8-word sentences: cut at sentence ends */
    char src[1000] = "";
    for (int i = 0; i < 5; i++)
        strcat(src, "One two three four five six seven eight. ");
    struct rg_doc *d = md(src);
    assert_int_equal(d->n_blocks, 1);
    struct rg_chunk_params p = {.max_tokens = 20, .overlap_tokens = 0};
    struct rg_chunks c;
    assert_int_equal(rg_chunk_doc(d, &p, &c, NULL), RG_OK);
    check_chunks(d, &c, 20, 0);
    assert_int_equal(c.n, 3); /* 16 + 16 + 8 words */
    for (size_t k = 0; k < c.n; k++) {
        assert_int_equal(c.items[k].text[c.items[k].text_len - 1], '.');
        assert_int_equal(c.items[k].first_block, 0);
    }
    assert_int_equal(c.items[1].first_offset, 82); /* third sentence starts there */
    rg_chunks_free(&c);
    rg_doc_free(d);
}

/* A counter of 4-byte "tokens", to cut inside a word. */
static size_t count_bytes4(const char *t, size_t n, void *u)
{
    (void)t, (void)u;
    return (n + 3) / 4;
}

static void test_long_word(void **state)
{
    (void)state;
    char src[3000];
    size_t k = 0;
    for (int i = 0; i < 600; i++)
        memcpy(src + k, "\xc3\xa9", 2), k += 2; /* é x 600, no space */
    src[k] = 0;
    struct rg_doc *d = md(src);
    struct rg_chunk_params p = {.max_tokens = 50, .overlap_tokens = 10, .count = count_bytes4};
    struct rg_chunks c;
    assert_int_equal(rg_chunk_doc(d, &p, &c, NULL), RG_OK);
    assert_true(c.n > 5);
    size_t total = 0;
    for (size_t i = 0; i < c.n; i++) {
        assert_true(c.items[i].tokens <= 50);
        assert_true(rg_doc_utf8_valid(c.items[i].text, c.items[i].text_len));
        total += c.items[i].text_len - c.items[i].overlap_len;
    }
    assert_int_equal(total, 1200);
    rg_chunks_free(&c);
    rg_doc_free(d);
}

static void test_pages_and_parts(void **state)
{
    (void)state;
    struct rg_doc_limits lim;
    rg_doc_limits_resolve(NULL, &lim);
    struct rg_docb b;
    assert_int_equal(rg_docb_init(&b, RG_DOC_FORMAT_PDF, &lim, NULL), RG_OK);
    assert_int_equal(rg_docb_section(&b, "Part", 4, 1), 0);
    for (int pg = 1; pg <= 4; pg++) {
        b.page = pg;
        char t[64];
        snprintf(t, sizeof t, "page %d has five words", pg);
        assert_int_equal(rg_docb_block(&b, RG_DOC_BLOCK_PARAGRAPH, t, strlen(t), -1, -1), RG_OK);
    }
    assert_true(rg_docb_part(&b, "second") >= 0);
    assert_int_equal(rg_docb_block(&b, RG_DOC_BLOCK_PARAGRAPH, "other part", 10, 100, 110), RG_OK);
    struct rg_doc *d = rg_docb_finish(&b);
    struct rg_chunk_params p = {.max_tokens = 12, .overlap_tokens = 2};
    struct rg_chunks c;
    assert_int_equal(rg_chunk_doc(d, &p, &c, NULL), RG_OK);
    check_chunks(d, &c, 12, 2);
    assert_int_equal(c.items[0].page_first, 1);
    assert_int_equal(c.items[0].page_last, 2);
    assert_int_equal(c.items[0].src_start, -1);
    const struct rg_chunk *last = &c.items[c.n - 1];
    assert_int_equal(last->part, 0);
    assert_int_equal(last->overlap_len, 0); /* a new part starts fresh */
    assert_int_equal(last->src_start, 100);
    assert_int_equal(last->src_end, 110);
    rg_chunks_free(&c);
    rg_doc_free(d);
}

static void test_params_and_empty(void **state)
{
    (void)state;
    struct rg_doc *d = md("# Only\n\ntext here\n");
    struct rg_chunk_params p = {.max_tokens = 5, .overlap_tokens = 5};
    struct rg_chunks c;
    char err[RG_ERR_SIZE];
    assert_int_equal(rg_chunk_doc(d, &p, &c, err), RG_EINVAL);
    p = (struct rg_chunk_params){.max_tokens = 0};
    assert_int_equal(rg_chunk_doc(d, &p, &c, err), RG_EINVAL);
    rg_chunks_free(&c);
    assert_int_equal(rg_chunk_doc(d, NULL, &c, err), RG_OK); /* defaults */
    assert_int_equal(c.n, 1);
    assert_string_equal(c.items[0].text, "Only\n\ntext here");
    rg_chunks_free(&c);
    rg_doc_free(d);
    d = md("");
    assert_int_equal(rg_chunk_doc(d, NULL, &c, err), RG_OK);
    assert_int_equal(c.n, 0);
    rg_chunks_free(&c);
    rg_doc_free(d);
}

static void test_alloc_failures(void **state)
{
    (void)state;
    char src[4000] = "# A\n\n";
    for (int i = 0; i < 20; i++)
        strcat(src, "Some words in a sentence. And more after it.\n\n");
    struct rg_doc *d = md(src);
    struct rg_chunk_params p = {.max_tokens = 9, .overlap_tokens = 3};
    int rc = RG_ENOMEM;
    long n;
    for (n = 0; rc == RG_ENOMEM && n < 100000; n++) {
        struct rg_chunks c;
        rg_alloc_fail_after(n);
        rc = rg_chunk_doc(d, &p, &c, NULL);
        rg_alloc_fail_after(-1);
        if (rc == RG_OK) check_chunks(d, &c, 9, 3);
        rg_chunks_free(&c);
    }
    assert_int_equal(rc, RG_OK);
    assert_true(n > 3);
    rg_doc_free(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_structure_and_bounds),
        cmocka_unit_test(test_sentences),
        cmocka_unit_test(test_long_word),
        cmocka_unit_test(test_pages_and_parts),
        cmocka_unit_test(test_params_and_empty),
        cmocka_unit_test(test_alloc_failures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
