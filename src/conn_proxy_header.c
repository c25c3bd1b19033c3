/* Behind a balancer (proxy-protocol): the PROXY v2 header step of a connection, before
 * admission. Only proxy-from peers may send one; it is read with buffers sized to what it
 * still lacks, so no byte of the ClientHello is taken, and its client address becomes the
 * connection's. The parser is proxy_protocol.c's. Part of the AP connection (conn.c). */
#include <stdlib.h>

#include "radsecgw/common.h"
#include "radsecgw/conn.h"
#include "radsecgw/gen.h"
#include "radsecgw/log.h"
#include "radsecgw/proxy_protocol.h"
#include "radsecgw/stats.h"

#include "conn_internal.h"

static void on_header_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct rg_conn *c = h->data;
    uint8_t *at;
    size_t n;
    (void)suggested;
    /* Exactly what the header still lacks: the bytes after it stay in the socket. */
    rg_pp2_reader_want(c->pp2, &at, &n);
    *buf = uv_buf_init((char *)at, (unsigned)n);
}

static void on_header_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct rg_conn *c = s->data;
    struct rg_conn_set *set = c->set;
    (void)buf;
    if (nread == 0 || c->state != RG_CONN_PROXY_HEADER)
        return;
    if (nread < 0) {
        if (c->pp2->have == 0) {
            /* A bare connect from a balancer: its TCP health check. */
            RG_STAT_INC(set->stats, proxy_checks);
            rg_pp2_note(RG_PP2_HEALTH_CHECK, c->addr_text, NULL);
            rg_conn_close(c, "balancer health check (connect)");
        } else {
            RG_STAT_INC(set->stats, proxy_refused);
            rg_pp2_note(RG_PP2_MALFORMED, c->addr_text, "closed inside the PROXY header");
            rg_conn_close(c, "closed inside the PROXY header");
        }
        return;
    }
    struct rg_pp2_header h;
    const char *why = NULL;
    int rc = rg_pp2_reader_got(c->pp2, (size_t)nread, &h, &why);
    if (rc == 0)
        return;
    uv_read_stop(s);
    if (rc < 0) {
        RG_STAT_INC(set->stats, proxy_refused);
        rg_pp2_note(RG_PP2_MALFORMED, c->addr_text, why);
        rg_conn_close(c, why);
        return;
    }
    if (h.local) {
        RG_STAT_INC(set->stats, proxy_checks);
        rg_pp2_note(RG_PP2_HEALTH_CHECK, c->addr_text, NULL);
        rg_conn_close(c, "balancer health check (PROXY LOCAL)");
        return;
    }
    free(c->pp2);
    c->pp2 = NULL;
    /* From here on the AP's address is the connection's address: allow prefixes, every
     * limit, the registry and each log line see it, not the balancer. */
    snprintf(c->via_text, sizeof(c->via_text), "%s", c->addr_text);
    c->addr = h.src;
    rg_sockaddr_format((const struct sockaddr *)&c->addr, true, c->addr_text, sizeof(c->addr_text));
    uv_timer_stop(&c->timer);
    c->state = RG_CONN_WAITING;
    rg_debug("event=proxy_header conn=%llu src=%s via=%s", (unsigned long long)c->id, c->addr_text,
             c->via_text);
    rg_conn_admit(c);
}

void rg_conn_expect_proxy_header(struct rg_conn *c)
{
    struct rg_conn_set *set = c->set;
    const struct rg_config *cfg = set->gen->cfg;
    if (!rg_pp2_trusted(cfg, (const struct sockaddr *)&c->addr)) {
        /* Only the balancers may connect: anyone else could claim any address. */
        RG_STAT_INC(set->stats, proxy_refused);
        rg_pp2_note(RG_PP2_UNTRUSTED, c->addr_text, NULL);
        rg_conn_close(c, "not a balancer in proxy-from");
        return;
    }
    c->pp2 = malloc(sizeof(*c->pp2));
    if (!c->pp2) {
        rg_conn_close(c, "out of memory");
        return;
    }
    rg_pp2_reader_init(c->pp2);
    c->state = RG_CONN_PROXY_HEADER;
    uv_timer_start(&c->timer, rg_conn_on_timer, (uint64_t)cfg->listen.handshake_timeout_s * 1000u,
                   0);
    if (uv_read_start((uv_stream_t *)&c->tcp, on_header_alloc, on_header_read) < 0)
        rg_conn_close(c, "cannot read the PROXY header");
}
