/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * xl.cfg syntax: a lexer and a recursive-descent parser that build the
 * generic settings tree of xlcfg-priv.h.  No I/O, and every size taken from
 * the input is bounded before it is used.
 */
#include "xlcfg-priv.h"

#include <string.h>

/* Keys are xl.cfg identifiers; none is anywhere near this long. */
#define KEY_LENGTH_MAX 256u
/* Bad numbers and keys are quoted in messages up to this many bytes. */
#define QUOTE_LENGTH_MAX 32u

typedef enum {
    TOKEN_END,
    TOKEN_NEWLINE,
    TOKEN_SEMICOLON,
    TOKEN_EQUALS,
    TOKEN_PLUS_EQUALS,
    TOKEN_OPEN_BRACKET,
    TOKEN_CLOSE_BRACKET,
    TOKEN_COMMA,
    TOKEN_IDENTIFIER,
    TOKEN_STRING,
    TOKEN_NUMBER,
} TokenKind;

typedef struct {
    TokenKind kind;
    guint line;
    guint column;
    char *text; /* IDENTIFIER and STRING: owned */
    guint64 number;
} Token;

typedef struct {
    const char *data;
    gsize length;
    gsize position;
    guint line;
    gsize line_start;
    const char *filename;
    Token peeked;
    gboolean has_peeked;
} Lexer;

static void
token_clear(Token *token)
{
    g_clear_pointer(&token->text, g_free);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(Token, token_clear)

/* ---- the settings tree ------------------------------------------------ */

void
oriel_xlcfg_value_free(OrielXlcfgValue *value)
{
    if (!value)
        return;
    g_free(value->string);
    g_clear_pointer(&value->items, g_ptr_array_unref);
    g_free(value);
}

static void
setting_free(OrielXlcfgSetting *setting)
{
    if (!setting)
        return;
    g_free(setting->key);
    oriel_xlcfg_value_free(setting->value);
    g_free(setting);
}

void
oriel_xlcfg_settings_free(OrielXlcfgSettings *settings)
{
    if (!settings)
        return;
    g_free(settings->filename);
    g_clear_pointer(&settings->by_key, g_hash_table_unref);
    g_clear_pointer(&settings->settings, g_ptr_array_unref);
    g_free(settings);
}

const OrielXlcfgSetting *
oriel_xlcfg_settings_lookup(const OrielXlcfgSettings *settings, const char *key)
{
    return g_hash_table_lookup(settings->by_key, key);
}

const char *
oriel_xlcfg_value_type_describe(OrielXlcfgValueType type)
{
    switch (type) {
    case ORIEL_XLCFG_VALUE_STRING:
        return "a string";
    case ORIEL_XLCFG_VALUE_NUMBER:
        return "a number";
    case ORIEL_XLCFG_VALUE_LIST:
        return "a list";
    }
    return "a value";
}

void
oriel_xlcfg_set_error_at(GError **error, OrielXlcfgError code, const char *filename,
                         guint line, guint column, const char *format, ...)
{
    va_list args;

    va_start(args, format);
    g_autofree char *message = g_strdup_vprintf(format, args);
    va_end(args);
    g_set_error(error, ORIEL_XLCFG_ERROR, code, "%s:%u:%u: %s", filename, line, column, message);
}

/* ---- lexer ------------------------------------------------------------ */

static guint
lexer_column(const Lexer *lexer)
{
    return (guint)(lexer->position - lexer->line_start) + 1;
}

static gboolean
lexer_error(const Lexer *lexer, OrielXlcfgError code, guint line, guint column, GError **error,
            const char *format, ...) G_GNUC_PRINTF(6, 7);

static gboolean
lexer_error(const Lexer *lexer, OrielXlcfgError code, guint line, guint column, GError **error,
            const char *format, ...)
{
    va_list args;

    va_start(args, format);
    g_autofree char *message = g_strdup_vprintf(format, args);
    va_end(args);
    oriel_xlcfg_set_error_at(error, code, lexer->filename, line, column, "%s", message);
    return FALSE;
}

/* A byte as it reads in a message: 'c' when printable, else \xHH. */
static char *
describe_byte(guchar byte)
{
    if (g_ascii_isprint(byte))
        return g_strdup_printf("'%c'", byte);
    return g_strdup_printf("byte \\x%02x", byte);
}

static gboolean
is_identifier_start(char c)
{
    return g_ascii_isalpha(c) || c == '_';
}

static gboolean
is_identifier_char(char c)
{
    return g_ascii_isalnum(c) || c == '_';
}

static gboolean
append_string_byte(Lexer *lexer, GString *text, char byte, const Token *token, GError **error)
{
    if (text->len >= ORIEL_XLCFG_STRING_LENGTH_MAX)
        return lexer_error(lexer, ORIEL_XLCFG_ERROR_LIMIT, token->line, token->column, error,
                           "string longer than %u bytes", ORIEL_XLCFG_STRING_LENGTH_MAX);
    g_string_append_c(text, byte);
    return TRUE;
}

/* The escape whose backslash is at lexer->position; leaves the position
 * after it. */
static gboolean
lex_escape(Lexer *lexer, GString *text, const Token *token, GError **error)
{
    const char *data = lexer->data;
    guint column = lexer_column(lexer);
    gsize start = lexer->position;
    guint value = 0;
    gsize digits = 0;

    lexer->position++;
    if (lexer->position >= lexer->length || data[lexer->position] == '\n')
        return lexer_error(lexer, ORIEL_XLCFG_ERROR_SYNTAX, token->line, token->column, error,
                           "unterminated string");
    char c = data[lexer->position++];
    switch (c) {
    case 'n':
        return append_string_byte(lexer, text, '\n', token, error);
    case 't':
        return append_string_byte(lexer, text, '\t', token, error);
    case 'r':
        return append_string_byte(lexer, text, '\r', token, error);
    case '\\':
    case '"':
    case '\'':
        return append_string_byte(lexer, text, c, token, error);
    case 'x':
        while (digits < 2 && lexer->position < lexer->length &&
               g_ascii_isxdigit(data[lexer->position])) {
            value = value * 16 + (guint)g_ascii_xdigit_value(data[lexer->position++]);
            digits++;
        }
        if (digits == 0)
            return lexer_error(lexer, ORIEL_XLCFG_ERROR_SYNTAX, token->line, column, error,
                               "invalid escape '\\x' in string: expected hex digits");
        break;
    case '0': case '1': case '2': case '3': case '4': case '5': case '6': case '7':
        lexer->position--;
        while (digits < 3 && lexer->position < lexer->length &&
               data[lexer->position] >= '0' && data[lexer->position] <= '7') {
            value = value * 8 + (guint)(data[lexer->position++] - '0');
            digits++;
        }
        if (value > 0xff)
            return lexer_error(lexer, ORIEL_XLCFG_ERROR_SYNTAX, token->line, column, error,
                               "invalid escape '%.*s' in string: octal value above \\377",
                               (int)(lexer->position - start), data + start);
        break;
    default: {
        g_autofree char *what = describe_byte((guchar)c);
        return lexer_error(lexer, ORIEL_XLCFG_ERROR_SYNTAX, token->line, column, error,
                           "invalid escape in string: backslash before %s", what);
    }
    }
    if (value == 0)
        return lexer_error(lexer, ORIEL_XLCFG_ERROR_SYNTAX, token->line, column, error,
                           "invalid escape '%.*s' in string: a NUL character is not allowed",
                           (int)(lexer->position - start), data + start);
    return append_string_byte(lexer, text, (char)value, token, error);
}

static gboolean
lex_string(Lexer *lexer, Token *token, GError **error)
{
    const char *data = lexer->data;
    char quote = data[lexer->position++];
    g_autoptr(GString) text = g_string_new(NULL);

    for (;;) {
        if (lexer->position >= lexer->length || data[lexer->position] == '\n')
            return lexer_error(lexer, ORIEL_XLCFG_ERROR_SYNTAX, token->line, token->column, error,
                               "unterminated string");
        char c = data[lexer->position];
        if (c == quote) {
            lexer->position++;
            break;
        }
        if (c == '\\') {
            if (!lex_escape(lexer, text, token, error))
                return FALSE;
            continue;
        }
        if (!append_string_byte(lexer, text, c, token, error))
            return FALSE;
        lexer->position++;
    }
    /* Strings end up in JSON and in messages, so they must be text. */
    if (!g_utf8_validate_len(text->str, text->len, NULL))
        return lexer_error(lexer, ORIEL_XLCFG_ERROR_SYNTAX, token->line, token->column, error,
                           "string is not valid UTF-8");
    token->kind = TOKEN_STRING;
    token->text = g_string_free(g_steal_pointer(&text), FALSE);
    return TRUE;
}

/* Decimal, octal with a leading 0, or hex with 0x, as strtoul base 0
 * reads them, but without its silent acceptance of trailing junk. */
static gboolean
lex_number(Lexer *lexer, Token *token, GError **error)
{
    const char *data = lexer->data;
    gsize start = lexer->position;

    /* Take the whole word so that "12abc" or "1.5" is reported as one bad
     * number rather than as a number followed by a puzzling token. */
    while (lexer->position < lexer->length &&
           (is_identifier_char(data[lexer->position]) || data[lexer->position] == '.'))
        lexer->position++;

    const char *text = data + start;
    gsize length = lexer->position - start;
    guint base = 10;
    gsize offset = 0;
    if (length > 1 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X')) {
        base = 16;
        offset = 2;
    } else if (length > 1 && text[0] == '0') {
        base = 8;
        offset = 1;
    }

    guint64 number = 0;
    gboolean valid = offset < length;
    for (gsize i = offset; valid && i < length; i++) {
        int digit = g_ascii_xdigit_value(text[i]);
        if (digit < 0 || (guint)digit >= base) {
            valid = FALSE;
            break;
        }
        if (number > (G_MAXUINT64 - (guint)digit) / base)
            return lexer_error(lexer, ORIEL_XLCFG_ERROR_LIMIT, token->line, token->column, error,
                               "number '%.*s' is too large", (int)MIN(length, QUOTE_LENGTH_MAX), text);
        number = number * base + (guint)digit;
    }
    if (!valid)
        return lexer_error(lexer, ORIEL_XLCFG_ERROR_SYNTAX, token->line, token->column, error,
                           "invalid number '%.*s'", (int)MIN(length, QUOTE_LENGTH_MAX), text);
    token->kind = TOKEN_NUMBER;
    token->number = number;
    return TRUE;
}

static gboolean
lex_token(Lexer *lexer, Token *token, GError **error)
{
    const char *data = lexer->data;

    memset(token, 0, sizeof(*token));
    for (;;) {
        if (lexer->position >= lexer->length) {
            token->kind = TOKEN_END;
            token->line = lexer->line;
            token->column = lexer_column(lexer);
            return TRUE;
        }
        char c = data[lexer->position];
        if (c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v') {
            lexer->position++;
        } else if (c == '#') {
            while (lexer->position < lexer->length && data[lexer->position] != '\n')
                lexer->position++;
        } else {
            break;
        }
    }

    char c = data[lexer->position];
    token->line = lexer->line;
    token->column = lexer_column(lexer);
    switch (c) {
    case '\n':
        token->kind = TOKEN_NEWLINE;
        lexer->position++;
        lexer->line++;
        lexer->line_start = lexer->position;
        return TRUE;
    case ';':
        token->kind = TOKEN_SEMICOLON;
        lexer->position++;
        return TRUE;
    case '=':
        token->kind = TOKEN_EQUALS;
        lexer->position++;
        return TRUE;
    case '[':
        token->kind = TOKEN_OPEN_BRACKET;
        lexer->position++;
        return TRUE;
    case ']':
        token->kind = TOKEN_CLOSE_BRACKET;
        lexer->position++;
        return TRUE;
    case ',':
        token->kind = TOKEN_COMMA;
        lexer->position++;
        return TRUE;
    case '+':
        if (lexer->position + 1 < lexer->length && data[lexer->position + 1] == '=') {
            token->kind = TOKEN_PLUS_EQUALS;
            lexer->position += 2;
            return TRUE;
        }
        break;
    case '"':
    case '\'':
        return lex_string(lexer, token, error);
    default:
        if (g_ascii_isdigit(c))
            return lex_number(lexer, token, error);
        if (is_identifier_start(c)) {
            gsize start = lexer->position;
            while (lexer->position < lexer->length && is_identifier_char(data[lexer->position]))
                lexer->position++;
            gsize length = lexer->position - start;
            if (length > KEY_LENGTH_MAX)
                return lexer_error(lexer, ORIEL_XLCFG_ERROR_LIMIT, token->line, token->column, error,
                                   "key longer than %u characters", KEY_LENGTH_MAX);
            token->kind = TOKEN_IDENTIFIER;
            token->text = g_strndup(data + start, length);
            return TRUE;
        }
        break;
    }
    g_autofree char *what = describe_byte((guchar)c);
    return lexer_error(lexer, ORIEL_XLCFG_ERROR_SYNTAX, token->line, token->column, error,
                       "unexpected character %s", what);
}

/* Moves the next token into @token, which the caller clears. */
static gboolean
lexer_next(Lexer *lexer, Token *token, GError **error)
{
    if (lexer->has_peeked) {
        *token = lexer->peeked;
        memset(&lexer->peeked, 0, sizeof(lexer->peeked));
        lexer->has_peeked = FALSE;
        return TRUE;
    }
    return lex_token(lexer, token, error);
}

static const Token *
lexer_peek(Lexer *lexer, GError **error)
{
    if (!lexer->has_peeked) {
        if (!lex_token(lexer, &lexer->peeked, error))
            return NULL;
        lexer->has_peeked = TRUE;
    }
    return &lexer->peeked;
}

static char *
token_describe(const Token *token)
{
    switch (token->kind) {
    case TOKEN_END:
        return g_strdup("end of file");
    case TOKEN_NEWLINE:
        return g_strdup("end of line");
    case TOKEN_SEMICOLON:
        return g_strdup("';'");
    case TOKEN_EQUALS:
        return g_strdup("'='");
    case TOKEN_PLUS_EQUALS:
        return g_strdup("'+='");
    case TOKEN_OPEN_BRACKET:
        return g_strdup("'['");
    case TOKEN_CLOSE_BRACKET:
        return g_strdup("']'");
    case TOKEN_COMMA:
        return g_strdup("','");
    case TOKEN_IDENTIFIER:
        return g_strdup_printf("'%.*s'", (int)QUOTE_LENGTH_MAX, token->text);
    case TOKEN_STRING:
        return g_strdup("a string");
    case TOKEN_NUMBER:
        return g_strdup("a number");
    }
    return g_strdup("a token");
}

static gboolean
unexpected_token(Lexer *lexer, const Token *token, const char *expected, GError **error)
{
    g_autofree char *got = token_describe(token);
    const char *hint = token->kind == TOKEN_IDENTIFIER ? " (strings need quotes)" : "";

    return lexer_error(lexer, ORIEL_XLCFG_ERROR_SYNTAX, token->line, token->column, error,
                       "expected %s, got %s%s", expected, got,
                       g_str_equal(expected, "a value") ? hint : "");
}

/* ---- parser ----------------------------------------------------------- */

static OrielXlcfgValue *
value_new(OrielXlcfgValueType type, const Token *token)
{
    OrielXlcfgValue *value = g_new0(OrielXlcfgValue, 1);

    value->type = type;
    value->line = token->line;
    value->column = token->column;
    if (type == ORIEL_XLCFG_VALUE_LIST)
        value->items = g_ptr_array_new_with_free_func((GDestroyNotify)oriel_xlcfg_value_free);
    return value;
}

/* Newlines are free inside a list: xl lists often span lines. */
static gboolean
skip_newlines(Lexer *lexer, GError **error)
{
    for (;;) {
        const Token *next = lexer_peek(lexer, error);
        if (!next)
            return FALSE;
        if (next->kind != TOKEN_NEWLINE)
            return TRUE;
        Token newline = { 0 };
        lexer_next(lexer, &newline, error);
        token_clear(&newline);
    }
}

static OrielXlcfgValue *parse_value(Lexer *lexer, guint depth, GError **error);

/* The list whose '[' is @open; @depth counts the lists around it. */
static OrielXlcfgValue *
parse_list(Lexer *lexer, const Token *open, guint depth, GError **error)
{
    if (depth + 1 > ORIEL_XLCFG_NESTING_MAX) {
        lexer_error(lexer, ORIEL_XLCFG_ERROR_LIMIT, open->line, open->column, error,
                    "lists nested more than %u deep", ORIEL_XLCFG_NESTING_MAX);
        return NULL;
    }
    g_autoptr(OrielXlcfgValue) list = value_new(ORIEL_XLCFG_VALUE_LIST, open);
    for (;;) {
        if (!skip_newlines(lexer, error))
            return NULL;
        const Token *next = lexer_peek(lexer, error);
        if (!next)
            return NULL;
        if (next->kind == TOKEN_CLOSE_BRACKET) {
            Token close = { 0 };
            lexer_next(lexer, &close, error);
            token_clear(&close);
            return g_steal_pointer(&list);
        }
        if (list->items->len >= ORIEL_XLCFG_LIST_LENGTH_MAX) {
            lexer_error(lexer, ORIEL_XLCFG_ERROR_LIMIT, next->line, next->column, error,
                        "list longer than %u items", ORIEL_XLCFG_LIST_LENGTH_MAX);
            return NULL;
        }
        OrielXlcfgValue *item = parse_value(lexer, depth + 1, error);
        if (!item)
            return NULL;
        g_ptr_array_add(list->items, item);

        if (!skip_newlines(lexer, error))
            return NULL;
        g_auto(Token) separator = { 0 };
        if (!lexer_next(lexer, &separator, error))
            return NULL;
        if (separator.kind == TOKEN_CLOSE_BRACKET)
            return g_steal_pointer(&list);
        if (separator.kind != TOKEN_COMMA) {
            unexpected_token(lexer, &separator, "',' or ']' in a list", error);
            return NULL;
        }
    }
}

static OrielXlcfgValue *
parse_value(Lexer *lexer, guint depth, GError **error)
{
    g_auto(Token) token = { 0 };
    OrielXlcfgValue *value = NULL;

    if (!lexer_next(lexer, &token, error))
        return NULL;
    switch (token.kind) {
    case TOKEN_STRING:
        value = value_new(ORIEL_XLCFG_VALUE_STRING, &token);
        value->string = g_steal_pointer(&token.text);
        return value;
    case TOKEN_NUMBER:
        value = value_new(ORIEL_XLCFG_VALUE_NUMBER, &token);
        value->number = token.number;
        return value;
    case TOKEN_OPEN_BRACKET:
        return parse_list(lexer, &token, depth, error);
    default:
        unexpected_token(lexer, &token, "a value", error);
        return NULL;
    }
}

/* xl's "+=": strings concatenate, lists grow.  Takes @appended. */
static gboolean
append_value(Lexer *lexer, const char *key, OrielXlcfgValue *existing,
             OrielXlcfgValue *appended, GError **error)
{
    g_autoptr(OrielXlcfgValue) value = appended;

    if (existing->type == ORIEL_XLCFG_VALUE_STRING && value->type == ORIEL_XLCFG_VALUE_STRING) {
        if (strlen(existing->string) + strlen(value->string) > ORIEL_XLCFG_STRING_LENGTH_MAX)
            return lexer_error(lexer, ORIEL_XLCFG_ERROR_LIMIT, value->line, value->column, error,
                               "%s: string longer than %u bytes after +=", key,
                               ORIEL_XLCFG_STRING_LENGTH_MAX);
        char *joined = g_strconcat(existing->string, value->string, NULL);
        g_free(existing->string);
        existing->string = joined;
        return TRUE;
    }
    if (existing->type == ORIEL_XLCFG_VALUE_LIST) {
        guint added = value->type == ORIEL_XLCFG_VALUE_LIST ? value->items->len : 1;
        if (existing->items->len + added > ORIEL_XLCFG_LIST_LENGTH_MAX)
            return lexer_error(lexer, ORIEL_XLCFG_ERROR_LIMIT, value->line, value->column, error,
                               "%s: list longer than %u items after +=", key,
                               ORIEL_XLCFG_LIST_LENGTH_MAX);
        if (value->type != ORIEL_XLCFG_VALUE_LIST) {
            g_ptr_array_add(existing->items, g_steal_pointer(&value));
            return TRUE;
        }
        for (guint i = 0; i < value->items->len; i++)
            g_ptr_array_add(existing->items, g_steal_pointer(&value->items->pdata[i]));
        return TRUE;
    }
    return lexer_error(lexer, ORIEL_XLCFG_ERROR_TYPE, value->line, value->column, error,
                       "%s: cannot append %s to %s", key,
                       oriel_xlcfg_value_type_describe(value->type),
                       oriel_xlcfg_value_type_describe(existing->type));
}

static gboolean
store_setting(Lexer *lexer, OrielXlcfgSettings *settings, Token *key, gboolean append,
              OrielXlcfgValue *value, GError **error)
{
    OrielXlcfgSetting *existing = g_hash_table_lookup(settings->by_key, key->text);

    if (existing && append)
        return append_value(lexer, key->text, existing->value, value, error);
    if (existing) {
        /* Like xl, the later assignment wins. */
        oriel_xlcfg_value_free(existing->value);
        existing->value = value;
        existing->line = key->line;
        existing->column = key->column;
        return TRUE;
    }
    OrielXlcfgSetting *setting = g_new0(OrielXlcfgSetting, 1);
    setting->key = g_steal_pointer(&key->text);
    setting->line = key->line;
    setting->column = key->column;
    setting->value = value;
    g_ptr_array_add(settings->settings, setting);
    g_hash_table_insert(settings->by_key, setting->key, setting);
    return TRUE;
}

static gboolean
parse_statement(Lexer *lexer, OrielXlcfgSettings *settings, Token *key, GError **error)
{
    g_auto(Token) operator = { 0 };
    g_auto(Token) end = { 0 };

    if (!lexer_next(lexer, &operator, error))
        return FALSE;
    if (operator.kind != TOKEN_EQUALS && operator.kind != TOKEN_PLUS_EQUALS) {
        g_autofree char *expected = g_strdup_printf("'=' or '+=' after '%s'", key->text);
        return unexpected_token(lexer, &operator, expected, error);
    }
    g_autoptr(OrielXlcfgValue) value = parse_value(lexer, 0, error);
    if (!value)
        return FALSE;
    if (!lexer_next(lexer, &end, error))
        return FALSE;
    if (end.kind != TOKEN_NEWLINE && end.kind != TOKEN_SEMICOLON && end.kind != TOKEN_END) {
        g_autofree char *expected = g_strdup_printf("';' or end of line after the value of '%s'",
                                                    key->text);
        return unexpected_token(lexer, &end, expected, error);
    }
    return store_setting(lexer, settings, key, operator.kind == TOKEN_PLUS_EQUALS,
                         g_steal_pointer(&value), error);
}

static gboolean
parse_statements(Lexer *lexer, OrielXlcfgSettings *settings, GError **error)
{
    for (;;) {
        g_auto(Token) token = { 0 };
        if (!lexer_next(lexer, &token, error))
            return FALSE;
        if (token.kind == TOKEN_END)
            return TRUE;
        if (token.kind == TOKEN_NEWLINE || token.kind == TOKEN_SEMICOLON)
            continue;
        if (token.kind != TOKEN_IDENTIFIER)
            return unexpected_token(lexer, &token, "a key", error);
        if (!parse_statement(lexer, settings, &token, error))
            return FALSE;
    }
}

OrielXlcfgSettings *
oriel_xlcfg_settings_parse(const char *data, gsize length, const char *filename, GError **error)
{
    Lexer lexer = {
        .data = data,
        .length = length,
        .line = 1,
        .filename = filename,
    };

    if (length > ORIEL_XLCFG_FILE_SIZE_MAX) {
        g_set_error(error, ORIEL_XLCFG_ERROR, ORIEL_XLCFG_ERROR_LIMIT,
                    "%s: file too large (%" G_GSIZE_FORMAT " bytes, at most %u)",
                    filename, length, ORIEL_XLCFG_FILE_SIZE_MAX);
        return NULL;
    }
    /* Checked up front so that no later stage (comments, strings, keys)
     * has to think about an embedded NUL. */
    const char *nul = length > 0 ? memchr(data, '\0', length) : NULL;
    if (nul) {
        guint line = 1;
        gsize line_start = 0;
        for (gsize i = 0; i < (gsize)(nul - data); i++) {
            if (data[i] == '\n') {
                line++;
                line_start = i + 1;
            }
        }
        lexer_error(&lexer, ORIEL_XLCFG_ERROR_SYNTAX, line, (guint)(nul - data - line_start) + 1,
                    error, "NUL byte in the file");
        return NULL;
    }

    g_autoptr(OrielXlcfgSettings) settings = g_new0(OrielXlcfgSettings, 1);
    settings->filename = g_strdup(filename);
    settings->settings = g_ptr_array_new_with_free_func((GDestroyNotify)setting_free);
    settings->by_key = g_hash_table_new(g_str_hash, g_str_equal);

    gboolean parsed = parse_statements(&lexer, settings, error);
    /* An error can leave a token peeked but never consumed. */
    token_clear(&lexer.peeked);
    if (!parsed)
        return NULL;
    return g_steal_pointer(&settings);
}
