/*
 * The vector index (vec.h): slots of (metadata, quantised unit vector), an
 * id -> slot hash map, an exact top-k scan, and an HNSW graph (Malkov &
 * Yashunin) over the slots once it is built.
 *
 * Layout: slot i holds meta[i], live[i], the vector at data + i * row bytes
 * (f16: dim halves; int8: dim bytes, scale[i] its step), and with a graph
 * its level lvl[i], its layer-0 links at l0 + i * (2m + 1) (a count then
 * ids) and its upper links up[i] (lvl[i] blocks of m + 1). A removed vector
 * leaves a dead slot (a tombstone): scans skip it, the graph still walks
 * through it; compact() drops dead slots when there is no graph, and
 * rg_vec_build_graph() compacts before building.
 */
#include "index/vec.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/str.h"
#include "db/db.h"
#include "index/vec_internal.h"

struct rg_vec {
    struct rg_vec_params p;
    char model[128];
    pthread_rwlock_t lock;
    size_t row; /* bytes of one stored vector */
    size_t n, cap;
    struct rg_vec_meta *meta; /* [cap] */
    uint8_t *live;            /* [cap] */
    uint8_t *data;            /* [cap * row] */
    float *scale;             /* [cap], int8 only */
    size_t n_dead;
    /* id -> slot: open addressing, linear probing; key 0 empty, -1 deleted */
    int64_t *keys;
    uint32_t *vals;
    size_t map_cap, map_used;
    /* the graph */
    bool graph;
    uint8_t *lvl;  /* [cap] */
    uint32_t *l0;  /* [cap * (2m + 1)] */
    uint32_t **up; /* [cap] */
    uint32_t entry;
    int max_level;
    uint64_t rng;
    /* the writer's visited set (under the write lock) */
    uint8_t *wbits;
    uint32_t *wtouched;
    size_t wbits_cap;
    float *scratch; /* dim floats, the writer's */
};

void rg_vec_default_params(struct rg_vec_params *p)
{
    memset(p, 0, sizeof *p);
    p->storage = RG_VEC_F16;
    p->hnsw_threshold = 100000;
    p->hnsw_m = 16;
    p->hnsw_ef_construction = 200;
    p->hnsw_ef_search = 64;
}

/* ---- the id map ---------------------------------------------------------------------- */

static size_t hash64(int64_t k)
{
    uint64_t x = (uint64_t)k;
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    return (size_t)x;
}

static int map_grow(struct rg_vec *v)
{
    size_t nc = v->map_cap ? v->map_cap * 2 : 1024;
    int64_t *k = rg_calloc(nc, sizeof *k);
    uint32_t *s = rg_malloc_array(nc, sizeof *s);
    if (!k || !s) {
        rg_free(k);
        rg_free(s);
        return RG_ENOMEM;
    }
    for (size_t i = 0; i < v->map_cap; i++) {
        if (v->keys[i] <= 0) continue;
        size_t h = hash64(v->keys[i]) & (nc - 1);
        while (k[h])
            h = (h + 1) & (nc - 1);
        k[h] = v->keys[i];
        s[h] = v->vals[i];
    }
    rg_free(v->keys);
    rg_free(v->vals);
    v->keys = k;
    v->vals = s;
    v->map_cap = nc;
    v->map_used = v->n - v->n_dead;
    return RG_OK;
}

/* The slot of id, or -1. */
static int64_t map_get(const struct rg_vec *v, int64_t id)
{
    if (!v->map_cap) return -1;
    for (size_t h = hash64(id) & (v->map_cap - 1);; h = (h + 1) & (v->map_cap - 1)) {
        if (v->keys[h] == 0) return -1;
        if (v->keys[h] == id) return v->vals[h];
    }
}

static int map_put(struct rg_vec *v, int64_t id, uint32_t slot)
{
    if ((v->map_used + 1) * 2 > v->map_cap && map_grow(v)) return RG_ENOMEM;
    size_t h = hash64(id) & (v->map_cap - 1);
    while (v->keys[h] > 0 && v->keys[h] != id)
        h = (h + 1) & (v->map_cap - 1);
    if (v->keys[h] != id) v->map_used++;
    v->keys[h] = id;
    v->vals[h] = slot;
    return RG_OK;
}

static void map_del(struct rg_vec *v, int64_t id)
{
    if (!v->map_cap) return;
    for (size_t h = hash64(id) & (v->map_cap - 1);; h = (h + 1) & (v->map_cap - 1)) {
        if (v->keys[h] == 0) return;
        if (v->keys[h] == id) {
            v->keys[h] = -1; /* stays counted in map_used until the next grow */
            return;
        }
    }
}

/* ---- slots --------------------------------------------------------------------------- */

static size_t l0_width(const struct rg_vec *v)
{
    return (size_t)(2 * v->p.hnsw_m + 1);
}

static int reserve(struct rg_vec *v, size_t need)
{
    if (need <= v->cap) return RG_OK;
    size_t nc = v->cap ? v->cap : 1024;
    while (nc < need)
        nc *= 2;
    struct rg_vec_meta *m = rg_realloc(v->meta, nc * sizeof *m);
    if (!m) return RG_ENOMEM;
    v->meta = m;
    uint8_t *l = rg_realloc(v->live, nc);
    if (!l) return RG_ENOMEM;
    v->live = l;
    uint8_t *d = rg_realloc(v->data, nc * v->row);
    if (!d) return RG_ENOMEM;
    v->data = d;
    if (v->p.storage == RG_VEC_I8) {
        float *s = rg_realloc(v->scale, nc * sizeof *s);
        if (!s) return RG_ENOMEM;
        v->scale = s;
    }
    if (v->graph) {
        uint8_t *lv = rg_realloc(v->lvl, nc);
        if (!lv) return RG_ENOMEM;
        v->lvl = lv;
        uint32_t *z = rg_realloc(v->l0, nc * l0_width(v) * sizeof *z);
        if (!z) return RG_ENOMEM;
        v->l0 = z;
        uint32_t **u = rg_realloc(v->up, nc * sizeof *u);
        if (!u) return RG_ENOMEM;
        v->up = u;
        uint8_t *b = rg_realloc(v->wbits, (nc + 7) / 8);
        if (!b) return RG_ENOMEM;
        memset(b + (v->cap + 7) / 8, 0, (nc + 7) / 8 - (v->cap + 7) / 8);
        v->wbits = b;
        uint32_t *t = rg_realloc(v->wtouched, nc * sizeof *t);
        if (!t) return RG_ENOMEM;
        v->wtouched = t;
        v->wbits_cap = nc;
    }
    v->cap = nc;
    return RG_OK;
}

/* Normalises x into out; false for a zero or non-finite vector. */
static bool normalise(const float *x, float *out, int dim)
{
    double s = 0;
    for (int i = 0; i < dim; i++) {
        if (!isfinite(x[i])) return false;
        s += (double)x[i] * x[i];
    }
    if (!(s > 0)) return false;
    float inv = (float)(1.0 / sqrt(s));
    for (int i = 0; i < dim; i++)
        out[i] = x[i] * inv;
    return true;
}

static void store(struct rg_vec *v, size_t slot, const float *u)
{
    int dim = v->p.dim;
    if (v->p.storage == RG_VEC_F16) {
        uint16_t *h = (uint16_t *)(v->data + slot * v->row);
        for (int i = 0; i < dim; i++)
            h[i] = rg_vec_f32_to_f16(u[i]);
    } else {
        float mx = 0;
        for (int i = 0; i < dim; i++)
            mx = fmaxf(mx, fabsf(u[i]));
        float sc = mx > 0 ? mx / 127.0f : 1.0f;
        int8_t *q = (int8_t *)(v->data + slot * v->row);
        for (int i = 0; i < dim; i++)
            q[i] = (int8_t)lrintf(u[i] / sc);
        v->scale[slot] = sc;
    }
}

static void decode(const struct rg_vec *v, size_t slot, float *out)
{
    int dim = v->p.dim;
    if (v->p.storage == RG_VEC_F16) {
        rg_vec_kernel_decode_f16()((const uint16_t *)(v->data + slot * v->row), out, dim);
    } else {
        const int8_t *q = (const int8_t *)(v->data + slot * v->row);
        for (int i = 0; i < dim; i++)
            out[i] = (float)q[i] * v->scale[slot];
    }
}

/* The kernels one search uses. */
struct kern {
    rg_vec_dot_f16_fn f16;
    rg_vec_dot_i8_fn i8;
};

static struct kern kernels(void)
{
    struct kern k = {rg_vec_kernel_f16(), rg_vec_kernel_i8()};
    return k;
}

/* Cosine of the (unit) query with slot. */
static inline float sim(const struct rg_vec *v, const struct kern *k, const float *q, size_t slot)
{
    if (v->p.storage == RG_VEC_F16)
        return k->f16(q, (const uint16_t *)(v->data + slot * v->row), v->p.dim);
    return k->i8(q, (const int8_t *)(v->data + slot * v->row), v->p.dim) * v->scale[slot];
}

struct rg_vec *rg_vec_new(const struct rg_vec_params *p, char *err)
{
    if (!p || p->dim < 1 || p->dim > 4096) {
        rg_err_set(err, RG_EINVAL, "vector dimension must be 1..4096");
        return NULL;
    }
    if (!p->model || !*p->model || strlen(p->model) >= 128) {
        rg_err_set(err, RG_EINVAL, "the vector index needs its model's name (< 128 bytes)");
        return NULL;
    }
    if (p->storage != RG_VEC_F16 && p->storage != RG_VEC_I8) {
        rg_err_set(err, RG_EINVAL, "bad vector storage");
        return NULL;
    }
    struct rg_vec *v = rg_calloc(1, sizeof *v);
    if (!v) {
        rg_err_set(err, RG_ENOMEM, "out of memory");
        return NULL;
    }
    v->p = *p;
    if (v->p.hnsw_m < 4) v->p.hnsw_m = 4;
    if (v->p.hnsw_m > 64) v->p.hnsw_m = 64;
    if (v->p.hnsw_ef_construction < v->p.hnsw_m) v->p.hnsw_ef_construction = v->p.hnsw_m;
    if (v->p.hnsw_ef_search < 1) v->p.hnsw_ef_search = 64;
    if (!v->p.hnsw_threshold) v->p.hnsw_threshold = 100000;
    rg_strlcpy(v->model, p->model, sizeof v->model);
    v->p.model = v->model;
    v->rng = p->seed ? p->seed : 0x9e3779b97f4a7c15ULL;
    v->row = p->storage == RG_VEC_F16 ? (size_t)p->dim * 2 : (size_t)p->dim;
    v->scratch = rg_malloc_array((size_t)p->dim, sizeof(float));
    pthread_rwlock_init(&v->lock, NULL);
    if (!v->scratch) {
        rg_vec_free(v);
        rg_err_set(err, RG_ENOMEM, "out of memory");
        return NULL;
    }
    return v;
}

static void graph_free(struct rg_vec *v)
{
    for (size_t i = 0; v->up && i < v->n; i++)
        rg_free(v->up[i]);
    rg_free(v->up);
    rg_free(v->l0);
    rg_free(v->lvl);
    rg_free(v->wbits);
    rg_free(v->wtouched);
    v->up = NULL;
    v->l0 = NULL;
    v->lvl = NULL;
    v->wbits = NULL;
    v->wtouched = NULL;
    v->wbits_cap = 0;
    v->graph = false;
}

void rg_vec_free(struct rg_vec *v)
{
    if (!v) return;
    graph_free(v);
    rg_free(v->meta);
    rg_free(v->live);
    rg_free(v->data);
    rg_free(v->scale);
    rg_free(v->keys);
    rg_free(v->vals);
    rg_free(v->scratch);
    pthread_rwlock_destroy(&v->lock);
    rg_free(v);
}

/* Drops dead slots (no graph: slot numbers change). */
static int compact(struct rg_vec *v)
{
    RG_ASSERT(!v->graph);
    size_t o = 0;
    for (size_t i = 0; i < v->n; i++) {
        if (!v->live[i]) continue;
        if (o != i) {
            v->meta[o] = v->meta[i];
            v->live[o] = 1;
            memcpy(v->data + o * v->row, v->data + i * v->row, v->row);
            if (v->scale) v->scale[o] = v->scale[i];
        }
        o++;
    }
    v->n = o;
    v->n_dead = 0;
    rg_free(v->keys);
    rg_free(v->vals);
    v->keys = NULL;
    v->vals = NULL;
    v->map_cap = v->map_used = 0;
    for (size_t i = 0; i < v->n; i++)
        if (map_put(v, v->meta[i].id, (uint32_t)i)) return RG_ENOMEM;
    return RG_OK;
}

static void kill_slot(struct rg_vec *v, size_t slot)
{
    v->live[slot] = 0;
    v->n_dead++;
    map_del(v, v->meta[slot].id);
}

/* ---- HNSW ---------------------------------------------------------------------------- */

struct cand {
    float d; /* distance: 1 - cosine */
    uint32_t id;
};

/* Binary heaps of cand: min (closest on top) or max (farthest on top). */
struct heap {
    struct cand *a;
    size_t n, cap;
    bool max;
};

static bool before(const struct heap *h, struct cand x, struct cand y)
{
    return h->max ? x.d > y.d : x.d < y.d;
}

static int heap_push(struct heap *h, struct cand c)
{
    if (h->n == h->cap) {
        size_t nc = h->cap ? h->cap * 2 : 64;
        struct cand *a = rg_realloc(h->a, nc * sizeof *a);
        if (!a) return RG_ENOMEM;
        h->a = a;
        h->cap = nc;
    }
    size_t i = h->n++;
    h->a[i] = c;
    while (i > 0 && before(h, h->a[i], h->a[(i - 1) / 2])) {
        struct cand t = h->a[i];
        h->a[i] = h->a[(i - 1) / 2];
        h->a[(i - 1) / 2] = t;
        i = (i - 1) / 2;
    }
    return RG_OK;
}

static struct cand heap_pop(struct heap *h)
{
    struct cand top = h->a[0];
    h->a[0] = h->a[--h->n];
    for (size_t i = 0;;) {
        size_t l = 2 * i + 1, r = l + 1, b = i;
        if (l < h->n && before(h, h->a[l], h->a[b])) b = l;
        if (r < h->n && before(h, h->a[r], h->a[b])) b = r;
        if (b == i) break;
        struct cand t = h->a[i];
        h->a[i] = h->a[b];
        h->a[b] = t;
        i = b;
    }
    return top;
}

/* The visited set of one walk: a bitset and the bits set (to clear them). */
struct visited {
    uint8_t *bits;
    uint32_t *touched;
    size_t n;
};

static bool visit(struct visited *vs, uint32_t i)
{
    if (vs->bits[i >> 3] & (1u << (i & 7))) return false;
    vs->bits[i >> 3] |= (uint8_t)(1u << (i & 7));
    if (vs->touched) vs->touched[vs->n++] = i;
    return true;
}

static void visited_clear(struct visited *vs)
{
    for (size_t i = 0; i < vs->n; i++)
        vs->bits[vs->touched[i] >> 3] = 0;
    vs->n = 0;
}

static const uint32_t *links(const struct rg_vec *v, uint32_t i, int layer)
{
    if (layer == 0) return v->l0 + (size_t)i * l0_width(v);
    return v->up[i] + (size_t)(layer - 1) * (size_t)(v->p.hnsw_m + 1);
}

static uint32_t *links_mut(struct rg_vec *v, uint32_t i, int layer)
{
    return (uint32_t *)links(v, i, layer);
}

/* Whether slot i may be a result of a search with filter f. */
static bool passes(const struct rg_vec *v, size_t i, const struct rg_vec_filter *f)
{
    if (!v->live[i]) return false;
    if (!f) return true;
    const struct rg_vec_meta *m = &v->meta[i];
    if (f->user > 0 && m->owner_id != f->user && !m->shared) return false;
    if (f->doc_id && m->doc_id != f->doc_id) return false;
    if (f->collections) {
        bool in = false;
        for (size_t k = 0; k < f->n_collections && !in; k++)
            in = f->collections[k] == m->collection_id;
        if (!in) return false;
    }
    return !f->pred || f->pred(f->ud, m);
}

/*
 * The ef closest nodes to q on layer from ep (search-layer of the paper),
 * into res (a max-heap, emptied first). With f (the search), only nodes
 * that pass f enter res, every node is walked; without (construction),
 * every node enters.
 */
static int search_layer(const struct rg_vec *v, const struct kern *k, const float *q, uint32_t ep,
                        int ef, int layer, const struct rg_vec_filter *f, bool filtered,
                        struct visited *vs, struct heap *cands, struct heap *res)
{
    cands->n = res->n = 0;
    struct cand e = {1.0f - sim(v, k, q, ep), ep};
    visit(vs, ep);
    int rc = heap_push(cands, e);
    if (!rc && (!filtered || passes(v, ep, f))) rc = heap_push(res, e);
    while (!rc && cands->n) {
        struct cand c = heap_pop(cands);
        if (res->n >= (size_t)ef && c.d > res->a[0].d) break;
        const uint32_t *l = links(v, c.id, layer);
        for (uint32_t j = 1; j <= l[0] && !rc; j++) {
            uint32_t nb = l[j];
            if (!visit(vs, nb)) continue;
            float d = 1.0f - sim(v, k, q, nb);
            if (res->n < (size_t)ef || d < res->a[0].d) {
                struct cand x = {d, nb};
                rc = heap_push(cands, x);
                if (!rc && (!filtered || passes(v, nb, f))) {
                    rc = heap_push(res, x);
                    if (!rc && res->n > (size_t)ef) heap_pop(res);
                }
            }
        }
    }
    return rc;
}

static int cmp_cand(const void *a, const void *b)
{
    const struct cand *x = a, *y = b;
    return x->d < y->d ? -1 : x->d > y->d ? 1 : (x->id > y->id) - (x->id < y->id);
}

/*
 * The neighbour-selection heuristic (algorithm 4): from c[0..n) sorted by
 * distance to the base, keep a candidate only if it is closer to the base
 * than to every one kept, up to max; fill up with the nearest left out
 * (keepPrunedConnections) so that sparse regions stay connected. Writes
 * the kept ids to out; returns how many.
 */
static size_t select_neighbours(struct rg_vec *v, const struct kern *k, struct cand *c, size_t n,
                                size_t max, uint32_t *out)
{
    size_t m = 0;
    int dim = v->p.dim;
    /* the kept ones decoded once each (at most max), the candidates read stored */
    float *kept_v = rg_malloc_array(max * (size_t)dim, sizeof *kept_v);
    bool *kept = rg_calloc(n ? n : 1, sizeof *kept);
    if (!kept || !kept_v) { /* degrade to the nearest */
        for (size_t i = 0; i < n && m < max; i++)
            out[m++] = c[i].id;
        rg_free(kept);
        rg_free(kept_v);
        return m;
    }
    for (size_t i = 0; i < n && m < max; i++) {
        bool good = true;
        for (size_t j = 0; j < m && good; j++)
            good = 1.0f - sim(v, k, kept_v + j * (size_t)dim, c[i].id) > c[i].d;
        if (good) {
            decode(v, c[i].id, kept_v + m * (size_t)dim);
            out[m++] = c[i].id;
            kept[i] = true;
        }
    }
    for (size_t i = 0; i < n && m < max; i++)
        if (!kept[i]) out[m++] = c[i].id;
    rg_free(kept);
    rg_free(kept_v);
    return m;
}

static int random_level(struct rg_vec *v)
{
    v->rng ^= v->rng << 13;
    v->rng ^= v->rng >> 7;
    v->rng ^= v->rng << 17;
    double u = ((double)(v->rng >> 11) + 0.5) / 9007199254740992.0;
    int l = (int)floor(-log(u) / log((double)v->p.hnsw_m));
    return l > 15 ? 15 : l;
}

/* Adds link b to a's list on layer; a full list is chosen again by the
 * heuristic among its links and b, which keeps the long links between
 * clusters that "keep the nearest" would drop. */
static void link_add(struct rg_vec *v, const struct kern *k, uint32_t a, uint32_t b, int layer,
                     struct cand *tmp)
{
    uint32_t *l = links_mut(v, a, layer);
    size_t max = layer == 0 ? (size_t)(2 * v->p.hnsw_m) : (size_t)v->p.hnsw_m;
    for (uint32_t j = 1; j <= l[0]; j++)
        if (l[j] == b) return;
    if (l[0] < max) {
        l[++l[0]] = b;
        return;
    }
    decode(v, a, v->scratch);
    size_t n = 0;
    for (uint32_t j = 1; j <= l[0]; j++) {
        tmp[n].id = l[j];
        tmp[n++].d = 1.0f - sim(v, k, v->scratch, l[j]);
    }
    tmp[n].id = b;
    tmp[n++].d = 1.0f - sim(v, k, v->scratch, b);
    qsort(tmp, n, sizeof *tmp, cmp_cand);
    uint32_t sel[130];
    size_t m = select_neighbours(v, k, tmp, n, max, sel);
    l[0] = (uint32_t)m;
    memcpy(l + 1, sel, m * sizeof *sel);
}

/* Inserts slot i (its vector u, unit f32) into the graph. */
static int graph_insert(struct rg_vec *v, uint32_t i, const float *u)
{
    struct kern k = kernels();
    int L = random_level(v);
    v->lvl[i] = (uint8_t)L;
    v->l0[(size_t)i * l0_width(v)] = 0;
    v->up[i] = NULL;
    if (L > 0) {
        v->up[i] = rg_calloc((size_t)L * (size_t)(v->p.hnsw_m + 1), sizeof(uint32_t));
        if (!v->up[i]) {
            v->lvl[i] = 0;
            L = 0;
        }
    }
    if (i == 0) {
        v->entry = i;
        v->max_level = L;
        return RG_OK;
    }
    struct visited vs = {v->wbits, v->wtouched, 0};
    struct heap cands = {0}, res = {.max = true};
    uint32_t ep = v->entry;
    for (int lc = v->max_level; lc > L; lc--) { /* greedy descent */
        bool moved = true;
        float best = 1.0f - sim(v, &k, u, ep);
        while (moved) {
            moved = false;
            const uint32_t *l = links(v, ep, lc);
            for (uint32_t j = 1; j <= l[0]; j++) {
                float d = 1.0f - sim(v, &k, u, l[j]);
                if (d < best) {
                    best = d;
                    ep = l[j];
                    moved = true;
                }
            }
        }
    }
    int rc = RG_OK;
    struct cand *tmp = rg_malloc_array(
        (size_t)(2 * v->p.hnsw_m + 2) + (size_t)v->p.hnsw_ef_construction, sizeof *tmp);
    if (!tmp) rc = RG_ENOMEM;
    for (int lc = L < v->max_level ? L : v->max_level; lc >= 0 && !rc; lc--) {
        rc = search_layer(v, &k, u, ep, v->p.hnsw_ef_construction, lc, NULL, false, &vs, &cands,
                          &res);
        visited_clear(&vs);
        if (rc) break;
        size_t n = res.n;
        memcpy(tmp, res.a, n * sizeof *tmp);
        qsort(tmp, n, sizeof *tmp, cmp_cand);
        size_t max = lc == 0 ? (size_t)(2 * v->p.hnsw_m) : (size_t)v->p.hnsw_m;
        uint32_t sel[130];
        size_t m = select_neighbours(v, &k, tmp, n, max, sel);
        uint32_t *l = links_mut(v, i, lc);
        l[0] = (uint32_t)m;
        memcpy(l + 1, sel, m * sizeof *sel);
        ep = tmp[0].id; /* before link_add reuses tmp */
        for (size_t j = 0; j < m; j++)
            link_add(v, &k, sel[j], i, lc, tmp);
    }
    rg_free(tmp);
    rg_free(cands.a);
    rg_free(res.a);
    if (L > v->max_level) {
        v->max_level = L;
        v->entry = i;
    }
    return rc;
}

static int build_locked(struct rg_vec *v)
{
    graph_free(v);
    if (v->n_dead && compact(v)) return RG_ENOMEM;
    size_t cap = v->cap ? v->cap : 1024;
    v->lvl = rg_calloc(cap, 1);
    v->l0 = rg_malloc_array(cap * l0_width(v), sizeof(uint32_t));
    v->up = rg_calloc(cap, sizeof *v->up);
    v->wbits = rg_calloc((cap + 7) / 8, 1);
    v->wtouched = rg_malloc_array(cap, sizeof(uint32_t));
    v->wbits_cap = cap;
    if (!v->lvl || !v->l0 || !v->up || !v->wbits || !v->wtouched) {
        graph_free(v);
        return RG_ENOMEM;
    }
    v->graph = true;
    float *u = rg_malloc_array((size_t)v->p.dim, sizeof *u);
    if (!u) {
        graph_free(v);
        return RG_ENOMEM;
    }
    v->max_level = 0;
    v->entry = 0;
    for (size_t i = 0; i < v->n; i++) {
        decode(v, i, u);
        if (i == 0) {
            int L = random_level(v);
            v->lvl[0] = (uint8_t)L;
            v->l0[0] = 0;
            v->up[0] =
                L ? rg_calloc((size_t)L * (size_t)(v->p.hnsw_m + 1), sizeof(uint32_t)) : NULL;
            if (L && !v->up[0]) v->lvl[0] = 0, L = 0;
            v->max_level = L;
            continue;
        }
        if (graph_insert(v, (uint32_t)i, u)) {
            rg_free(u);
            graph_free(v);
            return RG_ENOMEM;
        }
    }
    rg_free(u);
    return RG_OK;
}

int rg_vec_build_graph(struct rg_vec *v, char *err)
{
    pthread_rwlock_wrlock(&v->lock);
    int rc = build_locked(v);
    pthread_rwlock_unlock(&v->lock);
    return rc ? rg_err_set(err, rc, "out of memory building the vector graph") : RG_OK;
}

bool rg_vec_needs_graph(struct rg_vec *v)
{
    pthread_rwlock_rdlock(&v->lock);
    bool r = !v->graph && v->n - v->n_dead >= v->p.hnsw_threshold;
    pthread_rwlock_unlock(&v->lock);
    return r;
}

bool rg_vec_has_graph(struct rg_vec *v)
{
    pthread_rwlock_rdlock(&v->lock);
    bool r = v->graph;
    pthread_rwlock_unlock(&v->lock);
    return r;
}

/* ---- add, remove --------------------------------------------------------------------- */

static int add_locked(struct rg_vec *v, const struct rg_vec_meta *m, const float *u)
{
    int64_t old = map_get(v, m->id);
    if (old >= 0 && !v->graph) { /* replace in place */
        v->meta[old] = *m;
        store(v, (size_t)old, u);
        return RG_OK;
    }
    if (v->n >= UINT32_MAX - 1) return RG_ETOOBIG;
    if (reserve(v, v->n + 1)) return RG_ENOMEM;
    size_t s = v->n;
    v->meta[s] = *m;
    v->live[s] = 1;
    store(v, s, u);
    if (map_put(v, m->id, (uint32_t)s)) return RG_ENOMEM;
    if (old >= 0) {
        v->live[old] = 0;
        v->n_dead++;
    }
    v->n++;
    if (v->graph && graph_insert(v, (uint32_t)s, u)) {
        /* the node stays reachable only by scans: the graph without it is valid */
        v->lvl[s] = 0;
        v->l0[s * l0_width(v)] = 0;
    }
    return RG_OK;
}

int rg_vec_add(struct rg_vec *v, const struct rg_vec_meta *m, const float *x, char *err)
{
    if (!m || m->id <= 0) return rg_err_set(err, RG_EINVAL, "a vector needs a positive chunk id");
    float *u = rg_malloc_array((size_t)v->p.dim, sizeof *u);
    if (!u) return rg_err_set(err, RG_ENOMEM, "out of memory");
    if (!normalise(x, u, v->p.dim)) {
        rg_free(u);
        return rg_err_set(err, RG_EINVAL, "a zero or non-finite vector");
    }
    pthread_rwlock_wrlock(&v->lock);
    int rc = add_locked(v, m, u);
    pthread_rwlock_unlock(&v->lock);
    rg_free(u);
    return rc ? rg_err_set(err, rc, "%s adding a vector", rg_strerror(rc)) : RG_OK;
}

/* After removals: compact (no graph) or rebuild (a quarter dead). */
static void tidy_locked(struct rg_vec *v)
{
    if (!v->graph && v->n_dead > 0 && v->n_dead * 4 >= v->n)
        compact(v);
    else if (v->graph && v->n_dead * 4 >= v->n)
        build_locked(v);
}

bool rg_vec_remove(struct rg_vec *v, int64_t id)
{
    pthread_rwlock_wrlock(&v->lock);
    int64_t s = map_get(v, id);
    if (s >= 0) {
        kill_slot(v, (size_t)s);
        tidy_locked(v);
    }
    pthread_rwlock_unlock(&v->lock);
    return s >= 0;
}

size_t rg_vec_remove_doc(struct rg_vec *v, int64_t doc_id)
{
    pthread_rwlock_wrlock(&v->lock);
    size_t n = 0;
    for (size_t i = 0; i < v->n; i++)
        if (v->live[i] && v->meta[i].doc_id == doc_id) {
            kill_slot(v, i);
            n++;
        }
    if (n) tidy_locked(v);
    pthread_rwlock_unlock(&v->lock);
    return n;
}

/* ---- search -------------------------------------------------------------------------- */

/* The exact top k of slots passing f into a min-heap on similarity (as distance). */
static int scan(const struct rg_vec *v, const struct kern *k, const float *q, int kk,
                const struct rg_vec_filter *f, struct heap *top)
{
    top->max = true; /* farthest on top: the one to drop */
    top->n = 0;
    for (size_t i = 0; i < v->n; i++) {
        if (!passes(v, i, f)) continue;
        float d = 1.0f - sim(v, k, q, i);
        if (top->n < (size_t)kk) {
            struct cand c = {d, (uint32_t)i};
            if (heap_push(top, c)) return RG_ENOMEM;
        } else if (d < top->a[0].d) {
            heap_pop(top);
            struct cand c = {d, (uint32_t)i};
            heap_push(top, c);
        }
    }
    return RG_OK;
}

static int graph_search(const struct rg_vec *v, const struct kern *k, const float *q, int ef,
                        const struct rg_vec_filter *f, struct heap *res)
{
    uint32_t ep = v->entry;
    for (int lc = v->max_level; lc > 0; lc--) {
        bool moved = true;
        float best = 1.0f - sim(v, k, q, ep);
        while (moved) {
            moved = false;
            const uint32_t *l = links(v, ep, lc);
            for (uint32_t j = 1; j <= l[0]; j++) {
                float d = 1.0f - sim(v, k, q, l[j]);
                if (d < best) {
                    best = d;
                    ep = l[j];
                    moved = true;
                }
            }
        }
    }
    struct visited vs = {rg_calloc((v->n + 7) / 8 + 1, 1), NULL, 0};
    if (!vs.bits) return RG_ENOMEM;
    struct heap cands = {0};
    res->max = true;
    int rc = search_layer(v, k, q, ep, ef, 0, f, true, &vs, &cands, res);
    rg_free(vs.bits);
    rg_free(cands.a);
    return rc;
}

int rg_vec_search(struct rg_vec *v, const float *q, int k, const struct rg_vec_filter *f,
                  enum rg_vec_mode mode, int ef, struct rg_vec_hit *out, int *n, char *err)
{
    *n = 0;
    if (k < 1 || k > 1000) return rg_err_set(err, RG_EINVAL, "k must be 1..1000");
    if (f && f->n_collections > 256) return rg_err_set(err, RG_EINVAL, "at most 256 collections");
    float *u = rg_malloc_array((size_t)v->p.dim, sizeof *u);
    if (!u) return rg_err_set(err, RG_ENOMEM, "out of memory");
    if (!normalise(q, u, v->p.dim)) {
        rg_free(u);
        return rg_err_set(err, RG_EINVAL, "a zero or non-finite query vector");
    }
    if (ef <= 0) ef = v->p.hnsw_ef_search;
    if (ef < k) ef = k;
    struct kern kn = kernels();
    struct heap res = {.max = true};
    pthread_rwlock_rdlock(&v->lock);
    int rc = RG_OK;
    bool done = false;
    if (mode == RG_VEC_AUTO && v->graph && v->n > 0) {
        rc = graph_search(v, &kn, u, ef, f, &res);
        /* a filter that let fewer than k through the walk: scan instead */
        done = rc || res.n >= (size_t)k || res.n == v->n - v->n_dead;
    }
    if (!rc && !done) rc = scan(v, &kn, u, k, f, &res);
    if (!rc) {
        while (res.n > (size_t)k)
            heap_pop(&res);
        int m = (int)res.n;
        for (int i = m - 1; i >= 0; i--) { /* farthest first off the heap */
            struct cand c = heap_pop(&res);
            out[i].meta = v->meta[c.id];
            out[i].score = 1.0f - c.d;
        }
        *n = m;
    }
    pthread_rwlock_unlock(&v->lock);
    rg_free(res.a);
    rg_free(u);
    return rc ? rg_err_set(err, rc, "out of memory searching vectors") : RG_OK;
}

void rg_vec_stats(struct rg_vec *v, struct rg_vec_stats *out)
{
    memset(out, 0, sizeof *out);
    pthread_rwlock_rdlock(&v->lock);
    out->count = v->n - v->n_dead;
    out->removed = v->n_dead;
    out->dim = v->p.dim;
    out->graph = v->graph;
    size_t per = sizeof(struct rg_vec_meta) + 1 + v->row + (v->scale ? sizeof(float) : 0);
    out->bytes = v->cap * per + v->map_cap * (sizeof(int64_t) + sizeof(uint32_t));
    if (v->graph) {
        size_t g = v->cap * (1 + l0_width(v) * sizeof(uint32_t) + sizeof(uint32_t *) + 4) +
                   (v->cap + 7) / 8;
        for (size_t i = 0; i < v->n; i++)
            g += (size_t)v->lvl[i] * (size_t)(v->p.hnsw_m + 1) * sizeof(uint32_t);
        out->graph_bytes = g;
        out->bytes += g;
    }
    pthread_rwlock_unlock(&v->lock);
}

/* ---- the file ------------------------------------------------------------------------
 * header (little-endian, 256 bytes):
 *   0  "RGVECIDX"  8  u32 version (1)  12 u32 dim  16 u32 storage (0 f16, 1 int8)
 *   20 u32 m  24 u32 flags (1: graph)  28 u32 max_level  32 u64 slots  40 u64 dead
 *   48 i64 db_count  56 i64 db_max_id  64 u32 entry  68 u32 crc32 of the body
 *   72 u64 body bytes  80 char model[128]  208.. zero
 * body: per slot meta (id, doc, collection, owner: i64; shared, live: u8),
 *   the vectors (slots * row bytes), int8: the scales (f32), graph: levels
 *   (u8 per slot), layer-0 links (slots * (2m + 1) u32), upper links
 *   (per slot, level * (m + 1) u32).
 */

#define VEC_MAGIC "RGVECIDX"
#define VEC_VERSION 1u
#define VEC_HDR 256

static uint32_t crc_table[256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
        crc_table[i] = c;
    }
}

static uint32_t crc32_update(uint32_t crc, const void *p, size_t n)
{
    pthread_once(&crc_once, crc_init);
    const uint8_t *b = p;
    crc = ~crc;
    for (size_t i = 0; i < n; i++)
        crc = crc_table[(crc ^ b[i]) & 0xff] ^ (crc >> 8);
    return ~crc;
}

struct wfile {
    FILE *f;
    uint32_t crc;
    uint64_t bytes;
    bool bad;
};

static void wput(struct wfile *w, const void *p, size_t n)
{
    if (w->bad || !n) return;
    if (fwrite(p, 1, n, w->f) != n) w->bad = true;
    w->crc = crc32_update(w->crc, p, n);
    w->bytes += n;
}

static void put32(uint8_t *h, size_t o, uint32_t x)
{
    memcpy(h + o, &x, 4);
}
static void put64(uint8_t *h, size_t o, uint64_t x)
{
    memcpy(h + o, &x, 8);
}
static uint32_t get32(const uint8_t *h, size_t o)
{
    uint32_t x;
    memcpy(&x, h + o, 4);
    return x;
}
static uint64_t get64(const uint8_t *h, size_t o)
{
    uint64_t x;
    memcpy(&x, h + o, 8);
    return x;
}

int rg_vec_save(struct rg_vec *v, const char *path, int64_t db_count, int64_t db_max_id, char *err)
{
    char tmp[4200];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp)
        return rg_err_set(err, RG_EINVAL, "vector file path too long");
    FILE *f = fopen(tmp, "wb");
    if (!f) return rg_err_set(err, RG_EIO, "%s: %s", tmp, strerror(errno));
    uint8_t h[VEC_HDR] = {0};
    struct wfile w = {f, 0, 0, false};
    pthread_rwlock_rdlock(&v->lock);
    if (fwrite(h, 1, VEC_HDR, f) != VEC_HDR) w.bad = true;
    for (size_t i = 0; i < v->n; i++) {
        const struct rg_vec_meta *m = &v->meta[i];
        int64_t ids[4] = {m->id, m->doc_id, m->collection_id, m->owner_id};
        uint8_t fl[2] = {m->shared, v->live[i]};
        wput(&w, ids, sizeof ids);
        wput(&w, fl, 2);
    }
    wput(&w, v->data, v->n * v->row);
    if (v->p.storage == RG_VEC_I8) wput(&w, v->scale, v->n * sizeof(float));
    if (v->graph) {
        wput(&w, v->lvl, v->n);
        wput(&w, v->l0, v->n * l0_width(v) * sizeof(uint32_t));
        for (size_t i = 0; i < v->n; i++)
            if (v->lvl[i]) wput(&w, v->up[i], (size_t)v->lvl[i] * (size_t)(v->p.hnsw_m + 1) * 4);
    }
    memcpy(h, VEC_MAGIC, 8);
    put32(h, 8, VEC_VERSION);
    put32(h, 12, (uint32_t)v->p.dim);
    put32(h, 16, (uint32_t)v->p.storage);
    put32(h, 20, (uint32_t)v->p.hnsw_m);
    put32(h, 24, v->graph ? 1u : 0u);
    put32(h, 28, (uint32_t)v->max_level);
    put64(h, 32, v->n);
    put64(h, 40, v->n_dead);
    put64(h, 48, (uint64_t)db_count);
    put64(h, 56, (uint64_t)db_max_id);
    put32(h, 64, v->entry);
    put32(h, 68, w.crc);
    put64(h, 72, w.bytes);
    memcpy(h + 80, v->model, strlen(v->model));
    pthread_rwlock_unlock(&v->lock);
    if (!w.bad && (fseek(f, 0, SEEK_SET) || fwrite(h, 1, VEC_HDR, f) != VEC_HDR)) w.bad = true;
    if (fflush(f) || fsync(fileno(f))) w.bad = true;
    if (fclose(f)) w.bad = true;
    if (w.bad || rename(tmp, path)) {
        int e = errno;
        unlink(tmp);
        return rg_err_set(err, RG_EIO, "writing %s: %s", path, strerror(e));
    }
    return RG_OK;
}

struct rfile {
    FILE *f;
    uint32_t crc;
    uint64_t left;
    bool bad;
};

static void rget(struct rfile *r, void *p, size_t n)
{
    if (r->bad || !n) return;
    if (n > r->left || fread(p, 1, n, r->f) != n) {
        r->bad = true;
        return;
    }
    r->left -= n;
    r->crc = crc32_update(r->crc, p, n);
}

struct rg_vec *rg_vec_load(const struct rg_vec_params *p, const char *path, int64_t *db_count,
                           int64_t *db_max_id, int *rcp, char *err)
{
    int rc_dummy;
    int *rc = rcp ? rcp : &rc_dummy;
    *db_count = *db_max_id = 0;
    FILE *f = fopen(path, "rb");
    if (!f) {
        *rc = errno == ENOENT ? RG_ENOTFOUND : RG_EIO;
        rg_err_set(err, *rc, "%s: %s", path, strerror(errno));
        return NULL;
    }
    uint8_t h[VEC_HDR];
    struct rg_vec *v = NULL;
    const char *why = NULL;
    if (fread(h, 1, VEC_HDR, f) != VEC_HDR || memcmp(h, VEC_MAGIC, 8))
        why = "not a vector file";
    else if (get32(h, 8) != VEC_VERSION)
        why = "another version";
    else if (get32(h, 12) != (uint32_t)p->dim || get32(h, 16) != (uint32_t)p->storage)
        why = "another dimension or storage";
    else if (h[80 + 127] || strncmp((const char *)h + 80, p->model, 128))
        why = "another model";
    if (!why) {
        struct rg_vec_params q = *p;
        q.hnsw_m = (int)get32(h, 20);
        if (q.hnsw_m < 4 || q.hnsw_m > 64)
            why = "bad graph parameters";
        else if (!(v = rg_vec_new(&q, err)))
            why = "out of memory";
    }
    uint64_t slots = why ? 0 : get64(h, 32);
    if (!why && (slots >= UINT32_MAX || get64(h, 40) > slots || get32(h, 64) >= slots + !slots))
        why = "bad counts";
    if (!why && reserve(v, slots ? slots : 1)) why = "out of memory";
    struct rfile r = {f, 0, why ? 0 : get64(h, 72), false};
    if (!why) {
        v->n = slots;
        v->n_dead = get64(h, 40);
        for (size_t i = 0; i < slots && !r.bad; i++) {
            int64_t ids[4];
            uint8_t fl[2];
            rget(&r, ids, sizeof ids);
            rget(&r, fl, 2);
            v->meta[i] = (struct rg_vec_meta){ids[0], ids[1], ids[2], ids[3], fl[0] != 0};
            v->live[i] = fl[1] != 0;
        }
        rget(&r, v->data, slots * v->row);
        if (p->storage == RG_VEC_I8) rget(&r, v->scale, slots * sizeof(float));
        if (!r.bad && get32(h, 24) & 1) {
            size_t cap = v->cap;
            v->lvl = rg_calloc(cap, 1);
            v->l0 = rg_malloc_array(cap * l0_width(v), sizeof(uint32_t));
            v->up = rg_calloc(cap, sizeof *v->up);
            v->wbits = rg_calloc((cap + 7) / 8, 1);
            v->wtouched = rg_malloc_array(cap, sizeof(uint32_t));
            v->wbits_cap = cap;
            v->graph = true;
            if (!v->lvl || !v->l0 || !v->up || !v->wbits || !v->wtouched) why = "out of memory";
            if (!why) {
                rget(&r, v->lvl, slots);
                rget(&r, v->l0, slots * l0_width(v) * sizeof(uint32_t));
            }
            v->max_level = (int)get32(h, 28);
            v->entry = get32(h, 64);
            for (size_t i = 0; !why && i < slots && !r.bad; i++) {
                if (!v->lvl[i]) continue;
                if (v->lvl[i] > 15) {
                    why = "bad graph";
                    break;
                }
                size_t nb = (size_t)v->lvl[i] * (size_t)(v->p.hnsw_m + 1);
                if (!(v->up[i] = rg_malloc_array(nb, sizeof(uint32_t))))
                    why = "out of memory";
                else
                    rget(&r, v->up[i], nb * 4);
            }
        }
        if (!why && (r.bad || r.left != 0)) why = "truncated";
        if (!why && r.crc != get32(h, 68)) why = "checksum mismatch";
        /* links must point at slots: a corrupt graph must not walk off the arrays */
        for (size_t i = 0; !why && v->graph && i < slots; i++) {
            for (int lc = 0; lc <= v->lvl[i] && !why; lc++) {
                const uint32_t *l = links(v, (uint32_t)i, lc);
                uint32_t max = lc == 0 ? (uint32_t)(2 * v->p.hnsw_m) : (uint32_t)v->p.hnsw_m;
                if (l[0] > max) why = "bad graph";
                for (uint32_t j = 1; !why && j <= l[0]; j++)
                    if (l[j] >= slots || v->lvl[l[j]] < lc) why = "bad graph";
            }
        }
        if (!why && v->graph && slots && v->lvl[v->entry] != v->max_level) why = "bad graph";
        for (size_t i = 0; !why && i < slots; i++)
            if (v->live[i] && map_put(v, v->meta[i].id, (uint32_t)i)) why = "out of memory";
    }
    fclose(f);
    if (why) {
        rg_vec_free(v);
        *rc = strcmp(why, "out of memory") ? RG_EFORMAT : RG_ENOMEM;
        rg_err_set(err, *rc, "%s: %s", path, why);
        return NULL;
    }
    *db_count = (int64_t)get64(h, 48);
    *db_max_id = (int64_t)get64(h, 56);
    *rc = RG_OK;
    return v;
}

/* ---- open: load or rebuild ----------------------------------------------------------- */

struct rg_vec *rg_vec_open(const struct rg_vec_params *p, const char *path, struct rg_db *db,
                           bool *rebuilt, char *err)
{
    bool dummy;
    if (!rebuilt) rebuilt = &dummy;
    *rebuilt = false;
    int64_t count = 0, max_id = 0, fc = 0, fm = 0;
    if (rg_db_vec_stats(db, p->model, &count, &max_id, err)) return NULL;
    int rc = RG_OK;
    char e2[RG_ERR_SIZE];
    struct rg_vec *v = path ? rg_vec_load(p, path, &fc, &fm, &rc, e2) : NULL;
    if (v && fc == count && fm == max_id) return v;
    rg_vec_free(v);
    if (!(v = rg_vec_new(p, err))) return NULL;
    *rebuilt = true;
    int64_t after = 0;
    for (;;) {
        struct rg_db_vec_page pg;
        if (rg_db_vec_page(db, p->model, after, 2000, &pg, err)) {
            rg_vec_free(v);
            return NULL;
        }
        if (pg.n == 0) {
            rg_db_vec_page_free(&pg);
            break;
        }
        int bad = RG_OK;
        if (pg.dim != p->dim) {
            after = pg.rows[pg.n - 1].chunk_id; /* another dimension: not this index's */
            rg_db_vec_page_free(&pg);
            continue;
        }
        for (size_t i = 0; i < pg.n && !bad; i++) {
            const struct rg_db_vec_row *r = &pg.rows[i];
            struct rg_vec_meta m = {r->chunk_id, r->doc_id, r->collection_id, r->owner_id,
                                    r->shared};
            bad = rg_vec_add(v, &m, r->vec, e2);
            if (bad == RG_EINVAL) bad = RG_OK; /* a zero vector: not searchable, skipped */
        }
        after = pg.rows[pg.n - 1].chunk_id;
        rg_db_vec_page_free(&pg);
        if (bad) {
            rg_vec_free(v);
            rg_err_set(err, bad, "%s", e2);
            return NULL;
        }
    }
    if (rg_vec_needs_graph(v) && rg_vec_build_graph(v, err)) {
        rg_vec_free(v);
        return NULL;
    }
    if (path && rg_vec_save(v, path, count, max_id, e2) && err) rg_strlcpy(err, e2, RG_ERR_SIZE);
    return v;
}
