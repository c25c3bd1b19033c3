/* Counter aggregation and the periodic stats line. Workers own their rg_stats blocks;
 * this file only reads them. */
#include <stdio.h>
#include <string.h>

#include "radsecgw/stats.h"

void rg_stats_sum(struct rg_stats *total, const struct rg_stats *block)
{
#define RG_STATS_ADD_FIELD(name, ...)                                                              \
    total->name += __atomic_load_n(&block->name, __ATOMIC_RELAXED);
    RG_STATS_FIELDS(RG_STATS_ADD_FIELD)
#undef RG_STATS_ADD_FIELD
}

void rg_stats_format(const struct rg_stats *st, char *buf, size_t len)
{
    size_t off = 0;
    buf[0] = '\0';
#define RG_STATS_PRINT_FIELD(name, ...)                                                            \
    if (off < len)                                                                                 \
        off += (size_t)snprintf(buf + off, len - off, "%s%s=%llu", off ? " " : "", #name,          \
                                (unsigned long long)st->name);
    RG_STATS_FIELDS(RG_STATS_PRINT_FIELD)
#undef RG_STATS_PRINT_FIELD
}
