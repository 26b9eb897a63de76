/*
 * A watched folder over inotify (see watch.h): one thread, one inotify
 * descriptor, a table of watch descriptors to directory paths, and a set of
 * paths waiting for the tree to be quiet.
 */
#include "index/watch.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/str.h"

#define MASK                                                                                       \
    (IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_CREATE | IN_DELETE_SELF |       \
     IN_ONLYDIR | IN_DONT_FOLLOW)
#define MAX_DEPTH 64
#define MAX_PENDING 4096 /* more and the whole root is looked at instead */

struct dir {
    int wd;
    char *path;
};

struct rg_watch {
    struct rg_watch_params p;
    char root[PATH_MAX];
    int fd;
    int stop_pipe[2];
    pthread_t thread;
    bool started;
    struct dir *dirs; /* only the thread touches these after start */
    size_t n_dirs, cap_dirs;
    char **pending;
    size_t n_pending, cap_pending;
    double first_ms, last_ms; /* of the pending batch */
};

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

void rg_watch_default_params(struct rg_watch_params *p)
{
    *p = (struct rg_watch_params){.debounce_ms = 1000, .max_watches = 65536};
}

const char *rg_watch_root(const struct rg_watch *w)
{
    return w->root;
}

/* ---- the directory table ---- */

static struct dir *dir_find(struct rg_watch *w, int wd)
{
    for (size_t i = 0; i < w->n_dirs; i++)
        if (w->dirs[i].wd == wd) return &w->dirs[i];
    return NULL;
}

static void dir_drop(struct rg_watch *w, size_t i)
{
    rg_free(w->dirs[i].path);
    w->dirs[i] = w->dirs[--w->n_dirs];
}

/* Records wd for path: inotify gives the same wd again for a directory it
 * watches already (one moved inside the tree), whose path then changes. */
static int dir_set(struct rg_watch *w, int wd, const char *path)
{
    char *copy = rg_strdup(path);
    if (!copy) return RG_ENOMEM;
    struct dir *d = dir_find(w, wd);
    if (d) {
        rg_free(d->path);
        d->path = copy;
        return RG_OK;
    }
    if (w->n_dirs == w->cap_dirs) {
        size_t cap = w->cap_dirs ? w->cap_dirs * 2 : 16;
        struct dir *nd = rg_realloc(w->dirs, cap * sizeof *nd);
        if (!nd) {
            rg_free(copy);
            return RG_ENOMEM;
        }
        w->dirs = nd;
        w->cap_dirs = cap;
    }
    w->dirs[w->n_dirs++] = (struct dir){wd, copy};
    return RG_OK;
}

/* Forgets the watches of path and everything under it (a directory moved
 * out or deleted; one moved within the tree is added again by its
 * IN_MOVED_TO). */
static void dir_forget_tree(struct rg_watch *w, const char *path)
{
    size_t n = strlen(path);
    for (size_t i = 0; i < w->n_dirs;) {
        const char *p = w->dirs[i].path;
        if (!strncmp(p, path, n) && (p[n] == '\0' || p[n] == '/')) {
            inotify_rm_watch(w->fd, w->dirs[i].wd);
            dir_drop(w, i);
        } else {
            i++;
        }
    }
}

/* Watches path and every directory under it (not through symbolic links). */
static int add_tree(struct rg_watch *w, const char *path, int depth, char *err)
{
    if (depth > MAX_DEPTH) return RG_OK;
    if (w->n_dirs >= (size_t)w->p.max_watches)
        return rg_err_set(err, RG_ETOOBIG, "more than %d directories to watch", w->p.max_watches);
    int wd = inotify_add_watch(w->fd, path, MASK);
    if (wd < 0) {
        if (errno == ENOENT || errno == ENOTDIR || errno == EACCES) return RG_OK; /* gone */
        return rg_err_set(err, RG_EIO, "inotify_add_watch %s: %s", path, strerror(errno));
    }
    if (dir_set(w, wd, path)) return rg_err_set(err, RG_ENOMEM, "out of memory");
    DIR *d = opendir(path);
    if (!d) return RG_OK;
    int rc = RG_OK;
    struct dirent *e;
    while (rc == RG_OK && (e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        char sub[PATH_MAX];
        if (snprintf(sub, sizeof sub, "%s/%s", path, e->d_name) >= (int)sizeof sub) continue;
        bool is_dir = e->d_type == DT_DIR;
        if (e->d_type == DT_UNKNOWN) {
            struct stat st;
            is_dir = lstat(sub, &st) == 0 && S_ISDIR(st.st_mode);
        }
        if (is_dir) rc = add_tree(w, sub, depth + 1, err);
    }
    closedir(d);
    return rc;
}

/* ---- the pending batch ---- */

static void pending_add(struct rg_watch *w, const char *path)
{
    double t = now_ms();
    if (!w->n_pending) w->first_ms = t;
    w->last_ms = t;
    for (size_t i = 0; i < w->n_pending; i++) {
        const char *p = w->pending[i];
        size_t n = strlen(p);
        if (!strcmp(p, path)) return;
        if (!strncmp(path, p, n) && path[n] == '/') return; /* under a pending directory */
    }
    if (w->n_pending >= MAX_PENDING) { /* too many: the whole tree instead */
        for (size_t i = 0; i < w->n_pending; i++)
            rg_free(w->pending[i]);
        w->n_pending = 0;
        path = w->root;
    }
    if (w->n_pending == w->cap_pending) {
        size_t cap = w->cap_pending ? w->cap_pending * 2 : 32;
        char **np = rg_realloc(w->pending, cap * sizeof *np);
        if (!np) return; /* the next catch-up scan finds it */
        w->pending = np;
        w->cap_pending = cap;
    }
    char *copy = rg_strdup(path);
    if (copy) w->pending[w->n_pending++] = copy;
}

static void flush(struct rg_watch *w)
{
    if (!w->n_pending) return;
    const char **order = rg_calloc(w->n_pending, sizeof *order);
    size_t k = 0;
    if (order) {
        struct stat st;
        for (int pass = 0; pass < 2; pass++)
            for (size_t i = 0; i < w->n_pending; i++)
                if ((lstat(w->pending[i], &st) == 0) == (pass == 0)) order[k++] = w->pending[i];
        w->p.fn(w->p.user, order, k);
    }
    rg_free(order);
    for (size_t i = 0; i < w->n_pending; i++)
        rg_free(w->pending[i]);
    w->n_pending = 0;
}

/* ---- the thread ---- */

static void on_event(struct rg_watch *w, const struct inotify_event *ev)
{
    if (ev->mask & IN_Q_OVERFLOW) {
        pending_add(w, w->root);
        return;
    }
    struct dir *d = dir_find(w, ev->wd);
    if (ev->mask & IN_IGNORED) {
        if (d) dir_drop(w, (size_t)(d - w->dirs));
        return;
    }
    if (!d) return;
    if (ev->mask & IN_DELETE_SELF) {
        pending_add(w, d->path);
        return;
    }
    if (!ev->len || !ev->name[0]) return;
    char full[PATH_MAX];
    if (snprintf(full, sizeof full, "%s/%s", d->path, ev->name) >= (int)sizeof full) return;
    if (ev->mask & IN_ISDIR) {
        if (ev->mask & (IN_MOVED_FROM | IN_DELETE)) dir_forget_tree(w, full);
        if (ev->mask & (IN_CREATE | IN_MOVED_TO)) {
            char err[RG_ERR_SIZE];
            add_tree(w, full, 1, err); /* a failure: the files are still looked at once */
        }
        pending_add(w, full);
        return;
    }
    if (ev->mask & IN_CREATE) { /* a file being written: wait for its IN_CLOSE_WRITE */
        struct stat st;
        if (lstat(full, &st) != 0 || S_ISREG(st.st_mode)) return;
    }
    pending_add(w, full);
}

static void *run(void *arg)
{
    struct rg_watch *w = arg;
    char buf[64 * 1024] __attribute__((aligned(__alignof__(struct inotify_event))));
    for (;;) {
        int timeout = -1;
        if (w->n_pending) {
            double t = now_ms();
            double due = w->last_ms + w->p.debounce_ms;
            double cap = w->first_ms + 10.0 * w->p.debounce_ms; /* a stream of writes */
            if (cap < due) due = cap;
            timeout = due <= t ? 0 : (int)(due - t) + 1;
        }
        struct pollfd pf[2] = {{w->fd, POLLIN, 0}, {w->stop_pipe[0], POLLIN, 0}};
        int n = poll(pf, 2, timeout);
        if (n < 0 && errno != EINTR) break;
        if (pf[1].revents) break;
        if (n > 0 && (pf[0].revents & POLLIN)) {
            ssize_t len = read(w->fd, buf, sizeof buf);
            for (ssize_t off = 0; len > 0 && off < len;) {
                const struct inotify_event *ev = (const struct inotify_event *)(buf + off);
                on_event(w, ev);
                off += (ssize_t)(sizeof *ev + ev->len);
            }
            continue;
        }
        if (n == 0) flush(w);
    }
    return NULL;
}

struct rg_watch *rg_watch_start(const struct rg_watch_params *p, char *err)
{
    if (!p || !p->root || !p->fn) {
        rg_err_set(err, RG_EINVAL, "a watch needs a root and a callback");
        return NULL;
    }
    struct rg_watch *w = rg_calloc(1, sizeof *w);
    if (!w) {
        rg_err_set(err, RG_ENOMEM, "out of memory");
        return NULL;
    }
    w->p = *p;
    if (w->p.debounce_ms <= 0) w->p.debounce_ms = 1000;
    if (w->p.max_watches <= 0) w->p.max_watches = 65536;
    w->fd = -1;
    w->stop_pipe[0] = w->stop_pipe[1] = -1;
    struct stat st;
    if (!realpath(p->root, w->root) || stat(w->root, &st) != 0 || !S_ISDIR(st.st_mode)) {
        rg_err_set(err, RG_ENOTFOUND, "%s is not a directory", p->root);
        rg_watch_stop(w);
        return NULL;
    }
    w->fd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
    if (w->fd < 0 || pipe2(w->stop_pipe, O_CLOEXEC) != 0) {
        rg_err_set(err, RG_EIO, "inotify: %s", strerror(errno));
        rg_watch_stop(w);
        return NULL;
    }
    if (add_tree(w, w->root, 0, err) != RG_OK) {
        rg_watch_stop(w);
        return NULL;
    }
    if (pthread_create(&w->thread, NULL, run, w) != 0) {
        rg_err_set(err, RG_ENOMEM, "cannot start the watch thread");
        rg_watch_stop(w);
        return NULL;
    }
    w->started = true;
    return w;
}

void rg_watch_stop(struct rg_watch *w)
{
    if (!w) return;
    if (w->started) {
        ssize_t ignored = write(w->stop_pipe[1], "x", 1);
        (void)ignored;
        pthread_join(w->thread, NULL);
    }
    for (int i = 0; i < 2; i++)
        if (w->stop_pipe[i] >= 0) close(w->stop_pipe[i]);
    if (w->fd >= 0) close(w->fd);
    for (size_t i = 0; i < w->n_dirs; i++)
        rg_free(w->dirs[i].path);
    for (size_t i = 0; i < w->n_pending; i++)
        rg_free(w->pending[i]);
    rg_free(w->dirs);
    rg_free(w->pending);
    rg_free(w);
}
