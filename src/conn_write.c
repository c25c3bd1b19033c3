/* The write path back to the AP: replies staged per loop turn, encrypted together in
 * one TLS record and written once (rg_conn_flush_staged, from the worker's check handle), the
 * output bound of a peer that does not read. Part of the AP connection (conn.c). */
#include "radsecgw/common.h"
#include "radsecgw/conn.h"

#include "conn_internal.h"

/* An AP that stops reading its replies is cut off past this much queued ciphertext. */
#define RG_CONN_OUT_LIMIT (1024 * 1024)
/* ...and stops being read long before that, once this much waits unsent: its requests stay
 * in TCP (its own send buffer fills) instead of costing the worker anything. */
#define RG_CONN_WRITE_PAUSE (64 * 1024)

static void on_write(uv_write_t *wr, int status)
{
    struct rg_conn *c = wr->data;
    c->write_busy = false;
    c->writing.len = 0;
    if (c->state == RG_CONN_CLOSED)
        return;
    if (status < 0) {
        rg_conn_close(c, rg_strerror(status));
        return;
    }
    rg_conn_flush(c);
    rg_conn_update_reading(c); /* the peer reads again: so do we */
    rg_conn_want_trim(c);
}

void rg_conn_flush(struct rg_conn *c)
{
    if (c->write_busy || c->tls.out.len == 0 || c->state == RG_CONN_CLOSED)
        return;
    /* Most replies fit in the socket's send buffer: written now, no buffer stays held until
     * a write callback of the next loop turn. */
    uv_buf_t now = uv_buf_init((char *)c->tls.out.data, (unsigned)c->tls.out.len);
    int n = uv_try_write((uv_stream_t *)&c->tcp, &now, 1);
    if (n < 0 && n != UV_EAGAIN) {
        rg_conn_close(c, rg_strerror(n));
        return;
    }
    if (n > 0)
        rg_buf_consume(&c->tls.out, (size_t)n);
    if (c->tls.out.len == 0)
        return;
    /* The rest: hand the whole output buffer to libuv and give the TLS layer the spare one. */
    struct rg_buf t = c->writing;
    c->writing = c->tls.out;
    c->tls.out = t;
    c->tls.out.len = 0;
    uv_buf_t b = uv_buf_init((char *)c->writing.data, (unsigned)c->writing.len);
    c->write_req.data = c;
    int rc = uv_write(&c->write_req, (uv_stream_t *)&c->tcp, &b, 1, on_write);
    if (rc < 0) {
        c->writing.len = 0;
        rg_conn_close(c, rg_strerror(rc));
        return;
    }
    c->write_busy = true;
}

bool rg_conn_send(struct rg_conn *c, const uint8_t *pkt, size_t len)
{
    if (c->state != RG_CONN_OPEN)
        return false;
    if (c->staged.len + c->tls.out.len + c->writing.len + len > RG_CONN_OUT_LIMIT) {
        rg_conn_close(c, "peer does not read its replies (output limit reached)");
        return false;
    }
    if (rg_buf_append(&c->staged, pkt, len) < 0) {
        rg_conn_close(c, "out of memory");
        return false;
    }
    c->last_activity_ms = rg_now_ms();
    if (!c->staged_listed) {
        struct rg_conn_set *set = c->set;
        c->staged_listed = true;
        c->next_staged = set->staged;
        set->staged = c;
        set->hooks.schedule_flush(set->hooks.arg);
    }
    rg_conn_want_trim(c);
    return true;
}

void rg_conn_flush_staged(struct rg_conn_set *set)
{
    struct rg_conn *c;
    while ((c = set->staged) != NULL) {
        set->staged = c->next_staged;
        c->next_staged = NULL;
        c->staged_listed = false;
        if (c->state != RG_CONN_OPEN || c->staged.len == 0)
            continue;
        /* One wolfSSL_write: one record (up to 16 KB of packets), one AEAD pass. */
        int rc = rg_tls_stream_write(&c->tls, c->staged.data, c->staged.len);
        c->staged.len = 0;
        if (rc < 0) {
            rg_conn_close(c, c->tls.err_text[0] ? c->tls.err_text : "TLS write failed");
            continue;
        }
        rg_conn_flush(c);
        rg_conn_update_reading(c); /* stops when the peer does not read what we send */
        rg_conn_want_trim(c);
    }
}

bool rg_conn_write_backlog(const struct rg_conn *c)
{
    return c->staged.len + c->tls.out.len + c->writing.len > RG_CONN_WRITE_PAUSE;
}
