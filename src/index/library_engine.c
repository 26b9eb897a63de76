/*
 * The library's embedder over the engine (library.h): a session holds the
 * model (rg_engine_acquire), counts tokens with its tokenizer, and embeds a
 * batch as one RG_ENGINE_EMBED request at background priority, so indexing
 * runs between the interactive requests' steps; a single text (a search
 * query, or an indexing run's last odd chunk) goes at interactive priority.
 */
#include <math.h>
#include <string.h>

#include "common/alloc.h"
#include "engine/engine.h"
#include "index/chunk.h"
#include "index/library.h"

struct session {
    struct rg_engine *e;
    struct rg_engine_model *m;
    const struct rg_vocab *v;
    int32_t n_ctx;
    int dim;
};

static void no_wake(void *user)
{
    (void)user;
}

static int hold(void *user, void **out, int *dim, size_t *max_tokens, char *err)
{
    struct rg_library_engine *le = user;
    struct session *s = rg_calloc(1, sizeof *s);
    if (!s) return rg_err_set(err, RG_ENOMEM, "out of memory");
    s->e = le->engine;
    int rc = rg_engine_acquire(le->engine, le->model, &s->m, err);
    if (rc) {
        rg_free(s);
        return rc;
    }
    const struct rg_model *model = rg_engine_model_get(s->m);
    s->v = rg_model_vocab(model);
    s->n_ctx = rg_engine_model_n_ctx(s->m);
    s->dim = rg_model_info(model)->n_embd;
    if (s->dim < 1 || s->dim > RG_DB_LIB_DIM_MAX || s->n_ctx < 2) {
        rg_engine_release(s->m, NAN);
        rg_free(s);
        return rg_err_set(err, RG_EUNSUPPORTED, "'%s' cannot be an embedding model", le->model);
    }
    *out = s;
    *dim = s->dim;
    *max_tokens = (size_t)s->n_ctx;
    return RG_OK;
}

static size_t count(const char *text, size_t len, void *user)
{
    struct session *s = user;
    int32_t *t = NULL;
    size_t n = 0;
    if (rg_tokenize_alloc(s->v, text, len, true, false, &t, &n) != RG_OK)
        return rg_chunk_count_words(text, len, NULL);
    rg_free(t);
    return n;
}

static int embed(void *user, const char *const *texts, const size_t *lens, size_t n, float *out,
                 char *err)
{
    struct session *s = user;
    int32_t **toks = rg_calloc(n, sizeof *toks);
    int32_t *nt = rg_calloc(n, sizeof *nt);
    int rc = toks && nt ? RG_OK : rg_err_set(err, RG_ENOMEM, "out of memory");
    for (size_t i = 0; rc == RG_OK && i < n; i++) {
        size_t k = 0;
        rc = rg_tokenize_alloc(s->v, texts[i], lens[i], true, false, &toks[i], &k);
        if (rc) {
            rg_err_set(err, rc, "cannot tokenize: %s", rg_strerror(rc));
            break;
        }
        if (k == 0) rc = rg_err_set(err, RG_EINVAL, "an empty text");
        nt[i] = (int32_t)(k > (size_t)s->n_ctx ? (size_t)s->n_ctx : k); /* cut to the context */
    }
    bool *got = rc == RG_OK ? rg_calloc(n, sizeof *got) : NULL;
    if (rc == RG_OK && !got) rc = rg_err_set(err, RG_ENOMEM, "out of memory");
    if (rc == RG_OK) {
        struct rg_engine_request er = {.kind = RG_ENGINE_EMBED,
                                       /* one text is a search query, which someone waits
                                        * for; batches are indexing */
                                       .priority =
                                           n == 1 ? RG_ENGINE_INTERACTIVE : RG_ENGINE_BACKGROUND,
                                       .log_id = "library.embed",
                                       .tokens = (const int32_t *const *)toks,
                                       .n_tokens = nt,
                                       .n_inputs = (int)n};
        uint64_t id = rg_engine_submit(s->m, &er, no_wake, NULL, &rc, err);
        if (!id) {
            if (rc == RG_OK) rc = RG_EINVAL;
        } else {
            struct rg_engine_event ev;
            for (;;) {
                if (rg_engine_next(s->e, id, &ev, -1) != 1) {
                    rc = rg_err_set(err, RG_EINTERNAL, "the embedding request vanished");
                    break;
                }
                if (ev.type == RG_ENGINE_EV_EMBEDDING && ev.choice >= 0 && (size_t)ev.choice < n &&
                    ev.n_vec == s->dim) {
                    memcpy(out + (size_t)ev.choice * (size_t)s->dim, ev.vec,
                           (size_t)s->dim * sizeof *out);
                    got[ev.choice] = true;
                }
                bool end = ev.type == RG_ENGINE_EV_END;
                if (end && ev.rc != RG_OK) rc = rg_err_set(err, ev.rc, "embedding: %s", ev.err);
                rg_engine_event_clear(&ev);
                if (end) break;
            }
        }
        for (size_t i = 0; rc == RG_OK && i < n; i++)
            if (!got[i]) rc = rg_err_set(err, RG_EINTERNAL, "input %zu got no vector", i);
    }
    for (size_t i = 0; toks && i < n; i++)
        rg_free(toks[i]);
    rg_free(toks);
    rg_free(nt);
    rg_free(got);
    return rc;
}

static void release(void *user)
{
    struct session *s = user;
    if (!s) return;
    rg_engine_release(s->m, NAN);
    rg_free(s);
}

void rg_library_engine_embedder(struct rg_library_engine *le, struct rg_engine *engine,
                                const char *model, struct rg_library_embedder *out)
{
    le->engine = engine;
    le->model = model;
    *out = (struct rg_library_embedder){.model = model,
                                        .hold = hold,
                                        .count = count,
                                        .embed = embed,
                                        .release = release,
                                        .user = le};
}
