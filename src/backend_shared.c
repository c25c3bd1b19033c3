/* Process-wide state per RADIUS server: one entry per (pool, server name, address, secret),
 * shared by every worker's backend set through a reference-counted table locked only when a
 * set is built or freed; the request path reads it with one atomic load. A reload that keeps
 * the server keeps what was learnt. No sockets here (backend.c). */
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "radsecgw/backend_shared.h"
#include "radsecgw/common.h"

static pthread_mutex_t shared_lock = PTHREAD_MUTEX_INITIALIZER;
static struct rg_backend_shared *shared_list; /* guarded by shared_lock; entries owned */

bool rg_backend_signs(const struct rg_backend_shared *sh)
{
    return __atomic_load_n(&sh->signs, __ATOMIC_RELAXED);
}

bool rg_backend_learn_signs(struct rg_backend_shared *sh)
{
    if (__atomic_load_n(&sh->signs, __ATOMIC_RELAXED))
        return false;
    return !__atomic_exchange_n(&sh->signs, true, __ATOMIC_RELAXED);
}

bool rg_backend_warn_due(struct rg_backend_shared *sh, enum rg_backend_warning kind,
                         uint64_t now_ms, uint64_t interval_ms)
{
    uint64_t last = __atomic_load_n(&sh->warned_ms[kind], __ATOMIC_RELAXED);
    if (last && now_ms - last < interval_ms)
        return false;
    /* Two workers at the same moment: only the one whose exchange succeeds logs. */
    return __atomic_compare_exchange_n(&sh->warned_ms[kind], &last, now_ms ? now_ms : 1, false,
                                       __ATOMIC_RELAXED, __ATOMIC_RELAXED);
}

/* pool NUL name NUL address octets secret: a changed secret or address is another server as
 * far as what it signs is concerned. */
static size_t shared_key(const struct rg_pool *pool, const struct rg_server *srv, char *buf,
                         size_t cap)
{
    size_t pl = strlen(pool->name) + 1, nl = strlen(srv->name) + 1;
    size_t al = sizeof(srv->auth_addr), len = pl + nl + al + srv->secret_len;
    if (len > cap)
        return len;
    struct sockaddr_storage a;
    memset(&a, 0, sizeof(a));
    a.ss_family = srv->auth_addr.ss_family;
    if (a.ss_family == AF_INET) {
        const struct sockaddr_in *s4 = (const void *)&srv->auth_addr;
        struct sockaddr_in *d4 = (void *)&a;
        d4->sin_port = s4->sin_port;
        d4->sin_addr = s4->sin_addr;
    } else if (a.ss_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const void *)&srv->auth_addr;
        struct sockaddr_in6 *d6 = (void *)&a;
        d6->sin6_port = s6->sin6_port;
        d6->sin6_addr = s6->sin6_addr;
        d6->sin6_scope_id = s6->sin6_scope_id;
    }
    memcpy(buf, pool->name, pl);
    memcpy(buf + pl, srv->name, nl);
    memcpy(buf + pl + nl, &a, al);
    memcpy(buf + pl + nl + al, srv->secret, srv->secret_len);
    return len;
}

struct rg_backend_shared *rg_backend_shared_get(const struct rg_pool *pool,
                                                const struct rg_server *srv)
{
    size_t len = shared_key(pool, srv, NULL, 0);
    char *key = malloc(len);
    RG_REQUIRE(key != NULL);
    shared_key(pool, srv, key, len);
    pthread_mutex_lock(&shared_lock);
    struct rg_backend_shared *sh = shared_list;
    while (sh && (sh->key_len != len || memcmp(sh->key, key, len) != 0))
        sh = sh->next;
    if (sh) {
        free(key);
    } else {
        sh = calloc(1, sizeof(*sh));
        RG_REQUIRE(sh != NULL);
        sh->key = key;
        sh->key_len = len;
        sh->next = shared_list;
        shared_list = sh;
    }
    sh->refs++;
    pthread_mutex_unlock(&shared_lock);
    return sh;
}

void rg_backend_shared_put(struct rg_backend_shared *sh)
{
    if (!sh)
        return;
    pthread_mutex_lock(&shared_lock);
    RG_REQUIRE(sh->refs > 0);
    if (--sh->refs == 0) {
        for (struct rg_backend_shared **p = &shared_list; *p; p = &(*p)->next)
            if (*p == sh) {
                *p = sh->next;
                break;
            }
        free(sh->key);
        free(sh);
    }
    pthread_mutex_unlock(&shared_lock);
}
