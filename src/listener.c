/* Listening sockets per worker (SO_REUSEPORT: the kernel spreads connections over the
 * workers) and the admission counters every worker consults on connect. */
#include <arpa/inet.h>
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
#include "radsecgw/worker.h"

/* ---- admission: one mutex, taken on connect and disconnect only ---- */

#define RG_IP_BUCKETS 4096

struct ip_count {
    uint8_t addr[16]; /* IPv4 as v4-mapped IPv6 */
    unsigned count;
    struct ip_count *next;
};

static pthread_mutex_t admit_lock = PTHREAD_MUTEX_INITIALIZER;
static struct ip_count *ip_table[RG_IP_BUCKETS]; /* malloced entries, freed at count 0 */
static unsigned total_conns;

static void addr_key(const struct sockaddr *sa, uint8_t key[16])
{
    memset(key, 0, 16);
    if (sa->sa_family == AF_INET) {
        key[10] = key[11] = 0xff;
        memcpy(key + 12, &((const struct sockaddr_in *)sa)->sin_addr, 4);
    } else {
        memcpy(key, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
    }
}

static unsigned bucket(const uint8_t key[16])
{
    uint32_t h = 2166136261u;
    for (int i = 0; i < 16; i++)
        h = (h ^ key[i]) * 16777619u;
    return h % RG_IP_BUCKETS;
}

const char *rg_listener_admit(const struct rg_config *cfg, const struct sockaddr *addr)
{
    if (!rg_tls_addr_allowed(cfg, addr))
        return "source address not in any org's allow prefixes";
    uint8_t key[16];
    addr_key(addr, key);
    unsigned b = bucket(key);
    const char *why = NULL;
    pthread_mutex_lock(&admit_lock);
    struct ip_count *e = ip_table[b];
    while (e && memcmp(e->addr, key, 16) != 0)
        e = e->next;
    if (total_conns >= cfg->listen.max_connections)
        why = "too many connections (max-connections)";
    else if (e && e->count >= cfg->listen.max_connections_per_ip)
        why = "too many connections from this address (max-connections-per-ip)";
    else if (!e && !(e = calloc(1, sizeof(*e))))
        why = "out of memory";
    else {
        if (e->count == 0) {
            memcpy(e->addr, key, 16);
            e->next = ip_table[b];
            ip_table[b] = e;
        }
        e->count++;
        total_conns++;
    }
    pthread_mutex_unlock(&admit_lock);
    return why;
}

void rg_listener_release(const struct sockaddr *addr)
{
    uint8_t key[16];
    addr_key(addr, key);
    unsigned b = bucket(key);
    pthread_mutex_lock(&admit_lock);
    for (struct ip_count **p = &ip_table[b]; *p; p = &(*p)->next) {
        if (memcmp((*p)->addr, key, 16) != 0)
            continue;
        struct ip_count *e = *p;
        if (--e->count == 0) {
            *p = e->next;
            free(e);
        }
        total_conns--;
        break;
    }
    pthread_mutex_unlock(&admit_lock);
}

unsigned rg_listener_total(void)
{
    pthread_mutex_lock(&admit_lock);
    unsigned n = total_conns;
    pthread_mutex_unlock(&admit_lock);
    return n;
}

/* ---- listening sockets ---- */

static void on_connection(uv_stream_t *server, int status)
{
    struct rg_listener *l = server->data;
    if (status < 0) {
        rg_log_limited("accept", LOG_WARNING, "listener %s: accept failed: %s", l->addr_text,
                       rg_strerror(status));
        return;
    }
    rg_conn_accept(l->worker, server);
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

static int open_one(struct rg_worker *w, const char *host, uint16_t port)
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
    int taken = w->index == 0 ? check_address_free(&ss, len) : 0;
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
    l->worker = w;
    snprintf(l->addr_text, sizeof(l->addr_text), strchr(host, ':') ? "[%s]:%u" : "%s:%u", host,
             port);
    uv_tcp_init(&w->loop, &l->tcp);
    l->tcp.data = l;
    int rc = uv_tcp_open(&l->tcp, fd);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&l->tcp, 1024, on_connection);
    struct rg_listener **ls = realloc(w->listeners, (w->nlisteners + 1) * sizeof(*ls));
    RG_REQUIRE(ls != NULL);
    w->listeners = ls;
    w->listeners[w->nlisteners++] = l;
    return rc;
}

int rg_listener_open(struct rg_worker *w, const struct rg_config *cfg)
{
    for (size_t i = 0; i < cfg->listen.naddress; i++) {
        int rc = open_one(w, cfg->listen.address[i], cfg->listen.port);
        if (rc == UV_EADDRINUSE) {
            rg_err("listen %s port %u: another process already listens there (a second "
                   "radsecgw?); refusing to share the port",
                   cfg->listen.address[i], cfg->listen.port);
            return rc;
        }
        if (rc < 0) {
            rg_err("listen %s port %u: %s", cfg->listen.address[i], cfg->listen.port,
                   rg_strerror(rc));
            return rc;
        }
        if (w->index == 0)
            rg_info("listening on %s", w->listeners[w->nlisteners - 1]->addr_text);
    }
    return 0;
}

static void on_listener_closed(uv_handle_t *h)
{
    free(h->data);
}

void rg_listener_close_all(struct rg_worker *w)
{
    for (unsigned i = 0; i < w->nlisteners; i++)
        uv_close((uv_handle_t *)&w->listeners[i]->tcp, on_listener_closed);
    free(w->listeners);
    w->listeners = NULL;
    w->nlisteners = 0;
}
