/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Standalone driver for a fuzz target built without libFuzzer: feeds every
 * file named on the command line (directories are walked one level) to
 * LLVMFuzzerTestOneInput, so the stored corpus runs as a regression test
 * under any compiler and sanitizer.
 */
#include <glib.h>
#include <stdint.h>
#include <stdio.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static gboolean
replay_file(const char *path, guint *count)
{
    g_autofree char *contents = NULL;
    gsize length = 0;
    g_autoptr(GError) error = NULL;

    if (!g_file_get_contents(path, &contents, &length, &error)) {
        fprintf(stderr, "replay: %s\n", error->message);
        return FALSE;
    }
    LLVMFuzzerTestOneInput((const uint8_t *)contents, length);
    (*count)++;
    return TRUE;
}

int
main(int argc, char **argv)
{
    guint count = 0;

    for (int i = 1; i < argc; i++) {
        if (!g_file_test(argv[i], G_FILE_TEST_IS_DIR)) {
            if (!replay_file(argv[i], &count))
                return 1;
            continue;
        }
        g_autoptr(GError) error = NULL;
        g_autoptr(GDir) dir = g_dir_open(argv[i], 0, &error);
        if (!dir) {
            fprintf(stderr, "replay: %s\n", error->message);
            return 1;
        }
        const char *name;
        while ((name = g_dir_read_name(dir))) {
            g_autofree char *path = g_build_filename(argv[i], name, NULL);
            if (!replay_file(path, &count))
                return 1;
        }
    }
    if (count == 0) {
        fprintf(stderr, "replay: no input replayed\n");
        return 1;
    }
    printf("replayed %u inputs\n", count);
    return 0;
}
