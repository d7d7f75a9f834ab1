/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The xl.cfg parser: syntax, every key, every error with its exact
 * FILE:LINE:COL, warnings, and two real-world files under
 * tests/data/xlcfg/.
 */
#include <glib.h>
#include <glib/gstdio.h>
#include <string.h>

#include "oriel-build-config.h"
#include "xlcfg-priv.h"
#include "xlcfg.h"

/* The file name every inline config is parsed under. */
#define NAME "t.cfg"

static OrielDomainConfig *
parse(const char *text, GPtrArray **ret_warnings, GError **error)
{
    return oriel_xlcfg_parse_data(text, strlen(text), NAME, ret_warnings, error);
}

/* Parses @text, which must load; returns the config and its warnings. */
static OrielDomainConfig *
parse_ok(const char *text, GPtrArray **ret_warnings)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(GPtrArray) warnings = NULL;
    OrielDomainConfig *config = parse(text, &warnings, &error);

    g_assert_no_error(error);
    g_assert_nonnull(config);
    g_assert_nonnull(warnings);
    if (ret_warnings)
        *ret_warnings = g_steal_pointer(&warnings);
    return config;
}

/* Parses @text, which must load without a single warning. */
static OrielDomainConfig *
parse_clean(const char *text)
{
    g_autoptr(GPtrArray) warnings = NULL;
    OrielDomainConfig *config = parse_ok(text, &warnings);

    for (guint i = 0; i < warnings->len; i++)
        g_test_message("unexpected warning: %s", (char *)g_ptr_array_index(warnings, i));
    g_assert_cmpuint(warnings->len, ==, 0);
    return config;
}

static void
assert_parse_error(const char *text, gsize length, OrielXlcfgError code, const char *message)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(GPtrArray) warnings = NULL;
    g_autoptr(OrielDomainConfig) config = oriel_xlcfg_parse_data(text, length, NAME, &warnings, &error);

    g_assert_null(config);
    g_assert_null(warnings); /* outputs are set only on success */
    g_assert_error(error, ORIEL_XLCFG_ERROR, (gint)code);
    g_assert_cmpstr(error->message, ==, message);
}

static gboolean
has_warning(GPtrArray *warnings, const char *warning)
{
    for (guint i = 0; i < warnings->len; i++)
        if (g_str_equal(g_ptr_array_index(warnings, i), warning))
            return TRUE;
    return FALSE;
}

static void
assert_warning(GPtrArray *warnings, const char *warning)
{
    if (!has_warning(warnings, warning)) {
        for (guint i = 0; i < warnings->len; i++)
            g_test_message("warning: %s", (char *)g_ptr_array_index(warnings, i));
        g_error("missing warning: %s", warning);
    }
}

static OrielDiskConfig *
disk_at(OrielDomainConfig *config, guint index)
{
    g_assert_cmpuint(index, <, config->disks->len);
    return g_ptr_array_index(config->disks, index);
}

static OrielNicConfig *
nic_at(OrielDomainConfig *config, guint index)
{
    g_assert_cmpuint(index, <, config->nics->len);
    return g_ptr_array_index(config->nics, index);
}

static char *
data_path(const char *name)
{
    const char *source = g_getenv("ORIEL_SOURCE_DIR");

    return g_build_filename(source ? source : ORIEL_SOURCE_DIR, "tests", "data", "xlcfg", name, NULL);
}

/* ---- syntax ----------------------------------------------------------- */

static void
test_syntax_separators(void)
{
    g_autoptr(OrielDomainConfig) config =
        parse_clean("name = \"a\"; memory = 1024;vcpus=2\n\n;;\n  maxvcpus = 4  ;\n");

    g_assert_cmpstr(config->name, ==, "a");
    g_assert_cmpuint(config->memory_mib, ==, 1024);
    g_assert_cmpuint(config->vcpus, ==, 2);
    g_assert_cmpuint(config->maxvcpus, ==, 4);
}

static void
test_syntax_quotes(void)
{
    g_autoptr(OrielDomainConfig) config =
        parse_clean("name = 'single'\nkernel = \"/k/it's\"\ncmdline = 'say \"hi\"'\n");

    g_assert_cmpstr(config->name, ==, "single");
    g_assert_cmpstr(config->kernel, ==, "/k/it's");
    g_assert_cmpstr(config->cmdline, ==, "say \"hi\"");
}

static void
test_syntax_escapes(void)
{
    g_autoptr(OrielDomainConfig) config = parse_clean(
        "name = 'e'\nkernel = '/k'\n"
        "cmdline = 'n\\n t\\t r\\r b\\\\ d\\\" s\\' x\\x41\\x7e o\\101\\60\\0101'\n");

    /* \0101 is octal 010 then '1': octal escapes take at most 3 digits. */
    g_assert_cmpstr(config->cmdline, ==, "n\n t\t r\r b\\ d\" s' xA~ oA0\b1");
}

static void
test_syntax_numbers(void)
{
    g_autoptr(OrielDomainConfig) config =
        parse_clean("name = 'n'\nmemory = 0x400\nvcpus = 010\nmaxvcpus = 12\ncap = 0\n"
                    "videoram = 0X10\n");

    g_assert_cmpuint(config->memory_mib, ==, 1024);
    g_assert_cmpuint(config->vcpus, ==, 8);
    g_assert_cmpuint(config->maxvcpus, ==, 12);
    g_assert_cmpint(config->cap, ==, 0);
    g_assert_cmpuint(config->videoram_mib, ==, 16);
}

static void
test_syntax_append(void)
{
    g_autoptr(OrielDomainConfig) config = parse_clean(
        "name = 'ap'\n"
        "kernel = '/boot/vmlinuz'\n"
        "cmdline = 'console=ttyS0'\n"
        "cmdline += ' quiet'\n"
        "cmdline += ' splash'\n"
        "device_model_args = [ '-a' ]\n"
        "device_model_args += [ '-b', '-c' ]\n"
        "device_model_args += '-d'\n"
        "spicehost += '127.0.0.2'\n");

    g_assert_cmpstr(config->cmdline, ==, "console=ttyS0 quiet splash");
    g_assert_cmpuint(config->device_model_args->len, ==, 4);
    g_assert_cmpstr(g_ptr_array_index(config->device_model_args, 0), ==, "-a");
    g_assert_cmpstr(g_ptr_array_index(config->device_model_args, 1), ==, "-b");
    g_assert_cmpstr(g_ptr_array_index(config->device_model_args, 2), ==, "-c");
    g_assert_cmpstr(g_ptr_array_index(config->device_model_args, 3), ==, "-d");
    /* += on a key not yet set just sets it. */
    g_assert_cmpstr(config->spice.host, ==, "127.0.0.2");
}

static void
test_syntax_nested_lists(void)
{
    g_autoptr(GError) error = NULL;
    const char *text = "x = [ 'a', ['b', 'c',], [[1,],], ]\ny = [\n  'p',  # first\n\n  'q'\n]\nz = []\n";
    g_autoptr(OrielXlcfgSettings) settings = oriel_xlcfg_settings_parse(text, strlen(text), NAME, &error);

    g_assert_no_error(error);
    const OrielXlcfgSetting *x = oriel_xlcfg_settings_lookup(settings, "x");
    g_assert_nonnull(x);
    g_assert_cmpint(x->value->type, ==, ORIEL_XLCFG_VALUE_LIST);
    g_assert_cmpuint(x->value->items->len, ==, 3);
    const OrielXlcfgValue *a = g_ptr_array_index(x->value->items, 0);
    g_assert_cmpstr(a->string, ==, "a");
    const OrielXlcfgValue *inner = g_ptr_array_index(x->value->items, 1);
    g_assert_cmpint(inner->type, ==, ORIEL_XLCFG_VALUE_LIST);
    g_assert_cmpuint(inner->items->len, ==, 2);
    g_assert_cmpstr(((OrielXlcfgValue *)g_ptr_array_index(inner->items, 1))->string, ==, "c");
    g_assert_cmpuint(inner->line, ==, 1);
    g_assert_cmpuint(inner->column, ==, 12);
    const OrielXlcfgValue *deep = g_ptr_array_index(x->value->items, 2);
    const OrielXlcfgValue *deeper = g_ptr_array_index(deep->items, 0);
    const OrielXlcfgValue *one = g_ptr_array_index(deeper->items, 0);
    g_assert_cmpint(one->type, ==, ORIEL_XLCFG_VALUE_NUMBER);
    g_assert_cmpuint(one->number, ==, 1);

    const OrielXlcfgSetting *y = oriel_xlcfg_settings_lookup(settings, "y");
    g_assert_cmpuint(y->value->items->len, ==, 2);
    const OrielXlcfgValue *q = g_ptr_array_index(y->value->items, 1);
    g_assert_cmpstr(q->string, ==, "q");
    g_assert_cmpuint(q->line, ==, 5);
    g_assert_cmpuint(q->column, ==, 3);
    g_assert_cmpuint(oriel_xlcfg_settings_lookup(settings, "z")->value->items->len, ==, 0);
}

static void
test_syntax_comments(void)
{
    g_autoptr(OrielDomainConfig) config = parse_clean(
        "# a comment\n"
        "name = 'c' # after a value; memory = 9999\n"
        "   # indented\n"
        "memory = 2048#no space\n"
        "kernel = '/k#not-a-comment'\n"
        "#last line without newline");

    g_assert_cmpstr(config->name, ==, "c");
    g_assert_cmpuint(config->memory_mib, ==, 2048);
    g_assert_cmpstr(config->kernel, ==, "/k#not-a-comment");
}

static void
test_syntax_crlf(void)
{
    g_autoptr(OrielDomainConfig) config =
        parse_clean("name = \"crlf\"\r\nmemory = 1024\r\ndisk = [ '/a.img,raw,xvda',\r\n"
                    "         '/b.img,raw,xvdb', ]\r\n");

    g_assert_cmpstr(config->name, ==, "crlf");
    g_assert_cmpuint(config->memory_mib, ==, 1024);
    g_assert_cmpuint(config->disks->len, ==, 2);
    g_assert_cmpstr(disk_at(config, 1)->target, ==, "/b.img");

    /* Positions in a CRLF file count lines the same way. */
    assert_parse_error("name = 'x'\r\nmemory = '1'\r\n", strlen("name = 'x'\r\nmemory = '1'\r\n"),
                       ORIEL_XLCFG_ERROR_TYPE, NAME ":2:10: memory: expected a number, got a string");
}

static void
test_syntax_duplicate_key(void)
{
    g_autoptr(OrielDomainConfig) config =
        parse_clean("name = 'first'\nmemory = 1024\nname = 'second'\nmemory = 4096\n");

    g_assert_cmpstr(config->name, ==, "second");
    g_assert_cmpuint(config->memory_mib, ==, 4096);
}

static void
test_syntax_not_nul_terminated(void)
{
    /* The length, not a NUL, ends the input: the tail must not be read. */
    const char buffer[] = "name = 'abc'\nmemory = 1024XXXX";
    g_autoptr(GError) error = NULL;
    g_autoptr(OrielDomainConfig) config =
        oriel_xlcfg_parse_data(buffer, strlen(buffer) - 4, "buf.cfg", NULL, &error);

    g_assert_no_error(error);
    g_assert_cmpuint(config->memory_mib, ==, 1024);

    g_autoptr(GError) unnamed_error = NULL;
    g_autoptr(OrielDomainConfig) unnamed = oriel_xlcfg_parse_data("memory = 'x'", 12, NULL, NULL,
                                                                   &unnamed_error);
    g_assert_null(unnamed);
    g_assert_cmpstr(unnamed_error->message, ==, "<data>:1:10: memory: expected a number, got a string");
}

/* ---- errors ----------------------------------------------------------- */

typedef struct {
    const char *path;
    const char *text;
    OrielXlcfgError code;
    const char *message;
} ErrorCase;

static const ErrorCase error_cases[] = {
    /* lexer */
    { "unterminated-string", "name = 'x'\nkernel = \"/boot/vm", ORIEL_XLCFG_ERROR_SYNTAX,
      NAME ":2:10: unterminated string" },
    { "string-across-lines", "name = 'x\n'", ORIEL_XLCFG_ERROR_SYNTAX, NAME ":1:8: unterminated string" },
    { "backslash-at-end", "name = 'x\\", ORIEL_XLCFG_ERROR_SYNTAX, NAME ":1:8: unterminated string" },
    { "bad-escape", "name = 'x'\ncmdline = \"a\\qb\"", ORIEL_XLCFG_ERROR_SYNTAX,
      NAME ":2:13: invalid escape in string: backslash before 'q'" },
    { "bad-hex-escape", "name = 'a\\xg'", ORIEL_XLCFG_ERROR_SYNTAX,
      NAME ":1:10: invalid escape '\\x' in string: expected hex digits" },
    { "octal-escape-range", "name = 'a\\777'", ORIEL_XLCFG_ERROR_SYNTAX,
      NAME ":1:10: invalid escape '\\777' in string: octal value above \\377" },
    { "nul-escape", "name = 'a\\0'", ORIEL_XLCFG_ERROR_SYNTAX,
      NAME ":1:10: invalid escape '\\0' in string: a NUL character is not allowed" },
    { "nul-hex-escape", "name = 'a\\x00'", ORIEL_XLCFG_ERROR_SYNTAX,
      NAME ":1:10: invalid escape '\\x00' in string: a NUL character is not allowed" },
    { "invalid-utf8", "name = 'a\\xff'", ORIEL_XLCFG_ERROR_SYNTAX, NAME ":1:8: string is not valid UTF-8" },
    { "unexpected-character", "name = 'x'\n  @memory = 1", ORIEL_XLCFG_ERROR_SYNTAX,
      NAME ":2:3: unexpected character '@'" },
    { "unexpected-byte", "name = 'x' \x01", ORIEL_XLCFG_ERROR_SYNTAX,
      NAME ":1:12: unexpected character byte \\x01" },
    { "lone-plus", "memory + 1", ORIEL_XLCFG_ERROR_SYNTAX, NAME ":1:8: unexpected character '+'" },
    { "invalid-octal", "memory = 09", ORIEL_XLCFG_ERROR_SYNTAX, NAME ":1:10: invalid number '09'" },
    { "invalid-number", "memory = 12abc", ORIEL_XLCFG_ERROR_SYNTAX, NAME ":1:10: invalid number '12abc'" },
    { "float", "memory = 1.5", ORIEL_XLCFG_ERROR_SYNTAX, NAME ":1:10: invalid number '1.5'" },
    { "empty-hex", "memory = 0x", ORIEL_XLCFG_ERROR_SYNTAX, NAME ":1:10: invalid number '0x'" },
    { "number-too-large", "memory = 18446744073709551616", ORIEL_XLCFG_ERROR_LIMIT,
      NAME ":1:10: number '18446744073709551616' is too large" },
    /* parser */
    { "missing-equals", "name = 'x'\nmemory 512", ORIEL_XLCFG_ERROR_SYNTAX,
      NAME ":2:8: expected '=' or '+=' after 'memory', got a number" },
    { "missing-equals-at-end", "memory", ORIEL_XLCFG_ERROR_SYNTAX,
      NAME ":1:7: expected '=' or '+=' after 'memory', got end of file" },
    { "statement-starts-with-value", "\n\n  'name' = 'x'", ORIEL_XLCFG_ERROR_SYNTAX,
      NAME ":3:3: expected a key, got a string" },
    { "statement-starts-with-equals", "= 5", ORIEL_XLCFG_ERROR_SYNTAX, NAME ":1:1: expected a key, got '='" },
    { "missing-value", "memory =\nvcpus = 1", ORIEL_XLCFG_ERROR_SYNTAX,
      NAME ":1:9: expected a value, got end of line" },
    { "unquoted-string", "type = hvm", ORIEL_XLCFG_ERROR_SYNTAX,
      NAME ":1:8: expected a value, got 'hvm' (strings need quotes)" },
    { "unexpected-close", "disk = ]", ORIEL_XLCFG_ERROR_SYNTAX, NAME ":1:8: expected a value, got ']'" },
    { "two-values", "memory = 512 1024", ORIEL_XLCFG_ERROR_SYNTAX,
      NAME ":1:14: expected ';' or end of line after the value of 'memory', got a number" },
    { "list-missing-comma", "disk = [ 'a'\n 'b' ]", ORIEL_XLCFG_ERROR_SYNTAX,
      NAME ":2:2: expected ',' or ']' in a list, got a string" },
    { "list-double-comma", "disk = [ 'a',, 'b' ]", ORIEL_XLCFG_ERROR_SYNTAX,
      NAME ":1:14: expected a value, got ','" },
    { "unterminated-list", "disk = [ 'a',\n", ORIEL_XLCFG_ERROR_SYNTAX,
      NAME ":2:1: expected a value, got end of file" },
    /* bounds */
    { "nul-byte", NULL, ORIEL_XLCFG_ERROR_SYNTAX, NAME ":2:11: NUL byte in the file" },
    { "list-too-deep", NULL, ORIEL_XLCFG_ERROR_LIMIT, NAME ":1:21: lists nested more than 16 deep" },
    { "list-too-long", NULL, ORIEL_XLCFG_ERROR_LIMIT, NAME ":1:4102: list longer than 1024 items" },
    { "string-too-long", NULL, ORIEL_XLCFG_ERROR_LIMIT, NAME ":1:11: string longer than 65536 bytes" },
    { "append-too-long", NULL, ORIEL_XLCFG_ERROR_LIMIT,
      NAME ":2:12: cmdline: string longer than 65536 bytes after +=" },
    { "file-too-large", NULL, ORIEL_XLCFG_ERROR_LIMIT, NAME ": file too large (1048577 bytes, at most 1048576)" },
    /* types */
    { "type-mismatch", "# desktop\nname = 'd'\nmemory = \"512\"\n", ORIEL_XLCFG_ERROR_TYPE,
      NAME ":3:10: memory: expected a number, got a string" },
    { "string-for-list", "name = 'd'\ndisk = '/a.img,raw,xvda'", ORIEL_XLCFG_ERROR_TYPE,
      NAME ":2:8: disk: expected a list, got a string" },
    { "number-in-string-list", "name = 'd'\ndevice_model_args = [ '-a', 5 ]", ORIEL_XLCFG_ERROR_TYPE,
      NAME ":2:29: device_model_args: expected a string, got a number" },
    { "list-for-string", "name = ['d']", ORIEL_XLCFG_ERROR_TYPE, NAME ":1:8: name: expected a string, got a list" },
    { "boolean-string", "name = 'd'\nspice = 'yes'", ORIEL_XLCFG_ERROR_TYPE,
      NAME ":2:9: spice: expected 0 or 1, got a string" },
    { "boolean-range", "name = 'd'\nusb = 2", ORIEL_XLCFG_ERROR_VALUE, NAME ":2:7: usb: expected 0 or 1, got 2" },
    { "append-mismatch", "memory = 1024\nmemory += 'x'", ORIEL_XLCFG_ERROR_TYPE,
      NAME ":2:11: memory: cannot append a string to a number" },
    { "uint-range", "name = 'd'\nvcpus = 4294967296", ORIEL_XLCFG_ERROR_VALUE,
      NAME ":2:9: vcpus: 4294967296 is out of range (at most 4294967295)" },
    { "cpus-number", "name = 'd'\ncpus = 3", ORIEL_XLCFG_ERROR_TYPE,
      NAME ":2:8: cpus: expected a string or a list, got a number" },
    /* enum values */
    { "unknown-type", "name = 'd'\ntype = 'xen'", ORIEL_XLCFG_ERROR_VALUE,
      NAME ":2:8: type: unknown value 'xen' (expected hvm or pvh)" },
    { "pv-type", "name = 'd'\ntype = 'pv'", ORIEL_XLCFG_ERROR_VALUE,
      NAME ":2:8: type: PV guests need Xen; use type = \"pvh\" or \"hvm\"" },
    { "pv-builder", "name = 'd'\nbuilder = 'generic'", ORIEL_XLCFG_ERROR_VALUE,
      NAME ":2:11: builder: 'generic' builds a PV guest, which needs Xen; use type = \"pvh\" or \"hvm\"" },
    { "unknown-firmware", "name = 'd'\nfirmware = 'coreboot'", ORIEL_XLCFG_ERROR_VALUE,
      NAME ":2:12: firmware: unknown value 'coreboot' (expected bios, seabios, uefi or ovmf)" },
    { "unknown-bios", "name = 'd'\nbios = 'coreboot'", ORIEL_XLCFG_ERROR_VALUE,
      NAME ":2:8: bios: unknown value 'coreboot' (expected rombios, seabios or ovmf)" },
    { "unknown-vga", "name = 'd'\nvga = 'vmware'", ORIEL_XLCFG_ERROR_VALUE,
      NAME ":2:7: vga: unknown value 'vmware' (expected stdvga, qxl, none or cirrus)" },
    { "unknown-action", "name = 'd'\non_crash = 'explode'", ORIEL_XLCFG_ERROR_VALUE,
      NAME ":2:12: on_crash: unknown value 'explode' (expected destroy, restart or preserve)" },
    { "unknown-soundhw", "name = 'd'\nsoundhw = 'beeper'", ORIEL_XLCFG_ERROR_VALUE,
      NAME ":2:11: soundhw: unknown value 'beeper' (expected hda or ac97)" },
    { "unknown-audio-backend", "name = 'd'\naudio_backend = 'alsa'", ORIEL_XLCFG_ERROR_VALUE,
      NAME ":2:17: audio_backend: unknown value 'alsa' (expected default, spice, pa or none)" },
    /* disk specs */
    { "disk-unknown-format", "name = 'd'\ndisk = [ '/a.img,raw,xvda', '/b.vmdk,vmdk,xvdb' ]",
      ORIEL_XLCFG_ERROR_VALUE,
      NAME ":2:29: disk: unknown format 'vmdk' (expected raw, qcow, qcow2, vhd or qed) in '/b.vmdk,vmdk,xvdb'" },
    { "disk-unknown-access", "name = 'd'\ndisk = [ '/a.img,raw,xvda,rx' ]", ORIEL_XLCFG_ERROR_VALUE,
      NAME ":2:10: disk: unknown access 'rx' (expected ro, r, rw or w) in '/a.img,raw,xvda,rx'" },
    { "disk-no-vdev", "name = 'd'\ndisk = [ '/a.img,raw' ]", ORIEL_XLCFG_ERROR_VALUE,
      NAME ":2:10: disk: no vdev in '/a.img,raw'" },
    { "disk-no-target", "name = 'd'\ndisk = [ ',raw,xvda' ]", ORIEL_XLCFG_ERROR_VALUE,
      NAME ":2:10: disk: no target in ',raw,xvda'" },
    { "disk-twice", "name = 'd'\ndisk = [ '/a.img,raw,xvda,vdev=xvdb' ]", ORIEL_XLCFG_ERROR_VALUE,
      NAME ":2:10: disk: vdev given twice in '/a.img,raw,xvda,vdev=xvdb'" },
    { "disk-too-many", "name = 'd'\ndisk = [ '/a.img,raw,xvda,rw,extra' ]", ORIEL_XLCFG_ERROR_VALUE,
      NAME ":2:10: disk: unexpected parameter 'extra' after target, format, vdev and access in "
      "'/a.img,raw,xvda,rw,extra'" },
    { "disk-devtype", "name = 'd'\ndisk = [ 'vdev=hdc, devtype=floppy, target=/f.img' ]", ORIEL_XLCFG_ERROR_VALUE,
      NAME ":2:10: disk: unknown devtype 'floppy' (expected disk or cdrom) in 'vdev=hdc, devtype=floppy, target=/f.img'" },
    { "disk-script-prefix", "name = 'd'\ndisk = [ 'nbd:host:1234,xvda,w' ]", ORIEL_XLCFG_ERROR_VALUE,
      NAME ":2:10: disk: 'nbd:' targets need a Xen block script, which Oriel does not run in 'nbd:host:1234,xvda,w'" },
    { "disk-not-string", "name = 'd'\ndisk = [ 5 ]", ORIEL_XLCFG_ERROR_TYPE,
      NAME ":2:10: disk: expected a string, got a number" },
    { "vif-not-string", "name = 'd'\nvif = [ [] ]", ORIEL_XLCFG_ERROR_TYPE,
      NAME ":2:9: vif: expected a string, got a list" },
    /* validation, pointed back at the file */
    { "validation-range", "name = 'd'\nmemory = 8\n", ORIEL_XLCFG_ERROR_INVALID,
      NAME ":2:10: memory: 8 MiB is below the minimum of 16 MiB" },
    { "validation-maxmem", "name = 'd'\nmemory = 2048\nmaxmem = 1024\n", ORIEL_XLCFG_ERROR_INVALID,
      NAME ":3:10: maxmem: 1024 MiB is below memory (2048 MiB)" },
    { "validation-name", "name = 'bad name!'", ORIEL_XLCFG_ERROR_INVALID,
      NAME ":1:8: name: 'bad name!' must be 1 to 64 letters, digits, '-', '_' or '.', starting with a letter or digit" },
    { "validation-no-name", "memory = 1024", ORIEL_XLCFG_ERROR_INVALID, NAME ": name: a domain needs a name" },
    { "validation-disk-item", "name = 'd'\ndisk = [ '/a.img,,xvda',\n         '/b.img,,xvda' ]",
      ORIEL_XLCFG_ERROR_INVALID, NAME ":3:10: disk: xvda is used twice" },
    { "validation-vif-item", "name = 'd'\nvif = [ 'mac=00:16:3e:00:00:01', 'model=pcnet' ]",
      ORIEL_XLCFG_ERROR_INVALID, NAME ":2:34: vif: model 'pcnet' is not one of e1000, virtio-net, rtl8139" },
    { "validation-alias", "name = 'd'\ntype = 'pvh'\nkernel = '/k'\nbios = 'ovmf'", ORIEL_XLCFG_ERROR_INVALID,
      NAME ":4:8: firmware: a pvh domain boots without firmware" },
    { "validation-spice-port", "name = 'd'\nspice = 1\nspiceport = 70000", ORIEL_XLCFG_ERROR_INVALID,
      NAME ":3:13: spiceport: 70000 is not a TCP port" },
    { "validation-boot", "name = 'd'\nboot = 'x'", ORIEL_XLCFG_ERROR_INVALID,
      NAME ":2:8: boot: 'x' is not a boot order of a, c, d and n" },
};

/* Inputs too large or too binary to write as literals. */
static char *
build_error_input(const char *path, gsize *ret_length)
{
    GString *text = g_string_new(NULL);

    if (g_str_equal(path, "nul-byte")) {
        g_string_append(text, "name = 'x'\nkernel = ");
        g_string_append_len(text, "'\0'", 3);
    } else if (g_str_equal(path, "list-too-deep")) {
        g_string_append(text, "x = ");
        for (guint i = 0; i < ORIEL_XLCFG_NESTING_MAX + 1; i++)
            g_string_append(text, "[");
    } else if (g_str_equal(path, "list-too-long")) {
        g_string_append(text, "x = [");
        for (guint i = 0; i < ORIEL_XLCFG_LIST_LENGTH_MAX + 1; i++)
            g_string_append(text, "'a',");
        g_string_append(text, "]");
    } else if (g_str_equal(path, "string-too-long")) {
        g_string_append(text, "cmdline = '");
        for (guint i = 0; i < ORIEL_XLCFG_STRING_LENGTH_MAX + 1; i++)
            g_string_append_c(text, 'a');
        g_string_append(text, "'");
    } else if (g_str_equal(path, "append-too-long")) {
        g_string_append(text, "cmdline = '");
        for (guint i = 0; i < ORIEL_XLCFG_STRING_LENGTH_MAX; i++)
            g_string_append_c(text, 'a');
        g_string_append(text, "'\ncmdline += 'b'\n");
    } else if (g_str_equal(path, "file-too-large")) {
        g_string_append(text, "name = 'x'\n");
        while (text->len < ORIEL_XLCFG_FILE_SIZE_MAX + 1)
            g_string_append_c(text, '#');
    } else {
        g_assert_not_reached();
    }
    *ret_length = text->len;
    return g_string_free(text, FALSE);
}

static void
test_error_case(gconstpointer data)
{
    const ErrorCase *error_case = data;

    if (error_case->text) {
        assert_parse_error(error_case->text, strlen(error_case->text), error_case->code,
                           error_case->message);
        return;
    }
    gsize length = 0;
    g_autofree char *text = build_error_input(error_case->path, &length);
    assert_parse_error(text, length, error_case->code, error_case->message);
}

static void
test_limits_at_the_bound(void)
{
    /* Exactly at each bound still loads. */
    g_autoptr(GString) text = g_string_new("name = 'b'\nx = ");
    for (guint i = 0; i < ORIEL_XLCFG_NESTING_MAX; i++)
        g_string_append(text, "[");
    for (guint i = 0; i < ORIEL_XLCFG_NESTING_MAX; i++)
        g_string_append(text, "]");
    g_string_append(text, "\ny = [");
    for (guint i = 0; i < ORIEL_XLCFG_LIST_LENGTH_MAX; i++)
        g_string_append(text, "1,");
    g_string_append(text, "]\nkernel = '/k'\ncmdline = '");
    for (guint i = 0; i < ORIEL_XLCFG_STRING_LENGTH_MAX; i++)
        g_string_append_c(text, 'c');
    g_string_append(text, "'\n");

    g_autoptr(GPtrArray) warnings = NULL;
    g_autoptr(OrielDomainConfig) config = parse_ok(text->str, &warnings);
    g_assert_cmpuint(strlen(config->cmdline), ==, ORIEL_XLCFG_STRING_LENGTH_MAX);
    assert_warning(warnings, NAME ":2: unknown key 'x' ignored");
    assert_warning(warnings, NAME ":3: unknown key 'y' ignored");
}

static void
test_file_errors(void)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(GPtrArray) warnings = NULL;
    g_autofree char *missing = data_path("does-not-exist.cfg");
    g_autoptr(OrielDomainConfig) config = oriel_xlcfg_parse_file(missing, &warnings, &error);

    g_assert_null(config);
    g_assert_null(warnings);
    g_assert_error(error, ORIEL_XLCFG_ERROR, ORIEL_XLCFG_ERROR_IO);
    g_assert_true(g_str_has_prefix(error->message, missing));

    /* A file past the limit is refused before it is read in full. */
    g_autofree char *directory = g_dir_make_tmp("test-xlcfg-XXXXXX", NULL);
    g_autofree char *big = g_build_filename(directory, "big.cfg", NULL);
    g_autofree char *contents = g_malloc(2 * ORIEL_XLCFG_FILE_SIZE_MAX);
    memset(contents, '#', 2 * ORIEL_XLCFG_FILE_SIZE_MAX);
    g_assert_true(g_file_set_contents(big, contents, 2 * ORIEL_XLCFG_FILE_SIZE_MAX, NULL));
    g_autoptr(GError) big_error = NULL;
    g_autoptr(OrielDomainConfig) big_config = oriel_xlcfg_parse_file(big, NULL, &big_error);
    g_assert_null(big_config);
    g_assert_error(big_error, ORIEL_XLCFG_ERROR, ORIEL_XLCFG_ERROR_LIMIT);
    g_autofree char *expected = g_strdup_printf("%s: file too large (more than 1048576 bytes)", big);
    g_assert_cmpstr(big_error->message, ==, expected);
    g_unlink(big);
    g_rmdir(directory);
}

/* ---- keys ------------------------------------------------------------- */

static void
test_keys_all(void)
{
    g_autoptr(OrielDomainConfig) config = parse_clean(
        "name = 'every-key'\n"
        "type = 'pvh'\n"
        "memory = 3072\n"
        "maxmem = 4096\n"
        "vcpus = 2\n"
        "maxvcpus = 6\n"
        "cpus = ' 0-3 , ^1 '\n"
        "cpu_weight = 1024\n"
        "cap = 150\n"
        "kernel = '/boot/vmlinuz'\n"
        "ramdisk = '/boot/initrd.img'\n"
        "cmdline = 'console=hvc0'\n"
        "firmware = 'seabios'\n"
        "disk = [ '/img/root.img,raw,xvda,rw' ]\n"
        "vif = [ 'model=virtio-net' ]\n"
        "vga = 'none'\n"
        "videoram = 8\n"
        "on_poweroff = 'preserve'\n"
        "on_reboot = 'destroy'\n"
        "on_crash = 'restart'\n"
        "spice = 1\n"
        "spicehost = '::1'\n"
        "spiceport = 6000\n"
        "spicetls_port = 6001\n"
        "spicedisable_ticketing = 1\n"
        "spiceagent_mouse = 0\n"
        "spicevdagent = 1\n"
        "spice_clipboard_sharing = 1\n"
        "spiceusbredirection = 0\n"
        "spice_image_compression = 'quic'\n"
        "spice_streaming_video = 'off'\n"
        "serial = 'none'\n"
        "nestedhvm = 1\n"
        "device_model_args = [ '-no-reboot' ]\n");

    g_assert_cmpstr(config->name, ==, "every-key");
    g_assert_cmpint(config->type, ==, ORIEL_DOMAIN_TYPE_PVH);
    g_assert_cmpuint(config->memory_mib, ==, 3072);
    g_assert_cmpuint(config->maxmem_mib, ==, 4096);
    g_assert_cmpuint(config->vcpus, ==, 2);
    g_assert_cmpuint(config->maxvcpus, ==, 6);
    g_assert_cmpstr(config->cpus, ==, "0-3,^1");
    g_assert_cmpint(config->cpu_weight, ==, 1024);
    g_assert_cmpint(config->cap, ==, 150);
    g_assert_cmpstr(config->kernel, ==, "/boot/vmlinuz");
    g_assert_cmpstr(config->ramdisk, ==, "/boot/initrd.img");
    g_assert_cmpstr(config->cmdline, ==, "console=hvc0");
    g_assert_cmpint(config->firmware, ==, ORIEL_FIRMWARE_SEABIOS);
    g_assert_cmpuint(config->disks->len, ==, 1);
    g_assert_cmpstr(nic_at(config, 0)->model, ==, "virtio-net");
    g_assert_null(nic_at(config, 0)->mac);
    g_assert_cmpint(config->vga, ==, ORIEL_VGA_NONE);
    g_assert_cmpuint(config->videoram_mib, ==, 8);
    g_assert_cmpint(config->on_poweroff, ==, ORIEL_ACTION_PRESERVE);
    g_assert_cmpint(config->on_reboot, ==, ORIEL_ACTION_DESTROY);
    g_assert_cmpint(config->on_crash, ==, ORIEL_ACTION_RESTART);
    g_assert_true(config->spice.enabled);
    g_assert_cmpstr(config->spice.host, ==, "::1");
    g_assert_cmpuint(config->spice.port, ==, 6000);
    g_assert_cmpuint(config->spice.tls_port, ==, 6001);
    g_assert_true(config->spice.disable_ticketing);
    g_assert_false(config->spice.agent_mouse);
    g_assert_true(config->spice.vdagent);
    g_assert_true(config->spice.clipboard_sharing);
    g_assert_cmpuint(config->spice.usbredirection, ==, 0);
    g_assert_cmpstr(config->spice.image_compression, ==, "quic");
    g_assert_cmpstr(config->spice.streaming_video, ==, "off");
    g_assert_cmpstr(config->serial, ==, "none");
    g_assert_true(config->nestedhvm);
    g_assert_cmpuint(config->device_model_args->len, ==, 1);
    g_assert_cmpstr(g_ptr_array_index(config->device_model_args, 0), ==, "-no-reboot");
}

static void
test_keys_hvm_devices(void)
{
    g_autoptr(OrielDomainConfig) config = parse_clean(
        "name = 'hvm'\n"
        "boot = 'cdn'\n"
        "firmware = 'uefi'\n"
        "vga = 'stdvga'\n"
        "soundhw = 'ac97'\n"
        "usb = 1\n"
        "usbversion = 2\n"
        "serial = 'pty'\n"
        "spicepasswd = 'secret'\n");

    g_assert_cmpint(config->type, ==, ORIEL_DOMAIN_TYPE_HVM);
    g_assert_cmpstr(config->boot, ==, "cdn");
    g_assert_cmpint(config->firmware, ==, ORIEL_FIRMWARE_OVMF);
    g_assert_cmpint(config->vga, ==, ORIEL_VGA_STDVGA);
    g_assert_cmpint(config->soundhw, ==, ORIEL_SOUND_AC97);
    g_assert_true(config->usb);
    g_assert_cmpuint(config->usbversion, ==, 2);
    g_assert_cmpstr(config->serial, ==, "pty");
    g_assert_cmpstr(config->spice.password, ==, "secret");
}

static void
test_keys_defaults(void)
{
    g_autoptr(OrielDomainConfig) config = parse_clean("name = 'min'\n");

    g_assert_cmpint(config->type, ==, ORIEL_DOMAIN_TYPE_HVM);
    g_assert_cmpuint(config->vcpus, ==, 1);
    g_assert_cmpint(config->cpu_weight, ==, ORIEL_CPU_WEIGHT_DEFAULT);
    g_assert_true(config->spice.agent_mouse);
    g_assert_null(config->cpus);
    g_assert_null(config->cmdline);
    g_assert_cmpuint(config->disks->len, ==, 0);
    g_assert_cmpuint(config->nics->len, ==, 0);
}

static void
test_keys_builder(void)
{
    g_autoptr(GPtrArray) warnings = NULL;
    g_autoptr(OrielDomainConfig) config = parse_ok("name = 'b'\nbuilder = 'hvm'\n", &warnings);

    g_assert_cmpint(config->type, ==, ORIEL_DOMAIN_TYPE_HVM);
    g_assert_cmpuint(warnings->len, ==, 1);
    assert_warning(warnings, NAME ":2: builder: deprecated; write type = \"hvm\"");

    g_autoptr(GPtrArray) both_warnings = NULL;
    g_autoptr(OrielDomainConfig) both =
        parse_ok("name = 'b'\nbuilder = 'hvm'\ntype = 'pvh'\nkernel = '/k'\n", &both_warnings);
    g_assert_cmpint(both->type, ==, ORIEL_DOMAIN_TYPE_PVH);
    assert_warning(both_warnings, NAME ":2: builder: deprecated and overridden by type");
}

static void
test_keys_bios(void)
{
    g_autoptr(OrielDomainConfig) config = parse_clean("name = 'b'\nbios = 'ovmf'\n");
    g_assert_cmpint(config->firmware, ==, ORIEL_FIRMWARE_OVMF);

    g_autoptr(GPtrArray) warnings = NULL;
    g_autoptr(OrielDomainConfig) rombios = parse_ok("name = 'b'\nbios = 'rombios'\n", &warnings);
    g_assert_cmpint(rombios->firmware, ==, ORIEL_FIRMWARE_SEABIOS);
    assert_warning(warnings, NAME ":2: bios: rombios is not available; using seabios");

    g_autoptr(GPtrArray) both_warnings = NULL;
    g_autoptr(OrielDomainConfig) both =
        parse_ok("name = 'b'\nbios = 'ovmf'\nfirmware = 'bios'\n", &both_warnings);
    g_assert_cmpint(both->firmware, ==, ORIEL_FIRMWARE_SEABIOS);
    assert_warning(both_warnings, NAME ":2: bios: overridden by firmware");
}

static void
test_keys_root_extra(void)
{
    g_autoptr(OrielDomainConfig) both =
        parse_clean("name = 'r'\nkernel = '/k'\nextra = 'console=hvc0 quiet'\nroot = '/dev/xvda1 ro'\n");
    g_assert_cmpstr(both->cmdline, ==, "root=/dev/xvda1 ro console=hvc0 quiet");

    g_autoptr(OrielDomainConfig) root_only = parse_clean("name = 'r'\nkernel = '/k'\nroot = '/dev/xvda1'\n");
    g_assert_cmpstr(root_only->cmdline, ==, "root=/dev/xvda1");

    g_autoptr(OrielDomainConfig) extra_only = parse_clean("name = 'r'\nkernel = '/k'\nextra = 'single'\n");
    g_assert_cmpstr(extra_only->cmdline, ==, "single");

    g_autoptr(GPtrArray) warnings = NULL;
    g_autoptr(OrielDomainConfig) overridden =
        parse_ok("name = 'r'\nkernel = '/k'\nroot = '/dev/xvda1'\ncmdline = 'init=/bin/sh'\n", &warnings);
    g_assert_cmpstr(overridden->cmdline, ==, "init=/bin/sh");
    assert_warning(warnings, NAME ":3: root: overridden by cmdline");

    assert_parse_error("name = 'r'\nroot = 5", strlen("name = 'r'\nroot = 5"), ORIEL_XLCFG_ERROR_TYPE,
                       NAME ":2:8: root: expected a string, got a number");
}

static void
test_keys_cpus(void)
{
    g_autoptr(OrielDomainConfig) plain = parse_clean("name = 'c'\ncpus = '2'\n");
    g_assert_cmpstr(plain->cpus, ==, "2");

    g_autoptr(GPtrArray) warnings = NULL;
    g_autoptr(OrielDomainConfig) list = parse_ok("name = 'c'\ncpus = [ '2', '3', 5 ]\n", &warnings);
    g_assert_cmpstr(list->cpus, ==, "2,3,5");
    assert_warning(warnings,
                   NAME ":2: cpus: per-vCPU affinity lists are merged into one CPU set for the whole domain");

    g_autoptr(OrielDomainConfig) single = parse_clean("name = 'c'\ncpus = [ '0-3' ]\n");
    g_assert_cmpstr(single->cpus, ==, "0-3");

    g_autoptr(OrielDomainConfig) all = parse_clean("name = 'c'\ncpus = 'all'\n");
    g_assert_cmpstr(all->cpus, ==, "all");

    g_autoptr(GPtrArray) node_warnings = NULL;
    g_autoptr(OrielDomainConfig) nodes = parse_ok("name = 'c'\ncpus = 'nodes:0'\n", &node_warnings);
    g_assert_null(nodes->cpus);
    assert_warning(node_warnings, NAME ":2: cpus: NUMA node affinity is not supported; ignored");

    assert_parse_error("name = 'c'\ncpus = '0-3,x'", strlen("name = 'c'\ncpus = '0-3,x'"), ORIEL_XLCFG_ERROR_INVALID,
                       NAME ":2:8: cpus: '0-3,x' is not a CPU list like \"0-3,^1\"");
}

static void
test_keys_vga(void)
{
    g_autoptr(GPtrArray) warnings = NULL;
    g_autoptr(OrielDomainConfig) cirrus = parse_ok("name = 'v'\nvga = 'cirrus'\n", &warnings);
    g_assert_cmpint(cirrus->vga, ==, ORIEL_VGA_STDVGA);
    assert_warning(warnings, NAME ":2: vga: cirrus is not emulated; using stdvga");

    g_autoptr(GPtrArray) stdvga_warnings = NULL;
    g_autoptr(OrielDomainConfig) stdvga = parse_ok("name = 'v'\nspice = 1\nstdvga = 1\n", &stdvga_warnings);
    g_assert_cmpint(stdvga->vga, ==, ORIEL_VGA_STDVGA); /* not the SPICE default, qxl */
    assert_warning(stdvga_warnings, NAME ":3: stdvga: deprecated; use vga instead");

    g_autoptr(GPtrArray) both_warnings = NULL;
    g_autoptr(OrielDomainConfig) both = parse_ok("name = 'v'\nstdvga = 1\nvga = 'qxl'\n", &both_warnings);
    g_assert_cmpint(both->vga, ==, ORIEL_VGA_QXL);
    assert_warning(both_warnings, NAME ":2: stdvga: deprecated and overridden by vga");

    /* Defaults resolved by validation: qxl with SPICE, stdvga without. */
    g_autoptr(OrielDomainConfig) with_spice = parse_clean("name = 'v'\nspice = 1\n");
    g_assert_cmpint(with_spice->vga, ==, ORIEL_VGA_QXL);
    g_autoptr(OrielDomainConfig) without_spice = parse_clean("name = 'v'\n");
    g_assert_cmpint(without_spice->vga, ==, ORIEL_VGA_STDVGA);
}

static void
test_keys_lifecycle_aliases(void)
{
    g_autoptr(GPtrArray) warnings = NULL;
    g_autoptr(OrielDomainConfig) config = parse_ok(
        "name = 'l'\non_poweroff = 'coredump-destroy'\non_reboot = 'rename-restart'\n"
        "on_crash = 'coredump-restart'\n", &warnings);

    g_assert_cmpint(config->on_poweroff, ==, ORIEL_ACTION_DESTROY);
    g_assert_cmpint(config->on_reboot, ==, ORIEL_ACTION_RESTART);
    g_assert_cmpint(config->on_crash, ==, ORIEL_ACTION_RESTART);
    g_assert_cmpuint(warnings->len, ==, 3);
    assert_warning(warnings, NAME ":2: on_poweroff: 'coredump-destroy' is not supported; using 'destroy'");
    assert_warning(warnings, NAME ":3: on_reboot: 'rename-restart' is not supported; using 'restart'");
    assert_warning(warnings, NAME ":4: on_crash: 'coredump-restart' is not supported; using 'restart'");

    g_autoptr(GPtrArray) reset_warnings = NULL;
    g_autoptr(OrielDomainConfig) reset = parse_ok("name = 'l'\non_crash = 'soft-reset'\n", &reset_warnings);
    g_assert_cmpint(reset->on_crash, ==, ORIEL_ACTION_RESTART);
    assert_warning(reset_warnings, NAME ":2: on_crash: 'soft-reset' is not supported; using 'restart'");
}

static void
test_keys_serial(void)
{
    g_autoptr(GPtrArray) warnings = NULL;
    g_autoptr(OrielDomainConfig) list = parse_ok("name = 's'\nserial = [ 'pty', 'file:/tmp/s1' ]\n", &warnings);
    g_assert_cmpstr(list->serial, ==, "pty");
    assert_warning(warnings, NAME ":2: serial: only the first serial port is used");

    g_autoptr(GPtrArray) device_warnings = NULL;
    g_autoptr(OrielDomainConfig) device = parse_ok("name = 's'\nserial = 'file:/tmp/log'\n", &device_warnings);
    g_assert_cmpstr(device->serial, ==, "unix");
    assert_warning(device_warnings,
                   NAME ":2: serial: 'file:/tmp/log' is not supported (pty, unix or none); using unix");

    g_autoptr(OrielDomainConfig) unix_socket = parse_clean("name = 's'\nserial = 'unix'\n");
    g_assert_cmpstr(unix_socket->serial, ==, "unix");
}

static void
test_keys_soundhw(void)
{
    g_autoptr(OrielDomainConfig) hda = parse_clean("name = 's'\nsoundhw = 'hda'\n");
    g_assert_cmpint(hda->soundhw, ==, ORIEL_SOUND_HDA);

    g_autoptr(GPtrArray) warnings = NULL;
    g_autoptr(OrielDomainConfig) legacy = parse_ok("name = 's'\nsoundhw = 'es1370'\n", &warnings);
    g_assert_cmpint(legacy->soundhw, ==, ORIEL_SOUND_HDA);
    assert_warning(warnings, NAME ":2: soundhw: 'es1370' is not emulated; using hda");

    g_autoptr(OrielDomainConfig) pa = parse_clean("name = 's'\nsoundhw = 'hda'\naudio_backend = 'pa'\n");
    g_assert_cmpint(pa->audio_backend, ==, ORIEL_AUDIO_BACKEND_PA);
    g_autoptr(OrielDomainConfig) none = parse_clean("name = 's'\naudio_backend = \"none\"\n");
    g_assert_cmpint(none->audio_backend, ==, ORIEL_AUDIO_BACKEND_NONE);
}

static void
test_keys_device_model_args_hvm(void)
{
    g_autoptr(OrielDomainConfig) config = parse_clean(
        "name = 'd'\ndevice_model_args_hvm = [ '-a' ]\ndevice_model_args = [ '-b' ]\n");

    /* Both spellings add, in file order. */
    g_assert_cmpuint(config->device_model_args->len, ==, 2);
    g_assert_cmpstr(g_ptr_array_index(config->device_model_args, 0), ==, "-a");
    g_assert_cmpstr(g_ptr_array_index(config->device_model_args, 1), ==, "-b");
}

static void
test_keys_vif(void)
{
    g_autoptr(GPtrArray) warnings = NULL;
    g_autoptr(OrielDomainConfig) config = parse_ok(
        "name = 'v'\n"
        "vif = [ 'mac=00:16:3E:AA:BB:CC, bridge=xenbr0, script=vif-bridge, type=ioemu',\n"
        "        '',\n"
        "        'model=virtio,ip=10.0.0.2,rate=10Mb/s',\n"
        "        'model=rtl8139, vifname' ]\n",
        &warnings);

    g_assert_cmpuint(config->nics->len, ==, 4);
    g_assert_cmpstr(nic_at(config, 0)->mac, ==, "00:16:3e:aa:bb:cc");
    g_assert_cmpstr(nic_at(config, 0)->model, ==, "e1000"); /* the HVM default, set by validation */
    g_assert_null(nic_at(config, 1)->mac);
    g_assert_cmpstr(nic_at(config, 2)->model, ==, "virtio-net");
    g_assert_cmpstr(nic_at(config, 3)->model, ==, "rtl8139");
    assert_warning(warnings, NAME ":2: vif: 'bridge' has no meaning in Oriel; ignored");
    assert_warning(warnings, NAME ":2: vif: 'script' has no meaning in Oriel; ignored");
    assert_warning(warnings, NAME ":4: vif: 'ip' has no meaning in Oriel; ignored");
    assert_warning(warnings, NAME ":4: vif: 'rate' has no meaning in Oriel; ignored");
    assert_warning(warnings, NAME ":5: vif: 'vifname' is not key=value; ignored");
    g_assert_cmpuint(warnings->len, ==, 5); /* type=ioemu is fine */

    g_autoptr(GPtrArray) type_warnings = NULL;
    g_autoptr(OrielDomainConfig) pv_vif = parse_ok("name = 'v'\nvif = [ 'type=vif' ]\n", &type_warnings);
    g_assert_cmpuint(pv_vif->nics->len, ==, 1);
    assert_warning(type_warnings, NAME ":2: vif: type 'vif' ignored; every NIC is emulated");
}

static void
test_keys_disk_forms(void)
{
    g_autoptr(OrielDomainConfig) config = parse_clean(
        "name = 'd'\n"
        "disk = [ '/img/a.qcow2,qcow2,xvda,rw',\n"
        "         '/img/b.img,,xvdb',\n"
        "         ',,hdc,cdrom',\n"
        "         'format=raw, vdev=xvdc, access=ro, target=/img/with,comma and space.img',\n"
        "         '/root/image.iso,raw,hdd,devtype=cdrom',\n"
        "         'vdev=xvde, format=vhd, /img/e.vhd',\n"
        "         '/img/f.qed,qed,xvdf,r',\n"
        "         '/img/g.qcow,qcow,xvdg,w,',\n"
        "         '/root/image.iso,,sda,,cdrom',\n"
        "         'vdev=vdb,format=empty,devtype=cdrom',\n"
        "       ]\n");

    g_assert_cmpuint(config->disks->len, ==, 10);
    OrielDiskConfig *a = disk_at(config, 0);
    g_assert_cmpstr(a->target, ==, "/img/a.qcow2");
    g_assert_cmpint(a->format, ==, ORIEL_DISK_FORMAT_QCOW2);
    g_assert_cmpstr(a->vdev, ==, "xvda");
    g_assert_false(a->read_only);
    g_assert_false(a->cdrom);

    OrielDiskConfig *b = disk_at(config, 1);
    g_assert_cmpint(b->format, ==, ORIEL_DISK_FORMAT_RAW);
    g_assert_cmpstr(b->vdev, ==, "xvdb");
    g_assert_false(b->read_only);

    OrielDiskConfig *empty_cd = disk_at(config, 2);
    g_assert_null(empty_cd->target);
    g_assert_cmpstr(empty_cd->vdev, ==, "hdc");
    g_assert_true(empty_cd->cdrom);
    g_assert_true(empty_cd->read_only);

    OrielDiskConfig *named = disk_at(config, 3);
    g_assert_cmpstr(named->target, ==, "/img/with,comma and space.img");
    g_assert_cmpstr(named->vdev, ==, "xvdc");
    g_assert_true(named->read_only);

    OrielDiskConfig *iso = disk_at(config, 4);
    g_assert_true(iso->cdrom);
    g_assert_cmpstr(iso->target, ==, "/root/image.iso");

    /* Named parameters free their position for the positional ones. */
    OrielDiskConfig *vhd = disk_at(config, 5);
    g_assert_cmpint(vhd->format, ==, ORIEL_DISK_FORMAT_VHD);
    g_assert_cmpstr(vhd->target, ==, "/img/e.vhd");

    g_assert_cmpint(disk_at(config, 6)->format, ==, ORIEL_DISK_FORMAT_QED);
    g_assert_true(disk_at(config, 6)->read_only);
    g_assert_cmpint(disk_at(config, 7)->format, ==, ORIEL_DISK_FORMAT_QCOW);
    g_assert_false(disk_at(config, 7)->read_only);
    g_assert_true(disk_at(config, 8)->cdrom);
    g_assert_cmpstr(disk_at(config, 8)->vdev, ==, "sda");
    g_assert_null(disk_at(config, 9)->target);
    g_assert_true(disk_at(config, 9)->cdrom);
}

static void
test_keys_disk_positional_mixed(void)
{
    /* "format=qcow2" names the format, so the second positional is vdev. */
    g_autoptr(OrielDomainConfig) config =
        parse_clean("name = 'd'\ndisk = [ 'format=qcow2,/img/a.qcow2,xvda' ]\n");

    g_assert_cmpstr(disk_at(config, 0)->target, ==, "/img/a.qcow2");
    g_assert_cmpint(disk_at(config, 0)->format, ==, ORIEL_DISK_FORMAT_QCOW2);
    g_assert_cmpstr(disk_at(config, 0)->vdev, ==, "xvda");
}

static void
test_keys_disk_deprecated(void)
{
    g_autoptr(GPtrArray) warnings = NULL;
    g_autoptr(OrielDomainConfig) config = parse_ok(
        "name = 'd'\n"
        "disk = [ 'phy:/dev/vg/guest,hda,w',\n"
        "         'file:/root/cd.iso,hdc:cdrom,r',\n"
        "         'tap:qcow2:/img/c.qcow2,xvdc,w',\n"
        "         'raw:/img/d.img,xvdd,w' ]\n",
        &warnings);

    OrielDiskConfig *phy = disk_at(config, 0);
    g_assert_cmpstr(phy->target, ==, "/dev/vg/guest");
    g_assert_cmpstr(phy->vdev, ==, "hda");
    g_assert_false(phy->read_only);
    OrielDiskConfig *cd = disk_at(config, 1);
    g_assert_cmpstr(cd->target, ==, "/root/cd.iso");
    g_assert_cmpstr(cd->vdev, ==, "hdc");
    g_assert_true(cd->cdrom);
    g_assert_true(cd->read_only);
    g_assert_cmpint(disk_at(config, 2)->format, ==, ORIEL_DISK_FORMAT_QCOW2);
    g_assert_cmpstr(disk_at(config, 2)->target, ==, "/img/c.qcow2");
    g_assert_cmpint(disk_at(config, 3)->format, ==, ORIEL_DISK_FORMAT_RAW);
    g_assert_cmpuint(warnings->len, ==, 4);
    assert_warning(warnings,
                   NAME ":2: disk: deprecated syntax in 'phy:/dev/vg/guest,hda,w'; write 'target,format,vdev,access'");
    assert_warning(warnings,
                   NAME ":3: disk: deprecated syntax in 'file:/root/cd.iso,hdc:cdrom,r'; write 'target,format,vdev,access'");
}

static void
test_keys_disk_ignored_parameters(void)
{
    g_autoptr(GPtrArray) warnings = NULL;
    g_autoptr(OrielDomainConfig) config = parse_ok(
        "name = 'd'\n"
        "disk = [ 'backendtype=qdisk, script=block-iscsi, discard, vdev=xvda, target=/img/a.img' ]\n",
        &warnings);

    g_assert_cmpstr(disk_at(config, 0)->target, ==, "/img/a.img");
    g_assert_cmpuint(warnings->len, ==, 3);
    assert_warning(warnings, NAME ":2: disk: 'backendtype' has no meaning in Oriel; ignored");
    assert_warning(warnings, NAME ":2: disk: 'script' has no meaning in Oriel; ignored");
    assert_warning(warnings, NAME ":2: disk: 'discard' has no meaning in Oriel; ignored");
}

static void
test_keys_relative_paths(void)
{
    /* parse_data has no directory: relative paths stay as written. */
    g_autoptr(OrielDomainConfig) config = parse_clean(
        "name = 'p'\nkernel = 'boot/vmlinuz'\nramdisk = 'boot/initrd'\ndisk = [ 'img/a.img,,xvda' ]\n");

    g_assert_cmpstr(config->kernel, ==, "boot/vmlinuz");
    g_assert_cmpstr(config->ramdisk, ==, "boot/initrd");
    g_assert_cmpstr(disk_at(config, 0)->target, ==, "img/a.img");

    /* parse_file resolves them against the file's directory. */
    g_autofree char *directory = g_dir_make_tmp("test-xlcfg-XXXXXX", NULL);
    g_autofree char *path = g_build_filename(directory, "rel.cfg", NULL);
    const char *text = "name = 'p'\nkernel = 'boot/vmlinuz'\nramdisk = '../initrd'\n"
                       "disk = [ 'img/a.img,,xvda', '/abs/b.img,,xvdb', 'vdev=xvdc,target=./c.img' ]\n";
    g_assert_true(g_file_set_contents(path, text, -1, NULL));
    g_autoptr(GError) error = NULL;
    g_autoptr(OrielDomainConfig) from_file = oriel_xlcfg_parse_file(path, NULL, &error);
    g_assert_no_error(error);

    g_autofree char *kernel = g_build_filename(directory, "boot", "vmlinuz", NULL);
    g_autofree char *parent = g_path_get_dirname(directory);
    g_autofree char *ramdisk = g_build_filename(parent, "initrd", NULL);
    g_autofree char *image = g_build_filename(directory, "img", "a.img", NULL);
    g_autofree char *image_c = g_build_filename(directory, "c.img", NULL);
    g_assert_cmpstr(from_file->kernel, ==, kernel);
    g_assert_cmpstr(from_file->ramdisk, ==, ramdisk);
    g_assert_cmpstr(disk_at(from_file, 0)->target, ==, image);
    g_assert_cmpstr(disk_at(from_file, 1)->target, ==, "/abs/b.img");
    g_assert_cmpstr(disk_at(from_file, 2)->target, ==, image_c);
    g_unlink(path);
    g_rmdir(directory);
}

/* ---- warnings --------------------------------------------------------- */

static void
test_warnings_unknown_key(void)
{
    g_autoptr(GPtrArray) warnings = NULL;
    g_autoptr(OrielDomainConfig) config =
        parse_ok("name = 'w'\n\nfoo = 1\nmemory = 1024; bar_baz = [ 'x' ]\n", &warnings);

    g_assert_cmpuint(warnings->len, ==, 2);
    g_assert_cmpstr(g_ptr_array_index(warnings, 0), ==, NAME ":3: unknown key 'foo' ignored");
    g_assert_cmpstr(g_ptr_array_index(warnings, 1), ==, NAME ":4: unknown key 'bar_baz' ignored");
    g_assert_cmpuint(config->memory_mib, ==, 1024);

    /* Keys are case-sensitive, as in xl. */
    g_autoptr(GPtrArray) case_warnings = NULL;
    g_autoptr(OrielDomainConfig) upper = parse_ok("name = 'w'\nMemory = 2048\n", &case_warnings);
    g_assert_cmpuint(upper->memory_mib, ==, 512);
    assert_warning(case_warnings, NAME ":2: unknown key 'Memory' ignored");

    /* The caller may not want them. */
    g_autoptr(GError) error = NULL;
    g_autoptr(OrielDomainConfig) quiet = oriel_xlcfg_parse_data("name = 'w'\nfoo = 1\n", 18, NAME, NULL, &error);
    g_assert_no_error(error);
    g_assert_nonnull(quiet);
}

static void
test_warnings_ignored_keys(void)
{
    g_autoptr(GPtrArray) warnings = NULL;
    g_autoptr(OrielDomainConfig) config = parse_ok(
        "name = 'w'\n"
        "vnc = 1\n"
        "acpi = 1\n"
        "shadow_memory = 8\n"
        "keymap = 'de'\n"
        "device_model_override = '/usr/lib/xen/bin/qemu-dm'\n"
        "on_watchdog = 'destroy'\n"
        "usbdevice = [ 'tablet' ]\n",
        &warnings);

    g_assert_nonnull(config);
    g_assert_cmpuint(warnings->len, ==, 7);
    g_assert_cmpstr(g_ptr_array_index(warnings, 0), ==,
                    NAME ":2: vnc: ignored; SPICE is Oriel's display (set spice = 1)");
    g_assert_cmpstr(g_ptr_array_index(warnings, 1), ==, NAME ":3: acpi: ignored; ACPI is always on");
    g_assert_cmpstr(g_ptr_array_index(warnings, 2), ==,
                    NAME ":4: shadow_memory: ignored; the accelerator decides");
    g_assert_cmpstr(g_ptr_array_index(warnings, 3), ==,
                    NAME ":5: keymap: ignored; the SPICE client sends scancodes");
    g_assert_cmpstr(g_ptr_array_index(warnings, 4), ==,
                    NAME ":6: device_model_override: ignored; Oriel runs its own QEMU");
    g_assert_cmpstr(g_ptr_array_index(warnings, 5), ==, NAME ":7: on_watchdog: has no meaning in Oriel; ignored");
}

/* ---- real files ------------------------------------------------------- */

static void
test_file_xl_example_hvm(void)
{
    g_autofree char *path = data_path("xl-example-hvm.cfg");
    g_autoptr(GError) error = NULL;
    g_autoptr(GPtrArray) warnings = NULL;
    g_autoptr(OrielDomainConfig) config = oriel_xlcfg_parse_file(path, &warnings, &error);

    g_assert_no_error(error);
    g_assert_nonnull(config);
    for (guint i = 0; i < warnings->len; i++)
        g_test_message("%s", (char *)g_ptr_array_index(warnings, i));

    g_assert_cmpstr(config->name, ==, "winxp-desktop");
    g_assert_cmpint(config->type, ==, ORIEL_DOMAIN_TYPE_HVM);
    g_assert_cmpuint(config->memory_mib, ==, 2048);
    g_assert_cmpuint(config->vcpus, ==, 2);
    g_assert_cmpstr(config->boot, ==, "dc");
    g_assert_cmpstr(config->serial, ==, "pty");
    g_assert_true(config->usb);
    g_assert_false(config->spice.enabled);
    g_assert_cmpint(config->vga, ==, ORIEL_VGA_STDVGA);
    g_assert_cmpuint(config->videoram_mib, ==, 16);
    g_assert_cmpint(config->on_crash, ==, ORIEL_ACTION_RESTART);

    g_assert_cmpuint(config->nics->len, ==, 1);
    g_assert_cmpstr(nic_at(config, 0)->mac, ==, "00:16:3e:5a:11:02");
    g_assert_cmpstr(nic_at(config, 0)->model, ==, "e1000");

    g_assert_cmpuint(config->disks->len, ==, 3);
    g_assert_cmpstr(disk_at(config, 0)->target, ==, "/dev/vg/guest-volume");
    g_assert_cmpstr(disk_at(config, 0)->vdev, ==, "xvda");
    g_assert_cmpstr(disk_at(config, 1)->target, ==, "/dev/vg/guest-data");
    g_assert_cmpstr(disk_at(config, 1)->vdev, ==, "hdb");
    g_assert_cmpstr(disk_at(config, 2)->target, ==, "/srv/iso/install.iso");
    g_assert_true(disk_at(config, 2)->cdrom);

    g_autofree char *vnc = g_strdup_printf("%s:30: vnc: ignored; SPICE is Oriel's display (set spice = 1)", path);
    g_autofree char *builder = g_strdup_printf("%s:9: builder: deprecated and overridden by type", path);
    g_autofree char *bridge = g_strdup_printf("%s:21: vif: 'bridge' has no meaning in Oriel; ignored", path);
    g_autofree char *sdl = g_strdup_printf("%s:36: sdl: ignored; SPICE is Oriel's display", path);
    g_autofree char *usbdevice = g_strdup_printf(
        "%s:46: usbdevice: ignored; the SPICE agent mouse and USB redirection replace emulated devices", path);
    assert_warning(warnings, vnc);
    assert_warning(warnings, builder);
    assert_warning(warnings, bridge);
    assert_warning(warnings, sdl);
    assert_warning(warnings, usbdevice);
    /* Every warning names the file and a line. */
    for (guint i = 0; i < warnings->len; i++)
        g_assert_true(g_str_has_prefix(g_ptr_array_index(warnings, i), path));
    g_assert_cmpuint(warnings->len, ==, 20);
}

static void
test_file_desktop_spice(void)
{
    g_autofree char *path = data_path("desktop-spice.cfg");
    g_autoptr(GError) error = NULL;
    g_autoptr(GPtrArray) warnings = NULL;
    g_autoptr(OrielDomainConfig) config = oriel_xlcfg_parse_file(path, &warnings, &error);

    g_assert_no_error(error);
    for (guint i = 0; i < warnings->len; i++)
        g_test_message("unexpected warning: %s", (char *)g_ptr_array_index(warnings, i));
    g_assert_cmpuint(warnings->len, ==, 0);

    g_assert_cmpstr(config->name, ==, "alice-desktop");
    g_assert_cmpint(config->firmware, ==, ORIEL_FIRMWARE_OVMF);
    g_assert_cmpuint(config->memory_mib, ==, 8192);
    g_assert_cmpuint(config->maxvcpus, ==, 4);
    g_assert_cmpstr(config->cpus, ==, "0-3");
    g_assert_cmpint(config->cpu_weight, ==, 512);
    g_assert_cmpint(config->cap, ==, 200);

    g_autofree char *absolute = g_canonicalize_filename(path, NULL);
    g_autofree char *directory = g_path_get_dirname(absolute);
    g_autofree char *image = g_build_filename(directory, "images", "alice.qcow2", NULL);
    g_assert_cmpstr(disk_at(config, 0)->target, ==, image);
    g_assert_cmpint(disk_at(config, 0)->format, ==, ORIEL_DISK_FORMAT_QCOW2);
    g_assert_true(disk_at(config, 1)->cdrom);
    g_assert_null(disk_at(config, 1)->target);
    g_assert_cmpstr(nic_at(config, 0)->model, ==, "virtio-net");
    g_assert_cmpstr(nic_at(config, 0)->mac, ==, "52:54:00:12:34:56");

    g_assert_cmpint(config->vga, ==, ORIEL_VGA_QXL);
    g_assert_cmpuint(config->videoram_mib, ==, 64);
    g_assert_true(config->spice.enabled);
    g_assert_cmpstr(config->spice.host, ==, "127.0.0.1");
    g_assert_cmpuint(config->spice.port, ==, 5930);
    g_assert_cmpuint(config->spice.tls_port, ==, 5931);
    g_assert_false(config->spice.disable_ticketing);
    g_assert_cmpstr(config->spice.password, ==, "correct horse");
    g_assert_true(config->spice.agent_mouse);
    g_assert_true(config->spice.vdagent);
    g_assert_true(config->spice.clipboard_sharing);
    g_assert_cmpuint(config->spice.usbredirection, ==, 4);
    g_assert_cmpstr(config->spice.image_compression, ==, "auto_glz");
    g_assert_cmpstr(config->spice.streaming_video, ==, "filter");
    g_assert_cmpint(config->soundhw, ==, ORIEL_SOUND_HDA);
    g_assert_true(config->usb);
    g_assert_cmpuint(config->usbversion, ==, 3);
    g_assert_cmpstr(config->serial, ==, "unix");
    g_assert_false(config->nestedhvm);
    g_assert_cmpint(config->on_crash, ==, ORIEL_ACTION_PRESERVE);
    g_assert_cmpuint(config->device_model_args->len, ==, 2);
    g_assert_cmpstr(g_ptr_array_index(config->device_model_args, 1), ==, "kvm-pit.lost_tick_policy=discard");
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);

    g_test_add_func("/xlcfg/syntax/separators", test_syntax_separators);
    g_test_add_func("/xlcfg/syntax/quotes", test_syntax_quotes);
    g_test_add_func("/xlcfg/syntax/escapes", test_syntax_escapes);
    g_test_add_func("/xlcfg/syntax/numbers", test_syntax_numbers);
    g_test_add_func("/xlcfg/syntax/append", test_syntax_append);
    g_test_add_func("/xlcfg/syntax/nested-lists", test_syntax_nested_lists);
    g_test_add_func("/xlcfg/syntax/comments", test_syntax_comments);
    g_test_add_func("/xlcfg/syntax/crlf", test_syntax_crlf);
    g_test_add_func("/xlcfg/syntax/duplicate-key", test_syntax_duplicate_key);
    g_test_add_func("/xlcfg/syntax/not-nul-terminated", test_syntax_not_nul_terminated);

    for (gsize i = 0; i < G_N_ELEMENTS(error_cases); i++) {
        g_autofree char *test_path = g_strdup_printf("/xlcfg/error/%s", error_cases[i].path);
        g_test_add_data_func(test_path, &error_cases[i], test_error_case);
    }
    g_test_add_func("/xlcfg/error/limits-at-the-bound", test_limits_at_the_bound);
    g_test_add_func("/xlcfg/error/file", test_file_errors);

    g_test_add_func("/xlcfg/keys/all", test_keys_all);
    g_test_add_func("/xlcfg/keys/hvm-devices", test_keys_hvm_devices);
    g_test_add_func("/xlcfg/keys/defaults", test_keys_defaults);
    g_test_add_func("/xlcfg/keys/builder", test_keys_builder);
    g_test_add_func("/xlcfg/keys/bios", test_keys_bios);
    g_test_add_func("/xlcfg/keys/root-extra", test_keys_root_extra);
    g_test_add_func("/xlcfg/keys/cpus", test_keys_cpus);
    g_test_add_func("/xlcfg/keys/vga", test_keys_vga);
    g_test_add_func("/xlcfg/keys/lifecycle-aliases", test_keys_lifecycle_aliases);
    g_test_add_func("/xlcfg/keys/serial", test_keys_serial);
    g_test_add_func("/xlcfg/keys/soundhw", test_keys_soundhw);
    g_test_add_func("/xlcfg/keys/device-model-args-hvm", test_keys_device_model_args_hvm);
    g_test_add_func("/xlcfg/keys/vif", test_keys_vif);
    g_test_add_func("/xlcfg/keys/disk-forms", test_keys_disk_forms);
    g_test_add_func("/xlcfg/keys/disk-positional-mixed", test_keys_disk_positional_mixed);
    g_test_add_func("/xlcfg/keys/disk-deprecated", test_keys_disk_deprecated);
    g_test_add_func("/xlcfg/keys/disk-ignored-parameters", test_keys_disk_ignored_parameters);
    g_test_add_func("/xlcfg/keys/relative-paths", test_keys_relative_paths);

    g_test_add_func("/xlcfg/warnings/unknown-key", test_warnings_unknown_key);
    g_test_add_func("/xlcfg/warnings/ignored-keys", test_warnings_ignored_keys);

    g_test_add_func("/xlcfg/file/xl-example-hvm", test_file_xl_example_hvm);
    g_test_add_func("/xlcfg/file/desktop-spice", test_file_desktop_spice);

    return g_test_run();
}
