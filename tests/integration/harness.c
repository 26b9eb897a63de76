/* Integration test harness (see harness.h). */
#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

extern char **environ;

static const char *bin(void)
{
    const char *b = getenv("RG_BIN");
    return b && *b ? b : "build/rustygpt";
}

/* Servers started and not yet reaped: a test that fails half-way (a cmocka
 * assertion jumps out of it) leaves its server running, so whatever is still
 * here when the test binary exits is killed then. */
static pid_t live[64];

static void live_set(pid_t old, pid_t now)
{
    for (size_t i = 0; i < sizeof live / sizeof *live; i++)
        if (live[i] == old) {
            live[i] = now;
            return;
        }
}

static void kill_live(void)
{
    for (size_t i = 0; i < sizeof live / sizeof *live; i++)
        if (live[i] > 0) {
            kill(live[i], SIGKILL);
            waitpid(live[i], NULL, 0);
            live[i] = 0;
        }
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    size_t got;
    while (buf && (got = fread(buf + n, 1, cap - n - 1, f)) > 0) {
        n += got;
        if (cap - n < 2) {
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
    }
    fclose(f);
    if (buf) buf[n] = '\0';
    if (len) *len = n;
    return buf;
}

/* Builds envp: the current environment plus extras (extras win). */
static char **make_env(const char *const *extra)
{
    size_t n = 0, m = 0;
    while (environ[n])
        n++;
    while (extra && extra[m])
        m++;
    char **env = calloc(n + m + 1, sizeof *env);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        bool overridden = false;
        const char *eq = strchr(environ[i], '=');
        size_t kl = eq ? (size_t)(eq - environ[i]) : strlen(environ[i]);
        for (size_t j = 0; j < m; j++)
            if (!strncmp(extra[j], environ[i], kl) && extra[j][kl] == '=') overridden = true;
        if (!overridden) env[k++] = environ[i];
    }
    for (size_t j = 0; j < m; j++)
        env[k++] = (char *)extra[j];
    env[k] = NULL;
    return env;
}

int rg_server_start(struct rg_server *s, const char *const *args, const char *const *env)
{
    memset(s, 0, sizeof *s);
    snprintf(s->dir, sizeof s->dir, "/tmp/rg-it-XXXXXX");
    if (!mkdtemp(s->dir)) return -1;
    snprintf(s->log_path, sizeof s->log_path, "%s/server.log", s->dir);
    char data[300], models[300];
    snprintf(data, sizeof data, "%s/data", s->dir);
    snprintf(models, sizeof models, "%s/models", s->dir);
    const char *argv[64] = {bin(),        "serve", "--port",       "0",
                            "--data-dir", data,    "--models-dir", models};
    size_t n = 8;
    for (size_t i = 0; args && args[i] && n < 62; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    char **envp = make_env(env);
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(s->log_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int nul = open("/dev/null", O_RDWR);
        if (fd < 0 || nul < 0) _exit(127);
        dup2(nul, 0);
        dup2(nul, 1);
        dup2(fd, 2);
        execve(argv[0], (char *const *)argv, envp);
        _exit(127);
    }
    free(envp);
    if (pid < 0) return -1;
    s->pid = pid;
    static bool registered;
    if (!registered) registered = atexit(kill_live) == 0;
    live_set(0, pid);
    for (int i = 0; i < 500; i++) {
        char *log = slurp(s->log_path, NULL);
        const char *p = log ? strstr(log, "listening on http://") : NULL;
        const char *eol = p ? strchr(p, '\n') : NULL;
        if (p && eol) { /* the port ends the "listening on" line */
            const char *colon = eol;
            while (colon > p && *colon != ':')
                colon--;
            s->port = *colon == ':' ? atoi(colon + 1) : 0;
            free(log);
            return s->port > 0 ? 0 : -1;
        }
        free(log);
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) {
            s->pid = 0;
            char *l = slurp(s->log_path, NULL);
            fprintf(stderr, "server exited before ready:\n%s\n", l ? l : "");
            free(l);
            return -1;
        }
        sleep_ms(20);
    }
    fprintf(stderr, "server not ready after 10 s\n");
    return -1;
}

void rg_server_signal(struct rg_server *s, int sig)
{
    if (s->pid > 0) kill(s->pid, sig);
}

int rg_server_wait(struct rg_server *s, int timeout_s)
{
    if (s->pid <= 0) return -1;
    for (int i = 0; i < timeout_s * 50; i++) {
        int st;
        pid_t r = waitpid(s->pid, &st, WNOHANG);
        if (r == s->pid) {
            live_set(s->pid, 0);
            s->pid = 0;
            return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
        }
        sleep_ms(20);
    }
    kill(s->pid, SIGKILL);
    waitpid(s->pid, NULL, 0);
    live_set(s->pid, 0);
    s->pid = 0;
    return -1;
}

char *rg_server_log(const struct rg_server *s)
{
    return slurp(s->log_path, NULL);
}

static void rm_rf(const char *dir)
{
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
}

int rg_server_stop(struct rg_server *s)
{
    int rc = -1;
    if (s->pid > 0) {
        kill(s->pid, SIGTERM);
        rc = rg_server_wait(s, 20);
    }
    if (rc != 0) {
        char *log = rg_server_log(s);
        fprintf(stderr, "server log:\n%s\n", log ? log : "");
        free(log);
    }
    if (s->dir[0]) rm_rf(s->dir);
    s->dir[0] = '\0';
    return rc;
}

int rg_run_cli(const char *const *args, const char *const *env, const char *stdin_data,
               int timeout_s, struct rg_run *r)
{
    memset(r, 0, sizeof *r);
    char dir[] = "/tmp/rg-cli-XXXXXX";
    if (!mkdtemp(dir)) return -1;
    char in_path[64], out_path[64], err_path[64];
    snprintf(in_path, sizeof in_path, "%s/in", dir);
    snprintf(out_path, sizeof out_path, "%s/out", dir);
    snprintf(err_path, sizeof err_path, "%s/err", dir);
    FILE *f = fopen(in_path, "wb");
    if (!f) return -1;
    if (stdin_data) fputs(stdin_data, f);
    fclose(f);
    const char *argv[64] = {bin()};
    size_t n = 1;
    for (size_t i = 0; args && args[i] && n < 63; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    char **envp = make_env(env);
    pid_t pid = fork();
    if (pid == 0) {
        int in = open(in_path, O_RDONLY), out = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600),
            err = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (in < 0 || out < 0 || err < 0) _exit(127);
        dup2(in, 0);
        dup2(out, 1);
        dup2(err, 2);
        execve(argv[0], (char *const *)argv, envp);
        _exit(127);
    }
    free(envp);
    if (pid < 0) return -1;
    int st = 0;
    bool done = false;
    for (int i = 0; i < timeout_s * 100; i++) {
        if (waitpid(pid, &st, WNOHANG) == pid) {
            done = true;
            break;
        }
        sleep_ms(10);
    }
    if (!done) {
        kill(pid, SIGKILL);
        waitpid(pid, &st, 0);
    }
    r->status = done && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    r->out = slurp(out_path, &r->out_len);
    r->err = slurp(err_path, &r->err_len);
    unlink(in_path);
    unlink(out_path);
    unlink(err_path);
    rmdir(dir);
    return 0;
}

void rg_run_free(struct rg_run *r)
{
    free(r->out);
    free(r->err);
    memset(r, 0, sizeof *r);
}

struct sink {
    char *p;
    size_t n;
};

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *ud)
{
    struct sink *s = ud;
    size_t add = size * nmemb;
    char *np = realloc(s->p, s->n + add + 1);
    if (!np) return 0;
    memcpy(np + s->n, ptr, add);
    s->n += add;
    np[s->n] = '\0';
    s->p = np;
    return add;
}

int rg_http(const struct rg_server *s, const char *method, const char *path,
            const char *const *headers, const char *body, size_t body_len, struct rg_resp *out)
{
    memset(out, 0, sizeof *out);
    CURL *c = curl_easy_init();
    if (!c) return -1;
    char url[512];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", s->port, path);
    struct sink b = {0}, h = {0};
    struct curl_slist *hl = NULL;
    for (size_t i = 0; headers && headers[i]; i++)
        hl = curl_slist_append(hl, headers[i]);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (!strcmp(method, "HEAD")) curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &h);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
    CURLcode rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
    curl_slist_free_all(hl);
    curl_easy_cleanup(c);
    out->body = b.p ? b.p : calloc(1, 1);
    out->len = b.n;
    out->headers = h.p ? h.p : calloc(1, 1);
    if (rc != CURLE_OK) {
        fprintf(stderr, "curl %s %s: %s\n", method, path, curl_easy_strerror(rc));
        return -1;
    }
    return 0;
}

void rg_resp_free(struct rg_resp *r)
{
    free(r->body);
    free(r->headers);
    memset(r, 0, sizeof *r);
}

const char *rg_resp_header(const struct rg_resp *r, const char *name, char *buf, size_t size)
{
    size_t nl = strlen(name);
    for (const char *line = r->headers; line && *line;) {
        const char *end = strstr(line, "\r\n");
        size_t ll = end ? (size_t)(end - line) : strlen(line);
        if (ll > nl && line[nl] == ':' && !strncasecmp(line, name, nl)) {
            const char *v = line + nl + 1;
            while (*v == ' ')
                v++;
            size_t vl = (size_t)(line + ll - v);
            if (vl >= size) vl = size - 1;
            memcpy(buf, v, vl);
            buf[vl] = '\0';
            return buf;
        }
        line = end ? end + 2 : NULL;
    }
    return NULL;
}

int rg_tcp_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

int rg_tcp_send(int fd, const char *data, size_t len)
{
    while (len) {
        ssize_t w = send(fd, data, len, MSG_NOSIGNAL);
        if (w <= 0) return -1;
        data += w;
        len -= (size_t)w;
    }
    return 0;
}

int rg_server_add_model(const struct rg_server *s, const char *id, const char *path)
{
    char link[600];
    int n = snprintf(link, sizeof link, "%s/models/%s.gguf", s->dir, id);
    if (n < 0 || (size_t)n >= sizeof link) return -1;
    return symlink(path, link) == 0 ? 0 : -1;
}

size_t rg_count(const char *hay, const char *needle)
{
    size_t n = 0, nl = strlen(needle);
    for (const char *p = hay; (p = strstr(p, needle)) != NULL; p += nl)
        n++;
    return n;
}

char *rg_tcp_read_until(int fd, const char *until, int count, int timeout_ms, size_t *len)
{
    size_t cap = 8192, n = 0;
    char *buf = malloc(cap);
    buf[0] = '\0';
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        if (until && rg_count(buf, until) >= (size_t)count) break;
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        long el = (now.tv_sec - t0.tv_sec) * 1000 + (now.tv_nsec - t0.tv_nsec) / 1000000;
        if (el >= timeout_ms) break;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, (int)(timeout_ms - el)) <= 0) break;
        if (cap - n < 4096) {
            cap *= 2;
            buf = realloc(buf, cap);
        }
        ssize_t r = recv(fd, buf + n, cap - n - 1, 0);
        if (r <= 0) break;
        n += (size_t)r;
        buf[n] = '\0';
    }
    if (len) *len = n;
    return buf;
}
