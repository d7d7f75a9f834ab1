/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* xl cpu lists as vcpu-pin and the config's cpus take them. */
#include "hv-priv.h"

static gboolean
parses_to(const char *text, const char *expected)
{
    cpu_set_t set;
    g_autoptr(GString) got = g_string_new(NULL);

    if (!oriel_hv_parse_cpu_list(text, &set))
        return expected == NULL;
    for (int cpu = 0; cpu < CPU_SETSIZE; cpu++) {
        if (CPU_ISSET(cpu, &set))
            g_string_append_printf(got, "%s%d", got->len ? "," : "", cpu);
    }
    if (!expected || !g_str_equal(got->str, expected)) {
        g_test_message("'%s' gave '%s', wanted '%s'", text, got->str, expected ? expected : "(invalid)");
        return FALSE;
    }
    return TRUE;
}

static void
test_valid(void)
{
    g_assert_true(parses_to("0", "0"));
    g_assert_true(parses_to("0-3", "0,1,2,3"));
    g_assert_true(parses_to("0-3,^1", "0,2,3"));
    g_assert_true(parses_to("5,1-2", "1,2,5"));
    g_assert_true(parses_to("1023", "1023"));
}

static void
test_invalid(void)
{
    g_assert_true(parses_to("", NULL));
    g_assert_true(parses_to("x", NULL));
    g_assert_true(parses_to("3-1", NULL));
    g_assert_true(parses_to("1-", NULL));
    g_assert_true(parses_to("^1", NULL));       /* nothing left */
    g_assert_true(parses_to("1,^1", NULL));     /* nothing left */
    g_assert_true(parses_to("1024", NULL));     /* past CPU_SETSIZE */
    g_assert_true(parses_to("0-99999999999999999999", NULL));
    g_assert_true(parses_to("1,,2", NULL));
    g_assert_true(parses_to("^1-2", NULL));
}

static void
test_all(void)
{
    cpu_set_t set;

    g_assert_true(oriel_hv_parse_cpu_list("all", &set));
    g_assert_cmpint(CPU_COUNT(&set), ==, (int)MIN(sysconf(_SC_NPROCESSORS_ONLN), CPU_SETSIZE));
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/daemon-cpu-list/valid", test_valid);
    g_test_add_func("/daemon-cpu-list/invalid", test_invalid);
    g_test_add_func("/daemon-cpu-list/all", test_all);
    return g_test_run();
}
