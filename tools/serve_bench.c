/*
 * serve_bench: load generator for an OpenAI-compatible server (ours or
 * llama.cpp's llama-server, for comparison). Used by `make bench`.
 *
 *   serve_bench --url http://127.0.0.1:PORT --model ID --clients N --tokens K
 *       N streaming /v1/chat/completions at once, each for K tokens (EOS
 *       ignored); prints aggregate tokens/s and time to first token p50/p99.
 *   serve_bench --url ... --model ID --second-turn P
 *       a conversation of about P prompt tokens, then the same conversation
 *       with the answer and one more question: the time to first token of
 *       each turn (the second shows whether the prefix was reused).
 *
 * Output: one JSON object on stdout. Tokens are counted as the streamed
 * content chunks (one token each in both servers).
 */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <jansson.h>

struct client {
    CURL *h;
    struct curl_slist *hdr;
    char *body;
    char line[1 << 16];
    size_t line_len;
    double t_start, t_first, t_end;
    long tokens;
    char *text; /* the streamed answer */
    size_t text_len;
};

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void on_line(struct client *c, const char *line)
{
    if (strncmp(line, "data: {", 7) != 0) return;
    json_t *j = json_loads(line + 6, 0, NULL);
    json_t *ch = json_array_get(json_object_get(j, "choices"), 0);
    const char *t = json_string_value(json_object_get(json_object_get(ch, "delta"), "content"));
    if (t && *t) {
        if (c->tokens++ == 0) c->t_first = now();
        size_t n = strlen(t);
        char *grown = realloc(c->text, c->text_len + n + 1);
        if (grown) {
            c->text = grown;
            memcpy(c->text + c->text_len, t, n + 1);
            c->text_len += n;
        }
    }
    json_decref(j);
}

static size_t on_data(char *p, size_t size, size_t n, void *arg)
{
    struct client *c = arg;
    size_t len = size * n;
    for (size_t i = 0; i < len; i++) {
        if (p[i] == '\n') {
            c->line[c->line_len] = '\0';
            on_line(c, c->line);
            c->line_len = 0;
        } else if (c->line_len + 1 < sizeof c->line) {
            c->line[c->line_len++] = p[i];
        }
    }
    return len;
}

static void client_init(struct client *c, const char *url, const char *body)
{
    memset(c, 0, sizeof *c);
    c->body = strdup(body);
    c->h = curl_easy_init();
    c->hdr = curl_slist_append(NULL, "Content-Type: application/json");
    char full[512];
    snprintf(full, sizeof full, "%s/v1/chat/completions", url);
    curl_easy_setopt(c->h, CURLOPT_URL, full);
    curl_easy_setopt(c->h, CURLOPT_HTTPHEADER, c->hdr);
    curl_easy_setopt(c->h, CURLOPT_POSTFIELDS, c->body);
    curl_easy_setopt(c->h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c->h, CURLOPT_WRITEDATA, c);
    curl_easy_setopt(c->h, CURLOPT_TIMEOUT, 3600L);
}

static void client_free(struct client *c)
{
    curl_easy_cleanup(c->h);
    curl_slist_free_all(c->hdr);
    free(c->body);
    free(c->text);
}

/* Runs the clients at once; false if any failed. */
static bool run_all(struct client *cs, int n)
{
    CURLM *m = curl_multi_init();
    for (int i = 0; i < n; i++) {
        cs[i].t_start = now();
        curl_multi_add_handle(m, cs[i].h);
    }
    int running = n;
    while (running) {
        curl_multi_perform(m, &running);
        CURLMsg *msg;
        int left;
        while ((msg = curl_multi_info_read(m, &left)))
            for (int i = 0; i < n; i++)
                if (msg->easy_handle == cs[i].h) cs[i].t_end = now();
        if (running) curl_multi_poll(m, NULL, 0, 100, NULL);
    }
    bool ok = true;
    for (int i = 0; i < n; i++) {
        long code = 0;
        curl_easy_getinfo(cs[i].h, CURLINFO_RESPONSE_CODE, &code);
        if (code != 200 || cs[i].tokens == 0) {
            fprintf(stderr, "serve_bench: client %d: HTTP %ld, %ld tokens\n", i, code,
                    cs[i].tokens);
            ok = false;
        }
        curl_multi_remove_handle(m, cs[i].h);
    }
    curl_multi_cleanup(m);
    return ok;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double pct(double *v, int n, double p)
{
    qsort(v, (size_t)n, sizeof *v, cmp_d);
    int k = (int)ceil(p * n) - 1;
    return v[k < 0 ? 0 : k];
}

static char *chat_body(const char *model, json_t *messages, int max_tokens)
{
    json_t *b = json_pack("{s:s, s:O, s:i, s:f, s:b, s:b, s:b}", "model", model, "messages",
                          messages, "max_tokens", max_tokens, "temperature", 0.0, "stream", 1,
                          "ignore_eos", 1, "cache_prompt", 1);
    char *s = json_dumps(b, JSON_COMPACT);
    json_decref(b);
    return s;
}

static int concurrency(const char *url, const char *model, int n, int tokens)
{
    struct client *cs = calloc((size_t)n, sizeof *cs);
    double *ttft = calloc((size_t)n, sizeof *ttft);
    for (int i = 0; i < n; i++) {
        char q[128];
        snprintf(q, sizeof q, "Tell me story number %d about a dragon.", i + 1);
        json_t *msgs = json_pack("[{s:s, s:s}]", "role", "user", "content", q);
        char *body = chat_body(model, msgs, tokens);
        json_decref(msgs);
        client_init(&cs[i], url, body);
        free(body);
    }
    double t0 = now();
    bool ok = run_all(cs, n);
    double t1 = 0;
    long total = 0;
    for (int i = 0; i < n; i++) {
        total += cs[i].tokens;
        if (cs[i].t_end > t1) t1 = cs[i].t_end;
        ttft[i] = cs[i].t_first > 0 ? cs[i].t_first - cs[i].t_start : NAN;
    }
    printf("{\"clients\":%d,\"tokens_each\":%d,\"tokens\":%ld,\"seconds\":%.3f,"
           "\"aggregate_tok_s\":%.2f,\"ttft_p50_ms\":%.1f,\"ttft_p99_ms\":%.1f}\n",
           n, tokens, total, t1 - t0, (double)total / (t1 - t0), pct(ttft, n, 0.5) * 1e3,
           pct(ttft, n, 0.99) * 1e3);
    for (int i = 0; i < n; i++)
        client_free(&cs[i]);
    free(cs);
    free(ttft);
    return ok ? 0 : 1;
}

static int second_turn(const char *url, const char *model, int prompt_tokens)
{
    /* about 13 tokens per sentence in the common tokenizers */
    static const char *const S[] = {
        "The lighthouse keeper counted the ships that passed each night. ",
        "Her logbook held the names of captains, cargo and the weather. ",
        "One winter a storm closed the harbour for eleven days straight. ",
        "When it cleared, a small boat with a red sail drifted toward the rocks. "};
    size_t cap = (size_t)prompt_tokens * 8 + 256, len = 0;
    char *doc = malloc(cap);
    doc[0] = '\0';
    for (int i = 0; len + 100 < cap && i < prompt_tokens / 13; i++)
        len += (size_t)snprintf(doc + len, cap - len, "%s", S[i % 4]);
    json_t *msgs =
        json_pack("[{s:s, s:s}, {s:s, s:s}]", "role", "system", "content",
                  "You answer questions about the text.", "role", "user", "content", doc);
    free(doc);
    struct client c;
    char *body = chat_body(model, msgs, 16);
    client_init(&c, url, body);
    free(body);
    bool ok = run_all(&c, 1);
    double first = c.t_first - c.t_start;
    json_array_append_new(
        msgs, json_pack("{s:s, s:s}", "role", "assistant", "content", c.text ? c.text : ""));
    json_array_append_new(
        msgs, json_pack("{s:s, s:s}", "role", "user", "content", "And what happened to the boat?"));
    client_free(&c);
    body = chat_body(model, msgs, 16);
    json_decref(msgs);
    client_init(&c, url, body);
    free(body);
    ok = run_all(&c, 1) && ok;
    double second = c.t_first - c.t_start;
    client_free(&c);
    printf("{\"prompt_tokens_approx\":%d,\"ttft_first_ms\":%.1f,\"ttft_second_ms\":%.1f,"
           "\"second_over_first\":%.4f}\n",
           prompt_tokens, first * 1e3, second * 1e3, second / first);
    return ok ? 0 : 1;
}

int main(int argc, char **argv)
{
    const char *url = NULL, *model = NULL;
    int clients = 1, tokens = 64, turn = 0;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--url"))
            url = argv[i + 1];
        else if (!strcmp(argv[i], "--model"))
            model = argv[i + 1];
        else if (!strcmp(argv[i], "--clients"))
            clients = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--tokens"))
            tokens = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--second-turn"))
            turn = atoi(argv[i + 1]);
        else {
            fprintf(stderr, "serve_bench: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    if (!url || !model || clients < 1 || clients > 1024 || tokens < 1) {
        fprintf(stderr, "usage: serve_bench --url URL --model ID [--clients N] [--tokens K] "
                        "[--second-turn PROMPT_TOKENS]\n");
        return 2;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int rc = turn > 0 ? second_turn(url, model, turn) : concurrency(url, model, clients, tokens);
    curl_global_cleanup();
    return rc;
}
