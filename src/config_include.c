/* Configuration: include("DIR/PATTERN"), expanded into one text (with a map of its lines
 * back to each file's) before libconfuse parses it. Knows nothing of the schema. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "radsecgw/common.h"
#include "config_internal.h"

/* libconfuse 3.3's include() opens one file and keeps a 10-deep last-in-first-out stack, so
 * a pattern and a stable order are ours: include("PATTERN") at the top level is replaced by
 * every file PATTERN names, in byte order of their names, each stripped of comments like the
 * main file, before libconfuse sees the text. Wildcards (* ? [...]) are allowed in the last
 * path component only; a relative PATTERN is relative to the including file's directory; a
 * pattern with wildcards may match nothing, a plain path must exist. */

#define INCLUDE_MAX_DEPTH 8
#define INCLUDE_MAX_FILES 4096

struct merged {
    char *text; /* malloced, owned */
    size_t len, cap;
    int line; /* line of text's end, from 1 */
};

void rg_config_include_locate(const struct load *ld, int line, const char **name, int *file_line)
{
    const struct include_seg *seg = NULL;
    for (size_t i = 0; i < ld->nsegs && ld->segs[i].merged_line <= line; i++)
        seg = &ld->segs[i];
    if (!seg)
        return;
    *name = seg->file < 0 ? ld->name : ld->files[seg->file];
    *file_line = seg->file_line + (line - seg->merged_line);
}

static int merged_append(struct load *ld, struct merged *m, const char *s, size_t n)
{
    if (m->len + n > CONFIG_MAX_BYTES) {
        rg_config_error_at(ld, 0, "with its included files larger than %u MiB: not a config",
                           CONFIG_MAX_BYTES >> 20);
        return -EFBIG;
    }
    if (m->len + n + 1 > m->cap) {
        size_t cap = m->cap ? m->cap : 16384;
        while (cap < m->len + n + 1)
            cap *= 2;
        char *t = realloc(m->text, cap);
        if (!t) {
            ld->nomem = true;
            return -ENOMEM;
        }
        m->text = t;
        m->cap = cap;
    }
    memcpy(m->text + m->len, s, n);
    m->len += n;
    m->text[m->len] = '\0';
    for (size_t i = 0; i < n; i++)
        m->line += s[i] == '\n';
    return 0;
}

/* From here on the merged text is line `line` of file. Starts a new line first. */
static int merged_segment(struct load *ld, struct merged *m, int file, int line)
{
    if (m->len && m->text[m->len - 1] != '\n' && merged_append(ld, m, "\n", 1) != 0)
        return -ENOMEM;
    if (ld->nsegs == ld->segs_cap) {
        size_t cap = ld->segs_cap ? ld->segs_cap * 2 : 16;
        struct include_seg *segs = realloc(ld->segs, cap * sizeof(*segs));
        if (!segs) {
            ld->nomem = true;
            return -ENOMEM;
        }
        ld->segs = segs;
        ld->segs_cap = cap;
    }
    ld->segs[ld->nsegs++] = (struct include_seg){m->line, file, line};
    return 0;
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The files pattern names, sorted; *n 0 and NULL when a wildcard matches nothing. Errors
 * are reported at line of the including file. */
static int include_glob(struct load *ld, int line, const char *pattern, char ***out, size_t *n)
{
    *out = NULL;
    *n = 0;
    const char *slash = strrchr(pattern, '/');
    const char *base = slash ? slash + 1 : pattern;
    size_t dirlen = slash ? (size_t)(slash - pattern) : 0;
    char dir[4096];
    if (dirlen >= sizeof(dir)) {
        rg_config_error_at(ld, line, "include: path too long");
        return -EINVAL;
    }
    memcpy(dir, pattern, dirlen);
    dir[dirlen] = '\0';
    if (!slash)
        strcpy(dir, ".");
    else if (dirlen == 0)
        strcpy(dir, "/");
    if (strpbrk(dir, "*?[")) {
        rg_config_error_at(ld, line, "include \"%s\": wildcards are allowed in the file name only",
                           pattern);
        return -EINVAL;
    }
    if (!*base) {
        rg_config_error_at(ld, line, "include \"%s\": names a directory, not files", pattern);
        return -EINVAL;
    }
    if (!strpbrk(base, "*?[")) {
        char **v = malloc(sizeof(*v));
        if (!v || !(v[0] = strdup(pattern))) {
            free(v);
            ld->nomem = true;
            return -ENOMEM;
        }
        *out = v;
        *n = 1;
        return 0;
    }
    DIR *d = opendir(dir);
    if (!d && errno == ENOENT && !ld->check_files)
        return 0; /* files are not checked (tests of a sample that names /etc) */
    if (!d) {
        rg_config_error_at(ld, line, "include \"%s\": cannot open directory %s: %s", pattern, dir,
                           strerror(errno));
        return -errno;
    }
    char **v = NULL;
    size_t cap = 0, count = 0;
    int rc = 0;
    for (struct dirent *e; (e = readdir(d));) {
        /* FNM_PERIOD: "*.conf" does not take hidden files (editor and dpkg leftovers) */
        if (fnmatch(base, e->d_name, FNM_PERIOD) != 0)
            continue;
        char path[4096 + 256];
        snprintf(path, sizeof(path), "%s/%s", dirlen || !slash ? dir : "", e->d_name);
        struct stat st;
        if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
            continue;
        if (count == INCLUDE_MAX_FILES) {
            rg_config_error_at(ld, line, "include \"%s\": more than %d files", pattern,
                               INCLUDE_MAX_FILES);
            rc = -E2BIG;
            break;
        }
        if (count == cap) {
            cap = cap ? cap * 2 : 32;
            char **nv = realloc(v, cap * sizeof(*nv));
            if (!nv) {
                rc = -ENOMEM;
                break;
            }
            v = nv;
        }
        if (!(v[count] = strdup(path))) {
            rc = -ENOMEM;
            break;
        }
        count++;
    }
    closedir(d);
    if (rc == -ENOMEM)
        ld->nomem = true;
    if (rc != 0) {
        for (size_t i = 0; i < count; i++)
            free(v[i]);
        free(v);
        return rc;
    }
    if (count)
        qsort(v, count, sizeof(*v), name_cmp);
    *out = v;
    *n = count;
    return 0;
}

static int include_text(struct load *ld, struct merged *m, int file, const char *text, size_t len,
                        int depth);

/* Read one included file, strip its comments (errors name it) and splice it in. */
static int include_file(struct load *ld, struct merged *m, int line, const char *path, int depth)
{
    if (depth >= INCLUDE_MAX_DEPTH) {
        rg_config_error_at(ld, line,
                           "include \"%s\": included files nested more than %d deep (a loop?)",
                           path, INCLUDE_MAX_DEPTH);
        return -ELOOP;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
        (size_t)st.st_size > CONFIG_MAX_BYTES) {
        int err = fd < 0 ? errno : 0;
        rg_config_error_at(ld, line, "include \"%s\": %s", path,
                           err ? strerror(err) : "not a regular file of at most 16 MiB");
        if (fd >= 0)
            close(fd);
        return -EINVAL;
    }
    size_t size = (size_t)st.st_size, got = 0;
    char *buf = malloc(size + 1);
    while (buf && got < size) {
        ssize_t r = read(fd, buf + got, size - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    if (!buf) {
        ld->nomem = true;
        return -ENOMEM;
    }
    buf[got] = '\0';

    char **files = realloc(ld->files, (ld->nfiles + 1) * sizeof(*files));
    char *name = strdup(path);
    if (!files || !name) {
        if (files)
            ld->files = files;
        free(name);
        free(buf);
        ld->nomem = true;
        return -ENOMEM;
    }
    ld->files = files;
    int idx = (int)ld->nfiles;
    ld->files[ld->nfiles++] = name;

    /* rg_config_strip_comments reports in lines of its own input: of this file while it runs */
    struct include_seg *segs = ld->segs;
    size_t nsegs = ld->nsegs;
    const char *outer = ld->name;
    ld->segs = NULL;
    ld->nsegs = 0;
    ld->name = name;
    char *text = NULL;
    if (memchr(buf, '\0', got))
        rg_config_error_at(ld, 0, "contains a NUL byte: not a text file");
    else
        text = rg_config_strip_comments(ld, buf, got);
    ld->name = outer;
    ld->segs = segs;
    ld->nsegs = nsegs;
    free(buf);
    if (!text)
        return -EINVAL;
    int rc = merged_segment(ld, m, idx, 1);
    if (rc == 0)
        rc = include_text(ld, m, idx, text, got, depth + 1);
    free(text);
    return rc;
}

/* Directory of file (-1: the main file), for relative patterns; "" when it has none. */
static void include_base(const struct load *ld, int file, char *dir, size_t len)
{
    const char *name = file < 0 ? ld->name : ld->files[file];
    const char *slash = strrchr(name, '/');
    size_t n = slash ? (size_t)(slash - name) + 1 : 0;
    snprintf(dir, len, "%.*s", (int)n, name);
}

static bool ident_char(char c)
{
    return isalnum((unsigned char)c) || c == '_' || c == '-';
}

/* Parse include ( "PATTERN" ) at text + i; returns the end offset, or 0 if malformed.
 * The pattern is copied into pat (quotes and escapes removed). */
static size_t include_parse(const char *text, size_t len, size_t i, char *pat, size_t patlen)
{
    i += strlen("include");
    while (i < len && isspace((unsigned char)text[i]))
        i++;
    if (i >= len || text[i] != '(')
        return 0;
    i++;
    while (i < len && isspace((unsigned char)text[i]))
        i++;
    if (i >= len || (text[i] != '"' && text[i] != '\''))
        return 0;
    char q = text[i++];
    size_t o = 0;
    for (; i < len && text[i] != q; i++) {
        if (text[i] == '\\' && i + 1 < len)
            i++;
        if (text[i] == '\n' || o + 1 >= patlen)
            return 0;
        pat[o++] = text[i];
    }
    if (i >= len || o == 0)
        return 0;
    pat[o] = '\0';
    i++;
    while (i < len && isspace((unsigned char)text[i]))
        i++;
    if (i >= len || text[i] != ')')
        return 0;
    return i + 1;
}

/* Copy text (comments already blanked) of file into m, replacing each top-level include. */
static int include_text(struct load *ld, struct merged *m, int file, const char *text, size_t len,
                        int depth)
{
    int line = 1;
    size_t depth_braces = 0, from = 0;
    char quote = 0;
    for (size_t i = 0; i < len; i++) {
        char c = text[i];
        if (quote) {
            if (c == '\\' && i + 1 < len)
                i++;
            else if (c == quote)
                quote = 0;
            if (text[i] == '\n')
                line++;
            continue;
        }
        if (c == '\n') {
            line++;
        } else if (c == '"' || c == '\'') {
            quote = c;
        } else if (c == '{') {
            depth_braces++;
        } else if (c == '}' && depth_braces) {
            depth_braces--;
        } else if (c == 'i' && strncmp(text + i, "include", 7) == 0 &&
                   (i == 0 || !ident_char(text[i - 1])) &&
                   (i + 7 >= len || !ident_char(text[i + 7]))) {
            /* the line of the directive, in this file's numbering, for messages */
            int here = line;
            if (merged_append(ld, m, text + from, i - from) != 0)
                return -ENOMEM;
            int rc = merged_segment(ld, m, file, here); /* messages below: this file, here */
            if (rc != 0)
                return rc;
            char pat[4096];
            size_t end = include_parse(text, len, i, pat, sizeof(pat));
            if (!end) {
                rg_config_error_at(ld, m->line, "include: expected include(\"PATTERN\")");
                return -EINVAL;
            }
            if (depth_braces) {
                rg_config_error_at(ld, m->line,
                                   "include is allowed at the top level only, not inside a "
                                   "block");
                return -EINVAL;
            }
            char full[8192];
            if (pat[0] == '/')
                snprintf(full, sizeof(full), "%s", pat);
            else {
                char dir[4096];
                include_base(ld, file, dir, sizeof(dir));
                snprintf(full, sizeof(full), "%s%s", dir, pat);
            }
            char **paths;
            size_t n;
            rc = include_glob(ld, m->line, full, &paths, &n);
            for (size_t k = 0; k < n; k++) {
                if (rc == 0)
                    rc = merged_segment(ld, m, file, here);
                if (rc == 0)
                    rc = include_file(ld, m, m->line, paths[k], depth);
                free(paths[k]);
            }
            free(paths);
            if (rc != 0)
                return rc;
            for (size_t k = i; k < end; k++)
                line += text[k] == '\n';
            if (merged_segment(ld, m, file, line) != 0)
                return -ENOMEM;
            from = end;
            i = end - 1;
        }
    }
    return merged_append(ld, m, text + from, len - from);
}

/* Splice every include of the main file's text in: *text and *len become the merged text,
 * and ld maps its lines back. Nothing changes when the file includes nothing. */
int rg_config_include_expand(struct load *ld, char **text, size_t *len)
{
    if (!strstr(*text, "include"))
        return 0;
    struct merged m = {.line = 1};
    if (merged_segment(ld, &m, -1, 1) != 0)
        return -ENOMEM;
    int rc = include_text(ld, &m, -1, *text, *len, 0);
    if (rc != 0) {
        free(m.text);
        return rc;
    }
    free(*text);
    *text = m.text;
    *len = m.len;
    return 0;
}

void rg_config_include_free(struct load *ld)
{
    for (size_t i = 0; i < ld->nfiles; i++)
        free(ld->files[i]);
    free(ld->files);
    free(ld->segs);
    ld->files = NULL;
    ld->segs = NULL;
    ld->nfiles = ld->nsegs = ld->segs_cap = 0;
}
