/* libFuzzer driver for src/radius.c: validate arbitrary octets; on a valid packet walk every
 * attribute, VSA and extended attribute, and edit a copy in a 4096-octet buffer.
 * Must never crash, read out of bounds or leave an invalid packet behind. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "radsecgw/radius.h"

static void check(int cond)
{
    if (!cond)
        abort();
}

static void walk(const uint8_t *pkt)
{
    size_t pos = 0, n = 0;
    struct rg_radius_attr a;
    while (rg_radius_attr_next(pkt, &pos, &a)) {
        check(a.offset >= RG_RADIUS_HDR_LEN && a.offset + a.len <= rg_radius_len(pkt));
        check(a.value_len + 2 == a.len);
        n++;
    }
    char s[64];
    rg_radius_attr_string(pkt, RG_RADIUS_ATTR_USER_NAME, s, sizeof(s));
    check(strlen(s) < sizeof(s));

    /* Every Vendor-Specific sub-attribute of a few vendors and types, in order. */
    static const uint32_t vendors[] = {RG_RADIUS_VENDOR_MICROSOFT, 9, 14122};
    for (size_t v = 0; v < sizeof(vendors) / sizeof(vendors[0]); v++) {
        for (unsigned t = 0; t < 256; t += 17) {
            pos = 0;
            size_t last = 0;
            while (rg_radius_vsa_find(pkt, vendors[v], (uint8_t)t, &pos, &a)) {
                check(a.offset >= last && a.offset + a.len <= rg_radius_len(pkt));
                last = a.offset + 1;
            }
        }
        pos = 0;
        while (rg_radius_vsa_find(pkt, vendors[v], RG_RADIUS_MS_MPPE_SEND_KEY, &pos, &a))
            check(a.value + a.value_len <= pkt + rg_radius_len(pkt));
    }
    for (unsigned type = 241; type <= 246; type++) {
        pos = 0;
        while (rg_radius_ext_find(pkt, (uint8_t)type, 1, &pos, &a))
            check(a.value + a.value_len <= pkt + rg_radius_len(pkt));
    }
    (void)n;
}

static void edit(const uint8_t *pkt, const uint8_t *data, size_t size)
{
    static uint8_t buf[RG_RADIUS_MAX_LEN];
    size_t len = rg_radius_len(pkt);
    memcpy(buf, pkt, len);
    struct rg_radius_pkt p = {buf, sizeof(buf)};
    uint8_t sel = size ? data[size - 1] : 0;

    /* Append, insert first, add a VSA: either fits and stays valid, or fails cleanly. */
    size_t vlen = sel % 64;
    if (vlen > size)
        vlen = size;
    int rc = rg_radius_attr_add(&p, RG_RADIUS_ATTR_CLASS, data, vlen);
    check(rc == 0 || rc == -ENOSPC);
    check(rg_radius_validate(buf, rg_radius_len(buf), NULL) == 0);
    rc = rg_radius_attr_insert_first(&p, RG_RADIUS_ATTR_PROXY_STATE, data, vlen / 2);
    check(rc == 0 || rc == -ENOSPC);
    rc = rg_radius_vsa_add(&p, RG_RADIUS_VENDOR_MICROSOFT, sel, data, vlen / 3);
    check(rc == 0 || rc == -ENOSPC);
    check(rg_radius_validate(buf, rg_radius_len(buf), NULL) == 0);

    /* Replace and remove at offsets taken from the walker, and at arbitrary ones. */
    size_t pos = 0, k = 0;
    struct rg_radius_attr a;
    while (rg_radius_attr_next(buf, &pos, &a)) {
        if (k++ == sel % 8) {
            rg_radius_attr_replace(&p, a.offset, data, vlen);
            check(rg_radius_validate(buf, rg_radius_len(buf), NULL) == 0);
            break;
        }
    }
    if (rg_radius_vsa_find(buf, RG_RADIUS_VENDOR_MICROSOFT, sel, NULL, &a)) {
        rg_radius_attr_replace(&p, a.offset, data, vlen);
        check(rg_radius_validate(buf, rg_radius_len(buf), NULL) == 0);
    }
    rg_radius_attr_replace(&p, RG_RADIUS_HDR_LEN + sel, data, vlen);
    check(rg_radius_validate(buf, rg_radius_len(buf), NULL) == 0);
    rg_radius_attr_remove(&p, RG_RADIUS_HDR_LEN + sel / 2);
    check(rg_radius_validate(buf, rg_radius_len(buf), NULL) == 0);
    if (rg_radius_attr_find(buf, RG_RADIUS_ATTR_CLASS, NULL, &a))
        check(rg_radius_attr_remove(&p, a.offset) == 0);
    rg_radius_attr_remove_all(&p, RG_RADIUS_ATTR_PROXY_STATE);
    check(!rg_radius_attr_find(buf, RG_RADIUS_ATTR_PROXY_STATE, NULL, &a));
    check(rg_radius_validate(buf, rg_radius_len(buf), NULL) == 0);
    walk(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* Copy into an exact-size heap buffer so ASan sees any read past the input. */
    uint8_t *pkt = malloc(size ? size : 1);
    if (!pkt)
        return 0;
    memcpy(pkt, data, size);

    struct rg_radius_error err;
    char text[128];
    long frame = rg_radius_frame_len(pkt, size);
    check(frame >= -1 && frame <= RG_RADIUS_MAX_LEN);
    int rc = rg_radius_validate(pkt, size, &err);
    rg_radius_error_str(&err, text, sizeof(text));
    check(strlen(text) < sizeof(text));
    rg_radius_code_name(size ? pkt[0] : 0);
    if (rc == 0) {
        check(frame >= RG_RADIUS_MIN_LEN && (size_t)frame <= size);
        walk(pkt);
        edit(pkt, data, size);
    } else {
        check(err.reason != RG_RADIUS_OK && err.offset <= size);
    }
    free(pkt);
    return 0;
}
