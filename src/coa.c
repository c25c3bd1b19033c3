/* Reverse CoA (RFC 5176, draft-ietf-radext-reverse-coa), what both threads share: the state
 * (one lock, the NAS registry, the pending list, the counters), a request's life from its
 * acceptance to its answer to the DAC. The translation of CoA packets is translate.c's.
 * The listener is coa_listen.c, the worker side coa_worker.c, the registry coa_registry.c. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "radsecgw/coa.h"
#include "radsecgw/common.h"
#include "radsecgw/log.h"
#include "radsecgw/radius_crypto.h"
#include "radsecgw/translate.h"
#include "coa_internal.h"

struct coa_shared rg_coa;

/* ---- a request's life ---- */

static struct coa_out *out_ref(struct coa_out *o)
{
    __atomic_add_fetch(&o->refs, 1, __ATOMIC_RELAXED);
    return o;
}

void rg_coa_out_unref(struct coa_out *o)
{
    if (!o || __atomic_sub_fetch(&o->refs, 1, __ATOMIC_ACQ_REL) != 0)
        return;
    close(o->fd);
    free(o);
}

static void send_to_client(struct rg_coa_req *req, const uint8_t *pkt, size_t len)
{
    /* Non-blocking: a full socket buffer drops the answer; the DAC retransmits. */
    if (sendto(req->out->fd, pkt, len, 0, (const struct sockaddr *)&req->client_addr,
               req->client_addr_len) < 0)
        rg_log_limited("coa-send", LOG_WARNING, "event=coa_send_failed %s error=\"%s\"", req->desc,
                       strerror(errno));
}

void rg_coa_send_nak(struct rg_coa_req *req, uint32_t cause)
{
    uint8_t nak[RG_RADIUS_MAX_LEN];
    /* The DAC's request as it arrived: the NAK answers its ID and authenticator. */
    uint8_t orig[RG_RADIUS_HDR_LEN];
    memcpy(orig, req->pkt, RG_RADIUS_HDR_LEN);
    orig[1] = req->client_id;
    memcpy(orig + 4, req->client_auth, RG_RADIUS_AUTH_LEN);
    uint8_t *copy = malloc(req->len);
    if (!copy)
        return;
    memcpy(copy, req->pkt, req->len);
    memcpy(copy, orig, RG_RADIUS_HDR_LEN);
    int n = rg_translate_coa_nak(
        copy, cause, (rg_secret){req->client_secret, req->client_secret_len}, nak, sizeof(nak));
    free(copy);
    if (n > 0)
        send_to_client(req, nak, (size_t)n);
}

void rg_coa_req_finish(struct rg_coa_req *req)
{
    uv_mutex_lock(&rg_coa.lock);
    if (req->pend_prev)
        req->pend_prev->pend_next = req->pend_next;
    else if (rg_coa.pending == req)
        rg_coa.pending = req->pend_next;
    if (req->pend_next)
        req->pend_next->pend_prev = req->pend_prev;
    rg_coa.npending--;
    uv_mutex_unlock(&rg_coa.lock);
    rg_coa_out_unref(req->out);
    free(req->client_secret);
    free(req);
}

static uint32_t error_cause_of(const uint8_t *pkt)
{
    struct rg_radius_attr a;
    if (rg_radius_attr_find(pkt, RG_RADIUS_ATTR_ERROR_CAUSE, NULL, &a) && a.value_len == 4)
        return (uint32_t)a.value[0] << 24 | (uint32_t)a.value[1] << 16 | (uint32_t)a.value[2] << 8 |
               a.value[3];
    return 0;
}

int rg_coa_ensure_init(void)
{
    if (!rg_coa.lock_init) {
        uv_mutex_init(&rg_coa.lock);
        rg_coa.lock_init = true;
    }
    if (!rg_coa.registry_init) {
        int rc = rg_coa_registry_init(&rg_coa.registry);
        if (rc < 0)
            return rc;
        rg_coa.registry_init = true;
    }
    return 0;
}

struct rg_coa_req *rg_coa_req_new(const uint8_t *pkt, size_t len, const struct sockaddr *sa,
                                  rg_secret secret, const char *desc)
{
    struct rg_coa_req *req = calloc(1, sizeof(*req) + len);
    char *sec = malloc(secret.len + 1);
    if (!req || !sec || !rg_coa.out) {
        free(req);
        free(sec);
        return NULL;
    }
    memcpy(sec, secret.data, secret.len);
    sec[secret.len] = '\0';
    req->client_addr_len =
        sa->sa_family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
    memcpy(&req->client_addr, sa, req->client_addr_len);
    req->client_id = pkt[1];
    memcpy(req->client_auth, pkt + 4, RG_RADIUS_AUTH_LEN);
    req->client_secret = sec;
    req->client_secret_len = secret.len;
    req->out = out_ref(rg_coa.out);
    snprintf(req->desc, sizeof(req->desc), "%s", desc);
    req->len = (uint16_t)len;
    memcpy(req->pkt, pkt, len);
    uv_mutex_lock(&rg_coa.lock);
    req->pend_next = rg_coa.pending;
    if (rg_coa.pending)
        rg_coa.pending->pend_prev = req;
    rg_coa.pending = req;
    rg_coa.npending++;
    uv_mutex_unlock(&rg_coa.lock);
    return req;
}

void rg_coa_answer_client(struct rg_coa_req *req, uint8_t *out, size_t len, const char *instance)
{
    uint32_t cause = error_cause_of(out);
    uint8_t code = out[0];
    rg_translate_coa_reply(out, req->client_id, req->client_auth,
                           (rg_secret){req->client_secret, req->client_secret_len});
    send_to_client(req, out, len);
    RG_STAT_INC(&rg_coa.stats, coa_replies);
    char ec[32] = "";
    if (cause)
        snprintf(ec, sizeof(ec), " error_cause=%u", cause);
    rg_notice("event=coa_reply %s%s%s reply=%s%s", req->desc, instance ? " instance=" : "",
              instance ? instance : "", rg_radius_code_name(code), ec);
}

const struct rg_stats *rg_coa_stats(void)
{
    return &rg_coa.stats;
}
