/* libFuzzer driver for src/radius11.c and the ClientHello reader of src/tls_alpn.c: the input
 * is read as the first bytes of a TLS connection (rg_tls_hello_peek) and, when it validates as
 * a RADIUS packet, translated both ways between RADIUS/1.1 and RADIUS/UDP. Must never crash
 * or read out of bounds; every packet produced must validate, and a reply only shrinks. */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "radsecgw/radius.h"
#include "radsecgw/radius11.h"
#include "radsecgw/radius_crypto.h"
#include "radsecgw/tls.h"

static const char secret[] = "backend-secret";
static const uint8_t auth[16] = {0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17,
                                 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f};

static void check(int cond)
{
    if (!cond)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* Exact-size heap copy: ASan flags any access past the input. */
    uint8_t *in = malloc(size ? size : 1);
    if (!in)
        return 0;
    memcpy(in, data, size);
    char alpn[64];
    bool has_alpn, tls13;
    int rc = rg_tls_hello_peek(in, size, alpn, sizeof(alpn), &has_alpn, &tls13);
    check(rc == 0 || rc == 1 || rc == -EBADMSG);
    if (rc == 0 && has_alpn) {
        check(strlen(alpn) < sizeof(alpn));
        const char *name, *why;
        for (int mode = 0; mode < 3; mode++) {
            int p = rg_radius11_alpn_choose((enum rg_radius11_mode)mode, alpn, tls13, &name, &why);
            check(p < 0 ? why != NULL : (p != RG_PROTO_RADIUS_11 || tls13));
        }
    }

    if (rg_radius_validate(in, size, NULL) == 0) {
        size_t len = rg_radius_len(in);
        uint8_t *pkt = malloc(RG_RADIUS_MAX_LEN);
        uint8_t *out = malloc(RG_RADIUS_MAX_LEN);
        uint8_t sent_auth[16];
        if (pkt && out) {
            rg_radius11_request_invalid(in);
            rg_radius11_fingerprint(in);
            int n = rg_radius11_request_to_udp(in, len, 7, (rg_secret){secret, sizeof(secret) - 1},
                                               out, RG_RADIUS_MAX_LEN, sent_auth);
            if (n > 0)
                check(rg_radius_validate(out, (size_t)n, NULL) == 0);

            memcpy(pkt, in, len);
            n = rg_radius11_reply_from_udp(pkt, auth, (rg_secret){secret, sizeof(secret) - 1},
                                           0x01020304);
            if (n > 0) {
                check((size_t)n <= len);
                check(rg_radius_validate(pkt, (size_t)n, NULL) == 0);
                check(rg_radius11_token(pkt) == 0x01020304 && pkt[1] == 0);
            }

            n = rg_radius11_local_reply(out, RG_RADIUS_MAX_LEN, RG_RADIUS_PROTOCOL_ERROR, 5, in,
                                        RG_RADIUS11_ERR_NOT_ROUTABLE, "x");
            if (n > 0)
                check(rg_radius_validate(out, (size_t)n, NULL) == 0);

            memcpy(pkt, in, len);
            n = rg_radius11_coa_request(pkt, 9);
            check(n > 0 && (size_t)n <= len && rg_radius_validate(pkt, (size_t)n, NULL) == 0);
            n = rg_radius11_reply_to_udp(pkt, RG_RADIUS_MAX_LEN);
            if (n > 0)
                check(rg_radius_validate(pkt, (size_t)n, NULL) == 0);
        }
        free(pkt);
        free(out);
    }
    free(in);
    return 0;
}
