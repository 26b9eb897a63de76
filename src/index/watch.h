/*
 * A watched folder: inotify over a directory tree, debounced. The watcher
 * does not decide what a change means; it says "look at these paths again"
 * and the library (library.c) reconciles each with the index: a path that
 * exists is (re)indexed when its content hash changed, one that is gone is
 * removed, and a file that reappears elsewhere with a known hash is a
 * rename. So a burst of events (an editor's save dance, a copy of many
 * files, a rename: IN_MOVED_FROM + IN_MOVED_TO) becomes one batch once the
 * tree has been quiet for debounce_ms, and no event ordering is trusted.
 *
 * Watched: IN_CLOSE_WRITE, IN_MOVED_TO, IN_MOVED_FROM, IN_DELETE, IN_CREATE
 * (a new directory gets its own watch and is handed over whole, since files
 * may have landed in it before the watch existed), IN_DELETE_SELF and
 * IN_Q_OVERFLOW (events were lost: the whole root is handed over). Symbolic
 * links to directories are never descended into.
 *
 * Threads: one thread per watch runs the callback; rg_watch_stop joins it.
 */
#ifndef RG_INDEX_WATCH_H
#define RG_INDEX_WATCH_H

#include <stddef.h>

#include "common/err.h"

struct rg_watch;

/*
 * One batch: paths (absolute, under the root) to look at again, those that
 * exist first (so a rename's new name is seen before its old one is found
 * missing). Runs on the watch's thread; the strings live for the call only.
 */
typedef void (*rg_watch_fn)(void *user, const char *const *paths, size_t n);

struct rg_watch_params {
    const char *root; /* an existing directory; its real path is watched */
    int debounce_ms;  /* quiet time before a batch, default 1000 */
    int max_watches;  /* directories watched at most, default 65536 */
    rg_watch_fn fn;   /* required */
    void *user;
};
void rg_watch_default_params(struct rg_watch_params *p);

/* Watches the tree (every directory under root gets a watch before this
 * returns) and starts the thread. NULL with err: RG_EINVAL (no root or fn),
 * RG_ENOTFOUND (root is not a directory), RG_EIO (inotify: the reason),
 * RG_ENOMEM. */
struct rg_watch *rg_watch_start(const struct rg_watch_params *p, char *err);
/* Stops the thread (a batch being delivered finishes first) and frees. NULL ok. */
void rg_watch_stop(struct rg_watch *w);
/* The real path watched (what callbacks' paths start with). */
const char *rg_watch_root(const struct rg_watch *w);

#endif
