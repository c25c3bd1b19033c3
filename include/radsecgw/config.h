/* Configuration: the libconfuse schema of docs (DESIGN.md), validation with file:line
 * errors, and the immutable, reference-counted snapshot every other module reads.
 * Knows nothing of sockets or TLS objects (tls.c builds those from the snapshot). */
#ifndef RADSECGW_CONFIG_H
#define RADSECGW_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdint.h>
#include <sys/socket.h>
#include <netinet/in.h>

#include "radsecgw/prefix.h"

#define RG_CONFIG_DEFAULT_PATH "/etc/radsecgw/radsecgw.conf"

enum rg_match_kind {
    RG_MATCH_CN,
    RG_MATCH_SAN_DNS,
    RG_MATCH_SAN_URI,
    RG_MATCH_SAN_IP,
};

struct rg_match {
    enum rg_match_kind kind;
    char *pattern;           /* malloced, owned: the regex text or prefix text */
    struct rg_prefix prefix; /* for RG_MATCH_SAN_IP */
    /* compiled regex (regex_t) kept opaque here; owned, see config_check.c */
    void *regex;
};

enum rg_policy {
    RG_POLICY_FAILOVER,
    RG_POLICY_ROUND_ROBIN,
    RG_POLICY_LEAST_OUTSTANDING,
};

/* listen radius-1.1 (RFC 9765 "Version"): which ALPN protocols the listener accepts. */
enum rg_radius11_mode {
    RG_RADIUS11_ALLOW,   /* radius/1.1 when the client offers it on TLS 1.3 (the default) */
    RG_RADIUS11_FORBID,  /* radius/1.0 or no ALPN only */
    RG_RADIUS11_REQUIRE, /* radius/1.1 only: every other client is refused in its handshake */
};

enum rg_when_dead {
    RG_WHEN_DEAD_SILENT,
    RG_WHEN_DEAD_REJECT,
};

/* require-message-authenticator: may an Access-* reply to a request without EAP-Message
 * come unsigned? AUTO: yes, until the server has once signed such a reply (learned per
 * server for the whole process, see backend.h). */
enum rg_require_ma {
    RG_REQUIRE_MA_AUTO,
    RG_REQUIRE_MA_TRUE,
    RG_REQUIRE_MA_FALSE,
};

struct rg_server {
    char *name;                        /* malloced, owned */
    char *host;                        /* malloced, owned: as written */
    struct sockaddr_storage auth_addr; /* resolved host:auth-port */
    struct sockaddr_storage acct_addr; /* resolved host:acct-port */
    socklen_t addr_len;
    uint16_t auth_port;
    uint16_t acct_port;
    char *secret; /* malloced, owned */
    size_t secret_len;
};

struct rg_pool {
    char *name; /* malloced, owned */
    enum rg_policy policy;
    unsigned timeout_s; /* RFC 5080 IRT */
    unsigned retries;   /* RFC 5080 MRC */
    bool status_server;
    enum rg_require_ma require_message_authenticator;
    unsigned max_outstanding; /* per server */
    unsigned dead_time_s;     /* hold-down before retrying a dead server without probes */
    enum rg_when_dead when_dead;
    struct rg_server *servers; /* malloced array, owned */
    size_t nservers;
};

struct rg_realm {
    char *name;           /* malloced, owned; "*" is the default */
    struct rg_pool *pool; /* points into rg_config.pools */
};

struct rg_org {
    char *name; /* malloced, owned */
    char **ca;  /* malloced array of malloced paths, owned */
    size_t nca;
    char **crl; /* malloced array of malloced paths, owned */
    size_t ncrl;
    unsigned crl_refresh_s;
    char *secret; /* malloced, owned; RFC 6614 secret on the TLS side */
    size_t secret_len;
    struct rg_prefix *allow; /* malloced array, owned */
    size_t nallow;
    struct rg_match *match; /* malloced array, owned */
    size_t nmatch;
    struct rg_pool *pool; /* points into rg_config.pools */
    /* Routing by User-Name realm for this org's APs only: its own realm blocks (and, with a
     * single org, the top-level ones). Tenants never share a realm table. */
    struct rg_realm *realms; /* malloced array, owned */
    size_t nrealms;
    bool coa;
    /* line of the org block, for messages */
    int line;
};

struct rg_coa_client {
    char *name; /* malloced, owned */
    char *host; /* malloced, owned */
    struct sockaddr_storage addr;
    socklen_t addr_len;
    char *secret; /* malloced, owned */
    size_t secret_len;
    /* The orgs whose NASes this client may reach (its `orgs` list; every org when the list
     * is left out, which only one org with coa = true allows). */
    const struct rg_org **orgs; /* malloced array of pointers into rg_config.orgs, owned */
    size_t norgs;
};

struct rg_config {
    int refcount; /* atomic; see rg_config_ref/unref */
    char *path;   /* malloced, owned */

    char **includes; /* malloced array of malloced paths, owned: the files include() read,
                        in the order they were read */
    size_t nincludes;

    unsigned workers; /* resolved: 0 in the file becomes the CPU count */
    char *user;       /* malloced, owned, NULL if unset */
    char *pidfile;    /* malloced, owned, NULL if unset */

    struct {
        char **address; /* malloced array of malloced strings, owned */
        size_t naddress;
        uint16_t port;
        unsigned max_connections;
        unsigned max_connections_per_ip; /* authenticated ones; 0: no limit */
        unsigned max_handshakes;         /* connections still in the TLS handshake, all workers */
        unsigned max_handshakes_per_ip;  /* the same, per source address */
        unsigned idle_timeout_s;
        unsigned handshake_timeout_s;
        unsigned packet_timeout_s;        /* a TLS record or RADIUS packet incomplete this long
                                             closes the connection */
        unsigned max_requests_per_second; /* per connection; 0: no limit */
        enum rg_radius11_mode radius11;
        /* PROXY protocol v2 (behind an L4 balancer): only proxy_from may connect, and each
         * connection starts with a header carrying the AP's address (proxy_protocol.h). */
        bool proxy_protocol;
        struct rg_prefix *proxy_from; /* malloced array, owned */
        size_t nproxy_from;
    } listen;

    struct {
        char *certificate; /* malloced, owned */
        char *key;         /* malloced, owned */
        int min_version;   /* 12 or 13 */
        char *ciphers;     /* malloced, owned; "" means the built-in list */
        /* Resumption (radiusdtls-bis "TLS Session Resumption", tls_session.c): sessions kept
         * for all workers, 0 for none; how long one may be resumed (never past the client's
         * certificates). */
        unsigned session_cache;
        unsigned session_lifetime_s;
    } tls;

    struct rg_org *orgs; /* malloced array, owned */
    size_t norgs;
    struct rg_pool *pools; /* malloced array, owned */
    size_t npools;

    struct {
        bool enabled;  /* a coa section is present */
        char *address; /* malloced, owned */
        uint16_t port;
        struct rg_coa_client *clients; /* malloced array, owned */
        size_t nclients;
    } coa;

    struct {
        bool enabled;         /* a cluster section is present */
        char *instance;       /* malloced, owned: this gateway's name in the cluster */
        char *redis_host;     /* malloced, owned */
        uint16_t redis_port;  /* from redis = "host:port" */
        char *redis_password; /* malloced, owned; "" means no AUTH */
        char *secret;         /* malloced, owned: authenticates CoA handed between instances */
        size_t secret_len;
        /* Where the other instances hand this one a CoA: cluster coa-address, or the coa
         * address and port when that is not a wildcard. */
        char *address; /* malloced, owned: numeric host */
        uint16_t port;
    } cluster;

    struct {
        int facility; /* LOG_DAEMON etc. */
        int level;    /* LOG_ERR .. LOG_DEBUG */
        bool requests;
        bool hash_user_names; /* User-Name as a keyed hash in log lines */
        bool hash_macs;       /* Calling-/Called-Station-Id MACs likewise */
        char *hash_key;       /* malloced, owned: the key of those hashes */
        size_t hash_key_len;
    } log;

    struct {
        bool enabled;  /* a metrics block is present */
        char *address; /* malloced, owned */
        uint16_t port;
    } metrics;

    struct {
        unsigned interval_s;
    } stats;
};

/* A diagnostic from loading: "file:line: reason" lines. */
struct rg_config_diag {
    char *text; /* malloced, owned: all errors and warnings, one per line */
    int nerrors;
    int nwarnings;
};

/* Load and validate path. On success returns 0 and *out holds a snapshot with refcount 1.
 * Errors and warnings (e.g. a backend secret of 12 octets or fewer, deprecating-radius
 * §7.1) are appended to diag as "file:line: reason" lines. check_files: also verify that
 * certificate/key/CA/CRL files exist and are readable, and that the directory of an
 * include pattern exists (without it, a missing directory includes nothing). */
int rg_config_load(const char *path, bool check_files, struct rg_config **out,
                   struct rg_config_diag *diag);

/* Same, from a buffer (tests); name is used in messages in place of a file name. */
int rg_config_load_buf(const char *name, const char *buf, bool check_files, struct rg_config **out,
                       struct rg_config_diag *diag);

void rg_config_diag_free(struct rg_config_diag *diag);

struct rg_config *rg_config_ref(struct rg_config *cfg);
void rg_config_unref(struct rg_config *cfg);

/* Pool for a User-Name from one of org's APs: the realm is what follows the last '@'; an
 * exact realm block of the org (case-insensitive), then its realm "*" (which also takes
 * names without a realm), otherwise the org's pool. Another org's realms are never
 * consulted. user_name may be NULL; NULL when org is. */
struct rg_pool *rg_config_route(const struct rg_org *org, const char *user_name);

/* May CoA client cl reach the NASes of org? */
bool rg_config_coa_client_reaches(const struct rg_coa_client *cl, const struct rg_org *org);

/* Blocks by name (exact), NULL if none. */
struct rg_pool *rg_config_find_pool(const struct rg_config *cfg, const char *name);
struct rg_org *rg_config_find_org(const struct rg_config *cfg, const char *name);

/* Does a CN / SAN:DNS / SAN:URI rule's regex match value? Always false for SAN:IP rules:
 * test those with rg_prefix_contains(&m->prefix, addr). */
bool rg_config_match_string(const struct rg_match *m, const char *value);

/* Print a summary of the snapshot (for -t). */
void rg_config_print(const struct rg_config *cfg, FILE *out);

#endif
