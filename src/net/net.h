/*
 * Outbound connections: the one module that makes libcurl handles, so one
 * switch decides whether the process may reach the network at all.
 *
 * The offline flag is process-wide (an atomic: read on every check, flipped
 * by --offline at start and by an admin at run time). Offline, every check
 * refuses with a message that says why, and counts the refusal. A handle
 * from rg_net_curl() also checks the flag before each name resolution and
 * each socket it opens, so a redirect, or a transfer already running when the
 * switch flips, cannot get out either.
 *
 * Nothing here prints or exits; the callers report.
 */
#ifndef RG_NET_NET_H
#define RG_NET_NET_H

#include <stdbool.h>
#include <stdint.h>

#include <curl/curl.h>

#include "common/err.h"

/* The first words of every offline refusal, for clients and tests to match. */
#define RG_NET_OFFLINE_MSG "RustyGPT is offline"

/* Sets or clears offline mode for the whole process. Safe from any thread. */
void rg_net_set_offline(bool offline);
/* Whether the process is offline now. Safe from any thread. */
bool rg_net_offline(void);

/*
 * Whether the process may reach the network now, for purpose ("a model
 * pull", "sign-in with GitHub", ...; may be NULL) that the message names.
 * Returns RG_OK, or RG_EPERM when offline: err gets "RustyGPT is offline:
 * <purpose> is not possible ...", and the refusal is counted.
 */
int rg_net_allowed(const char *purpose, char *err);

/*
 * Whether the process may fetch url now, for purpose ("model pull",
 * "GitHub sign-in", ...; may be NULL) that names it in the message.
 * Returns RG_OK; RG_EPERM when offline (err: "RustyGPT is offline: <purpose>
 * is not possible ...", and the refusal is counted); RG_EINVAL for NULL, a
 * URL with control characters or spaces, or a scheme other than http:// or
 * https:// (checked first, whether offline or not).
 */
int rg_net_check_url(const char *url, const char *purpose, char *err);

/*
 * A new libcurl handle with this process's policy: http and https only (on
 * redirects too), no signals, our User-Agent, and the offline guard on name
 * resolution and socket creation (a guarded attempt fails with
 * CURLE_COULDNT_RESOLVE_HOST or CURLE_COULDNT_CONNECT and is counted). It has
 * no URL yet: rg_net_curl_url() checks and sets one; until then it serves for
 * escaping. The caller sets the rest (callbacks, timeouts) and frees it with
 * curl_easy_cleanup(). Returns NULL (RG_ENOMEM in err) if libcurl cannot
 * make one.
 */
CURL *rg_net_curl(char *err);

/* rg_net_check_url(), then sets url on c (a handle from rg_net_curl()).
 * Returns its codes, or RG_ENOMEM; c is unchanged on failure. */
int rg_net_curl_url(CURL *c, const char *url, const char *purpose, char *err);

/* Attempts refused since the process started (checks and guarded sockets). */
uint64_t rg_net_refused(void);
/* The purpose of the last refusal into buf ("" if none yet). Returns buf. */
const char *rg_net_last_refused(char *buf, size_t size);

#endif
