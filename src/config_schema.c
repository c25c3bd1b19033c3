/* Configuration: the libconfuse schema (the cfg_opt_t tables) of DESIGN.md's keys, each
 * with its default and parse callback. The keys' meaning lives in config_build.c. */

#include "config_internal.h"

/* Every default is given as text (def.parsed) so that it passes through the callbacks when a
 * section is created: that is how a block's opening line is learnt. */
#define OPT_STR(n, d)                                                                              \
    {                                                                                              \
        .name = n, .type = CFGT_STR, .def.parsed = d, .parsecb = rg_config_parse_str               \
    }
#define OPT_STR_LIST(n, d)                                                                         \
    {                                                                                              \
        .name = n, .type = CFGT_STR, .flags = CFGF_LIST, .def.parsed = d,                          \
        .parsecb = rg_config_parse_str                                                             \
    }
#define OPT_INT(n, d)                                                                              \
    {                                                                                              \
        .name = n, .type = CFGT_INT, .def.parsed = d, .parsecb = rg_config_parse_int               \
    }
#define OPT_BOOL(n, d)                                                                             \
    {                                                                                              \
        .name = n, .type = CFGT_BOOL, .def.parsed = d, .parsecb = rg_config_parse_bool             \
    }
#define OPT_SEC(n, sub, f)                                                                         \
    {                                                                                              \
        .name = n, .type = CFGT_SEC, .flags = CFGF_MULTI | (f), .subopts = sub                     \
    }
#define NAMED (CFGF_TITLE | CFGF_NO_TITLE_DUPES)

static cfg_opt_t listen_opts[] = {
    OPT_STR_LIST("address", "{\"0.0.0.0\", \"::\"}"),
    OPT_INT("port", "2083"),
    OPT_INT("max-connections", "100000"),
    OPT_INT("max-connections-per-ip", "0"),
    OPT_INT("max-handshakes", "4096"),
    OPT_INT("max-handshakes-per-ip", "64"),
    OPT_INT("idle-timeout", "900"),
    OPT_INT("handshake-timeout", "10"),
    OPT_INT("packet-timeout", "5"),
    OPT_INT("max-requests-per-second", "0"),
    OPT_STR("radius-1.1", "\"allow\""),
    OPT_BOOL("proxy-protocol", "false"),
    OPT_STR_LIST("proxy-from", NULL),
    CFG_END(),
};

static cfg_opt_t tls_opts[] = {
    OPT_STR("certificate", "\"\""),
    OPT_STR("key", "\"\""),
    OPT_STR("min-version", "\"1.2\""),
    OPT_STR("ciphers", "\"\""),
    OPT_INT("session-cache", "10000"),
    OPT_INT("session-lifetime", "86400"),
    CFG_END(),
};

static cfg_opt_t realm_opts[] = {
    OPT_STR("pool", "\"\""),
    CFG_END(),
};

static cfg_opt_t org_opts[] = {
    OPT_STR_LIST("ca", NULL),
    OPT_STR_LIST("crl", NULL),
    OPT_INT("crl-refresh", "3600"),
    /* RFC 6614 §2.3: the shared secret on RADIUS/TLS is "radsec" unless configured */
    OPT_STR("secret", "\"radsec\""),
    OPT_STR_LIST("allow", "{\"0.0.0.0/0\", \"::/0\"}"),
    OPT_STR_LIST("match", NULL),
    OPT_STR("pool", "\"\""),
    OPT_BOOL("coa", "true"),
    OPT_SEC("realm", realm_opts, NAMED),
    CFG_END(),
};

static cfg_opt_t server_opts[] = {
    OPT_STR("host", "\"\""),
    OPT_INT("auth-port", "1812"),
    OPT_INT("acct-port", "1813"),
    OPT_STR("secret", "\"\""),
    CFG_END(),
};

static cfg_opt_t pool_opts[] = {
    OPT_STR("policy", "\"failover\""),
    OPT_INT("timeout", "2"),
    OPT_INT("retries", "3"),
    OPT_BOOL("status-server", "true"),
    OPT_STR("require-message-authenticator", "\"auto\""),
    OPT_INT("max-outstanding", "16384"),
    OPT_STR("when-dead", "\"silent\""),
    OPT_INT("dead-time", "30"),
    OPT_SEC("server", server_opts, NAMED),
    CFG_END(),
};

static cfg_opt_t coa_client_opts[] = {
    OPT_STR("host", "\"\""),
    OPT_STR("secret", "\"\""),
    OPT_STR_LIST("orgs", NULL),
    CFG_END(),
};

static cfg_opt_t coa_opts[] = {
    OPT_STR("address", "\"127.0.0.1\""),
    OPT_INT("port", "3799"),
    OPT_SEC("client", coa_client_opts, NAMED),
    CFG_END(),
};

static cfg_opt_t cluster_opts[] = {
    OPT_STR("instance", "\"\""),       OPT_STR("redis", "\"127.0.0.1:6379\""),
    OPT_STR("redis-password", "\"\""), OPT_STR("secret", "\"\""),
    OPT_STR("coa-address", "\"\""),    CFG_END(),
};

static cfg_opt_t log_opts[] = {
    OPT_STR("facility", "\"daemon\""),
    OPT_STR("level", "\"info\""),
    OPT_BOOL("requests", "true"),
    OPT_BOOL("hash-user-names", "false"),
    OPT_BOOL("hash-macs", "false"),
    OPT_STR("hash-key", "\"\""),
    CFG_END(),
};

static cfg_opt_t metrics_opts[] = {
    OPT_STR("address", "\"127.0.0.1\""),
    OPT_INT("port", "9813"),
    CFG_END(),
};

static cfg_opt_t stats_opts[] = {
    OPT_INT("interval", "300"),
    CFG_END(),
};

cfg_opt_t rg_config_root_opts[] = {
    OPT_INT("workers", "0"),
    OPT_STR("user", NULL),
    OPT_STR("pidfile", NULL),
    /* Unnamed blocks are MULTI too, so that a second one is caught rather than merged and
     * an absent one can be told from a present one (coa). */
    OPT_SEC("listen", listen_opts, 0),
    OPT_SEC("tls", tls_opts, 0),
    OPT_SEC("org", org_opts, NAMED),
    OPT_SEC("pool", pool_opts, NAMED),
    OPT_SEC("realm", realm_opts, NAMED), /* accepted only with a single org */
    OPT_SEC("coa", coa_opts, 0),
    OPT_SEC("cluster", cluster_opts, 0),
    OPT_SEC("log", log_opts, 0),
    OPT_SEC("metrics", metrics_opts, 0),
    OPT_SEC("stats", stats_opts, 0),
    CFG_END(),
};
