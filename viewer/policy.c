/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Small policies: clipboard directions, hotkeys, USB filters, backoff. */
#define G_LOG_DOMAIN "oriel-viewer"

#include "oriel-viewer.h"

#include <string.h>
#include <usbredirfilter.h>

static const char *const clipboard_policy_names[] = {
    [ORIEL_CLIPBOARD_BOTH] = "both",
    [ORIEL_CLIPBOARD_TO_GUEST] = "to-guest",
    [ORIEL_CLIPBOARD_FROM_GUEST] = "from-guest",
    [ORIEL_CLIPBOARD_OFF] = "off",
};

gboolean
oriel_clipboard_policy_parse(const char *text, OrielClipboardPolicy *policy, GError **error)
{
    for (gsize i = 0; i < G_N_ELEMENTS(clipboard_policy_names); i++) {
        if (g_str_equal(text, clipboard_policy_names[i])) {
            *policy = (OrielClipboardPolicy)i;
            return TRUE;
        }
    }
    g_set_error(error, ORIEL_VIEWER_ERROR, ORIEL_VIEWER_ERROR_INVALID,
                "clipboard policy \"%s\": expected both, to-guest, from-guest or off", text);
    return FALSE;
}

const char *
oriel_clipboard_policy_to_string(OrielClipboardPolicy policy)
{
    if ((guint)policy >= G_N_ELEMENTS(clipboard_policy_names))
        return "unknown";
    return clipboard_policy_names[policy];
}

gboolean
oriel_clipboard_allows(OrielClipboardPolicy policy, gboolean primary_enabled,
                       OrielClipboardDirection direction, guint selection)
{
    switch (selection) {
    case ORIEL_SELECTION_CLIPBOARD:
        break;
    case ORIEL_SELECTION_PRIMARY:
        if (!primary_enabled)
            return FALSE;
        break;
    default:
        return FALSE;
    }
    switch (policy) {
    case ORIEL_CLIPBOARD_BOTH:
        return TRUE;
    case ORIEL_CLIPBOARD_TO_GUEST:
        return direction == ORIEL_CLIPBOARD_DIRECTION_TO_GUEST;
    case ORIEL_CLIPBOARD_FROM_GUEST:
        return direction == ORIEL_CLIPBOARD_DIRECTION_FROM_GUEST;
    case ORIEL_CLIPBOARD_OFF:
    default:
        return FALSE;
    }
}

/* One key of a virt-viewer hotkey: the accelerator modifier, or the key
 * name for the last element. */
typedef struct {
    const char *name;
    const char *accel;      /* gtk_accelerator_parse modifier */
    const char *keysym;     /* spice grab sequence keysym */
} HotkeyModifier;

static const HotkeyModifier hotkey_modifiers[] = {
    { "ctrl", "<Control>", "Control_L" },
    { "control", "<Control>", "Control_L" },
    { "alt", "<Alt>", "Alt_L" },
    { "shift", "<Shift>", "Shift_L" },
    { "super", "<Super>", "Super_L" },
    { "meta", "<Meta>", "Meta_L" },
};

static const HotkeyModifier *
find_modifier(const char *name)
{
    for (gsize i = 0; i < G_N_ELEMENTS(hotkey_modifiers); i++)
        if (g_ascii_strcasecmp(name, hotkey_modifiers[i].name) == 0)
            return &hotkey_modifiers[i];
    return NULL;
}

/* Key names: letters and digits, F1-F24, and a few named keys.  Returns the
 * keysym name spelled as X11 does. */
static char *
key_name(const char *name)
{
    static const char *const named[] = {
        "Escape", "Delete", "Insert", "Home", "End", "Page_Up", "Page_Down",
        "Print", "Pause", "space", "Return", "Tab", "BackSpace",
        "plus", "minus", "equal",
    };
    guint64 n = 0;

    if (strlen(name) == 1 && g_ascii_isalnum(name[0]))
        return g_strdup_printf("%c", g_ascii_tolower(name[0]));
    if ((name[0] == 'f' || name[0] == 'F') &&
        g_ascii_string_to_unsigned(name + 1, 10, 1, 24, &n, NULL))
        return g_strdup_printf("F%u", (unsigned)n);
    static const struct {
        const char *alias, *keysym;
    } aliases[] = {
        { "del", "Delete" }, { "ins", "Insert" }, { "esc", "Escape" },
        { "pgup", "Page_Up" }, { "pgdn", "Page_Down" }, { "enter", "Return" },
        { "backspace", "BackSpace" }, { "printscreen", "Print" },
    };

    for (gsize i = 0; i < G_N_ELEMENTS(named); i++)
        if (g_ascii_strcasecmp(name, named[i]) == 0)
            return g_strdup(named[i]);
    for (gsize i = 0; i < G_N_ELEMENTS(aliases); i++)
        if (g_ascii_strcasecmp(name, aliases[i].alias) == 0)
            return g_strdup(aliases[i].keysym);
    return NULL;
}

static char *
convert_hotkey(const char *hotkey, gboolean for_grab, GError **error)
{
    g_auto(GStrv) parts = NULL;
    g_autoptr(GString) out = g_string_new(NULL);
    guint n;

    if (!hotkey || !*hotkey)
        goto invalid;
    parts = g_strsplit(hotkey, "+", -1);
    n = g_strv_length(parts);
    for (guint i = 0; i < n; i++) {
        const HotkeyModifier *modifier = find_modifier(parts[i]);
        if (modifier) {
            if (for_grab)
                g_string_append_printf(out, "%s%s", out->len ? "+" : "", modifier->keysym);
            else
                g_string_append(out, modifier->accel);
            continue;
        }
        /* Only the last element may be a plain key. */
        if (i + 1 != n)
            goto invalid;
        g_autofree char *key = key_name(parts[i]);
        if (!key)
            goto invalid;
        if (for_grab)
            g_string_append_printf(out, "%s%s", out->len ? "+" : "", key);
        else
            g_string_append(out, key);
        return g_string_free(g_steal_pointer(&out), FALSE);
    }
    /* Modifiers only: fine for a grab sequence, not for an accelerator. */
    if (for_grab && out->len)
        return g_string_free(g_steal_pointer(&out), FALSE);
invalid:
    g_set_error(error, ORIEL_VIEWER_ERROR, ORIEL_VIEWER_ERROR_INVALID,
                "hotkey \"%s\": expected modifiers and a key joined by +, e.g. ctrl+alt+f11",
                hotkey ? hotkey : "");
    return NULL;
}

char *
oriel_viewer_hotkey_to_accel(const char *hotkey, GError **error)
{
    return convert_hotkey(hotkey, FALSE, error);
}

char *
oriel_viewer_hotkey_to_grab_keys(const char *hotkey, GError **error)
{
    return convert_hotkey(hotkey, TRUE, error);
}

gboolean
oriel_viewer_usb_filter_validate(const char *rules, GError **error)
{
    struct usbredirfilter_rule *parsed = NULL;
    int count = 0;
    int ret;

    if (!rules || !*rules) {
        g_set_error_literal(error, ORIEL_VIEWER_ERROR, ORIEL_VIEWER_ERROR_INVALID,
                            "empty USB filter");
        return FALSE;
    }
    ret = usbredirfilter_string_to_rules(rules, ",", "|", &parsed, &count);
    if (ret != 0) {
        g_set_error(error, ORIEL_VIEWER_ERROR, ORIEL_VIEWER_ERROR_INVALID,
                    "USB filter \"%s\": expected class,vendor,product,version,allow rules "
                    "separated by |", rules);
        return FALSE;
    }
    usbredirfilter_free(parsed);
    return TRUE;
}

guint
oriel_viewer_backoff_delay_ms(guint attempt)
{
    if (attempt >= 4)
        return 4000;
    return 250u << attempt;
}
