/* Address prefixes ("192.0.2.0/24", "2001:db8::/32"): parsing and containment, for allow
 * lists, proxy-from and SAN:IP rules. */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "radsecgw/prefix.h"

static const uint8_t v4_mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

int rg_prefix_parse(const char *text, struct rg_prefix *out)
{
    char buf[INET6_ADDRSTRLEN + 8];
    if (!text || strlen(text) >= sizeof(buf))
        return -EINVAL;
    strcpy(buf, text);

    struct rg_prefix p = {0};
    char *slash = strchr(buf, '/');
    long bits = -1;
    if (slash) {
        *slash = '\0';
        const char *b = slash + 1;
        if (!*b || strlen(b) > 3)
            return -EINVAL;
        for (const char *c = b; *c; c++)
            if (!isdigit((unsigned char)*c))
                return -EINVAL;
        bits = strtol(b, NULL, 10);
    }
    if (inet_pton(AF_INET, buf, p.addr) == 1) {
        p.family = AF_INET;
        if (bits > 32)
            return -EINVAL;
        p.bits = bits < 0 ? 32 : (unsigned)bits;
    } else if (inet_pton(AF_INET6, buf, p.addr) == 1) {
        p.family = AF_INET6;
        if (bits > 128)
            return -EINVAL;
        p.bits = bits < 0 ? 128 : (unsigned)bits;
        /* ::ffff:a.b.c.d/96+ is an IPv4 prefix written the IPv6 way */
        if (p.bits >= 96 && memcmp(p.addr, v4_mapped, 12) == 0) {
            memmove(p.addr, p.addr + 12, 4);
            memset(p.addr + 4, 0, 12);
            p.family = AF_INET;
            p.bits -= 96;
        }
    } else {
        return -EINVAL;
    }
    /* Host bits are cleared, so 10.1.2.3/8 means 10.0.0.0/8. */
    size_t len = p.family == AF_INET ? 4 : 16;
    for (size_t i = 0; i < len; i++) {
        unsigned keep = p.bits >= (i + 1) * 8 ? 8 : p.bits > i * 8 ? p.bits - i * 8 : 0;
        p.addr[i] &= (uint8_t)(0xff00u >> keep);
    }
    *out = p;
    return 0;
}

bool rg_prefix_contains(const struct rg_prefix *p, const struct sockaddr *addr)
{
    const uint8_t *a;
    int family = addr->sa_family;
    if (family == AF_INET) {
        a = (const uint8_t *)&((const struct sockaddr_in *)addr)->sin_addr;
    } else if (family == AF_INET6) {
        a = ((const struct sockaddr_in6 *)addr)->sin6_addr.s6_addr;
        if (memcmp(a, v4_mapped, 12) == 0) {
            a += 12;
            family = AF_INET;
        }
    } else {
        return false;
    }
    if (family != p->family)
        return false;
    unsigned full = p->bits / 8, rest = p->bits % 8;
    if (memcmp(a, p->addr, full) != 0)
        return false;
    if (rest == 0)
        return true;
    uint8_t mask = (uint8_t)(0xff00u >> rest);
    return (a[full] & mask) == p->addr[full];
}
