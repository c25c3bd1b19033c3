/* ALPN (RFC 9765): the server reads the ClientHello itself, before wolfSSL does, to answer
 * with the one protocol name listen radius-1.1 allows for what the client offers, and
 * checks the finished handshake against it. Knows nothing of certificates. */
#include <wolfssl/options.h>
#include <wolfssl/ssl.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "radsecgw/log.h"
#include "radsecgw/radius11.h"
#include "radsecgw/tls.h"
#include "tls_internal.h"

/* ---- ALPN (RFC 9765) ------------------------------------------------------------------------ */

/* The ClientHello as it arrives (RFC 8446 §4.1.2, RFC 5246 §7.4.1.2), read before wolfSSL
 * sees it: the ALPN list (RFC 7301 §3.1) and whether TLS 1.3 is offered (supported_versions,
 * RFC 8446 §4.2.1; this server always supports 1.3, so offered means negotiated). The
 * handshake message may span several records; at most HELLO_MAX octets are looked at.
 * 1: incomplete, 0: parsed, -EBADMSG: not a ClientHello we can read. */
#define HELLO_MAX 16384

struct reader {
    const uint8_t *p;
    size_t len;
    bool bad;
};

static size_t rd_n(struct reader *r, size_t n)
{
    size_t v = 0;
    if (r->len < n) {
        r->bad = true;
        r->len = 0;
        return 0;
    }
    for (size_t i = 0; i < n; i++)
        v = v << 8 | r->p[i];
    r->p += n;
    r->len -= n;
    return v;
}

static struct reader rd_sub(struct reader *r, size_t n)
{
    struct reader sub = {r->p, n <= r->len ? n : 0, n > r->len};
    if (n > r->len) {
        r->bad = true;
        n = r->len;
    }
    r->p += n;
    r->len -= n;
    return sub;
}

int rg_tls_hello_peek(const uint8_t *in, size_t len, char *alpn, size_t alpn_cap, bool *has_alpn,
                      bool *tls13)
{
    uint8_t hs[HELLO_MAX];
    size_t hs_len = 0, need = 0;
    *has_alpn = *tls13 = false;
    alpn[0] = '\0';
    /* Gather the handshake message from consecutive handshake records. */
    for (size_t off = 0;;) {
        if (len - off < 5)
            return 1;
        if (in[off] != 22 || in[off + 1] != 3)
            return -EBADMSG;
        size_t rlen = (size_t)in[off + 3] << 8 | in[off + 4];
        if (rlen == 0 || rlen > 16384 + 256)
            return -EBADMSG;
        if (len - off - 5 < rlen)
            return 1;
        size_t take = rlen < sizeof(hs) - hs_len ? rlen : sizeof(hs) - hs_len;
        memcpy(hs + hs_len, in + off + 5, take);
        hs_len += take;
        off += 5 + rlen;
        if (hs_len >= 4) {
            if (hs[0] != 1)
                return -EBADMSG;
            need = 4 + ((size_t)hs[1] << 16 | (size_t)hs[2] << 8 | hs[3]);
            if (need > sizeof(hs))
                return -EBADMSG;
            if (hs_len >= need)
                break;
        }
    }
    struct reader r = {hs + 4, need - 4, false};
    rd_n(&r, 2 + 32);        /* legacy_version, random */
    rd_sub(&r, rd_n(&r, 1)); /* legacy_session_id */
    rd_sub(&r, rd_n(&r, 2)); /* cipher_suites */
    rd_sub(&r, rd_n(&r, 1)); /* legacy_compression_methods */
    if (r.bad)
        return -EBADMSG;
    if (r.len == 0)
        return 0; /* no extensions: no ALPN, TLS 1.2 */
    struct reader ext = rd_sub(&r, rd_n(&r, 2));
    size_t n = 0;
    while (!ext.bad && ext.len) {
        size_t type = rd_n(&ext, 2);
        struct reader body = rd_sub(&ext, rd_n(&ext, 2));
        if (type == 16 && !*has_alpn) { /* application_layer_protocol_negotiation */
            struct reader list = rd_sub(&body, rd_n(&body, 2));
            *has_alpn = true;
            while (!list.bad && list.len) {
                struct reader name = rd_sub(&list, rd_n(&list, 1));
                if (name.bad || name.len == 0)
                    return -EBADMSG;
                /* A comma or NUL inside a name would read as two names: keep it out. */
                if (memchr(name.p, ',', name.len) || memchr(name.p, '\0', name.len))
                    continue;
                if (n + name.len + 2 > alpn_cap)
                    continue;
                if (n)
                    alpn[n++] = ',';
                memcpy(alpn + n, name.p, name.len);
                n += name.len;
                alpn[n] = '\0';
            }
            if (list.bad)
                return -EBADMSG;
        } else if (type == 43) { /* supported_versions */
            struct reader vers = rd_sub(&body, rd_n(&body, 1));
            while (!vers.bad && vers.len >= 2)
                if (rd_n(&vers, 2) == 0x0304)
                    *tls13 = true;
        }
    }
    return ext.bad ? -EBADMSG : 0;
}

int rg_tls_alpn_prepare(struct rg_tls_ctx *ctx, WOLFSSL *ssl, const uint8_t *in, size_t len,
                        char *why, size_t whylen)
{
    char offered[256];
    bool has_alpn, tls13;
    int rc = rg_tls_hello_peek(in, len, offered, sizeof(offered), &has_alpn, &tls13);
    if (rc > 0)
        return 1;
    if (rc < 0) /* wolfSSL refuses it in its own words; decide as without ALPN */
        has_alpn = tls13 = false;
    const char *alpn, *reason;
    int proto = rg_radius11_alpn_choose(ctx->cfg->listen.radius11, has_alpn ? offered : NULL, tls13,
                                        &alpn, &reason);
    if (proto < 0) {
        char esc[128];
        /* why goes into a quoted log value: no quotes of its own, the peer's names escaped. */
        snprintf(why, whylen, "ALPN: %s; offered %s over TLS %s", reason,
                 has_alpn ? rg_log_escape_str(offered, esc, sizeof(esc)) : "nothing",
                 tls13 ? "1.3" : "1.2");
        return -EPROTO;
    }
    /* The ticket callback, which wolfSSL calls later on this ClientHello, holds a resumed
     * radius/1.1 session to it. */
    struct resume_state *rs = rg_tls_resume_of(ssl);
    if (rs)
        rs->offered = proto;
    /* wolfSSL alone would answer with the client's first name it knows, whatever the
     * version; leaving it exactly the chosen one makes the answer ours. */
    if (alpn && wolfSSL_UseALPN(ssl, (char *)alpn, (word32)strlen(alpn),
                                WOLFSSL_ALPN_FAILED_ON_MISMATCH) != WOLFSSL_SUCCESS) {
        snprintf(why, whylen, "ALPN: cannot configure %s", alpn);
        return -EPROTO;
    }
    return 0;
}

const uint8_t rg_tls_alert_no_application_protocol[7] = {
    21, 3, 3, 0, 2, 2 /* fatal */, 120 /* no_application_protocol (RFC 7301 §3.2) */};

int rg_tls_protocol(WOLFSSL *ssl, enum rg_radius11_mode mode)
{
    char *name = NULL;
    word16 len = 0;
    int proto = RG_PROTO_HISTORIC;
    if (wolfSSL_ALPN_GetProtocol(ssl, &name, &len) == WOLFSSL_SUCCESS && name) {
        if (len == strlen(RG_RADIUS11_ALPN_11) && memcmp(name, RG_RADIUS11_ALPN_11, len) == 0)
            proto = RG_PROTO_RADIUS_11;
        else if (len == strlen(RG_RADIUS11_ALPN_10) && memcmp(name, RG_RADIUS11_ALPN_10, len) == 0)
            proto = RG_PROTO_RADIUS_10;
        else
            return -EPROTO;
    }
    /* What rg_tls_alpn_prepare decided, checked again on the finished handshake, a resumed one
     * too (RFC 9765 §"Session Resumption": ALPN is negotiated on each connection). */
    if (proto == RG_PROTO_RADIUS_11 &&
        (wolfSSL_GetVersion(ssl) != WOLFSSL_TLSV1_3 || mode == RG_RADIUS11_FORBID))
        return -EPROTO;
    if (proto != RG_PROTO_RADIUS_11 && mode == RG_RADIUS11_REQUIRE)
        return -EPROTO;
    return proto;
}
