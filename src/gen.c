/* Config generations (struct rg_gen): a config snapshot and its TLS context, shared
 * read-only by the main thread, the workers and their connections through a reference
 * count. Building the context is tls.c's; handing generations to workers is worker.c's. */
#include <stdlib.h>

#include "radsecgw/gen.h"

struct rg_gen *rg_gen_new(struct rg_config *cfg, char *err, size_t errlen)
{
    static uint64_t counter;
    struct rg_gen *g = calloc(1, sizeof(*g));
    if (!g) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (rg_tls_ctx_new(cfg, &g->tls, err, errlen) < 0) {
        free(g);
        return NULL;
    }
    g->cfg = rg_config_ref(cfg);
    g->refcount = 1;
    g->number = __atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED);
    return g;
}

struct rg_gen *rg_gen_ref(struct rg_gen *g)
{
    __atomic_add_fetch(&g->refcount, 1, __ATOMIC_RELAXED);
    return g;
}

void rg_gen_unref(struct rg_gen *g)
{
    if (!g || __atomic_sub_fetch(&g->refcount, 1, __ATOMIC_ACQ_REL) != 0)
        return;
    rg_tls_ctx_free(g->tls);
    rg_config_unref(g->cfg);
    free(g);
}
