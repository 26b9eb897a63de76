/*
 * The built-in styles, parsed from their Markdown files (styles_data.c,
 * generated from the files of src/chat/styles/ by src/chat/CMakeLists.txt).
 */
#include "chat/styles.h"

#include <pthread.h>
#include <string.h>

#include "common/str.h"

/* generated: the files' text, NUL-ended */
extern const unsigned char rg_chat_style_src_plain[];
extern const unsigned char rg_chat_style_src_socratic[];
extern const unsigned char rg_chat_style_src_devils_advocate[];
extern const unsigned char rg_chat_style_src_chain_of_thought[];

static const struct {
    const char *id;
    const char *src;
} files[] = {
    {"plain", (const char *)rg_chat_style_src_plain},
    {"socratic", (const char *)rg_chat_style_src_socratic},
    {"devils-advocate", (const char *)rg_chat_style_src_devils_advocate},
    {"chain-of-thought", (const char *)rg_chat_style_src_chain_of_thought},
};
#define N_STYLES (sizeof files / sizeof files[0])

static struct rg_chat_style styles[N_STYLES];
static pthread_once_t once = PTHREAD_ONCE_INIT;

/* The line at p (up to '\n' or the end) into out without its end. */
static const char *line_end(const char *p)
{
    const char *e = strchr(p, '\n');
    return e ? e : p + strlen(p);
}

static void parse(struct rg_chat_style *s, const char *id, const char *src)
{
    s->id = id;
    const char *p = src, *e = line_end(p);
    if (!strncmp(p, "# ", 2)) {
        size_t n = (size_t)(e - p - 2);
        if (n >= sizeof s->name) n = sizeof s->name - 1;
        memcpy(s->name, p + 2, n);
        s->name[n] = '\0';
    }
    /* the description: the first paragraph after the title, its lines joined */
    p = *e ? e + 1 : e;
    while (*p == '\n')
        p++;
    size_t d = 0;
    while (*p && *p != '\n' && *p != '#') {
        e = line_end(p);
        size_t n = (size_t)(e - p);
        if (d && d + 1 < sizeof s->description) s->description[d++] = ' ';
        if (d + n >= sizeof s->description) n = sizeof s->description - 1 - d;
        memcpy(s->description + d, p, n);
        d += n;
        p = *e ? e + 1 : e;
    }
    s->description[d] = '\0';
    const char *ins = strstr(src, "\n## Instructions\n");
    s->prompt = "";
    s->prompt_len = 0;
    if (ins) {
        ins += strlen("\n## Instructions\n");
        while (*ins == '\n' || *ins == ' ')
            ins++;
        size_t n = strlen(ins);
        while (n && (ins[n - 1] == '\n' || ins[n - 1] == ' '))
            n--;
        s->prompt = ins;
        s->prompt_len = n;
    }
}

static void init(void)
{
    for (size_t i = 0; i < N_STYLES; i++)
        parse(&styles[i], files[i].id, files[i].src);
}

const struct rg_chat_style *rg_chat_styles(size_t *n)
{
    pthread_once(&once, init);
    *n = N_STYLES;
    return styles;
}

const struct rg_chat_style *rg_chat_style_get(const char *id)
{
    size_t n;
    const struct rg_chat_style *v = rg_chat_styles(&n);
    for (size_t i = 0; id && i < n; i++)
        if (!strcmp(v[i].id, id)) return &v[i];
    return NULL;
}

const char *rg_chat_style_source(const char *id)
{
    for (size_t i = 0; id && i < N_STYLES; i++)
        if (!strcmp(files[i].id, id)) return files[i].src;
    return NULL;
}
