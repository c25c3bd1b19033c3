/* libFuzzer driver for CoA translation (src/translate.c, RFC 5176): a CoA or Disconnect request
 * from a DAC, re-signed for the NAS with a random secret, must stay a valid packet with the
 * same code, the ID asked for and its Request Authenticator in place; the gateway's own NAK
 * for it must be valid and answer its code. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "radsecgw/coa.h"
#include "radsecgw/radius.h"
#include "radsecgw/translate.h"

static void check(int cond)
{
    if (!cond)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t out[RG_RADIUS_MAX_LEN], nak[RG_RADIUS_MAX_LEN];
    if (size < 3)
        return 0;
    size_t slen = 1 + data[0] % 48;
    uint8_t id = data[1];
    data += 2;
    size -= 2;
    if (size < slen)
        return 0;
    const char *secret = (const char *)data;
    size_t len = size - slen;
    uint8_t *pkt = malloc(len ? len : 1);
    if (!pkt)
        return 0;
    memcpy(pkt, data + slen, len);
    struct rg_radius_error err;
    /* Only Disconnect-Request (40) and CoA-Request (43) reach these functions. */
    if (rg_radius_validate(pkt, len, &err) == 0 && (pkt[0] == 40 || pkt[0] == 43)) {
        rg_translate_coa_hidden_attr(pkt);
        uint8_t sent[RG_RADIUS_AUTH_LEN];
        int n = rg_translate_coa_request(pkt, len, id, (rg_secret){secret, slen}, out, sizeof(out),
                                         sent);
        if (n > 0) {
            check(rg_radius_validate(out, (size_t)n, &err) == 0);
            check(out[0] == pkt[0] && out[1] == id && rg_radius_len(out) == (size_t)n);
            check(memcmp(out + 4, sent, RG_RADIUS_AUTH_LEN) == 0);
        }
        int m = rg_translate_coa_nak(pkt, 503, (rg_secret){secret, slen}, nak, sizeof(nak));
        if (m > 0) {
            check(rg_radius_validate(nak, (size_t)m, &err) == 0);
            check(nak[1] == pkt[1] && rg_coa_is_reply(nak[0]));
        }
    }
    free(pkt);
    return 0;
}
