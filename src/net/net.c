/*
 * Outbound connections and the offline switch (see net.h).
 *
 * Two layers, on purpose: rg_net_check_url() refuses before anything is
 * resolved (no DNS query leaves the machine offline), and the callbacks on
 * every handle refuse again at resolve and socket time, which covers
 * redirects to other hosts and a switch flipped mid-transfer.
 */
#include "net/net.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#ifndef RG_VERSION
#define RG_VERSION "dev"
#endif

static atomic_bool g_offline;
static atomic_uint_fast64_t g_refused;

/* the last refused purpose, for GET /admin/network */
static pthread_mutex_t g_last_mu = PTHREAD_MUTEX_INITIALIZER;
static char g_last[64];

void rg_net_set_offline(bool offline)
{
    atomic_store(&g_offline, offline);
}

bool rg_net_offline(void)
{
    return atomic_load(&g_offline);
}

static void count_refusal(const char *purpose)
{
    atomic_fetch_add(&g_refused, 1);
    pthread_mutex_lock(&g_last_mu);
    snprintf(g_last, sizeof g_last, "%s", purpose ? purpose : "a connection");
    pthread_mutex_unlock(&g_last_mu);
}

uint64_t rg_net_refused(void)
{
    return atomic_load(&g_refused);
}

const char *rg_net_last_refused(char *buf, size_t size)
{
    pthread_mutex_lock(&g_last_mu);
    snprintf(buf, size, "%s", g_last);
    pthread_mutex_unlock(&g_last_mu);
    return buf;
}

int rg_net_allowed(const char *purpose, char *err)
{
    if (!rg_net_offline()) return RG_OK;
    count_refusal(purpose);
    return rg_err_set(err, RG_EPERM,
                      RG_NET_OFFLINE_MSG ": %s is not possible without the network (an admin "
                                         "can switch offline mode off)",
                      purpose ? purpose : "this connection");
}

int rg_net_check_url(const char *url, const char *purpose, char *err)
{
    if (!url) return rg_err_set(err, RG_EINVAL, "no URL");
    if (strncasecmp(url, "http://", 7) != 0 && strncasecmp(url, "https://", 8) != 0)
        return rg_err_set(err, RG_EINVAL, "only http:// and https:// URLs can be fetched");
    for (const char *s = url; *s; s++)
        if ((unsigned char)*s <= 0x20 || *s == 0x7f)
            return rg_err_set(err, RG_EINVAL, "the URL has spaces or control characters");
    return rg_net_allowed(purpose, err);
}

/* Before each name resolution: non-zero aborts the transfer. */
static int on_resolve(void *resolver_state, void *reserved, void *userdata)
{
    (void)resolver_state, (void)reserved, (void)userdata;
    if (!rg_net_offline()) return 0;
    count_refusal("a name lookup");
    return 1;
}

/* Each socket libcurl wants: none while offline. */
static curl_socket_t on_socket(void *clientp, curlsocktype purpose, struct curl_sockaddr *a)
{
    (void)clientp, (void)purpose;
    if (rg_net_offline()) {
        count_refusal("a connection");
        return CURL_SOCKET_BAD;
    }
    return socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
}

CURL *rg_net_curl(char *err)
{
    CURL *c = curl_easy_init();
    if (!c) {
        rg_err_set(err, RG_ENOMEM, "cannot make a libcurl handle");
        return NULL;
    }
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "rustygpt/" RG_VERSION);
    curl_easy_setopt(c, CURLOPT_RESOLVER_START_FUNCTION, on_resolve);
    curl_easy_setopt(c, CURLOPT_OPENSOCKETFUNCTION, on_socket);
    return c;
}

int rg_net_curl_url(CURL *c, const char *url, const char *purpose, char *err)
{
    int rc = rg_net_check_url(url, purpose, err);
    if (rc) return rc;
    if (curl_easy_setopt(c, CURLOPT_URL, url) != CURLE_OK)
        return rg_err_set(err, RG_ENOMEM, "cannot set the URL");
    return RG_OK;
}
