/* libFuzzer driver for the request and reply translation of src/translate.c (the pure trust-
 * boundary functions; the driver keeps its name and corpus from when they were in proxy.c): random
 * secrets, random packets. Invariants: a translated request is a valid packet with the same code
 * and the ID asked for, and translating it back with the secrets swapped gives the same shape; a
 * translated reply is valid and verifies as the answer to the AP's request under the AP's secret
 * (what the AP itself checks). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "radsecgw/radius.h"
#include "radsecgw/translate.h"

static void check(int cond)
{
    if (!cond)
        abort();
}

/* Split the input: two secret lengths and an ID from the first octets, the secrets, then
 * the packet. */
struct input {
    const char *ap_secret, *be_secret;
    size_t ap_len, be_len;
    uint8_t id;
    const uint8_t *pkt;
    size_t pkt_len;
};

static int split(const uint8_t *data, size_t size, struct input *in)
{
    if (size < 3)
        return -1;
    in->ap_len = 1 + data[0] % 48;
    in->be_len = 1 + data[1] % 48;
    in->id = data[2];
    data += 3;
    size -= 3;
    if (size < in->ap_len + in->be_len)
        return -1;
    in->ap_secret = (const char *)data;
    in->be_secret = (const char *)data + in->ap_len;
    in->pkt = data + in->ap_len + in->be_len;
    in->pkt_len = size - in->ap_len - in->be_len;
    return 0;
}

static void request(const struct input *in, const uint8_t *pkt)
{
    static uint8_t out[RG_RADIUS_MAX_LEN], back[RG_RADIUS_MAX_LEN], again[RG_RADIUS_MAX_LEN];
    uint8_t sent[RG_RADIUS_AUTH_LEN], sent2[RG_RADIUS_AUTH_LEN];
    struct rg_radius_error err;
    int n = rg_translate_request(pkt, in->pkt_len, (rg_secret){in->ap_secret, in->ap_len}, in->id,
                                 (rg_secret){in->be_secret, in->be_len}, out, sizeof(out), sent);
    if (n < 0)
        return;
    check(n >= RG_RADIUS_MIN_LEN && n <= RG_RADIUS_MAX_LEN);
    check(rg_radius_validate(out, (size_t)n, &err) == 0);
    check(out[0] == pkt[0] && out[1] == in->id && rg_radius_len(out) == (size_t)n);
    check(memcmp(out + 4, sent, RG_RADIUS_AUTH_LEN) == 0);
    /* Back to the AP's secret, then once more: the added attributes are added once. */
    int m = rg_translate_request(out, (size_t)n, (rg_secret){in->be_secret, in->be_len}, pkt[1],
                                 (rg_secret){in->ap_secret, in->ap_len}, back, sizeof(back), sent2);
    check(m > 0);
    check(rg_radius_validate(back, (size_t)m, &err) == 0 && back[0] == pkt[0]);
    int k =
        rg_translate_request(back, (size_t)m, (rg_secret){in->ap_secret, in->ap_len}, in->id,
                             (rg_secret){in->be_secret, in->be_len}, again, sizeof(again), sent2);
    check(k == n);
}

static void reply(const struct input *in, const uint8_t *pkt)
{
    static uint8_t buf[RG_RADIUS_MAX_LEN];
    struct rg_radius_error err;
    const char *why = NULL;
    /* The request as the AP sent it and as it went to the backend: authenticators from the
     * input too, so a corpus can hold replies that verify. */
    uint8_t ap_auth[RG_RADIUS_AUTH_LEN], sent_auth[RG_RADIUS_AUTH_LEN];
    for (unsigned i = 0; i < RG_RADIUS_AUTH_LEN; i++) {
        ap_auth[i] = (uint8_t)(in->ap_secret[i % in->ap_len] ^ i);
        sent_auth[i] = (uint8_t)(in->be_secret[i % in->be_len] + i);
    }
    int v = rg_translate_verify_reply(pkt, in->pkt_len, sent_auth,
                                      (rg_secret){in->be_secret, in->be_len}, &why);
    check(v >= 0 || why != NULL);
    size_t len = rg_radius_len(pkt);
    memcpy(buf, pkt, len);
    unsigned salt = in->id;
    int rc =
        rg_translate_reply(buf, len, sizeof(buf), sent_auth, (rg_secret){in->be_secret, in->be_len},
                           in->id, ap_auth, (rg_secret){in->ap_secret, in->ap_len}, &salt);
    if (rc < 0)
        return;
    size_t out_len = rg_radius_len(buf);
    check(rg_radius_validate(buf, out_len, &err) == 0);
    check(buf[1] == in->id && buf[0] == pkt[0]);
    /* What the AP checks: Response Authenticator and Message-Authenticator under its own
     * secret and request authenticator. */
    why = NULL;
    check(rg_translate_verify_reply(buf, out_len, ap_auth, (rg_secret){in->ap_secret, in->ap_len},
                                    &why) >= 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct input in;
    if (split(data, size, &in) < 0)
        return 0;
    /* Exact-size heap copy so ASan sees any read past the packet. */
    uint8_t *pkt = malloc(in.pkt_len ? in.pkt_len : 1);
    if (!pkt)
        return 0;
    memcpy(pkt, in.pkt, in.pkt_len);
    struct rg_radius_error err;
    if (rg_radius_validate(pkt, in.pkt_len, &err) == 0) {
        in.pkt = pkt;
        uint8_t code = pkt[0];
        if (code == RG_RADIUS_ACCESS_REQUEST || code == RG_RADIUS_ACCOUNTING_REQUEST ||
            code == RG_RADIUS_STATUS_SERVER)
            request(&in, pkt);
        else if (code == RG_RADIUS_ACCESS_ACCEPT || code == RG_RADIUS_ACCESS_REJECT ||
                 code == RG_RADIUS_ACCESS_CHALLENGE || code == RG_RADIUS_ACCOUNTING_RESPONSE)
            reply(&in, pkt);
    }
    free(pkt);
    return 0;
}
