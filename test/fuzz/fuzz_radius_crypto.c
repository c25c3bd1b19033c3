/* libFuzzer driver for src/radius_crypto.c: treats the input as a packet and, when it
 * validates, re-encrypts it as a reply and as a request, and checks its authenticators.
 * Must never crash or read out of bounds; a recrypt that succeeds must be reversible. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "radsecgw/radius.h"
#include "radsecgw/radius_crypto.h"

static const char secret_a[] = "backend-secret";
static const char secret_b[] = "radsec";
static const uint8_t auth_a[16] = {0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17,
                                   0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f};
static const uint8_t auth_b[16] = {0xa1, 0xb2, 0xc3, 0xd4, 0xe5, 0xf6, 0x07, 0x18,
                                   0x29, 0x3a, 0x4b, 0x5c, 0x6d, 0x7e, 0x8f, 0x90};

static void check(int cond)
{
    if (!cond)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (rg_radius_validate(data, size, NULL) != 0)
        return 0;
    size_t len = rg_radius_len(data);
    /* Exact-size heap copy: ASan flags any access past Length. */
    uint8_t *pkt = malloc(len);
    uint8_t *orig = malloc(len);
    if (!pkt || !orig)
        goto out;
    memcpy(pkt, data, len);
    memcpy(orig, data, len);

    rg_radius_msgauth_verify(pkt, NULL, rg_secret_str(secret_a));
    rg_radius_msgauth_verify(pkt, auth_a, rg_secret_str(secret_a));
    rg_radius_auth_response_verify(pkt, auth_a, rg_secret_str(secret_a));
    rg_radius_auth_request_verify(pkt, rg_secret_str(secret_a));

    /* Reply path: backend secret A to RadSec secret B and back gives the same plaintexts;
     * unsalted values (MS-CHAP-MPPE-Keys) come back octet for octet, lengths never change. */
    unsigned counter = 0x4242;
    int rc = rg_radius_reply_recrypt(pkt, auth_a, rg_secret_str(secret_a), auth_b,
                                     rg_secret_str(secret_b), &counter);
    check(rg_radius_len(pkt) == len);
    check(rg_radius_validate(pkt, len, NULL) == 0);
    if (rc == 0) {
        check(rg_radius_reply_recrypt(pkt, auth_b, rg_secret_str(secret_b), auth_a,
                                      rg_secret_str(secret_a), &counter) == 0);
        check(rg_radius_len(pkt) == len);
    }

    /* Request path on a fresh copy: User-Password round trip is exact. */
    memcpy(pkt, orig, len);
    rc = rg_radius_request_recrypt(pkt, auth_a, rg_secret_str(secret_a), auth_b,
                                   rg_secret_str(secret_b));
    if (rc == 0) {
        check(rg_radius_request_recrypt(pkt, auth_b, rg_secret_str(secret_b), auth_a,
                                        rg_secret_str(secret_a)) == 0);
        check(memcmp(pkt, orig, len) == 0);
    } else {
        check(memcmp(pkt, orig, len) == 0); /* refused: untouched */
    }

    /* Signing what validates must verify afterwards. */
    memcpy(pkt, orig, len);
    if (rg_radius_msgauth_sign(pkt, auth_b, rg_secret_str(secret_b)) == 0)
        check(rg_radius_msgauth_verify(pkt, auth_b, rg_secret_str(secret_b)) == 0);
    rg_radius_auth_response_sign(pkt, auth_b, rg_secret_str(secret_b));
    check(rg_radius_auth_response_verify(pkt, auth_b, rg_secret_str(secret_b)) == 0);
    rg_radius_auth_request_sign(pkt, rg_secret_str(secret_b));
    check(rg_radius_auth_request_verify(pkt, rg_secret_str(secret_b)) == 0);

    /* Hidden values found in the packet through the standalone API. */
    struct rg_radius_attr a;
    uint8_t out[RG_RADIUS_MAX_LEN];
    size_t out_len;
    size_t pos = 0;
    while (rg_radius_attr_find(orig, RG_RADIUS_ATTR_USER_PASSWORD, &pos, &a))
        if (rg_radius_password_unhide(a.value, a.value_len, auth_a, rg_secret_str(secret_a), out,
                                      &out_len) == 0)
            check(out_len <= a.value_len);
    pos = 0;
    while (rg_radius_attr_find(orig, RG_RADIUS_ATTR_TUNNEL_PASSWORD, &pos, &a))
        if (a.value_len > 0 && rg_radius_salted_unhide(a.value + 1, a.value_len - 1, auth_a,
                                                       rg_secret_str(secret_a), out, &out_len) == 0)
            check(out_len + 3 <= a.value_len - 1);
    pos = 0;
    while (
        rg_radius_vsa_find(orig, RG_RADIUS_VENDOR_MICROSOFT, RG_RADIUS_MS_MPPE_RECV_KEY, &pos, &a))
        if (rg_radius_salted_unhide(a.value, a.value_len, auth_a, rg_secret_str(secret_a), out,
                                    &out_len) == 0)
            check(out_len + 3 <= a.value_len);
out:
    free(pkt);
    free(orig);
    return 0;
}
