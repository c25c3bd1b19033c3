/* Listening sockets per worker (SO_REUSEPORT: the kernel spreads connections over the
 * workers); each accepted connection goes to conn.c. Who may connect is admission.c's. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "radsecgw/common.h"
#include "radsecgw/conn.h"
#include "radsecgw/listener.h"
#include "radsecgw/log.h"
#include "radsecgw/stats.h"

/* ---- listening sockets ---- */

/* Accept queue per listening socket: a burst of thousands of connects (a flood, or every AP
 * of a site after an outage) waits in the kernel instead of being dropped with RST/SYN
 * retries; the kernel caps it at net.core.somaxconn (4096 on current kernels). */
#define RG_LISTEN_BACKLOG 4096

static void free_listener(struct rg_listener *l)
{
    if (--l->open_handles == 0)
        free(l);
}

static void on_spare_closed(uv_handle_t *h)
{
    struct rg_listener *l = h->data;
    bool closed = l->closed;
    l->spare_busy = false;
    free_listener(l);
    if (closed)
        return;
    /* libuv kept the next pending connection for us and stopped accepting meanwhile: offer
     * it again, as if it had just arrived. */
    if (l->spare_wanted) {
        l->spare_wanted = false;
        l->tcp.connection_cb((uv_stream_t *)&l->tcp, 0);
    }
}

void rg_listener_drop(uv_stream_t *server)
{
    struct rg_listener *l = server->data;
    if (l->spare_busy) {
        l->spare_wanted = true;
        return;
    }
    uv_tcp_init(server->loop, &l->spare);
    l->spare.data = l;
    int rc = uv_accept(server, (uv_stream_t *)&l->spare);
    rg_log_limited("accept-drop", LOG_ERR,
                   "event=conn_dropped listener=%s reason=\"out of memory\"%s", l->addr_text,
                   rc < 0 ? " accept=failed" : "");
    l->spare_busy = true;
    l->open_handles++;
    uv_close((uv_handle_t *)&l->spare, on_spare_closed);
}

static void on_connection(uv_stream_t *server, int status)
{
    struct rg_listener *l = server->data;
    if (status < 0) {
        /* Counted and logged, rate-limited. (EMFILE does not come here: libuv closes the
         * pending connections with its reserve descriptor; conn.c's fd_limit sees it.) */
        RG_STAT_INC(l->set->stats, accept_failed);
        rg_log_limited("accept", LOG_WARNING, "event=accept_failed listener=%s error=\"%s\"",
                       l->addr_text, rg_strerror(status));
        return;
    }
    if (rg_conn_accept(l->set->conns, server) == -ENOMEM)
        rg_listener_drop(server); /* still taken off the queue, or the listener stalls */
}

/* SO_REUSEPORT lets any socket of the same user bind beside ours, so a second radsecgw
 * would silently take a share of the connections with its own config. Before the first
 * worker binds, a socket without SO_REUSEPORT tries the address: it fails when anything
 * already listens there. SO_REUSEADDR keeps connections in TIME_WAIT from counting. */
static int check_address_free(const struct sockaddr_storage *ss, socklen_t len)
{
    int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (ss->ss_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    int rc = bind(fd, (const struct sockaddr *)ss, len) < 0 ? -errno : 0;
    close(fd);
    return rc;
}

static int open_one(struct rg_listener_set *ls, const char *host, uint16_t port)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    if (strchr(host, ':')) {
        struct sockaddr_in6 *s6 = (void *)&ss;
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons(port);
        if (inet_pton(AF_INET6, host, &s6->sin6_addr) != 1)
            return -EINVAL;
    } else {
        struct sockaddr_in *s4 = (void *)&ss;
        s4->sin_family = AF_INET;
        s4->sin_port = htons(port);
        if (inet_pton(AF_INET, host, &s4->sin_addr) != 1)
            return -EINVAL;
    }
    /* libuv 1.44 has no UV_TCP_REUSEPORT: make the socket ourselves. */
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
    if (ss.ss_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    socklen_t len =
        ss.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
    int taken = ls->index == 0 ? check_address_free(&ss, len) : 0;
    if (taken < 0) {
        close(fd);
        return taken;
    }
    if (bind(fd, (struct sockaddr *)&ss, len) < 0) {
        int err = -errno;
        close(fd);
        return err;
    }
    struct rg_listener *l = calloc(1, sizeof(*l));
    if (!l) {
        close(fd);
        return -ENOMEM;
    }
    l->set = ls;
    l->open_handles = 1;
    rg_sockaddr_format((const struct sockaddr *)&ss, true, l->addr_text, sizeof(l->addr_text));
    uv_tcp_init(ls->loop, &l->tcp);
    l->tcp.data = l;
    int rc = uv_tcp_open(&l->tcp, fd);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&l->tcp, RG_LISTEN_BACKLOG, on_connection);
    struct rg_listener **grown = realloc(ls->listeners, (ls->n + 1) * sizeof(*grown));
    RG_REQUIRE(grown != NULL);
    ls->listeners = grown;
    ls->listeners[ls->n++] = l;
    return rc;
}

int rg_listener_open(struct rg_listener_set *ls, const struct rg_config *cfg)
{
    for (size_t i = 0; i < cfg->listen.naddress; i++) {
        int rc = open_one(ls, cfg->listen.address[i], cfg->listen.port);
        if (rc == UV_EADDRINUSE) {
            rg_err("event=listen_failed address=%s port=%u reason=\"another process already "
                   "listens there (a second radsecgw?); refusing to share the port\"",
                   cfg->listen.address[i], cfg->listen.port);
            return rc;
        }
        if (rc < 0) {
            rg_err("event=listen_failed address=%s port=%u error=\"%s\"", cfg->listen.address[i],
                   cfg->listen.port, rg_strerror(rc));
            return rc;
        }
        if (ls->index == 0)
            rg_info("event=listening address=%s", ls->listeners[ls->n - 1]->addr_text);
    }
    return 0;
}

static void on_listener_closed(uv_handle_t *h)
{
    struct rg_listener *l = h->data;
    l->closed = true;
    free_listener(l);
}

void rg_listener_close_all(struct rg_listener_set *ls)
{
    for (unsigned i = 0; i < ls->n; i++)
        uv_close((uv_handle_t *)&ls->listeners[i]->tcp, on_listener_closed);
    free(ls->listeners);
    ls->listeners = NULL;
    ls->n = 0;
}
