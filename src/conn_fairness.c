/* Fairness between the connections of a worker: each gets a share of every loop turn
 * (packets framed, plaintext decrypted; the worker's TLS handshake work in all), and one that
 * used its share with work left waits in the worker's "more" list for the next turn. Part of
 * the AP connection (conn.c); decides only when a connection runs, not what it does. */
#include "radsecgw/conn.h"
#include "radsecgw/stats.h"

#include "conn_internal.h"

/* A connection's share of one loop turn: packets framed and plaintext decrypted. What is
 * left waits in the worker's more list for the next turn, after the others had theirs. */
#define RG_TURN_PACKETS 32
#define RG_TURN_BYTES   (32 * 1024)
/* Packets framed in one turn by the connections that have more than their share, divided
 * between them (never below RG_TURN_PACKETS_MIN each): a quiet AP's packet waits for the
 * turn in progress, so twenty peers pipelining without end must not make a turn longer than
 * eight do (eight APs with 32 requests in flight each keep the whole share). */
#define RG_TURN_WORKER_PACKETS 256
#define RG_TURN_PACKETS_MIN    8
/* TLS handshake work per worker per loop turn (the first step of a turn always runs): a
 * burst of handshakes must not hold up the packets of connected APs. */
#define RG_TURN_HANDSHAKE_NS (2u * 1000u * 1000u)

void rg_conn_more_push(struct rg_conn *c)
{
    struct rg_conn_set *set = c->set;
    if (c->more_queued)
        return;
    c->more_queued = true;
    c->more_next = NULL;
    c->more_prev = set->more_tail;
    if (set->more_tail)
        set->more_tail->more_next = c;
    else
        set->more_head = c;
    set->more_tail = c;
    set->nmore++;
    RG_STAT_INC(set->stats, turn_deferred);
    set->hooks.schedule_more(set->hooks.arg);
}

void rg_conn_more_remove(struct rg_conn *c)
{
    struct rg_conn_set *set = c->set;
    if (!c->more_queued)
        return;
    if (c->more_prev)
        c->more_prev->more_next = c->more_next;
    else
        set->more_head = c->more_next;
    if (c->more_next)
        c->more_next->more_prev = c->more_prev;
    else
        set->more_tail = c->more_prev;
    c->more_prev = c->more_next = NULL;
    c->more_queued = false;
    set->nmore--;
}

void rg_conn_turn_begin(struct rg_conn_set *set)
{
    set->turn++;
    set->turn_busy_prev = set->turn_busy;
    set->turn_busy = 0;
}

/* A connection's packets in this turn: RG_TURN_PACKETS, or an equal part of
 * RG_TURN_WORKER_PACKETS while more connections than that allows used theirs in the last. */
static unsigned turn_packets(const struct rg_conn_set *set)
{
    unsigned busy = set->turn_busy_prev;
    unsigned share = busy ? RG_TURN_WORKER_PACKETS / busy : RG_TURN_PACKETS;
    if (share > RG_TURN_PACKETS)
        share = RG_TURN_PACKETS;
    return share < RG_TURN_PACKETS_MIN ? RG_TURN_PACKETS_MIN : share;
}

/* Fresh shares when the worker's loop has turned since this connection last used them. */
void rg_conn_turn_refresh(struct rg_conn *c)
{
    if (c->turn == c->set->turn)
        return;
    c->turn = c->set->turn;
    c->turn_packets = turn_packets(c->set);
    c->turn_bytes = RG_TURN_BYTES;
}

void rg_conn_turn_exhausted(struct rg_conn *c)
{
    c->set->turn_busy++;
    rg_conn_more_push(c);
}

bool rg_conn_turn_used(const struct rg_conn *c)
{
    return c->turn_packets == 0 || c->turn_bytes == 0;
}

void rg_conn_abandon_drained(struct rg_conn *c)
{
    if (c->state != RG_CONN_OPEN || !c->abandon_blocked)
        return;
    c->abandon_blocked = false;
    rg_conn_more_push(c); /* from the loop: not from inside the reply that freed the slot */
}

void rg_conn_run_more(struct rg_conn_set *set)
{
    /* Only those queued before this pass, oldest first: one that uses this turn's share
     * too goes to the back and waits for the next turn. */
    for (unsigned n = set->nmore; n > 0 && set->more_head; n--) {
        struct rg_conn *c = set->more_head;
        rg_conn_more_remove(c);
        rg_conn_process(c);
    }
}

/* Decrypt within the connection's share of the turn: drive() stops at plain_limit, so the
 * limit is what fits in the share (and under RG_CONN_PLAIN_LIMIT). -1 on a TLS failure. */
int rg_conn_decrypt(struct rg_conn *c)
{
    size_t before = c->tls.plain.len;
    size_t limit = before + c->turn_bytes;
    c->tls.plain_limit = limit < RG_CONN_PLAIN_LIMIT ? limit : RG_CONN_PLAIN_LIMIT;
    if (rg_tls_stream_drive(&c->tls) < 0 || c->tls.state == RG_TLS_STREAM_FAILED)
        return -1;
    size_t got = c->tls.plain.len > before ? c->tls.plain.len - before : 0;
    c->turn_bytes -= got < c->turn_bytes ? got : c->turn_bytes;
    return 0;
}

/* One step of the handshake, within the worker's handshake work for this turn; false when
 * that is used up (the connection continues next turn). */
bool rg_conn_handshake_step(struct rg_conn *c, int *rc)
{
    struct rg_conn_set *set = c->set;
    if (set->handshake_turn != set->turn) {
        set->handshake_turn = set->turn;
        set->handshake_ns = 0;
    } else if (set->handshake_ns >= RG_TURN_HANDSHAKE_NS) {
        return false;
    }
    uint64_t t0 = uv_hrtime();
    *rc = rg_tls_stream_drive(&c->tls);
    set->handshake_ns += uv_hrtime() - t0;
    return true;
}
