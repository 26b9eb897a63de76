/*
 * JSON Schema → byte-level pushdown automaton (see grammar.h).
 *
 * A schema compiles to a table of nodes (node 0 accepts any JSON value). The
 * parser state is a set of stacks; each frame is one open value: an object
 * being read key by key, an array, a string, a number, a literal or an enum
 * member. anyOf/oneOf/$ref are expanded at compile time, once, to the
 * schemas without alternatives they can start (each node's "leaves"; cycles
 * of references are walked once), and a stack forks into one per leaf when
 * its value starts; readings that die are dropped. Text is fed a byte at a
 * time to every reading together (breadth first, equal readings merged),
 * under a budget of RG_JG_STEPS steps per byte. At compile time each node
 * also gets the nesting of its shallowest document: a schema with none
 * within RG_JG_DEPTH is refused, and a reading never enters a value it
 * could not finish. So a hostile schema or text costs bounded time.
 */
#include "engine/constrain/grammar.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/err.h"

enum {
    T_NULL = 1,
    T_BOOL = 2,
    T_INT = 4,
    T_NUM = 8,
    T_STR = 16,
    T_ARR = 32,
    T_OBJ = 64,
    T_ANY = 127,
};

#define MAX_NODES 4096
#define MAX_PROPS 64
#define MAX_LITS 64
#define MAX_ALTS 16
#define MAX_INDENT 20 /* spaces or tabs after a newline */
#define MAX_DIGITS 20 /* per number */
#define NO_LIMIT UINT32_MAX
#define DEEP (RG_JG_DEPTH + 1) /* min_depth of a schema with no finite document in the limit */

struct node {
    unsigned types;
    uint16_t alts[MAX_ALTS];
    int n_alts;
    char **lits; /* compact JSON texts of enum/const members */
    uint32_t *lit_len;
    int n_lits;
    char **keys; /* properties, in schema order */
    uint32_t *key_len;
    uint16_t *knode;
    uint64_t required;
    int n_props;
    int extra; /* node of values under free keys (objects without properties); -1: none */
    int items;
    uint32_t min_items, max_items, min_len, max_len;
    /* anyOf/oneOf/$ref nodes: every node without alternatives they reach
     * through alternatives, each once (computed at compile time, at most
     * RG_JG_EXPAND), so a value forks at most that many ways */
    uint16_t *leaves;
    int n_leaves;
    /* nesting of the shallowest finite document of this schema (1: a
     * scalar); DEEP: none within RG_JG_DEPTH, or none at all */
    uint8_t min_depth;
};

struct rg_jg {
    struct node *nodes;
    int n_nodes, cap;
    int root;
    char *text[2]; /* literal prefix and suffix, or NULL */
};

enum { K_VAL = 1, K_OBJ, K_ARR, K_STR, K_NUM, K_LIT, K_ENUM, K_TEXT };
enum { O_FIRST, O_KEY, O_COLON, O_AFTER, O_NEXT };
enum { A_FIRST, A_AFTER, A_NEXT };
enum { N_START, N_MINUS, N_ZERO, N_INT, N_DOT, N_FRAC, N_E, N_ESIGN, N_EXP };
#define STR_KEY 1 /* phase bit of a K_STR frame: it is a free object key */

static const char *const LITERALS[] = {"true", "false", "null"};

/* ---- compiling ---- */

struct cc {
    struct rg_jg *g;
    const json_t *root;
    struct {
        char *ref;
        int node;
    } refs[256];
    int n_refs;
    char *err;
    size_t errsize;
    bool lenient; /* ignore keywords that cannot be enforced */
};

static int fail(struct cc *c, const char *path, const char *msg, const char *what)
{
    snprintf(c->err, c->errsize, "schema%s: %s%s%s", path, msg, what ? " " : "", what ? what : "");
    return -1;
}

static int new_node(struct cc *c)
{
    struct rg_jg *g = c->g;
    if (g->n_nodes >= MAX_NODES) return -1;
    if (g->n_nodes == g->cap) {
        int cap = g->cap ? g->cap * 2 : 8;
        struct node *n = rg_realloc(g->nodes, (size_t)cap * sizeof *n);
        if (!n) return -1;
        g->nodes = n;
        g->cap = cap;
    }
    struct node *n = &g->nodes[g->n_nodes];
    memset(n, 0, sizeof *n);
    n->types = T_ANY;
    n->extra = 0;
    n->items = 0;
    n->max_items = n->max_len = NO_LIMIT;
    return g->n_nodes++;
}

static const json_t *resolve(struct cc *c, const char *ref)
{
    if (strcmp(ref, "#") == 0) return c->root;
    if (strncmp(ref, "#/", 2) != 0) return NULL;
    const json_t *cur = c->root;
    const char *p = ref + 2;
    while (cur) {
        char part[256];
        size_t k = 0;
        for (; *p && *p != '/'; p++) {
            char ch = *p;
            if (ch == '~' && (p[1] == '0' || p[1] == '1')) ch = *++p == '0' ? '~' : '/';
            if (k + 1 >= sizeof part) return NULL;
            part[k++] = ch;
        }
        part[k] = '\0';
        cur = json_is_array(cur) ? json_array_get(cur, strtoul(part, NULL, 10))
                                 : json_object_get(cur, part);
        if (!*p) return cur;
        p++;
    }
    return NULL;
}

static int compile(struct cc *c, const json_t *s, const char *path, int depth);

static bool key_plain(const char *k, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (k[i] == '"' || k[i] == '\\' || (unsigned char)k[i] < 0x20) return false;
    return true;
}

static int type_bits(struct cc *c, const json_t *t, const char *path, unsigned *out)
{
    static const struct {
        const char *name;
        unsigned bits;
    } TYPES[] = {{"null", T_NULL},  {"boolean", T_BOOL}, {"integer", T_INT}, {"number", T_NUM},
                 {"string", T_STR}, {"array", T_ARR},    {"object", T_OBJ}};
    const json_t *one = t;
    size_t i = 0, n = 1;
    if (json_is_array(t)) n = json_array_size(t);
    *out = 0;
    for (; i < n; i++) {
        if (json_is_array(t)) one = json_array_get(t, i);
        if (!json_is_string(one))
            return fail(c, path, "'type' must be a string or list of", "strings");
        unsigned bits = 0;
        for (size_t k = 0; k < sizeof TYPES / sizeof TYPES[0]; k++)
            if (!strcmp(json_string_value(one), TYPES[k].name)) bits = TYPES[k].bits;
        if (!bits) return fail(c, path, "unknown type", json_string_value(one));
        *out |= bits;
    }
    if (!*out) return fail(c, path, "'type' is an empty list", NULL);
    if (*out & T_NUM) *out |= T_INT;
    return 0;
}

static int get_count(struct cc *c, const json_t *s, const char *key, const char *path,
                     uint32_t *out)
{
    const json_t *v = json_object_get(s, key);
    if (!v) return 0;
    if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 1000000)
        return fail(c, path, "expects a small non-negative integer for", key);
    *out = (uint32_t)json_integer_value(v);
    return 0;
}

static int add_lit(struct cc *c, struct node *n, const json_t *v, const char *path)
{
    if (n->n_lits >= MAX_LITS) return fail(c, path, "too many enum values (64 at most)", NULL);
    char *txt = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!txt) return fail(c, path, "enum value cannot be encoded", NULL);
    n->lits[n->n_lits] = rg_strdup(txt);
    n->lit_len[n->n_lits] = (uint32_t)strlen(txt);
    free(txt);
    if (!n->lits[n->n_lits]) return fail(c, path, "out of memory", NULL);
    n->n_lits++;
    return 0;
}

/* Fills node idx from schema s. Node pointers move when the table grows, so
 * they are looked up again after every nested compile. */
static int fill(struct cc *c, int idx, const json_t *s, const char *path, int depth)
{
#define N (&c->g->nodes[idx])
    if (depth > 64) return fail(c, path, "nested too deeply", NULL);
    if (json_is_true(s)) return 0;
    if (json_is_false(s)) return fail(c, path, "'false' accepts nothing", NULL);
    if (!json_is_object(s)) return fail(c, path, "must be an object or a boolean", NULL);
    char sub[512];
    const json_t *ref = json_object_get(s, "$ref");
    if (ref) {
        if (!json_is_string(ref)) return fail(c, path, "'$ref' must be a string", NULL);
        const json_t *target = resolve(c, json_string_value(ref));
        if (!target) return fail(c, path, "cannot resolve $ref", json_string_value(ref));
        int t = compile(c, target, path, depth + 1);
        if (t < 0) return -1;
        N->alts[0] = (uint16_t)t; /* a one-way alternative: the referenced node */
        N->n_alts = 1;
        return 0;
    }
    static const char *const IGNORED[] = {
        "title", "description", "default",          "examples",       "format",   "$schema",
        "$id",   "$comment",    "strict",           "deprecated",     "readOnly", "writeOnly",
        "$defs", "definitions", "contentMediaType", "contentEncoding"};
    static const char *const KNOWN[] = {
        "type",      "properties", "required", "additionalProperties",
        "items",     "minItems",   "maxItems", "minLength",
        "maxLength", "enum",       "const",    "anyOf",
        "oneOf",     "allOf",      "nullable", "$ref"};
    const char *key;
    const json_t *v;
    json_object_foreach((json_t *)s, key, v)
    {
        bool ok = false;
        for (size_t i = 0; !ok && i < sizeof IGNORED / sizeof IGNORED[0]; i++)
            ok = !strcmp(key, IGNORED[i]);
        for (size_t i = 0; !ok && i < sizeof KNOWN / sizeof KNOWN[0]; i++)
            ok = !strcmp(key, KNOWN[i]);
        if (!ok && !c->lenient) return fail(c, path, "unsupported keyword", key);
    }
    const json_t *all = json_object_get(s, "allOf");
    if (all) {
        if (!json_is_array(all) || json_array_size(all) != 1)
            return fail(c, path, "'allOf' is supported with exactly one schema", NULL);
        snprintf(sub, sizeof sub, "%s/allOf/0", path);
        return fill(c, idx, json_array_get(all, 0), sub, depth + 1);
    }
    const json_t *t = json_object_get(s, "type");
    if (t) {
        unsigned bits;
        if (type_bits(c, t, path, &bits) < 0) return -1;
        N->types = bits;
    }
    if (json_is_true(json_object_get(s, "nullable"))) N->types |= T_NULL;
    const char *alt_key = json_object_get(s, "anyOf") ? "anyOf" : "oneOf";
    const json_t *alts = json_object_get(s, alt_key);
    if (alts) {
        if (!json_is_array(alts) || json_array_size(alts) == 0 || json_array_size(alts) > MAX_ALTS)
            return fail(c, path, "expects a list of 1 to 16 schemas for", alt_key);
        size_t i;
        const json_t *a;
        json_array_foreach(alts, i, a)
        {
            snprintf(sub, sizeof sub, "%s/%s/%zu", path, alt_key, i);
            int k = compile(c, a, sub, depth + 1);
            if (k < 0) return -1;
            N->alts[N->n_alts++] = (uint16_t)k;
        }
        return 0;
    }
    const json_t *en = json_object_get(s, "enum"), *cn = json_object_get(s, "const");
    if (en || cn) {
        if (en && (!json_is_array(en) || json_array_size(en) == 0))
            return fail(c, path, "'enum' must be a non-empty list", NULL);
        size_t cnt = en ? json_array_size(en) : 1;
        N->lits = rg_calloc(cnt, sizeof *N->lits);
        N->lit_len = rg_calloc(cnt, sizeof *N->lit_len);
        if (!N->lits || !N->lit_len) return fail(c, path, "out of memory", NULL);
        if (cn) return add_lit(c, N, cn, path);
        size_t i;
        const json_t *a;
        json_array_foreach(en, i, a) if (add_lit(c, N, a, path) < 0) return -1;
        return 0;
    }
    if (get_count(c, s, "minItems", path, &N->min_items) < 0 ||
        get_count(c, s, "maxItems", path, &N->max_items) < 0 ||
        get_count(c, s, "minLength", path, &N->min_len) < 0 ||
        get_count(c, s, "maxLength", path, &N->max_len) < 0)
        return -1;
    if (N->min_items > N->max_items || N->min_len > N->max_len)
        return fail(c, path, "a minimum is above its maximum", NULL);
    const json_t *items = json_object_get(s, "items");
    if (items) {
        snprintf(sub, sizeof sub, "%s/items", path);
        int k = compile(c, items, sub, depth + 1);
        if (k < 0) return -1;
        N->items = k;
    }
    const json_t *props = json_object_get(s, "properties");
    const json_t *addl = json_object_get(s, "additionalProperties");
    if (props) {
        if (!json_is_object(props)) return fail(c, path, "'properties' must be an object", NULL);
        size_t cnt = json_object_size(props);
        if (cnt > MAX_PROPS) return fail(c, path, "too many properties (64 at most)", NULL);
        N->keys = rg_calloc(cnt + 1, sizeof *N->keys);
        N->key_len = rg_calloc(cnt + 1, sizeof *N->key_len);
        N->knode = rg_calloc(cnt + 1, sizeof *N->knode);
        if (!N->keys || !N->key_len || !N->knode) return fail(c, path, "out of memory", NULL);
        N->extra = -1; /* only the listed keys, in order */
        json_object_foreach((json_t *)props, key, v)
        {
            size_t kl = strlen(key);
            if (!key_plain(key, kl))
                return fail(c, path,
                            "property names with quotes, backslashes or control "
                            "characters are not supported:",
                            key);
            snprintf(sub, sizeof sub, "%s/properties/%.200s", path, key);
            int k = compile(c, v, sub, depth + 1);
            if (k < 0) return -1;
            int p = N->n_props++;
            N->keys[p] = rg_strdup(key);
            if (!N->keys[p]) return fail(c, path, "out of memory", NULL);
            N->key_len[p] = (uint32_t)kl;
            N->knode[p] = (uint16_t)k;
        }
        const json_t *req = json_object_get(s, "required");
        if (req && !json_is_array(req)) return fail(c, path, "'required' must be a list", NULL);
        size_t i;
        const json_t *r;
        json_array_foreach(req, i, r)
        {
            int found = -1;
            for (int p = 0; json_is_string(r) && p < N->n_props; p++)
                if (!strcmp(N->keys[p], json_string_value(r))) found = p;
            if (found < 0)
                return fail(c, path, "'required' names a property not in 'properties':",
                            json_is_string(r) ? json_string_value(r) : "(not a string)");
            N->required |= 1ull << found;
        }
    } else if (json_is_false(addl)) {
        N->extra = -1; /* only {} */
    } else if (addl && !json_is_true(addl)) {
        snprintf(sub, sizeof sub, "%s/additionalProperties", path);
        int k = compile(c, addl, sub, depth + 1);
        if (k < 0) return -1;
        N->extra = k;
    } else if (json_object_get(s, "required")) {
        return fail(c, path, "'required' without 'properties'", NULL);
    }
    return 0;
#undef N
}

static int compile(struct cc *c, const json_t *s, const char *path, int depth)
{
    const json_t *ref = json_is_object(s) ? json_object_get(s, "$ref") : NULL;
    if (json_is_string(ref)) { /* shared (and possibly recursive) definitions compile once */
        for (int i = 0; i < c->n_refs; i++)
            if (!strcmp(c->refs[i].ref, json_string_value(ref))) return c->refs[i].node;
    }
    int idx = new_node(c);
    if (idx < 0) return fail(c, path, "too large (4096 schemas at most)", NULL);
    if (json_is_string(ref) && c->n_refs < (int)(sizeof c->refs / sizeof c->refs[0])) {
        c->refs[c->n_refs].ref = rg_strdup(json_string_value(ref));
        c->refs[c->n_refs++].node = idx;
    }
    return fill(c, idx, s, path, depth) < 0 ? -1 : idx;
}

void rg_jg_free(struct rg_jg *g)
{
    if (!g) return;
    for (int i = 0; i < g->n_nodes; i++) {
        struct node *n = &g->nodes[i];
        for (int k = 0; k < n->n_lits; k++)
            rg_free(n->lits[k]);
        for (int k = 0; k < n->n_props; k++)
            rg_free(n->keys[k]);
        rg_free(n->lits);
        rg_free(n->lit_len);
        rg_free(n->keys);
        rg_free(n->key_len);
        rg_free(n->knode);
        rg_free(n->leaves);
    }
    rg_free(g->nodes);
    rg_free(g->text[0]);
    rg_free(g->text[1]);
    rg_free(g);
}

static int compile_all(const json_t *schema, bool lenient, int base, struct rg_jg **out, char *err,
                       size_t errsize);

int rg_jg_compile_wrapped(const json_t *schema, const char *prefix, const char *suffix,
                          bool lenient, struct rg_jg **out, char *err, size_t errsize)
{
    /* the suffix waits in a frame under the document */
    int rc = compile_all(schema, lenient, suffix && *suffix ? 1 : 0, out, err, errsize);
    if (rc != RG_OK) return rc;
    const char *t[2] = {prefix, suffix};
    for (int i = 0; i < 2; i++) {
        if (!t[i] || !*t[i]) continue;
        if (!((*out)->text[i] = rg_strdup(t[i]))) {
            rg_jg_free(*out);
            *out = NULL;
            snprintf(err, errsize, "out of memory");
            return RG_ENOMEM;
        }
    }
    return RG_OK;
}

int rg_jg_compile(const json_t *schema, struct rg_jg **out, char *err, size_t errsize)
{
    return compile_all(schema, false, 0, out, err, errsize);
}

/* The leaves of every alternative node: a walk over alternative edges that
 * visits each node once, so cycles ({"$ref":"#"} inside its own anyOf) end. */
static int expand_alts(struct rg_jg *g, char *err, size_t errsize)
{
    int rc = RG_OK;
    uint8_t *seen = rg_calloc((size_t)g->n_nodes, 1);
    uint16_t *todo = rg_malloc_array((size_t)g->n_nodes, sizeof *todo);
    uint16_t leaf[RG_JG_EXPAND];
    for (int i = 0; rc == RG_OK && i < g->n_nodes; i++) {
        if (!seen || !todo) {
            rc = RG_ENOMEM;
            break;
        }
        if (!g->nodes[i].n_alts) continue;
        memset(seen, 0, (size_t)g->n_nodes);
        int n_todo = 0, n_leaf = 0, visited = 0;
        todo[n_todo++] = (uint16_t)i;
        seen[i] = 1;
        while (n_todo && rc == RG_OK) {
            const struct node *a = &g->nodes[todo[--n_todo]];
            if (++visited > RG_JG_CHAIN) {
                snprintf(err, errsize,
                         "schema too complex: anyOf/oneOf/$ref chains through more than %d "
                         "schemas (the limit)",
                         RG_JG_CHAIN);
                rc = RG_EINVAL;
            }
            for (int k = 0; rc == RG_OK && k < a->n_alts; k++) {
                uint16_t t = a->alts[k];
                if (seen[t]) continue;
                seen[t] = 1;
                if (g->nodes[t].n_alts) {
                    todo[n_todo++] = t;
                } else if (n_leaf == RG_JG_EXPAND) {
                    snprintf(err, errsize,
                             "schema too complex: anyOf/oneOf/$ref expand to more than %d "
                             "alternatives for one value (the limit)",
                             RG_JG_EXPAND);
                    rc = RG_EINVAL;
                } else {
                    leaf[n_leaf++] = t;
                }
            }
        }
        if (rc != RG_OK) break;
        struct node *n = &g->nodes[i];
        n->leaves = rg_malloc_array(n_leaf ? (size_t)n_leaf : 1, sizeof *n->leaves);
        if (!n->leaves) {
            rc = RG_ENOMEM;
            break;
        }
        memcpy(n->leaves, leaf, (size_t)n_leaf * sizeof *leaf);
        n->n_leaves = n_leaf;
    }
    rg_free(seen);
    rg_free(todo);
    return rc;
}

static uint8_t leaf_depth(const struct rg_jg *g, const struct node *n)
{
    if (n->n_lits || (n->types & (T_NULL | T_BOOL | T_INT | T_NUM | T_STR))) return 1;
    unsigned best = DEEP;
    if (n->types & T_ARR) {
        unsigned d = n->min_items == 0 ? 1 : 1u + g->nodes[n->items].min_depth;
        best = RG_MIN(best, d);
    }
    if (n->types & T_OBJ) {
        unsigned d = 1;
        for (int p = 0; n->keys && p < n->n_props; p++)
            if (n->required >> p & 1) d = RG_MAX(d, 1u + g->nodes[n->knode[p]].min_depth);
        best = RG_MIN(best, d);
    }
    return (uint8_t)RG_MIN(best, (unsigned)DEEP);
}

/* min_depth of every node: the least fixpoint, from "none" down. After round
 * r every node whose shallowest document nests r deep has its value, so
 * DEEP + 1 rounds settle every node (alternatives add no nesting). */
static void depths(struct rg_jg *g)
{
    for (int i = 0; i < g->n_nodes; i++)
        g->nodes[i].min_depth = DEEP;
    for (int r = 0; r <= DEEP; r++) {
        for (int i = 0; i < g->n_nodes; i++)
            if (!g->nodes[i].n_alts) g->nodes[i].min_depth = leaf_depth(g, &g->nodes[i]);
        for (int i = 0; i < g->n_nodes; i++) {
            struct node *n = &g->nodes[i];
            if (!n->n_alts) continue;
            uint8_t d = DEEP;
            for (int k = 0; k < n->n_leaves; k++)
                d = RG_MIN(d, g->nodes[n->leaves[k]].min_depth);
            n->min_depth = d;
        }
    }
}

static int compile_all(const json_t *schema, bool lenient, int base, struct rg_jg **out, char *err,
                       size_t errsize)
{
    *out = NULL;
    struct rg_jg *g = rg_calloc(1, sizeof *g);
    if (!g) return RG_ENOMEM;
    struct cc c = {.g = g, .root = schema, .err = err, .errsize = errsize, .lenient = lenient};
    int any = new_node(&c); /* node 0: any value */
    int rc = RG_OK;
    if (any != 0) {
        rc = RG_ENOMEM;
    } else if (!schema) { /* json_object mode: an object with any keys */
        g->root = new_node(&c);
        if (g->root < 0)
            rc = RG_ENOMEM;
        else
            g->nodes[g->root].types = T_OBJ;
    } else {
        g->root = compile(&c, schema, "", 0);
        if (g->root < 0) rc = RG_EINVAL;
    }
    for (int i = 0; i < c.n_refs; i++)
        rg_free(c.refs[i].ref);
    if (rc == RG_OK) rc = expand_alts(g, err, errsize);
    if (rc == RG_OK) {
        depths(g);
        unsigned d = g->nodes[g->root].min_depth;
        if (d >= DEEP && schema && json_is_object(schema) && json_object_get(schema, "$ref") &&
            g->nodes[g->root].n_leaves == 0) {
            snprintf(err, errsize,
                     "schema: '$ref' leads only to itself: it can never produce a finite document");
            rc = RG_EINVAL;
        } else if (d >= DEEP || (int)d + base > RG_JG_DEPTH) {
            snprintf(err, errsize,
                     "schema: can never produce a finite document nested at most %d levels deep "
                     "(the limit): a required property, item or $ref recursion never ends",
                     RG_JG_DEPTH - base);
            rc = RG_EINVAL;
        }
    }
    if (rc != RG_OK) {
        if (rc == RG_ENOMEM) snprintf(err, errsize, "out of memory");
        rg_jg_free(g);
        return rc;
    }
    *out = g;
    return RG_OK;
}

/* ---- running ---- */

enum step { DEAD, OK, AGAIN };

static bool is_ws(unsigned char ch)
{
    return ch == ' ' || ch == '\n' || ch == '\t' || ch == '\r';
}

/* Whitespace between tokens is one space, or a newline and an indent of up to
 * MAX_INDENT spaces or tabs (as llama.cpp's JSON grammar allows): enough for
 * compact and pretty-printed JSON, and a model cannot stall in blank space.
 * st->ws: 0 none yet, 1 after a single space, 2.. after a newline. */
static enum step step_ws(struct rg_jg_stack *st, unsigned char ch)
{
    if (st->ws == 0) {
        if (ch == ' ') return st->ws = 1, OK;
        if (ch == '\n') return st->ws = 2, OK;
        return DEAD;
    }
    if (st->ws >= 2 && (ch == ' ' || ch == '\t') && st->ws < 2 + MAX_INDENT) return st->ws++, OK;
    return DEAD;
}

/* Whether a value of node can still be finished on top of depth frames: the
 * reading never walks into a schema whose shallowest document is too deep
 * for the nesting limit (or has no finite document at all). */
static bool fits(const struct rg_jg *g, unsigned depth, int node)
{
    return depth + g->nodes[node].min_depth <= RG_JG_DEPTH;
}

static bool push(const struct rg_jg *g, struct rg_jg_stack *st, uint8_t kind, uint8_t phase,
                 int node)
{
    if (st->depth >= RG_JG_DEPTH || (kind == K_VAL && !fits(g, st->depth, node))) return false;
    st->f[st->depth++] = (struct rg_jg_frame){.kind = kind, .phase = phase, .node = (uint16_t)node};
    return true;
}

/* The value on top of the stack is complete: pop it and tell its parent. */
static void complete(struct rg_jg_stack *st)
{
    if (--st->depth == 0) {
        st->done = true;
        return;
    }
    struct rg_jg_frame *p = &st->f[st->depth - 1];
    if (p->kind == K_OBJ)
        p->phase = O_AFTER;
    else if (p->kind == K_ARR)
        p->a++, p->phase = A_AFTER;
}

/* The property keys that may come next: from the next unused one up to and
 * including the first required one. */
static uint64_t key_candidates(const struct rg_jg *g, const struct node *n, uint32_t next,
                               unsigned depth)
{
    uint64_t m = 0;
    for (uint32_t p = next; p < (uint32_t)n->n_props; p++) {
        if (fits(g, depth, n->knode[p])) m |= 1ull << p;
        if (n->required >> p & 1) break;
    }
    return m;
}

static bool required_left(const struct node *n, uint32_t next)
{
    return next < 64 && (n->required >> next) != 0;
}

static bool num_accepting(int phase)
{
    return phase == N_ZERO || phase == N_INT || phase == N_FRAC || phase == N_EXP;
}

static enum step step_num(const struct node *n, struct rg_jg_frame *f, struct rg_jg_stack *st,
                          unsigned char ch)
{
    bool digit = ch >= '0' && ch <= '9';
    bool real = n->types & T_NUM;
    if (digit && ++f->a > MAX_DIGITS) return DEAD;
    switch (f->phase) {
    case N_START:
        if (ch == '-') return f->phase = N_MINUS, OK;
        /* fall through */
    case N_MINUS:
        if (!digit) return DEAD;
        f->phase = ch == '0' ? N_ZERO : N_INT;
        return OK;
    case N_INT:
        if (digit) return OK;
        /* fall through */
    case N_ZERO:
        if (real && ch == '.') return f->phase = N_DOT, OK;
        if (real && (ch == 'e' || ch == 'E')) return f->phase = N_E, OK;
        break;
    case N_DOT: return digit ? (f->phase = N_FRAC, OK) : DEAD;
    case N_FRAC:
        if (digit) return OK;
        if (ch == 'e' || ch == 'E') return f->phase = N_E, OK;
        break;
    case N_E:
        if (ch == '+' || ch == '-') return f->phase = N_ESIGN, OK;
        /* fall through */
    case N_ESIGN: return digit ? (f->phase = N_EXP, OK) : DEAD;
    case N_EXP:
        if (digit) return OK;
        break;
    }
    if (digit || !num_accepting(f->phase)) return DEAD;
    complete(st); /* the byte belongs to what follows the number */
    return AGAIN;
}

static enum step step_str(const struct node *n, struct rg_jg_frame *f, struct rg_jg_stack *st,
                          unsigned char ch)
{
    uint32_t max = f->phase & STR_KEY ? NO_LIMIT : n->max_len;
    if (f->b == 1) { /* after a backslash */
        if (ch == 'u') return f->b = 5, OK;
        if (!strchr("\"\\/bfnrt", ch) || ch == '\0') return DEAD;
        f->b = 0;
        return ++f->a > max ? DEAD : OK;
    }
    if (f->b > 1) { /* \uXXXX */
        if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F')))
            return DEAD;
        if (--f->b == 1) {
            f->b = 0;
            return ++f->a > max ? DEAD : OK;
        }
        return OK;
    }
    if (ch == '"') {
        if (!(f->phase & STR_KEY) && f->a < n->min_len) return DEAD;
        if (f->phase & STR_KEY) {
            st->depth--;
            st->f[st->depth - 1].phase = O_COLON;
        } else {
            complete(st);
        }
        return OK;
    }
    if (ch == '\\') return f->b = 1, OK;
    if (ch < 0x20) return DEAD;
    if ((ch & 0xC0) != 0x80 && ++f->a > max) return DEAD;
    return OK;
}

static enum step step_val(const struct rg_jg *g, struct rg_jg_frame *f, unsigned char ch)
{
    const struct node *n = &g->nodes[f->node];
    if (n->n_lits) {
        f->kind = K_ENUM;
        f->a = 0;
        f->mask = n->n_lits >= 64 ? ~0ull : (1ull << n->n_lits) - 1;
        return AGAIN;
    }
    f->a = f->b = 0;
    f->mask = 0;
    if (ch == '{' && (n->types & T_OBJ)) return f->kind = K_OBJ, f->phase = O_FIRST, OK;
    if (ch == '[' && (n->types & T_ARR)) return f->kind = K_ARR, f->phase = A_FIRST, OK;
    if (ch == '"' && (n->types & T_STR)) return f->kind = K_STR, f->phase = 0, OK;
    if ((ch == '-' || (ch >= '0' && ch <= '9')) && (n->types & (T_INT | T_NUM)))
        return f->kind = K_NUM, f->phase = N_START, AGAIN;
    for (uint32_t i = 0; i < 3; i++)
        if (ch == (unsigned char)LITERALS[i][0] && (n->types & (i < 2 ? T_BOOL : T_NULL))) {
            f->kind = K_LIT;
            f->b = i;
            f->a = 1;
            return OK;
        }
    return DEAD;
}

static enum step step_obj(const struct rg_jg *g, struct rg_jg_frame *f, struct rg_jg_stack *st,
                          unsigned char ch)
{
    const struct node *n = &g->nodes[f->node];
    bool schema_keys = n->keys != NULL;
    switch (f->phase) {
    case O_FIRST:
    case O_NEXT:
        if (ch == '}' && f->phase == O_FIRST) {
            if (schema_keys && required_left(n, f->a)) return DEAD;
            complete(st);
            return OK;
        }
        if (ch != '"') return DEAD;
        if (schema_keys) {
            f->mask = key_candidates(g, n, f->a, st->depth);
            if (!f->mask) return DEAD;
            f->b = 0;
            f->phase = O_KEY;
            return OK;
        }
        if (n->extra < 0 || !fits(g, st->depth, n->extra)) return DEAD; /* no keys at all */
        f->phase = O_KEY;
        return push(g, st, K_STR, STR_KEY, 0) ? OK : DEAD;
    case O_KEY: { /* matching a schema key; free keys are a K_STR frame above */
        uint64_t keep = 0;
        if (ch == '"') {
            for (int p = 0; p < n->n_props; p++)
                if ((f->mask >> p & 1) && n->key_len[p] == f->b) keep = (uint64_t)p + 1;
            if (!keep) return DEAD;
            f->a = (uint32_t)keep; /* next unused property */
            f->phase = O_COLON;
            return OK;
        }
        for (int p = 0; p < n->n_props; p++)
            if ((f->mask >> p & 1) && n->key_len[p] > f->b && (unsigned char)n->keys[p][f->b] == ch)
                keep |= 1ull << p;
        if (!keep) return DEAD;
        f->mask = keep;
        f->b++;
        return OK;
    }
    case O_COLON:
        if (ch != ':') return DEAD;
        f->phase = O_AFTER; /* where it returns once the value is read */
        return push(g, st, K_VAL, 0, schema_keys ? n->knode[f->a - 1] : n->extra) ? OK : DEAD;
    case O_AFTER:
        if (ch == '}') {
            if (schema_keys && required_left(n, f->a)) return DEAD;
            complete(st);
            return OK;
        }
        if (ch != ',') return DEAD;
        if (schema_keys && f->a >= (uint32_t)n->n_props) return DEAD;
        f->phase = O_NEXT;
        return OK;
    }
    return DEAD;
}

static enum step step_arr(const struct rg_jg *g, struct rg_jg_frame *f, struct rg_jg_stack *st,
                          unsigned char ch)
{
    const struct node *n = &g->nodes[f->node];
    switch (f->phase) {
    case A_FIRST:
        if (ch == ']') {
            if (n->min_items > 0) return DEAD;
            complete(st);
            return OK;
        }
        /* fall through */
    case A_NEXT:
        if (f->a >= n->max_items) return DEAD;
        return push(g, st, K_VAL, 0, n->items) ? AGAIN : DEAD;
    case A_AFTER:
        if (ch == ']') {
            if (f->a < n->min_items) return DEAD;
            complete(st);
            return OK;
        }
        if (ch != ',' || f->a >= n->max_items) return DEAD;
        f->phase = A_NEXT;
        return OK;
    }
    return DEAD;
}

static enum step step_enum(const struct node *n, struct rg_jg_frame *f, struct rg_jg_stack *st,
                           unsigned char ch)
{
    uint64_t next = 0, ended = 0;
    for (int i = 0; i < n->n_lits && i < 64; i++) {
        if (!(f->mask >> i & 1)) continue;
        if (n->lit_len[i] == f->a)
            ended |= 1ull << i;
        else if ((unsigned char)n->lits[i][f->a] == ch)
            next |= 1ull << i;
    }
    if (next) {
        f->mask = next;
        f->a++;
        /* a member that is not a number is complete with its last byte: no
         * other member can continue it */
        for (int i = 0; i < n->n_lits && i < 64; i++)
            if ((next >> i & 1) && n->lit_len[i] == f->a && !(ch >= '0' && ch <= '9')) {
                complete(st);
                break;
            }
        return OK;
    }
    if (!ended) return DEAD;
    complete(st); /* a number member ended: the byte belongs to what follows */
    return AGAIN;
}

static enum step step(const struct rg_jg *g, struct rg_jg_stack *st, unsigned char ch)
{
    if (st->done) return DEAD; /* nothing follows the document */
    struct rg_jg_frame *f = &st->f[st->depth - 1];
    const struct node *n = &g->nodes[f->node];
    if (is_ws(ch) && f->kind != K_STR && f->kind != K_LIT && f->kind != K_NUM &&
        f->kind != K_ENUM && !(f->kind == K_OBJ && f->phase == O_KEY) &&
        !(f->kind == K_TEXT && f->a > 0)) {
        return step_ws(st, ch);
    }
    if (f->kind != K_STR) st->ws = 0;
    switch (f->kind) {
    case K_VAL: return step_val(g, f, ch);
    case K_OBJ: return step_obj(g, f, st, ch);
    case K_ARR: return step_arr(g, f, st, ch);
    case K_STR: return step_str(n, f, st, ch);
    case K_NUM: return step_num(n, f, st, ch);
    case K_LIT: {
        const char *lit = LITERALS[f->b];
        if ((unsigned char)lit[f->a] != ch) return DEAD;
        if (lit[++f->a] == '\0') complete(st);
        return OK;
    }
    case K_ENUM: return step_enum(n, f, st, ch);
    case K_TEXT: {
        const char *t = g->text[f->b];
        if ((unsigned char)t[f->a] != ch) return DEAD;
        if (t[++f->a] == '\0') complete(st);
        return OK;
    }
    }
    return DEAD;
}

static _Thread_local uint64_t steps_done;

uint64_t rg_jg_steps(void)
{
    return steps_done;
}

static void copy_stack(struct rg_jg_stack *d, const struct rg_jg_stack *s)
{
    d->depth = s->depth;
    d->ws = s->ws;
    d->done = s->done;
    /* a few frames: a plain loop beats a block copy's start-up cost */
    for (int i = 0; i < s->depth; i++)
        d->f[i] = s->f[i];
}

static bool same_stack(const struct rg_jg_stack *a, const struct rg_jg_stack *b)
{
    if (a->depth != b->depth || a->ws != b->ws || a->done != b->done) return false;
    for (int i = 0; i < a->depth; i++) {
        const struct rg_jg_frame *x = &a->f[i], *y = &b->f[i];
        if (x->kind != y->kind || x->phase != y->phase || x->node != y->node || x->a != y->a ||
            x->b != y->b || x->mask != y->mask)
            return false;
    }
    return true;
}

/* Keeps a reading that survived the byte, unless an equal one is kept
 * already or RG_JG_ALTS are. */
static void add_stack(struct rg_jg_state *out, const struct rg_jg_stack *st)
{
    if (out->n >= RG_JG_ALTS) return;
    for (int i = 0; i < out->n; i++)
        if (same_stack(&out->s[i], st)) return;
    copy_stack(&out->s[out->n++], st);
}

/* One byte, shared by every reading: what is left of RG_JG_STEPS. */
struct walk {
    const struct rg_jg *g;
    struct rg_jg_state *out;
    uint32_t budget;
};

/* Steps one reading by one byte; its survivors go to w->out. A value with
 * alternatives forks once per precomputed leaf that fits (leaves have no
 * alternatives of their own, so a fork never forks again for this value;
 * only a value nested inside it, one frame deeper, can). Every step spends
 * the byte's budget: past it, readings are dropped, so a byte costs at most
 * RG_JG_STEPS steps whatever the schema and the text. */
static void advance(struct walk *w, struct rg_jg_stack *st, unsigned char ch)
{
    const struct rg_jg *g = w->g;
    for (;;) {
        if (w->budget == 0) return;
        w->budget--;
        steps_done++;
        if (!st->done && st->depth) {
            struct rg_jg_frame *f = &st->f[st->depth - 1];
            const struct node *nd = &g->nodes[f->node];
            if (f->kind == K_VAL && nd->n_alts && !is_ws(ch)) {
                for (int k = 0; k < nd->n_leaves && w->budget; k++) {
                    if (!fits(g, st->depth - 1u, nd->leaves[k])) continue;
                    struct rg_jg_stack copy;
                    copy_stack(&copy, st);
                    copy.f[copy.depth - 1].node = nd->leaves[k];
                    advance(w, &copy, ch);
                }
                return;
            }
        }
        enum step r = step(g, st, ch);
        if (r == DEAD) return;
        if (r == OK) {
            add_stack(w->out, st);
            return;
        }
    }
}

void rg_jg_start(const struct rg_jg *g, struct rg_jg_state *st)
{
    struct rg_jg_stack *s = &st->s[0];
    st->n = 1;
    s->depth = 0;
    s->ws = 0;
    s->done = false;
    /* bottom up: the suffix waits under the document, the prefix comes first */
    if (g->text[1]) s->f[s->depth++] = (struct rg_jg_frame){.kind = K_TEXT, .b = 1};
    s->f[s->depth++] = (struct rg_jg_frame){.kind = K_VAL, .node = (uint16_t)g->root};
    if (g->text[0]) s->f[s->depth++] = (struct rg_jg_frame){.kind = K_TEXT, .b = 0};
}

void rg_jg_copy(struct rg_jg_state *dst, const struct rg_jg_state *src)
{
    dst->n = src->n;
    for (int i = 0; i < src->n; i++)
        copy_stack(&dst->s[i], &src->s[i]);
}

static void feed_byte(const struct rg_jg *g, const struct rg_jg_state *in, unsigned char ch,
                      struct rg_jg_state *out)
{
    struct walk w = {.g = g, .out = out, .budget = RG_JG_STEPS};
    out->n = 0;
    if (in->n == 1) { /* the common case: one reading, stepped where it is kept */
        struct rg_jg_stack *st = &out->s[0];
        copy_stack(st, &in->s[0]);
        while (w.budget) {
            const struct rg_jg_frame *f = st->depth ? &st->f[st->depth - 1] : NULL;
            if (f && !st->done && f->kind == K_VAL && g->nodes[f->node].n_alts && !is_ws(ch)) {
                struct rg_jg_stack tmp; /* it forks: the general way from here */
                copy_stack(&tmp, st);
                advance(&w, &tmp, ch);
                return;
            }
            w.budget--;
            steps_done++;
            enum step r = step(g, st, ch);
            if (r == DEAD) return;
            if (r == OK) {
                out->n = 1;
                return;
            }
        }
        return;
    }
    for (int i = 0; i < in->n && w.budget; i++) {
        struct rg_jg_stack tmp;
        copy_stack(&tmp, &in->s[i]);
        advance(&w, &tmp, ch);
    }
}

bool rg_jg_feed_from(const struct rg_jg *g, const struct rg_jg_state *src, const char *p, size_t n,
                     struct rg_jg_state *dst)
{
    if (n == 0) {
        rg_jg_copy(dst, src);
        return dst->n > 0;
    }
    struct rg_jg_state tmp;
    tmp.n = 0;
    const struct rg_jg_state *cur = src;
    for (size_t i = 0; i < n; i++) {
        /* alternate between the two so that the last byte lands in dst */
        struct rg_jg_state *out = (n - 1 - i) % 2 == 0 ? dst : &tmp;
        feed_byte(g, cur, (unsigned char)p[i], out);
        if (out->n == 0) {
            dst->n = 0;
            return false;
        }
        cur = out;
    }
    return true;
}

bool rg_jg_feed(const struct rg_jg *g, struct rg_jg_state *st, const char *p, size_t n)
{
    if (n == 1) { /* the common case costs one copy, not two */
        struct rg_jg_state out;
        feed_byte(g, st, (unsigned char)p[0], &out);
        rg_jg_copy(st, &out);
        return st->n > 0;
    }
    struct rg_jg_state in;
    rg_jg_copy(&in, st);
    return rg_jg_feed_from(g, &in, p, n, st);
}

bool rg_jg_complete(const struct rg_jg_state *st)
{
    for (int i = 0; i < st->n; i++)
        if (st->s[i].done) return true;
    return false;
}

bool rg_jg_can_end(const struct rg_jg *g, const struct rg_jg_state *st)
{
    for (int i = 0; i < st->n; i++) {
        const struct rg_jg_stack *s = &st->s[i];
        if (s->done) return true;
        if (s->depth != 1) continue;
        const struct rg_jg_frame *f = &s->f[0];
        if (f->kind == K_NUM && num_accepting(f->phase)) return true;
        if (f->kind == K_ENUM) {
            const struct node *n = &g->nodes[f->node];
            for (int k = 0; k < n->n_lits && k < 64; k++)
                if ((f->mask >> k & 1) && n->lit_len[k] == f->a) return true;
        }
    }
    return false;
}
