/* Private to the config*.c files: the state of one load (diagnostics, the line each value
 * was written on, the include() segments) and the helpers the pieces share. The public
 * interface is include/radsecgw/config.h. */
#ifndef RADSECGW_CONFIG_INTERNAL_H
#define RADSECGW_CONFIG_INTERNAL_H

#include <confuse.h>

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#include "radsecgw/config.h"

/* A config file larger than this is a mistake, not a config. */
#define CONFIG_MAX_BYTES (16u << 20)

/* Where each value was written: libconfuse 3.3 keeps no line per option, so every value
 * passes through our parse callbacks, which note the line the lexer is on. */
struct mark {
    const cfg_t *sec;
    const char *opt; /* libconfuse's copy of the option name, lives as long as the tree */
    int line;
};

/* Per section: its opening line and the range of marks written inside it. A section's
 * defaults are parsed when libconfuse meets its '{', so its first mark carries that line. */
struct section_info {
    const cfg_t *sec;
    int open_line;
    size_t first_mark, last_mark;
};

struct load {
    const char *name; /* file name as given, for messages */
    bool check_files;
    int eof_line; /* last line of the file: where a missing block would go */
    struct rg_config_diag *diag;
    size_t diag_len;
    int nerrors;
    bool nomem;

    struct mark *marks; /* malloced, owned */
    size_t nmarks, marks_cap;
    struct section_info *sections; /* malloced open-addressing table, owned */
    size_t sections_cap;           /* power of two */
    size_t nsections;

    /* include(): the text libconfuse parses is the main file with every included file
     * spliced in; segs maps its lines back to (file, line) for messages. */
    struct include_seg *segs; /* malloced, owned; NULL: one file, lines are its own */
    size_t nsegs, segs_cap;
    char **files; /* malloced array of malloced paths, owned (moved to the snapshot) */
    size_t nfiles;
};

/* Lines from merged_line on come from line file_line of file (-1: the main file). */
struct include_seg {
    int merged_line;
    int file;
    int file_line;
};

/* libconfuse's lexer is global, so loading is single-threaded anyway (main thread); the
 * callbacks find the load in progress here (config.c sets it around cfg_parse_fp). */
extern __thread struct load *rg_config_current;

/* config_load.c: diagnostics and the line of every value */
void __attribute__((format(printf, 3, 4)))
rg_config_error_at(struct load *ld, int line, const char *fmt, ...);
void __attribute__((format(printf, 3, 4)))
rg_config_warn_at(struct load *ld, int line, const char *fmt, ...);
/* Every parse callback calls this first: it notes the line the lexer is on. */
void rg_config_mark(cfg_t *cfg, cfg_opt_t *opt);
int rg_config_sec_line(const struct load *ld, const cfg_t *sec);
int rg_config_opt_line_idx(const struct load *ld, const cfg_t *sec, const char *opt, unsigned idx);
int rg_config_opt_line(const struct load *ld, const cfg_t *sec, const char *opt);
/* Comments blanked (newlines kept), malloced; NULL with the error noted. */
char *rg_config_strip_comments(struct load *ld, const char *in, size_t len);

/* config_include.c: include("DIR/PATTERN") spliced into the text before libconfuse sees it */
void rg_config_include_locate(const struct load *ld, int line, const char **name, int *file_line);
int rg_config_include_expand(struct load *ld, char **text, size_t *len);
void rg_config_include_free(struct load *ld);

/* config_check.c: the parse callbacks of the schema and the checks they make */
int rg_config_parse_int(cfg_t *cfg, cfg_opt_t *opt, const char *value, void *result);
int rg_config_parse_bool(cfg_t *cfg, cfg_opt_t *opt, const char *value, void *result);
int rg_config_parse_str(cfg_t *cfg, cfg_opt_t *opt, const char *value, void *result);
void rg_config_on_confuse_error(cfg_t *cfg, const char *fmt, va_list ap);
int rg_config_match_parse(const char *text, struct rg_match *m, char *why, size_t whylen);
void rg_config_match_free(struct rg_match *m);
bool rg_config_in_list(const char *value, const char *const *names);
/* In the order of enum rg_radius11_mode. */
extern const char *const rg_config_radius11_names[];
extern const char *const rg_config_require_ma_true[];
extern const char *const rg_config_require_ma_false[];

/* config_schema.c */
extern cfg_opt_t rg_config_root_opts[];

/* config_build.c: the snapshot from the parsed tree */
void rg_config_build(struct load *ld, cfg_t *root, struct rg_config *cfg);
void rg_config_free(struct rg_config *cfg);

#endif
