/* AP connections: accept, the connection's states and close, TLS stream driving, RADIUS
 * framing on the decrypted bytes (RFC 6613 §2.6.4), reading and backpressure. Requests are
 * handed to the state table (proxy.c); nothing here knows about backends. The other parts
 * of a connection: conn_timer.c, conn_write.c, conn_fairness.c, conn_idle.c,
 * conn_proxy_header.c, conn_admit.c (admission of a known source: a handshake slot or the
 * waiting queue); who may connect is admission.c's. */
#include <arpa/inet.h>
#include <sys/resource.h>
#include <stdlib.h>
#include <string.h>

#include "radsecgw/admission.h"
#include "radsecgw/coa.h"
#include "radsecgw/common.h"
#include "radsecgw/conn.h"
#include "radsecgw/gen.h"
#include "radsecgw/log.h"
#include "radsecgw/proxy.h"
#include "radsecgw/radius.h"
#include "radsecgw/radius11.h"

#include "conn_internal.h"

/* Connection numbers for log lines (conn=N) and metrics: unique across workers. */
static uint64_t conn_ids;

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);

static void release_slot(struct rg_conn *c)
{
    if (!c->holds_slot)
        return;
    c->holds_slot = false;
    RG_STAT_DEC(c->set->stats, conn_handshaking);
    rg_admission_handshake_release((const struct sockaddr *)&c->addr);
    if (c->set->waiting.n)
        rg_conn_schedule_admit(c->set);
}

/* ---- the connection as the state table's origin of requests ---- */

static bool origin_send(void *arg, const uint8_t *pkt, size_t len)
{
    return rg_conn_send(arg, pkt, len);
}

static void origin_verified(void *arg, const uint8_t *pkt)
{
    struct rg_conn *c = arg;
    rg_coa_learn(c->coa, pkt); /* reverse CoA: the NAS identities it claims */
}

static void origin_drained(void *arg)
{
    rg_conn_abandon_drained(arg);
}

static const struct rg_origin_ops conn_origin_ops = {
    .send = origin_send,
    .verified = origin_verified,
    .drained = origin_drained,
};

/* The connection's snapshot, org and protocol as its requests see them: at open, and on
 * adopting a reload's generation before the old one is released (the secret's bytes live
 * in the snapshot). */
static void describe_origin(struct rg_conn *c)
{
    rg_origin_describe(&c->origin, c->gen->cfg, c->peer.org, RG_SECRET_OF(c->peer.org), c->proto);
}

static void on_handle_closed(uv_handle_t *h)
{
    struct rg_conn *c = h->data;
    if (--c->open_handles > 0)
        return;
    if (c->tls.ssl)
        RG_STAT_DEC(c->set->stats, tls_sessions);
    rg_tls_stream_free(&c->tls);
    rg_buf_free(&c->writing);
    rg_buf_free(&c->staged);
    free(c->pp2);
    rg_gen_unref(c->gen);
    free(c);
}

static void unlink_conn(struct rg_conn *c)
{
    struct rg_conn_set *set = c->set;
    if (c->prev)
        c->prev->next = c->next;
    else if (set->head == c)
        set->head = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->prev = c->next = NULL;
    set->count--;
    if (c->paused) {
        struct rg_conn *prev = NULL;
        for (struct rg_conn **p = &set->paused; *p; prev = *p, p = &(*p)->next_paused)
            if (*p == c) {
                *p = c->next_paused;
                if (set->paused_tail == c)
                    set->paused_tail = prev;
                break;
            }
        c->paused = false;
    }
}

void rg_conn_close(struct rg_conn *c, const char *why)
{
    if (c->state == RG_CONN_CLOSED)
        return;
    struct rg_conn_set *set = c->set;
    if (c->state == RG_CONN_OPEN) {
        rg_metrics_conn(set->metrics, c->peer.org ? c->peer.org->name : "-", -1);
        rg_notice("event=conn_close " RG_CONN_LOG_FMT
                  " org=%s reason=\"%s\" inflight=%u unsent=%zu",
                  RG_CONN_LOG_ARGS(c), c->peer.org ? c->peer.org->name : "-", why,
                  rg_origin_inflight(&c->origin), c->staged.len + c->tls.out.len + c->writing.len);
        RG_STAT_INC(set->stats, conn_closed);
        RG_STAT_DEC(set->stats, conn_open);
        if (c->proto == RG_PROTO_RADIUS_11)
            RG_STAT_DEC(set->stats, conn_radius11);
        /* Replies of this loop turn go before close_notify (best effort, like it); the
         * handle is closed right after. A connection left in the worker's staged list is
         * skipped there: its memory lasts until the close callbacks, after the check phase. */
        if (c->staged.len)
            rg_tls_stream_write(&c->tls, c->staged.data, c->staged.len);
        c->staged.len = 0;
        rg_tls_stream_shutdown(&c->tls);
        if (!c->write_busy && c->tls.out.len) {
            uv_buf_t b = uv_buf_init((char *)c->tls.out.data, (unsigned)c->tls.out.len);
            uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
        }
    } else {
        rg_debug("event=conn_close conn=%llu src=%s state=%s reason=\"%s\"",
                 (unsigned long long)c->id, c->addr_text,
                 c->state == RG_CONN_PROXY_HEADER ? "proxy_header"
                 : c->state == RG_CONN_WAITING    ? "waiting"
                                                  : "handshake",
                 why);
    }
    rg_proxy_origin_closed(set->proxy, &c->origin);
    rg_coa_conn_closed(c->coa);
    c->coa = NULL;
    c->state = RG_CONN_CLOSED;
    rg_conn_more_remove(c);
    set->closes_unreturned++;
    rg_conn_trim_unlink(c);
    unlink_conn(c);
    rg_conn_list_remove(c);
    release_slot(c);
    if (c->counted)
        rg_admission_release((const struct sockaddr *)&c->addr, c->established);
    c->counted = c->established = false;
    uv_close((uv_handle_t *)&c->tcp, on_handle_closed);
    uv_close((uv_handle_t *)&c->timer, on_handle_closed);
}

void rg_conn_refuse(struct rg_conn *c, const char *reason)
{
    struct rg_conn_set *set = c->set;
    RG_STAT_INC(set->stats, conn_refused);
    rg_metrics_refused(set->metrics, reason);
    /* A line per peer once a certificate was seen (rate-limited per reason); before that,
     * one per reason and interval with the count (rg_admission_report_refusals). */
    if (rg_admission_refusal(reason, c->addr_text, c->peer.subject[0] != '\0'))
        rg_warn("event=tls_refused conn=%llu src=%s reason=\"%s\"%s%s%s%s%s%s%s%s%s",
                (unsigned long long)c->id, c->addr_text, reason, c->peer.org ? " org=" : "",
                c->peer.org ? c->peer.org->name : "", c->peer.subject[0] ? " subject=\"" : "",
                RG_LOG_ESC(c->peer.subject), c->peer.subject[0] ? "\"" : "",
                c->peer.issuer[0] ? " issuer=\"" : "", RG_LOG_ESC(c->peer.issuer),
                c->peer.issuer[0] ? "\"" : "",
                c->tls.ssl && wolfSSL_session_reused(c->tls.ssl) ? " resumed=yes" : "");
    if (c->tls.ssl)
        rg_tls_session_forget(c->tls.ssl);
    rg_conn_flush(c); /* the alert, if wolfSSL produced one */
    if (!c->write_busy && c->tls.out.len) {
        uv_buf_t b = uv_buf_init((char *)c->tls.out.data, (unsigned)c->tls.out.len);
        uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
    }
    rg_conn_close(c, reason);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct rg_conn *c = h->data;
    (void)suggested;
    /* The worker's buffer: on_read copies it into the TLS input before the next read. */
    *buf = uv_buf_init((char *)c->set->tcp_buf, sizeof(c->set->tcp_buf));
}

/* Is what the peer sent held back: the table is full (paused), the second's requests are
 * used (rate), too many abandoned or its share of a congested server held (abandon), or
 * its replies wait unread (backlog)? Then nothing more is framed or read. */
static bool input_held(const struct rg_conn *c)
{
    return c->paused || c->rate_blocked || c->abandon_blocked || c->backlog_blocked;
}

/* Its replies wait unsent past the bound: nothing more is framed or read until they drain
 * (rg_conn_update_reading lets it go on). Counted once each time (unread_paused). */
static void block_backlog(struct rg_conn *c)
{
    if (c->backlog_blocked)
        return;
    c->backlog_blocked = true;
    RG_STAT_INC(c->set->stats, unread_paused);
}

/* Read from the socket exactly when nothing says not to: backpressure from a full backend
 * table, a used share of the loop turn, max-requests-per-second, or replies the peer does
 * not read. */
void rg_conn_update_reading(struct rg_conn *c)
{
    if (c->state != RG_CONN_HANDSHAKE && c->state != RG_CONN_OPEN)
        return;
    if (c->backlog_blocked && !rg_conn_write_backlog(c)) {
        /* The peer read its replies: what it sent meanwhile is framed again, from the loop. */
        c->backlog_blocked = false;
        rg_conn_more_push(c);
    }
    bool want = !input_held(c) && !c->more_queued && !rg_conn_write_backlog(c);
    if (want == c->reading)
        return;
    if (!want) {
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->reading = false;
        if (rg_conn_write_backlog(c))
            block_backlog(c);
        return;
    }
    if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) < 0)
        return;
    c->reading = true;
    /* The peer could not send while we did not read: what it had begun gets a whole
     * packet-timeout again. */
    uint64_t now = rg_now_ms(), pt = (uint64_t)c->gen->cfg->listen.packet_timeout_s * 1000u;
    if (c->rec_since_ms) {
        c->rec_since_ms = now;
        rg_conn_arm_sooner(c, now + pt);
    }
    if (c->pkt_since_ms) {
        c->pkt_since_ms = now;
        rg_conn_arm_sooner(c, now + pt);
    }
}

/* The first byte arrived: only now the WOLFSSL and its buffers exist, so a connection that
 * never sends (a port scan, a half-open flood) costs no TLS state. */
static int tls_begin(struct rg_conn *c)
{
    struct rg_conn_set *set = c->set;
    if (c->gen != set->gen) { /* a reload since the accept: the generation in force */
        rg_gen_unref(c->gen);
        c->gen = rg_gen_ref(set->gen);
    }
    WOLFSSL *ssl = rg_tls_ssl_new(c->gen->tls);
    if (!ssl || rg_tls_stream_init(&c->tls, ssl) < 0) {
        rg_err("event=tls_setup_failed conn=%llu src=%s", (unsigned long long)c->id, c->addr_text);
        rg_conn_close(c, "TLS setup failed");
        return -ENOMEM;
    }
    RG_STAT_INC(set->stats, tls_sessions);
    c->tls.plain_limit = RG_CONN_PLAIN_LIMIT;
    c->tls.in.pool = c->tls.out.pool = c->tls.plain.pool = &set->buf_pool;
    return 0;
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct rg_conn *c = s->data;
    if (nread == 0)
        return;
    if (nread < 0) {
        if (c->state == RG_CONN_HANDSHAKE) {
            rg_conn_refuse(c, nread == UV_EOF ? "closed by peer during the TLS handshake"
                                              : rg_strerror((int)nread));
            return;
        }
        rg_conn_close(c, nread == UV_EOF ? "closed by peer" : rg_strerror((int)nread));
        return;
    }
    if (!c->heard) {
        c->heard = true;
        if (c->list == RG_CONN_LIST_SILENT)
            rg_conn_list_remove(c);
    }
    if (!c->tls.ssl && tls_begin(c) < 0)
        return;
    rg_conn_track_records(c, (const uint8_t *)buf->base, (size_t)nread);
    if (rg_tls_stream_feed(&c->tls, (const uint8_t *)buf->base, (size_t)nread) < 0) {
        rg_conn_close(c, "out of memory");
        return;
    }
    rg_conn_process(c);
}

static void pause_reading(struct rg_conn *c)
{
    struct rg_conn_set *set = c->set;
    if (c->paused)
        return;
    c->paused = true;
    rg_conn_update_reading(c);
    /* FIFO: the connection that waited longest gets the next free slot. */
    c->next_paused = NULL;
    if (set->paused_tail)
        set->paused_tail->next_paused = c;
    else
        set->paused = c;
    set->paused_tail = c;
    RG_STAT_INC(set->stats, backpressure);
    rg_log_limited("backpressure", LOG_NOTICE,
                   "event=conn_paused conn=%llu src=%s reason=\"backend table full\" "
                   "until=\"replies drain\"",
                   (unsigned long long)c->id, c->addr_text);
}

static void conn_resume(struct rg_conn *c)
{
    if (c->state != RG_CONN_OPEN)
        return;
    c->paused = false;
    rg_conn_process(c); /* reads again at its end */
}

/* RADIUS framing on the decrypted stream: the Length field delimits packets; several per
 * TLS record and one across records both happen. */
static void frame(struct rg_conn *c)
{
    struct rg_conn_set *set = c->set;
    struct rg_buf *plain = &c->tls.plain;
    size_t off = 0;
    unsigned max_rate = c->gen->cfg->listen.max_requests_per_second;
    uint64_t now = rg_now_ms();
    while (c->state == RG_CONN_OPEN && !c->paused && !c->abandon_blocked && c->turn_packets > 0) {
        if (rg_conn_write_backlog(c)) {
            /* A peer that does not read its replies has no more requests forwarded: each
             * would only add a reply to the backlog. */
            block_backlog(c);
            break;
        }
        long need = rg_radius_frame_len(plain->data + off, plain->len - off);
        if (need < 0) {
            RG_STAT_INC(set->stats, drop_malformed);
            rg_warn("event=packet_malformed " RG_CONN_LOG_FMT
                    " reason=\"Length field %u outside 20..4096\" action=close "
                    "rfc=\"RFC 6613 §2.6.4\"",
                    RG_CONN_LOG_ARGS(c),
                    (unsigned)((plain->data[off + 2] << 8) | plain->data[off + 3]));
            rg_conn_close(c, "malformed packet");
            return;
        }
        if (need == 0 || (size_t)need > plain->len - off)
            break;
        const uint8_t *pkt = plain->data + off;
        bool is_reply = rg_coa_is_reply(pkt[0]);
        if (max_rate && !is_reply) {
            if (now - c->rate_window_ms >= 1000) {
                c->rate_window_ms = now;
                c->rate_count = 0;
            }
            if (c->rate_count >= max_rate) {
                /* Not read again before the window ends: the AP's requests wait in TCP. */
                c->rate_blocked = true;
                RG_STAT_INC(set->stats, rate_limited);
                rg_log_limited("rate-limited", LOG_NOTICE,
                               "event=rate_limited " RG_CONN_LOG_FMT " max_requests_per_second=%u",
                               RG_CONN_LOG_ARGS(c), max_rate);
                rg_conn_arm_sooner(c, c->rate_window_ms + 1000u);
                break;
            }
        }
        struct rg_radius_error err;
        if (rg_radius_validate(pkt, (size_t)need, &err) < 0) {
            char text[128];
            RG_STAT_INC(set->stats, drop_malformed);
            rg_warn("event=packet_malformed " RG_CONN_LOG_FMT
                    " code=%s id=%u reason=\"%s\" action=close rfc=\"RFC 6613 §2.6.4\"",
                    RG_CONN_LOG_ARGS(c), rg_radius_code_name(pkt[0]), pkt[1],
                    rg_radius_error_str(&err, text, sizeof(text)));
            rg_conn_close(c, "malformed packet");
            return;
        }
        /* ACK/NAK codes answer CoA the gateway sent down this connection (reverse CoA). */
        int rc = is_reply ? rg_coa_on_reply(c->coa, &c->origin, pkt, (size_t)need)
                          : rg_proxy_on_request(set->proxy, &c->origin, pkt, (size_t)need);
        if (rc == -EAGAIN) {
            pause_reading(c);
            break;
        }
        if (rc == -EBUSY || rc == -EDQUOT) {
            /* Too many abandoned, or its share of congested backends (share_paused). */
            c->abandon_blocked = true; /* update_reading stops reading */
            if (rc == -EBUSY)
                RG_STAT_INC(set->stats, abandon_paused);
            break;
        }
        if (rc == -EBADMSG) {
            /* RFC 6613 §2.6.4: a failed Request Authenticator or Message-Authenticator
             * closes the connection (proxy.c logged why). */
            rg_conn_close(c, "request failed authentication (RFC 6613 §2.6.4)");
            return;
        }
        if (rc == -ENOMEM) {
            /* No in-flight table for the connection's requests. */
            rg_conn_close(c, "out of memory");
            return;
        }
        if (rc == -EPROTO) {
            /* RFC 9765 §"Receiving Packets": no way to negotiate correct behaviour. */
            rg_conn_close(c, "Token reused for a different outstanding packet (RFC 9765)");
            return;
        }
        off += (size_t)need;
        c->turn_packets--;
        if (!is_reply)
            c->rate_count++;
        c->last_activity_ms = now; /* only whole packets keep a connection from idling */
    }
    if (c->state == RG_CONN_CLOSED)
        return;
    rg_buf_consume(plain, off);
    /* What is left starts a packet (or is one waiting its turn): since when. */
    if (plain->len == 0) {
        c->pkt_since_ms = 0;
    } else if (off || !c->pkt_since_ms) {
        c->pkt_since_ms = now;
        rg_conn_arm_sooner(c, now + (uint64_t)c->gen->cfg->listen.packet_timeout_s * 1000u);
    }
}

static void handshake_done(struct rg_conn *c)
{
    struct rg_conn_set *set = c->set;
    release_slot(c);
    if (c->gen != set->gen) {
        /* A reload arrived during the handshake: decide under the generation in force. */
        rg_gen_unref(c->gen);
        c->gen = rg_gen_ref(set->gen);
    }
    if (rg_tls_peer_identify(c->gen->tls, c->tls.ssl, (const struct sockaddr *)&c->addr, &c->peer) <
        0) {
        const char *reason = c->peer.reason[0] ? c->peer.reason : "not identified";
        c->peer.org = NULL;
        rg_conn_refuse(c, reason);
        return;
    }
    /* Under the listener setting the ClientHello was answered with (c->gen's). */
    int proto = rg_tls_protocol(c->tls.ssl, c->gen->cfg->listen.radius11);
    if (proto < 0) {
        rg_conn_refuse(c, "ALPN: the negotiated protocol does not satisfy radius-1.1");
        return;
    }
    c->proto = (uint8_t)proto;
    const char *why = rg_admission_established(set->gen->cfg, (const struct sockaddr *)&c->addr);
    if (why) {
        rg_conn_refuse(c, why);
        return;
    }
    c->established = true;
    c->state = RG_CONN_OPEN;
    RG_STAT_INC(set->stats, conn_accepted);
    RG_STAT_INC(set->stats, conn_open);
    if (c->proto == RG_PROTO_RADIUS_11)
        RG_STAT_INC(set->stats, conn_radius11);
    describe_origin(c);
    c->coa = rg_coa_conn_open(set->coa, &c->origin);
    rg_tls_session_confirm(c->gen->tls, c->tls.ssl, &c->peer, c->proto);
    rg_metrics_conn(set->metrics, c->peer.org->name, 1);
    rg_notice("event=conn_open conn=%llu src=%s org=%s cn=\"%s\" tls=%s cipher=%s proto=%s%s",
              (unsigned long long)c->id, c->addr_text, c->peer.org->name, RG_LOG_ESC(c->peer.cn),
              wolfSSL_get_version(c->tls.ssl), wolfSSL_get_cipher(c->tls.ssl),
              rg_radius_proto_name((enum rg_radius_proto)c->proto),
              c->peer.resumed ? " resumed=yes" : "");
    c->last_activity_ms = rg_now_ms();
    rg_conn_arm_timer(c);
}

void rg_conn_recheck(struct rg_conn *c, struct rg_gen *g)
{
    if (c->state != RG_CONN_OPEN || c->gen == g)
        return;
    struct rg_tls_peer now;
    const struct sockaddr *addr = (const struct sockaddr *)&c->addr;
    if (rg_tls_peer_recheck(g->tls, c->tls.ssl, addr, &c->peer, &now) < 0) {
        char why[192];
        snprintf(why, sizeof(why), "no longer verifies after reload: %s", now.reason);
        rg_tls_session_forget(c->tls.ssl);
        rg_conn_close(c, why);
        return;
    }
    /* Still the same org: adopt the new snapshot (its secret, pool, limits) so old ones are
     * not kept alive by long-lived connections. Safe here, on the worker's loop: requests in
     * flight reach the org, its secret and the config only through the origin, described
     * again before the old generation is let go, and the WOLFSSL keeps its own reference to
     * the WOLFSSL_CTX it was created from. */
    struct rg_gen *old = c->gen;
    c->peer = now;
    c->gen = rg_gen_ref(g);
    describe_origin(c);
    rg_gen_unref(old);
    rg_debug("event=conn_recheck conn=%llu src=%s org=%s generation=%llu result=verified",
             (unsigned long long)c->id, c->addr_text, c->peer.org->name,
             (unsigned long long)g->number);
}

/* RFC 9765: a fatal no_application_protocol alert goes out before the connection closes. */
static void refuse_no_protocol(struct rg_conn *c, const char *reason)
{
    rg_buf_append(&c->tls.out, rg_tls_alert_no_application_protocol,
                  sizeof(rg_tls_alert_no_application_protocol));
    rg_conn_refuse(c, reason);
}

void rg_conn_process(struct rg_conn *c)
{
    if (c->state != RG_CONN_HANDSHAKE && c->state != RG_CONN_OPEN)
        return;
    rg_conn_turn_refresh(c);
    bool more = false;
    if (c->state == RG_CONN_HANDSHAKE && !c->alpn_ready) {
        /* RFC 9765: the listener's radius-1.1 answers the ClientHello before wolfSSL does
         * (the handshake timeout bounds the wait for all of it). */
        int r = rg_tls_alpn_prepare(c->gen->tls, c->tls.ssl, c->tls.in.data, c->tls.in.len,
                                    c->peer.reason, sizeof(c->peer.reason));
        if (r > 0)
            return;
        c->alpn_ready = true;
        if (r < 0) {
            refuse_no_protocol(c, c->peer.reason);
            return;
        }
    }
    if (c->state == RG_CONN_HANDSHAKE) {
        int rc = 0;
        size_t out_before = c->tls.out.len;
        if (!rg_conn_handshake_step(c, &rc)) {
            more = true;
        } else if (rg_tls_resume_downgraded(c->tls.ssl)) {
            /* What wolfSSL answered to that ClientHello never leaves: a fatal alert in its
             * place closes the connection (RFC 9765 §"Session Resumption"; the ticket
             * callback is the only way a session resumes: no session-ID cache). */
            c->tls.out.len = out_before;
            refuse_no_protocol(c, "ALPN: a radius/1.1 session resumed without radius/1.1");
            return;
        } else if (rc < 0 || c->tls.state == RG_TLS_STREAM_FAILED) {
            if (!rg_tls_handshake_failure(c->tls.ssl, &c->peer))
                snprintf(c->peer.reason, sizeof(c->peer.reason), "TLS handshake failed: %.100s",
                         c->tls.err_text[0] ? c->tls.err_text : "protocol error");
            rg_conn_refuse(c, c->peer.reason);
            return;
        } else if (c->tls.handshake_done_event) {
            c->tls.handshake_done_event = false;
            handshake_done(c);
            if (c->state != RG_CONN_OPEN)
                return;
            /* Application data may have arrived with the handshake's last flight. */
            if (rg_conn_decrypt(c) < 0) {
                rg_conn_close(c, c->tls.err_text[0] ? c->tls.err_text : "TLS error");
                return;
            }
        }
    } else if (rg_conn_decrypt(c) < 0) {
        rg_conn_close(c, c->tls.err_text[0] ? c->tls.err_text : "TLS error");
        return;
    }
    /* drive() stops decrypting when the plaintext buffer is full or the share is used;
     * once frame() has consumed packets, decrypt what is still buffered, until no progress
     * is made or the share of this turn is used. */
    while (c->state == RG_CONN_OPEN) {
        size_t in_before = c->tls.in.len, plain_before = c->tls.plain.len;
        frame(c);
        if (c->state != RG_CONN_OPEN || input_held(c) || rg_conn_turn_used(c) ||
            c->tls.plain.len == plain_before ||
            (c->tls.in.len == 0 && !rg_tls_stream_pending(&c->tls)))
            break;
        if (rg_conn_decrypt(c) < 0) {
            rg_conn_close(c, c->tls.err_text[0] ? c->tls.err_text : "TLS error");
            return;
        }
        if (c->tls.in.len == in_before && c->tls.plain.len == plain_before)
            break;
    }
    if (c->state == RG_CONN_CLOSED)
        return;
    if (c->tls.state == RG_TLS_STREAM_CLOSED) {
        rg_conn_close(c, "close_notify from peer");
        return;
    }
    if (c->state == RG_CONN_OPEN && !input_held(c) && rg_conn_turn_used(c) &&
        (c->tls.plain.len > 0 || rg_tls_stream_pending(&c->tls)))
        rg_conn_turn_exhausted(c); /* stops reading until its turn comes again */
    else if (more)
        rg_conn_more_push(c); /* the handshake work of this turn is used up */
    rg_conn_flush(c);
    rg_conn_update_reading(c);
    rg_conn_want_trim(c);
}

/* Descriptors below RLIMIT_NOFILE that count as the limit being reached. */
#define RG_CONN_FD_MARGIN 16

/* Out of descriptors, accept(2) fails with EMFILE and libuv closes the pending connections
 * itself (it keeps a reserve descriptor for that), without telling us: the listener goes on,
 * the APs retry. Descriptors are handed out lowest first, so an accepted one this close to
 * the limit means that point is reached: counted (fd_limit) and logged, rate-limited. */
static void fd_limit_check(struct rg_conn *c)
{
    uv_os_fd_t fd;
    struct rlimit rl;
    if (uv_fileno((uv_handle_t *)&c->tcp, &fd) < 0 || getrlimit(RLIMIT_NOFILE, &rl) < 0 ||
        rl.rlim_cur == RLIM_INFINITY || (rlim_t)fd + RG_CONN_FD_MARGIN < rl.rlim_cur)
        return;
    RG_STAT_INC(c->set->stats, fd_limit);
    rg_log_limited("fd-limit", LOG_WARNING,
                   "event=fd_limit conn=%llu src=%s fd=%d limit=%llu "
                   "reason=\"descriptors exhausted: new connections are closed at accept; raise "
                   "LimitNOFILE above max-connections\"",
                   (unsigned long long)c->id, c->addr_text, fd, (unsigned long long)rl.rlim_cur);
}

int rg_conn_accept(struct rg_conn_set *set, uv_stream_t *server)
{
    struct rg_conn *c = calloc(1, sizeof(*c));
    if (!c)
        return -ENOMEM;
    c->set = set;
    c->writing.pool = c->staged.pool = &set->buf_pool;
    uv_tcp_init(set->loop, &c->tcp);
    c->tcp.data = c;
    c->open_handles = 1;
    c->gen = rg_gen_ref(set->gen);
    int rc = uv_accept(server, (uv_stream_t *)&c->tcp);
    int alen = sizeof(c->addr);
    if (rc == 0)
        rc = uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&c->addr, &alen);
    if (rc < 0) {
        rg_debug("event=accept_gone reason=\"%s\"", rg_strerror(rc));
        c->state = RG_CONN_CLOSED;
        uv_close((uv_handle_t *)&c->tcp, on_handle_closed);
        return 0;
    }
    rg_sockaddr_format((const struct sockaddr *)&c->addr, true, c->addr_text, sizeof(c->addr_text));
    uv_timer_init(set->loop, &c->timer);
    c->timer.data = c;
    c->open_handles = 2;
    c->id = __atomic_add_fetch(&conn_ids, 1, __ATOMIC_RELAXED);
    c->origin.ops = &conn_origin_ops;
    c->origin.arg = c;
    c->origin.id = c->id;
    c->origin.addr_text = c->addr_text; /* a PROXY header may rewrite the text, not move it */
    c->origin.cn = c->peer.cn;
    fd_limit_check(c);
    c->accepted_ms = rg_now_ms();
    c->next = set->head;
    if (set->head)
        set->head->prev = c;
    set->head = c;
    set->count++;
    c->state = RG_CONN_WAITING;
    if (set->gen->cfg->listen.proxy_protocol) {
        rg_conn_expect_proxy_header(c);
        return 0;
    }
    rg_conn_admit(c);
    return 0;
}

/* ---- connections paused for table room ---- */

void rg_conn_slot_freed(struct rg_conn_set *set)
{
    /* One connection per freed slot, counted here and woken from the loop
     * (rg_conn_wake_paused: the owner's check handle after the poll, its prepare handle before
     * it), never from inside the reply, timeout or send callback that freed the slot. */
    if (!set->paused)
        return;
    set->wake_credit++;
    set->hooks.schedule_flush(set->hooks.arg);
}

/* Wake one paused connection per slot freed, oldest first; it pauses again (at the tail) if
 * the table is still full. Slots a woken connection frees (a reply, a drop) add to the
 * count and are served in this loop. */
void rg_conn_wake_paused(struct rg_conn_set *set)
{
    while (set->wake_credit > 0 && set->paused) {
        set->wake_credit--;
        struct rg_conn *c = set->paused;
        set->paused = c->next_paused;
        if (!set->paused)
            set->paused_tail = NULL;
        c->next_paused = NULL;
        conn_resume(c);
    }
    set->wake_credit = 0;
}
