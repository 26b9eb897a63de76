/*
 * Survival categories and document tagging (survival.h): the category table
 * (data first), rule counting over words, zero-shot voting over embedded
 * chunks, and the merge where a manual choice wins.
 */
#include <ctype.h>
#include <math.h>
#include <string.h>

#include "common/alloc.h"
#include "index/library.h"
#include "index/survival.h"

/* ---- the categories ------------------------------------------------------------------ */

static const char *const W_WATER[] = {"water",   "drink*",  "purif*",   "filter*",  "boil*",
                                      "well",    "spring",  "rain*",    "cistern*", "dehydrat*",
                                      "thirst*", "hydrat*", "canteen*", "chlorin*", "iodine",
                                      "stream",  "river",   NULL};
static const char *const W_FOOD[] = {"food*",    "eat*",     "edible", "forag*", "hunt*",
                                     "fish*",    "trap*",    "snare*", "cook*",  "ration*",
                                     "nutrit*",  "calorie*", "berr*",  "plant*", "meat",
                                     "preserv*", "grain*",   "starv*", NULL};
static const char *const W_SHELTER[] = {"shelter*",   "tent*",      "tarp*", "lean-to", "hut*",
                                        "insulat*",   "hypotherm*", "cold",  "warmth",  "roof*",
                                        "sleep*",     "bivouac*",   "snow",  "cave*",   "debris",
                                        "windbreak*", NULL};
static const char *const W_FIRST_AID[] = {
    "wound*",    "bandag*",   "bleed*",  "injur*",  "fractur*",    "splint*", "cpr",
    "first-aid", "aid",       "medic*",  "infect*", "tourniquet*", "pulse",   "burns",
    "shock",     "antisept*", "sprain*", "pain",    NULL};
static const char *const W_FIRE[] = {
    "fire*",  "flame*", "tinder", "kindling", "match*", "ember*",    "spark*",  "flint", "ferro*",
    "smoke*", "burn",   "wood",   "fuel*",    "ignit*", "campfire*", "hearth*", NULL};
static const char *const W_NAVIGATION[] = {
    "navigat*", "compass*", "map*",     "north",     "south",     "east",
    "west",     "bearing*", "star*",    "sun",       "landmark*", "gps",
    "route*",   "orient*",  "latitude", "longitude", "trail*",    NULL};
static const char *const W_TOOLS[] = {
    "tool*",  "knife",    "knives",   "axe*",    "saw*",       "rope*",   "cord*", "knot*",
    "blade*", "sharpen*", "hatchet*", "shovel*", "multitool*", "hammer*", "duct",  NULL};
static const char *const W_COMMUNICATION[] = {"radio*",   "signal*",     "whistle*", "mirror*",
                                              "morse",    "sos",         "rescue*",  "frequenc*",
                                              "antenna*", "transmit*",   "phone*",   "flare*",
                                              "beacon*",  "communicat*", "message*", NULL};

static const struct rg_surv_category CATEGORIES[RG_SURV_N_CATEGORIES] = {
    {"water", "Water",
     "Water: finding, collecting, filtering, boiling and purifying drinking water; rain, "
     "springs, streams, rivers and wells; dehydration and thirst; storing safe water.",
     W_WATER},
    {"food", "Food",
     "Food: foraging for edible plants and berries, hunting, fishing, traps and snares, "
     "cooking, preserving and rationing food, nutrition and calories, avoiding starvation.",
     W_FOOD},
    {"shelter", "Shelter",
     "Shelter: building a shelter, tent, tarp, lean-to or snow cave; insulation, staying warm "
     "and dry, sleeping out in the cold, avoiding hypothermia, wind and rain protection.",
     W_SHELTER},
    {"first-aid", "First aid",
     "First aid: treating wounds, bleeding and burns, bandages, splints for fractures and "
     "sprains, CPR, shock, infection, pulse and breathing, medical emergencies and injuries.",
     W_FIRST_AID},
    {"fire", "Fire",
     "Fire: making and keeping a fire, tinder, kindling and fuel wood, matches, flint and "
     "ferro rod sparks, embers, smoke, campfire safety and putting a fire out.",
     W_FIRE},
    {"navigation", "Navigation",
     "Navigation: finding the way with a map and compass, bearings, north by the sun and the "
     "stars, landmarks, trails and routes, latitude and longitude, GPS, orienteering.",
     W_NAVIGATION},
    {"tools", "Tools",
     "Tools: knives, axes, saws and hatchets, sharpening a blade, rope, cord and knots, "
     "shovels and hammers, making and repairing tools and gear.",
     W_TOOLS},
    {"communication", "Communication",
     "Communication: signalling for rescue with a whistle, mirror, smoke or flares, SOS and "
     "Morse code, radios, frequencies and antennas, phones, beacons and messages.",
     W_COMMUNICATION},
};

const struct rg_surv_category *rg_surv_categories(void)
{
    return CATEGORIES;
}

int rg_surv_category_find(const char *id)
{
    for (int i = 0; id && i < RG_SURV_N_CATEGORIES; i++)
        if (!strcmp(CATEGORIES[i].id, id)) return i;
    return -1;
}

const char *rg_surv_source_name(enum rg_surv_source s)
{
    switch (s) {
    case RG_SURV_RULE: return "rule";
    case RG_SURV_EMBEDDING: return "embedding";
    case RG_SURV_MANUAL: return "manual";
    }
    return "rule";
}

void rg_surv_default_params(struct rg_surv_params *p)
{
    p->rule_min = 3;
    p->rule_density = 3;
    p->zs_threshold = 0.2;
    p->zs_share = 0.25;
    p->zs_margin = 0.05;
    p->zs_chunks = 16;
}

/* ---- rules --------------------------------------------------------------------------- */

#define WORD_MAX 48
/* Bytes of text read for rules per document: a ZIM of gigabytes is judged
 * by its first few megabytes of chunks. */
#define RULE_TEXT_MAX (4u << 20)

static bool word_byte(unsigned char c)
{
    return isalnum(c) || c == '-' || c >= 0x80;
}

/* Does word (lower case, n bytes) match rule r? */
static bool rule_match(const char *r, const char *word, size_t n)
{
    size_t rn = strlen(r);
    if (rn && r[rn - 1] == '*') return n >= rn - 1 && !memcmp(r, word, rn - 1);
    if (n < rn || memcmp(r, word, rn) != 0) return false;
    return n == rn || (n == rn + 1 && word[rn] == 's') ||
           (n == rn + 2 && word[rn] == 'e' && word[rn + 1] == 's');
}

/* Adds weight for each category word in text[0..len) to w; the words of
 * text counted into *n_words; which categories had a hit into hit. */
static void count_words(const char *text, size_t len, double weight, double w[RG_SURV_N_CATEGORIES],
                        bool hit[RG_SURV_N_CATEGORIES], size_t *n_words)
{
    size_t i = 0;
    while (i < len) {
        while (i < len && !word_byte((unsigned char)text[i]))
            i++;
        size_t s = i;
        while (i < len && word_byte((unsigned char)text[i]))
            i++;
        size_t n = i - s;
        while (n && text[s] == '-') { /* "-" alone or leading is no word */
            s++;
            n--;
        }
        if (!n || n > WORD_MAX) continue;
        char word[WORD_MAX + 1];
        for (size_t k = 0; k < n; k++)
            word[k] = (char)tolower((unsigned char)text[s + k]);
        word[n] = '\0';
        if (n_words) (*n_words)++;
        for (int c = 0; c < RG_SURV_N_CATEGORIES; c++)
            for (const char *const *r = CATEGORIES[c].words; *r; r++)
                if (rule_match(*r, word, n)) {
                    w[c] += weight;
                    if (hit) hit[c] = true;
                    break;
                }
    }
}

size_t rg_surv_rules(const struct rg_surv_doc *d, const struct rg_surv_params *p,
                     double w[RG_SURV_N_CATEGORIES], struct rg_surv_tag *out)
{
    double text_w[RG_SURV_N_CATEGORIES] = {0};
    bool strong[RG_SURV_N_CATEGORIES] = {0};
    for (int c = 0; c < RG_SURV_N_CATEGORIES; c++)
        w[c] = 0;
    if (d->title) count_words(d->title, strlen(d->title), 3, w, strong, NULL);
    for (size_t i = 0; i < d->n_headings; i++)
        if (d->headings[i]) count_words(d->headings[i], strlen(d->headings[i]), 2, w, strong, NULL);
    size_t n_words = 0, read = 0;
    for (size_t i = 0; i < d->n_texts && read < RULE_TEXT_MAX; i++) {
        if (!d->texts[i]) continue;
        size_t n = strlen(d->texts[i]);
        count_words(d->texts[i], n, 1, text_w, NULL, &n_words);
        read += n;
    }
    size_t k = 0;
    for (int c = 0; c < RG_SURV_N_CATEGORIES; c++) {
        w[c] += text_w[c];
        double density = n_words ? text_w[c] * 1000.0 / (double)n_words : 0;
        if (w[c] >= p->rule_min && (strong[c] || density >= p->rule_density))
            out[k++] = (struct rg_surv_tag){c, RG_SURV_RULE, w[c] / (w[c] + 10.0)};
    }
    return k;
}

/* ---- zero-shot ----------------------------------------------------------------------- */

/* The longest prefix of text (len bytes, cut at a character) with at most
 * max tokens under the embedder: its length. */
static size_t fit_tokens(const struct rg_library_embedder *emb, void *session, const char *text,
                         size_t len, size_t max)
{
    while (len > 0 && emb->count && emb->count(text, len, session) > max) {
        len = len * 3 / 4;
        while (len > 0 && ((unsigned char)text[len] & 0xC0) == 0x80)
            len--;
    }
    return len;
}

static double cosine(const float *a, const float *b, int dim)
{
    double s = 0, na = 0, nb = 0;
    for (int i = 0; i < dim; i++) {
        s += (double)a[i] * b[i];
        na += (double)a[i] * a[i];
        nb += (double)b[i] * b[i];
    }
    return na > 0 && nb > 0 ? s / sqrt(na * nb) : 0;
}

/* Embeds texts[0..n) in batches of 16 into out (n * dim). */
static int embed_all(const struct rg_library_embedder *emb, void *session, size_t max_tokens,
                     const char *const *texts, size_t n, float *out, int dim, char *err)
{
    enum { BATCH = 16 };
    for (size_t i = 0; i < n; i += BATCH) {
        size_t b = n - i < BATCH ? n - i : BATCH;
        size_t lens[BATCH];
        for (size_t k = 0; k < b; k++)
            lens[k] = fit_tokens(emb, session, texts[i + k], strlen(texts[i + k]), max_tokens);
        int rc = emb->embed(session, texts + i, lens, b, out + i * (size_t)dim, err);
        if (rc != RG_OK) return rc;
    }
    return RG_OK;
}

int rg_surv_zero_shot(const struct rg_surv_doc *d, const struct rg_library_embedder *emb,
                      const struct rg_surv_params *p, struct rg_surv_tag *out, size_t *n, char *err)
{
    *n = 0;
    /* the chunks that have text, spread evenly over the document */
    size_t have = 0;
    for (size_t i = 0; i < d->n_texts; i++)
        if (d->texts[i] && *d->texts[i]) have++;
    if (!have || !emb || !p->zs_chunks) return RG_OK;
    size_t take = have < p->zs_chunks ? have : p->zs_chunks;
    const char **pick = rg_calloc(take + RG_SURV_N_CATEGORIES, sizeof *pick);
    if (!pick) return rg_err_set(err, RG_ENOMEM, "out of memory");
    for (size_t k = 0, j = 0, i = 0; i < d->n_texts && k < take; i++) {
        if (!d->texts[i] || !*d->texts[i]) continue;
        if (j++ == k * have / take) pick[k++] = d->texts[i]; /* the k-th of take, spread */
    }
    for (int c = 0; c < RG_SURV_N_CATEGORIES; c++)
        pick[take + (size_t)c] = CATEGORIES[c].description;
    void *session = NULL;
    int dim = 0;
    size_t max_tokens = 0;
    int rc = emb->hold(emb->user, &session, &dim, &max_tokens, err);
    if (rc != RG_OK) {
        rg_free(pick);
        return rc;
    }
    size_t total = take + RG_SURV_N_CATEGORIES;
    float *v = dim > 0 ? rg_calloc(total * (size_t)dim, sizeof *v) : NULL;
    rc = v ? embed_all(emb, session, max_tokens ? max_tokens : 512, pick, total, v, dim, err)
           : rg_err_set(err, RG_ENOMEM, "out of memory");
    if (emb->release) emb->release(session);
    if (rc == RG_OK) {
        size_t votes[RG_SURV_N_CATEGORIES] = {0};
        double sum[RG_SURV_N_CATEGORIES] = {0};
        for (size_t i = 0; i < take; i++) {
            int best = -1;
            double bc = -2, second = -2;
            for (int c = 0; c < RG_SURV_N_CATEGORIES; c++) {
                double cs = cosine(v + i * (size_t)dim, v + (take + (size_t)c) * (size_t)dim, dim);
                if (cs > bc) {
                    second = bc;
                    bc = cs;
                    best = c;
                } else if (cs > second) {
                    second = cs;
                }
            }
            if (best >= 0 && bc >= p->zs_threshold && bc - second >= p->zs_margin) {
                votes[best]++;
                sum[best] += bc;
            }
        }
        for (int c = 0; c < RG_SURV_N_CATEGORIES; c++)
            if (votes[c] && (double)votes[c] >= p->zs_share * (double)take)
                out[(*n)++] = (struct rg_surv_tag){c, RG_SURV_EMBEDDING, sum[c] / (double)votes[c]};
    }
    rg_free(v);
    rg_free(pick);
    return rc;
}

/* ---- both, and the manual choice ----------------------------------------------------- */

int rg_surv_tag(const struct rg_surv_doc *d, const struct rg_library_embedder *emb,
                const struct rg_surv_params *p, struct rg_surv_tag *out, size_t *n, char *err)
{
    double w[RG_SURV_N_CATEGORIES];
    struct rg_surv_tag rules[RG_SURV_N_CATEGORIES], zs[RG_SURV_N_CATEGORIES];
    size_t nr = rg_surv_rules(d, p, w, rules), nz = 0;
    int rc = emb ? rg_surv_zero_shot(d, emb, p, zs, &nz, err) : RG_OK;
    *n = 0;
    if (rc != RG_OK) return rc;
    for (int c = 0; c < RG_SURV_N_CATEGORIES; c++) {
        const struct rg_surv_tag *r = NULL, *z = NULL;
        for (size_t i = 0; i < nr; i++)
            if (rules[i].category == c) r = &rules[i];
        for (size_t i = 0; i < nz; i++)
            if (zs[i].category == c) z = &zs[i];
        if (r)
            out[(*n)++] = (struct rg_surv_tag){c, RG_SURV_RULE,
                                               z && z->score > r->score ? z->score : r->score};
        else if (z)
            out[(*n)++] = *z;
    }
    return RG_OK;
}

size_t rg_surv_resolve(const struct rg_surv_tag *autos, size_t n_autos, const int *manual,
                       size_t n_manual, struct rg_surv_tag *out)
{
    size_t k = 0;
    if (!manual) {
        for (size_t i = 0; i < n_autos && k < RG_SURV_N_CATEGORIES; i++)
            out[k++] = autos[i];
        return k;
    }
    bool seen[RG_SURV_N_CATEGORIES] = {0};
    for (size_t i = 0; i < n_manual; i++) {
        int c = manual[i];
        if (c < 0 || c >= RG_SURV_N_CATEGORIES || seen[c]) continue;
        seen[c] = true;
        out[k++] = (struct rg_surv_tag){c, RG_SURV_MANUAL, 1.0};
    }
    return k;
}
