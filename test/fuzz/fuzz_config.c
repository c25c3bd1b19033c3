/* libFuzzer driver for the config parser (src/config*.c over libconfuse's cfg_parse_buf):
 * any text either loads into a snapshot or fails with errors that each name a file (the
 * text's own or one its include() read) and, where there is one, its line; never a crash, a
 * leak or a read past the text. Certificates and CAs are not opened (check_files false).
 * The text is named as a file in an empty directory of the driver's, so a relative
 * include() (relative to the including file) finds nothing (include("*") from the build directory
 * once read CMake's files, whose errors rightly named them, not the text). */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "radsecgw/config.h"

static void check(int cond)
{
    if (!cond)
        abort();
}

/* Every line of diag is "NAME:LINE: message" or "NAME: message", with a non-empty NAME. */
static bool every_line_names_a_file(const char *text)
{
    for (const char *line = text; *line;) {
        const char *end = strchr(line, '\n');
        const char *colon = memchr(line, ':', end ? (size_t)(end - line) : strlen(line));
        if (!colon || colon == line || colon[1] == '\0')
            return false;
        line = end ? end + 1 : line + strlen(line);
    }
    return true;
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char empty_dir[] = "/tmp/fuzz_config.XXXXXX";
static char name[sizeof(empty_dir) + 16];

static void remove_empty_dir(void)
{
    rmdir(empty_dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    check(mkdtemp(empty_dir) != NULL);
    snprintf(name, sizeof(name), "%s/fuzz.conf", empty_dir);
    atexit(remove_empty_dir);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 65536)
        return 0;
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    struct rg_config *cfg = NULL;
    struct rg_config_diag diag = {0};
    int rc = rg_config_load_buf(name, text, false, &cfg, &diag);
    if (rc == 0) {
        check(cfg != NULL && diag.nerrors == 0);
        check(cfg->listen.naddress > 0 && cfg->workers > 0);
        check(cfg->listen.packet_timeout_s >= 1);
        rg_config_unref(cfg);
    } else {
        check(cfg == NULL && diag.nerrors > 0 && diag.text != NULL);
        check(every_line_names_a_file(diag.text));
    }
    rg_config_diag_free(&diag);
    free(text);
    return 0;
}
