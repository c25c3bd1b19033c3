/* Idle connections hold no buffers: what a connection emptied goes back to the worker's
 * pool at the end of each event, and its in-flight table to the state table's pool from the
 * worker's check handle once nothing is in flight. Part of the AP connection (conn.c). */
#include "radsecgw/conn.h"
#include "radsecgw/proxy.h"

#include "conn_internal.h"

/* Most APs send a request every few minutes and hold their connection all day. Buffers a
 * connection emptied go back to the worker's pool as soon as the event that used them is
 * handled (the next connection's read takes the same buffer again: a loop turn that serves a
 * thousand connections holds a few buffers, not a thousand). The in-flight table is given
 * back from the worker's check handle (rg_conn_trim_idle), once the replies of this turn
 * have finished their requests. */
static void release_buffers(struct rg_conn *c)
{
    rg_buf_release_empty(&c->tls.in);
    rg_buf_release_empty(&c->tls.out);
    rg_buf_release_empty(&c->tls.plain);
    rg_buf_release_empty(&c->staged);
    if (!c->write_busy)
        rg_buf_release_empty(&c->writing);
}

void rg_conn_want_trim(struct rg_conn *c)
{
    struct rg_conn_set *set = c->set;
    if (c->state == RG_CONN_CLOSED)
        return;
    release_buffers(c);
    if (c->trim_queued || !rg_proxy_origin_holds_table(&c->origin))
        return;
    c->trim_queued = true;
    c->trim_prev = NULL;
    c->trim_next = set->trim_head;
    if (set->trim_head)
        set->trim_head->trim_prev = c;
    set->trim_head = c;
    set->hooks.schedule_trim(set->hooks.arg);
}

void rg_conn_trim_unlink(struct rg_conn *c)
{
    if (!c->trim_queued)
        return;
    if (c->trim_prev)
        c->trim_prev->trim_next = c->trim_next;
    else
        c->set->trim_head = c->trim_next;
    if (c->trim_next)
        c->trim_next->trim_prev = c->trim_prev;
    c->trim_queued = false;
    c->trim_prev = c->trim_next = NULL;
}

void rg_conn_trim_idle(struct rg_conn_set *set)
{
    while (set->trim_head) {
        struct rg_conn *c = set->trim_head;
        rg_conn_trim_unlink(c);
        release_buffers(c);
        rg_proxy_origin_trim(set->proxy, &c->origin);
    }
}
