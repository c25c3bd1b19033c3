/* Address prefixes (allow lists, proxy-from, SAN:IP match): parsing and containment.
 * Knows nothing of the configuration that holds them. */
#ifndef RADSECGW_PREFIX_H
#define RADSECGW_PREFIX_H

#include <stdbool.h>
#include <stdint.h>

struct sockaddr;

/* An address prefix (allow lists, SAN:IP match). */
struct rg_prefix {
    int family; /* AF_INET or AF_INET6 */
    uint8_t addr[16];
    unsigned bits;
};

/* Parse "10.0.0.0/8", "::/0", "192.0.2.1" (full length). 0 or -EINVAL. */
int rg_prefix_parse(const char *text, struct rg_prefix *out);
/* Does addr (sockaddr_in/in6; v4-mapped v6 is treated as v4) fall in prefix? */
bool rg_prefix_contains(const struct rg_prefix *p, const struct sockaddr *addr);

#endif
