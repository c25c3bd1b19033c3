/* A config generation: the immutable config snapshot plus the TLS context built from it,
 * reference counted. The main thread makes one per load, reload and changed CRL; workers and
 * connections hold references. Knows nothing of workers or connections. */
#ifndef RADSECGW_GEN_H
#define RADSECGW_GEN_H

#include <stddef.h>
#include <stdint.h>

#include "radsecgw/config.h"
#include "radsecgw/tls.h"

/* A connection holds the generation it was last verified under (accepted, or re-checked
 * when a newer one was installed: rg_conn_recheck). */
struct rg_gen {
    int refcount;           /* atomic */
    struct rg_config *cfg;  /* reference held */
    struct rg_tls_ctx *tls; /* owned */
    uint64_t number;
};

struct rg_gen *rg_gen_new(struct rg_config *cfg, char *err, size_t errlen);
struct rg_gen *rg_gen_ref(struct rg_gen *g);
void rg_gen_unref(struct rg_gen *g);

#endif
