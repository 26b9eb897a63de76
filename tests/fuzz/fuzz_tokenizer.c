/*
 * Fuzz target for vocabulary loading and tokenization together: the input is
 * a vocabulary (kind, tokens with their types, merges made from them) and a
 * text. The vocabulary is serialized as a vocab-only GGUF in memory and loaded
 * as a model file would be; then the text is tokenized every way the server
 * and the CLI do. Tokenization must end (run with -timeout: an endless loop is
 * a finding, as the empty-token vocabulary of issue 23 was), every id must be
 * in range and every id must detokenize.
 *
 * Input layout (everything optional; missing bytes read as 0):
 *   byte 0   kind: %3 -> llama (SPM), gpt2 (BPE), bert (WPM)
 *   byte 1   BPE pre-tokenizer family, an index into PRES
 *   byte 2   flags: 1 add_space_prefix, 2 add_bos_token, 4 unk id 0 given,
 *            bits 3..7 the chat format (%7) for rg_chat_tokenize
 *   then up to MAX_TOKENS tokens: type byte (%7; 0xFF ends the list), length
 *   byte (%32), that many bytes (NUL becomes 0x01: GGUF strings hold no NUL)
 *   the rest: the text
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "engine/gguf/gguf.h"
#include "engine/template/template.h"
#include "engine/tokenizer/tokenizer.h"

enum { MAX_TOKENS = 256, MAX_TOKEN_LEN = 32 };

static const char *const PRES[] = {"default", "llama-bpe", "qwen2",        "starcoder",
                                   "falcon",  "gpt-2",     "deepseek-llm", "bogus"};

struct w {
    uint8_t *p;
    size_t n, cap;
};

static void put(struct w *w, const void *d, size_t n)
{
    if (w->n + n > w->cap) {
        size_t nc = (w->n + n) * 2 + 256;
        uint8_t *p = realloc(w->p, nc);
        if (!p) abort();
        w->p = p;
        w->cap = nc;
    }
    memcpy(w->p + w->n, d, n);
    w->n += n;
}
static void put_u32(struct w *w, uint32_t v)
{
    put(w, &v, 4); /* the fuzzer runs on little-endian machines only */
}
static void put_u64(struct w *w, uint64_t v)
{
    put(w, &v, 8);
}
static void put_str(struct w *w, const char *s, size_t n)
{
    put_u64(w, n);
    put(w, s, n);
}
static void put_key(struct w *w, const char *key, uint32_t type)
{
    put_str(w, key, strlen(key));
    put_u32(w, type);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t at = 0;
#define BYTE() (at < size ? data[at++] : 0)
    unsigned kind = BYTE() % 3, pre = BYTE() % (sizeof PRES / sizeof PRES[0]), flags = BYTE();
    char tok[MAX_TOKENS][MAX_TOKEN_LEN];
    size_t tlen[MAX_TOKENS];
    int32_t ttype[MAX_TOKENS];
    size_t n = 0;
    while (n < MAX_TOKENS && at < size) {
        uint8_t t = BYTE();
        if (t == 0xFF) break;
        ttype[n] = t % 7;
        tlen[n] = BYTE() % MAX_TOKEN_LEN;
        for (size_t i = 0; i < tlen[n]; i++) {
            uint8_t c = BYTE();
            tok[n][i] = (char)(c ? c : 1);
        }
        n++;
    }
    if (n == 0) return 0;
    const char *text = (const char *)data + at;
    size_t text_len = size - at;
#undef BYTE

    /* the vocabulary as a vocab-only GGUF v3 */
    static const char *const models[] = {"llama", "gpt2", "bert"};
    struct w w = {0};
    put(&w, "GGUF", 4);
    put_u32(&w, 3);
    put_u64(&w, 0); /* tensors */
    uint64_t n_kv = 6 + (kind == 1) * 2 + ((flags & 4) != 0);
    put_u64(&w, n_kv);
    put_key(&w, "tokenizer.ggml.model", RG_GGUF_STRING);
    put_str(&w, models[kind], strlen(models[kind]));
    put_key(&w, "tokenizer.ggml.tokens", RG_GGUF_ARRAY);
    put_u32(&w, RG_GGUF_STRING);
    put_u64(&w, n);
    for (size_t i = 0; i < n; i++)
        put_str(&w, tok[i], tlen[i]);
    put_key(&w, "tokenizer.ggml.scores", RG_GGUF_ARRAY);
    put_u32(&w, RG_GGUF_FLOAT32);
    put_u64(&w, n);
    for (size_t i = 0; i < n; i++) {
        float s = (float)tlen[i] - (float)i * 0.001f;
        put(&w, &s, 4);
    }
    put_key(&w, "tokenizer.ggml.token_type", RG_GGUF_ARRAY);
    put_u32(&w, RG_GGUF_INT32);
    put_u64(&w, n);
    for (size_t i = 0; i < n; i++)
        put(&w, &ttype[i], 4);
    put_key(&w, "tokenizer.ggml.add_space_prefix", RG_GGUF_BOOL);
    put(&w, &(uint8_t){(flags & 1) != 0}, 1);
    put_key(&w, "tokenizer.ggml.add_bos_token", RG_GGUF_BOOL);
    put(&w, &(uint8_t){(flags & 2) != 0}, 1);
    if (kind == 1) {
        put_key(&w, "tokenizer.ggml.pre", RG_GGUF_STRING);
        put_str(&w, PRES[pre], strlen(PRES[pre]));
        /* merges: each pair of neighbouring tokens, "left right" */
        put_key(&w, "tokenizer.ggml.merges", RG_GGUF_ARRAY);
        put_u32(&w, RG_GGUF_STRING);
        put_u64(&w, n - 1);
        for (size_t i = 0; i + 1 < n; i++) {
            char m[2 * MAX_TOKEN_LEN + 1];
            memcpy(m, tok[i], tlen[i]);
            m[tlen[i]] = ' ';
            memcpy(m + tlen[i] + 1, tok[i + 1], tlen[i + 1]);
            put_str(&w, m, tlen[i] + 1 + tlen[i + 1]);
        }
    }
    if (flags & 4) {
        put_key(&w, "tokenizer.ggml.unknown_token_id", RG_GGUF_UINT32);
        put_u32(&w, 0);
    }

    char err[RG_ERR_SIZE];
    struct rg_gguf_params gp = rg_gguf_default_params();
    gp.vocab_only = true;
    struct rg_gguf *g = rg_gguf_open_memory(w.p, w.n, &gp, err);
    if (!g) abort(); /* the serializer above writes only valid files */
    struct rg_vocab *v = NULL;
    if (rg_vocab_load(g, &v, err) == RG_OK) {
        int32_t nt = rg_vocab_n_tokens(v);
        for (int mode = 0; mode < 4; mode++) {
            int32_t *ids = NULL;
            size_t n_ids = 0;
            int rc = rg_tokenize_alloc(v, text, text_len, mode & 1, mode & 2, &ids, &n_ids);
            if (rc == RG_OK) {
                for (size_t i = 0; i < n_ids; i++) {
                    if (ids[i] < 0 || ids[i] >= nt) abort();
                    char piece[256];
                    if (rg_token_to_piece(v, ids[i], mode & 2, piece, sizeof piece) < 0) abort();
                }
                struct rg_detok d;
                rg_detok_init(&d, v, mode & 2);
                char out[1024];
                for (size_t i = 0; i < n_ids; i++)
                    if (rg_detok_push(&d, ids[i], out, sizeof out) == RG_EINVAL) abort();
            } else if (rc != RG_ENOMEM && rc != RG_EUNSUPPORTED) {
                abort();
            }
            rg_free(ids);
        }
        /* the text as a user's message (it may spell any special token) */
        char *content = malloc(text_len + 1);
        if (!content) abort();
        memcpy(content, text, text_len);
        content[text_len] = '\0';
        struct rg_chat_msg m[] = {{"system", "s"}, {"user", content}, {"assistant", content}};
        int32_t *ids = NULL;
        size_t n_ids = 0;
        int rc = rg_chat_tokenize(v, (enum rg_chat_format)((flags >> 3) % 7), m, 3, true, flags & 2,
                                  &ids, &n_ids, err);
        if (rc == RG_OK) {
            for (size_t i = 0; i < n_ids; i++)
                if (ids[i] < 0 || ids[i] >= nt) abort();
        } else if (rc != RG_ENOMEM && rc != RG_EUNSUPPORTED) {
            abort();
        }
        rg_free(ids);
        free(content);
        rg_vocab_free(v);
    }
    rg_gguf_close(g);
    free(w.p);
    return 0;
}
