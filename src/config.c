/* Configuration: the entry points (load a file or a buffer into a snapshot), reference
 * counting, and the lookups other modules make on a snapshot. The pieces: config_load.c
 * (diagnostics, line tracking, comments), config_include.c, config_check.c (per-value
 * checks), config_schema.c, config_build.c (the snapshot), config_print.c (-t). Opens no
 * sockets and builds no TLS objects (tls.c builds those from the snapshot). */
#include <confuse.h>
#include <regex.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "radsecgw/common.h"
#include "radsecgw/config.h"
#include "config_internal.h"

static int count_lines(const char *buf, size_t len)
{
    int n = 1;
    for (size_t i = 0; i < len; i++)
        if (buf[i] == '\n' && i + 1 < len)
            n++;
    return n;
}

static int load_text(const char *name, const char *buf, size_t len, bool check_files,
                     struct rg_config **out, struct rg_config_diag *diag)
{
    struct rg_config_diag scratch = {0};
    struct load ld = {
        .name = name,
        .check_files = check_files,
        .diag = diag ? diag : &scratch,
    };
    ld.diag_len = ld.diag->text ? strlen(ld.diag->text) : 0;
    *out = NULL;

    if (memchr(buf, '\0', len)) {
        rg_config_error_at(&ld, 0, "contains a NUL byte: not a text file");
        rg_config_diag_free(&scratch);
        return -EINVAL;
    }
    ld.eof_line = count_lines(buf, len);

    struct rg_config *cfg = calloc(1, sizeof(*cfg));
    char *text = rg_config_strip_comments(&ld, buf, len);
    if (text && rg_config_include_expand(&ld, &text, &len) != 0) {
        free(text);
        text = NULL;
    }
    if (!cfg || !text) {
        free(cfg);
        free(text);
        rg_config_include_free(&ld);
        rg_config_diag_free(&scratch);
        return ld.nerrors ? -EINVAL : -ENOMEM;
    }
    if (ld.segs)
        ld.eof_line = count_lines(text, len);

    rg_config_current = &ld;
    cfg_t *root = cfg_init(rg_config_root_opts, CFGF_NONE);
    int rc = -ENOMEM;
    if (root) {
        cfg_set_error_function(root, rg_config_on_confuse_error);
        /* fmemopen of an empty buffer fails on older glibc: give it a blank line */
        FILE *fp = fmemopen(len ? text : "\n", len ? len : 1, "r");
        if (fp) {
            if (cfg_parse_fp(root, fp) != CFG_SUCCESS && ld.nerrors == 0)
                rg_config_error_at(&ld, root->line, "syntax error");
            fclose(fp);
            if (ld.nerrors == 0 && !ld.nomem)
                rg_config_build(&ld, root, cfg);
            rc = 0;
        }
        cfg_free(root);
    }
    rg_config_current = NULL;

    if (ld.nomem)
        rc = -ENOMEM;
    else if (rc == 0 && ld.nerrors > 0)
        rc = -EINVAL;
    if (rc == 0) {
        cfg->refcount = 1;
        cfg->path = strdup(name);
        if (!cfg->path)
            rc = -ENOMEM;
        cfg->includes = ld.files;
        cfg->nincludes = ld.nfiles;
        ld.files = NULL;
        ld.nfiles = 0;
    }
    if (rc == 0)
        *out = cfg;
    else
        rg_config_free(cfg);

    free(text);
    free(ld.marks);
    free(ld.sections);
    rg_config_include_free(&ld);
    rg_config_diag_free(&scratch);
    return rc;
}

int rg_config_load_buf(const char *name, const char *buf, bool check_files, struct rg_config **out,
                       struct rg_config_diag *diag)
{
    return load_text(name, buf, strlen(buf), check_files, out, diag);
}

int rg_config_load(const char *path, bool check_files, struct rg_config **out,
                   struct rg_config_diag *diag)
{
    struct rg_config_diag scratch = {0};
    struct load ld = {.name = path, .diag = diag ? diag : &scratch};
    ld.diag_len = ld.diag->text ? strlen(ld.diag->text) : 0;
    *out = NULL;

    FILE *fp = fopen(path, "re");
    if (!fp) {
        int err = errno;
        rg_config_error_at(&ld, 0, "cannot open: %s", strerror(err));
        rg_config_diag_free(&scratch);
        return -err;
    }
    char *buf = NULL;
    size_t len = 0, cap = 0;
    int rc = 0;
    for (;;) {
        if (len + 4096 > cap) {
            cap = cap ? cap * 2 : 16384;
            char *b = cap <= CONFIG_MAX_BYTES + 4096 ? realloc(buf, cap + 1) : NULL;
            if (!b) {
                rc = cap > CONFIG_MAX_BYTES ? -EFBIG : -ENOMEM;
                break;
            }
            buf = b;
        }
        size_t got = fread(buf + len, 1, cap - len, fp);
        len += got;
        if (got == 0) {
            if (ferror(fp))
                rc = -EIO;
            break;
        }
    }
    fclose(fp);
    if (rc == -EFBIG)
        rg_config_error_at(&ld, 0, "larger than %u MiB: not a config file", CONFIG_MAX_BYTES >> 20);
    else if (rc != 0)
        rg_config_error_at(&ld, 0, "cannot read: %s", strerror(-rc));
    if (rc == 0) {
        buf[len] = '\0';
        rc = load_text(path, buf, len, check_files, out, diag);
    }
    free(buf);
    rg_config_diag_free(&scratch);
    return rc;
}

void rg_config_diag_free(struct rg_config_diag *diag)
{
    if (!diag)
        return;
    free(diag->text);
    memset(diag, 0, sizeof(*diag));
}

struct rg_config *rg_config_ref(struct rg_config *cfg)
{
    __atomic_add_fetch(&cfg->refcount, 1, __ATOMIC_RELAXED);
    return cfg;
}

void rg_config_unref(struct rg_config *cfg)
{
    if (!cfg)
        return;
    /* acq_rel: the last owner must see every other owner's reads finished before freeing */
    int left = __atomic_sub_fetch(&cfg->refcount, 1, __ATOMIC_ACQ_REL);
    RG_REQUIRE(left >= 0);
    if (left == 0)
        rg_config_free(cfg);
}

struct rg_pool *rg_config_find_pool(const struct rg_config *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->npools; i++)
        if (cfg->pools[i].name && strcmp(cfg->pools[i].name, name) == 0)
            return &cfg->pools[i];
    return NULL;
}

struct rg_org *rg_config_find_org(const struct rg_config *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->norgs; i++)
        if (cfg->orgs[i].name && strcmp(cfg->orgs[i].name, name) == 0)
            return &cfg->orgs[i];
    return NULL;
}

struct rg_pool *rg_config_route(const struct rg_org *org, const char *user_name)
{
    if (!org)
        return NULL;
    const char *at = user_name ? strrchr(user_name, '@') : NULL;
    if (at && at[1]) {
        for (size_t i = 0; i < org->nrealms; i++)
            if (strcasecmp(org->realms[i].name, at + 1) == 0)
                return org->realms[i].pool;
    }
    for (size_t i = 0; i < org->nrealms; i++)
        if (strcmp(org->realms[i].name, "*") == 0)
            return org->realms[i].pool;
    return org->pool;
}

bool rg_config_coa_client_reaches(const struct rg_coa_client *cl, const struct rg_org *org)
{
    for (size_t i = 0; org && i < cl->norgs; i++)
        if (cl->orgs[i] == org)
            return true;
    return false;
}

bool rg_config_match_string(const struct rg_match *m, const char *value)
{
    if (m->kind == RG_MATCH_SAN_IP || !m->regex || !value)
        return false;
    return regexec(m->regex, value, 0, NULL, 0) == 0;
}
