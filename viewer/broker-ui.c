/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Thin-client mode: log in to oriel-broker, pick a pool, show the desktop
 * (broker-ui.h). */
#define G_LOG_DOMAIN "oriel-viewer"

#include "broker-ui.h"
#include "broker-client.h"

#include <gtk/gtk.h>
#include <stdio.h>
#include <string.h>

#define LOGIN_WINDOW_TITLE "Oriel - sign in"
#define POOLS_WINDOW_TITLE "Oriel - desktops"
#define PASSWORD_FILE_MAX 4096
/* Ends the desktop session and goes back to the login window. */
#define LOGOUT_HOTKEY "ctrl+alt+shift+l"

void
oriel_broker_ui_options_clear(OrielBrokerUiOptions *broker)
{
    g_free(broker->url);
    g_free(broker->ca_file);
    g_free(broker->pool);
    g_free(broker->user);
    g_free(broker->password_file);
}

typedef struct {
    const OrielViewerOptions *options;
    OrielBrokerClient *client;
    gint64 started_us;
    char *pool;               /* of the session running, for reconnects */
} BrokerUi;

/* Event lines as viewer-app.c prints them; @detail is ours, never peer text. */
static void
log_event(BrokerUi *ui, const char *event, const char *detail)
{
    if (!ui->options->events)
        return;
    printf("{\"event\":\"%s\",\"ms\":%" G_GINT64_FORMAT "%s%s%s}\n", event,
           (g_get_monotonic_time() - ui->started_us) / 1000, detail ? ",\"detail\":\"" : "",
           detail ? detail : "", detail ? "\"" : "");
    fflush(stdout);
}

static int
exit_code_for_error(const GError *error)
{
    if (error->domain != ORIEL_BROKER_ERROR)
        return ORIEL_VIEWER_EXIT_FAILURE;
    switch ((OrielBrokerError)error->code) {
    case ORIEL_BROKER_ERROR_AUTH:
    case ORIEL_BROKER_ERROR_LOCKED:
        return ORIEL_VIEWER_EXIT_AUTH;
    case ORIEL_BROKER_ERROR_NETWORK:
        return ORIEL_VIEWER_EXIT_REFUSED;
    case ORIEL_BROKER_ERROR_TLS:
        return ORIEL_VIEWER_EXIT_TLS;
    default:
        return ORIEL_VIEWER_EXIT_FAILURE;
    }
}

/* OrielViewerOptions.refresh: a fresh one-time ticket for the next attempt.
 * When the broker no longer serves this session, the viewer stops
 * reconnecting (ORIEL_VIEWER_ERROR_ENDED). */
static OrielViewerConnection *
refresh_from_broker(gpointer user_data, GError **error)
{
    BrokerUi *ui = user_data;
    g_autoptr(GError) local_error = NULL;
    OrielViewerConnection *connection = oriel_broker_client_connect(ui->client, ui->pool, &local_error);

    if (connection) {
        log_event(ui, "broker-ticket", NULL);
        return connection;
    }
    if (g_error_matches(local_error, ORIEL_BROKER_ERROR, ORIEL_BROKER_ERROR_AUTH) ||
        g_error_matches(local_error, ORIEL_BROKER_ERROR, ORIEL_BROKER_ERROR_FORBIDDEN) ||
        g_error_matches(local_error, ORIEL_BROKER_ERROR, ORIEL_BROKER_ERROR_NOT_FOUND))
        g_set_error(error, ORIEL_VIEWER_ERROR, ORIEL_VIEWER_ERROR_ENDED, "%s", local_error->message);
    else
        g_propagate_error(error, g_steal_pointer(&local_error));
    return NULL;
}

/* ---- the login window ------------------------------------------------------ */

typedef struct {
    BrokerUi *ui;
    GMainLoop *loop;
    GtkWidget *window;
    GtkWidget *user;
    GtkWidget *password;
    GtkWidget *message;
    GtkWidget *button;
    gboolean logged_in;
} LoginWindow;

static void
show_message(GtkWidget *label, const char *text)
{
    gtk_label_set_text(GTK_LABEL(label), text ? text : "");
    gtk_widget_set_visible(label, text && *text);
}

static void
flush_events(void)
{
    /* The call below blocks: let "Signing in..." reach the screen first. */
    while (gtk_events_pending())
        gtk_main_iteration_do(FALSE);
}

static void
on_login(GtkWidget *widget, gpointer user_data)
{
    LoginWindow *login = user_data;
    const char *user = gtk_entry_get_text(GTK_ENTRY(login->user));
    g_autoptr(GError) error = NULL;

    if (!gtk_widget_get_sensitive(login->button))
        return;
    if (!*user) {
        show_message(login->message, "Enter your user name.");
        gtk_widget_grab_focus(login->user);
        return;
    }
    gtk_widget_set_sensitive(login->button, FALSE);
    show_message(login->message, "Signing in...");
    flush_events();
    gboolean ok = oriel_broker_client_login(login->ui->client, user,
                                            gtk_entry_get_text(GTK_ENTRY(login->password)), &error);
    gtk_entry_set_text(GTK_ENTRY(login->password), "");
    gtk_widget_set_sensitive(login->button, TRUE);
    if (!ok) {
        log_event(login->ui, "broker-login-failed", NULL);
        show_message(login->message, error->message);
        gtk_widget_grab_focus(login->password);
        return;
    }
    login->logged_in = TRUE;
    g_main_loop_quit(login->loop);
}

static gboolean
on_login_delete(GtkWidget *widget, GdkEvent *event, gpointer user_data)
{
    LoginWindow *login = user_data;

    /* A kiosk has nothing behind its login window. */
    if (!login->ui->options->kiosk)
        g_main_loop_quit(login->loop);
    return TRUE;
}

static void
on_quit_clicked(GtkWidget *widget, gpointer user_data)
{
    LoginWindow *login = user_data;
    g_main_loop_quit(login->loop);
}

/* TRUE once logged in; FALSE when the user quit (never in kiosk mode). */
static gboolean
run_login_window(BrokerUi *ui, const char *message)
{
    LoginWindow login = { .ui = ui };
    GtkWidget *box, *grid, *title, *where, *label, *buttons;
    g_autofree char *where_text = g_strdup_printf("Desktops from %s", oriel_broker_client_get_url(ui->client));

    login.loop = g_main_loop_new(NULL, FALSE);
    login.window = gtk_window_new(GTK_WINDOW_TOPLEVEL);
    gtk_window_set_title(GTK_WINDOW(login.window), LOGIN_WINDOW_TITLE);
    gtk_window_set_position(GTK_WINDOW(login.window), GTK_WIN_POS_CENTER);
    gtk_window_set_default_size(GTK_WINDOW(login.window), 420, -1);
    g_signal_connect(login.window, "delete-event", G_CALLBACK(on_login_delete), &login);

    box = gtk_box_new(GTK_ORIENTATION_VERTICAL, 12);
    gtk_container_set_border_width(GTK_CONTAINER(box), 24);
    gtk_widget_set_halign(box, GTK_ALIGN_CENTER);
    gtk_widget_set_valign(box, GTK_ALIGN_CENTER);
    gtk_container_add(GTK_CONTAINER(login.window), box);
    title = gtk_label_new(NULL);
    gtk_label_set_markup(GTK_LABEL(title), "<big><b>Sign in</b></big>");
    gtk_box_pack_start(GTK_BOX(box), title, FALSE, FALSE, 0);
    where = gtk_label_new(where_text);
    gtk_box_pack_start(GTK_BOX(box), where, FALSE, FALSE, 0);

    grid = gtk_grid_new();
    gtk_grid_set_row_spacing(GTK_GRID(grid), 6);
    gtk_grid_set_column_spacing(GTK_GRID(grid), 12);
    label = gtk_label_new_with_mnemonic("_User");
    gtk_label_set_xalign(GTK_LABEL(label), 1.0f);
    login.user = gtk_entry_new();
    gtk_entry_set_max_length(GTK_ENTRY(login.user), ORIEL_BROKER_NAME_MAX);
    gtk_label_set_mnemonic_widget(GTK_LABEL(label), login.user);
    gtk_grid_attach(GTK_GRID(grid), label, 0, 0, 1, 1);
    gtk_grid_attach(GTK_GRID(grid), login.user, 1, 0, 1, 1);
    label = gtk_label_new_with_mnemonic("_Password");
    gtk_label_set_xalign(GTK_LABEL(label), 1.0f);
    login.password = gtk_entry_new();
    gtk_entry_set_visibility(GTK_ENTRY(login.password), FALSE);
    gtk_entry_set_input_purpose(GTK_ENTRY(login.password), GTK_INPUT_PURPOSE_PASSWORD);
    gtk_entry_set_max_length(GTK_ENTRY(login.password), 1024);
    gtk_label_set_mnemonic_widget(GTK_LABEL(label), login.password);
    gtk_grid_attach(GTK_GRID(grid), label, 0, 1, 1, 1);
    gtk_grid_attach(GTK_GRID(grid), login.password, 1, 1, 1, 1);
    gtk_box_pack_start(GTK_BOX(box), grid, FALSE, FALSE, 0);
    g_signal_connect(login.user, "activate", G_CALLBACK(on_login), &login);
    g_signal_connect(login.password, "activate", G_CALLBACK(on_login), &login);

    login.message = gtk_label_new(NULL);
    gtk_label_set_line_wrap(GTK_LABEL(login.message), TRUE);
    gtk_label_set_max_width_chars(GTK_LABEL(login.message), 50);
    gtk_box_pack_start(GTK_BOX(box), login.message, FALSE, FALSE, 0);

    buttons = gtk_button_box_new(GTK_ORIENTATION_HORIZONTAL);
    gtk_button_box_set_layout(GTK_BUTTON_BOX(buttons), GTK_BUTTONBOX_END);
    gtk_box_set_spacing(GTK_BOX(buttons), 6);
    if (!ui->options->kiosk) {
        GtkWidget *quit = gtk_button_new_with_mnemonic("_Quit");
        g_signal_connect(quit, "clicked", G_CALLBACK(on_quit_clicked), &login);
        gtk_container_add(GTK_CONTAINER(buttons), quit);
    }
    login.button = gtk_button_new_with_mnemonic("_Log in");
    g_signal_connect(login.button, "clicked", G_CALLBACK(on_login), &login);
    gtk_container_add(GTK_CONTAINER(buttons), login.button);
    gtk_box_pack_start(GTK_BOX(box), buttons, FALSE, FALSE, 0);

    gtk_widget_show_all(login.window);
    show_message(login.message, message);
    if (ui->options->kiosk)
        gtk_window_fullscreen(GTK_WINDOW(login.window));
    gtk_widget_grab_focus(login.user);
    log_event(ui, "broker-login-window", NULL);
    g_main_loop_run(login.loop);

    gtk_widget_destroy(login.window);
    g_main_loop_unref(login.loop);
    return login.logged_in;
}

/* ---- the pool list ---------------------------------------------------------- */

typedef struct {
    GMainLoop *loop;
    GtkWidget *list;
    GPtrArray *pools;
    const char *chosen;
    gboolean kiosk;
} PoolWindow;

static void
on_row_activated(GtkListBox *box, GtkListBoxRow *row, gpointer user_data)
{
    PoolWindow *window = user_data;
    int index = gtk_list_box_row_get_index(row);

    if (index >= 0 && (guint)index < window->pools->len) {
        window->chosen = ((OrielBrokerPool *)window->pools->pdata[index])->name;
        g_main_loop_quit(window->loop);
    }
}

static void
on_connect_clicked(GtkWidget *widget, gpointer user_data)
{
    PoolWindow *window = user_data;
    GtkListBoxRow *row = gtk_list_box_get_selected_row(GTK_LIST_BOX(window->list));

    if (row)
        on_row_activated(GTK_LIST_BOX(window->list), row, window);
}

static void
on_logout_clicked(GtkWidget *widget, gpointer user_data)
{
    PoolWindow *window = user_data;
    g_main_loop_quit(window->loop);
}

static gboolean
on_pools_delete(GtkWidget *widget, GdkEvent *event, gpointer user_data)
{
    on_logout_clicked(widget, user_data);
    return TRUE;
}

static char *
pool_row_text(const OrielBrokerPool *pool)
{
    g_autofree char *name = g_markup_escape_text(pool->name, -1);
    g_autofree char *description = g_markup_escape_text(pool->description, -1);
    g_autofree char *state = pool->assigned ? g_strdup("your desktop")
                             : pool->free >= 0 ? g_strdup_printf("%" G_GINT64_FORMAT " free", pool->free)
                                               : g_strdup("");
    return g_strdup_printf("<b>%s</b>  %s\n<small>%s%s</small>", name, state, description,
                           pool->persistent ? " (persistent)" : "");
}

/* The pool chosen (owned by @pools), or NULL to log out. */
static const char *
run_pool_window(BrokerUi *ui, GPtrArray *pools, const char *message)
{
    PoolWindow window = { .pools = pools, .kiosk = ui->options->kiosk };
    GtkWidget *toplevel, *box, *label, *scrolled, *buttons, *button;

    window.loop = g_main_loop_new(NULL, FALSE);
    toplevel = gtk_window_new(GTK_WINDOW_TOPLEVEL);
    gtk_window_set_title(GTK_WINDOW(toplevel), POOLS_WINDOW_TITLE);
    gtk_window_set_position(GTK_WINDOW(toplevel), GTK_WIN_POS_CENTER);
    gtk_window_set_default_size(GTK_WINDOW(toplevel), 480, 360);
    g_signal_connect(toplevel, "delete-event", G_CALLBACK(on_pools_delete), &window);
    box = gtk_box_new(GTK_ORIENTATION_VERTICAL, 12);
    gtk_container_set_border_width(GTK_CONTAINER(box), 18);
    gtk_container_add(GTK_CONTAINER(toplevel), box);
    label = gtk_label_new(message ? message : "Choose a desktop");
    gtk_label_set_line_wrap(GTK_LABEL(label), TRUE);
    gtk_box_pack_start(GTK_BOX(box), label, FALSE, FALSE, 0);
    scrolled = gtk_scrolled_window_new(NULL, NULL);
    gtk_box_pack_start(GTK_BOX(box), scrolled, TRUE, TRUE, 0);
    window.list = gtk_list_box_new();
    gtk_container_add(GTK_CONTAINER(scrolled), window.list);
    for (guint i = 0; i < pools->len; i++) {
        g_autofree char *markup = pool_row_text(pools->pdata[i]);
        GtkWidget *row = gtk_label_new(NULL);
        gtk_label_set_markup(GTK_LABEL(row), markup);
        gtk_label_set_xalign(GTK_LABEL(row), 0.0f);
        gtk_widget_set_margin_top(row, 6);
        gtk_widget_set_margin_bottom(row, 6);
        gtk_list_box_insert(GTK_LIST_BOX(window.list), row, -1);
    }
    g_signal_connect(window.list, "row-activated", G_CALLBACK(on_row_activated), &window);
    buttons = gtk_button_box_new(GTK_ORIENTATION_HORIZONTAL);
    gtk_button_box_set_layout(GTK_BUTTON_BOX(buttons), GTK_BUTTONBOX_END);
    gtk_box_set_spacing(GTK_BOX(buttons), 6);
    button = gtk_button_new_with_mnemonic("Log _out");
    g_signal_connect(button, "clicked", G_CALLBACK(on_logout_clicked), &window);
    gtk_container_add(GTK_CONTAINER(buttons), button);
    button = gtk_button_new_with_mnemonic("_Connect");
    g_signal_connect(button, "clicked", G_CALLBACK(on_connect_clicked), &window);
    gtk_container_add(GTK_CONTAINER(buttons), button);
    gtk_box_pack_start(GTK_BOX(box), buttons, FALSE, FALSE, 0);
    gtk_widget_show_all(toplevel);
    if (window.kiosk)
        gtk_window_fullscreen(GTK_WINDOW(toplevel));
    g_main_loop_run(window.loop);
    gtk_widget_destroy(toplevel);
    g_main_loop_unref(window.loop);
    return window.chosen;
}

/* ---- the whole run ---------------------------------------------------------- */

static gboolean
read_password_file(const char *path, char **ret_password, GError **error)
{
    g_autofree char *contents = NULL;
    gsize length = 0;

    if (!g_file_get_contents(path, &contents, &length, error))
        return FALSE;
    if (length > PASSWORD_FILE_MAX || memchr(contents, '\0', length)) {
        explicit_bzero(contents, length);
        g_set_error(error, ORIEL_VIEWER_ERROR, ORIEL_VIEWER_ERROR_INVALID, "%s: not a password file", path);
        return FALSE;
    }
    if (length && contents[length - 1] == '\n')
        contents[--length] = '\0';
    if (length && contents[length - 1] == '\r')
        contents[--length] = '\0';
    *ret_password = g_steal_pointer(&contents);
    return TRUE;
}

static gboolean
login_automated(BrokerUi *ui, const OrielBrokerUiOptions *broker, GError **error)
{
    char *password = NULL;

    if (!read_password_file(broker->password_file, &password, error))
        return FALSE;
    gboolean ok = oriel_broker_client_login(ui->client, broker->user, password, error);
    explicit_bzero(password, strlen(password));
    g_free(password);
    return ok;
}

/* The pool to use: --broker-pool, the only one, or the user's choice.
 * NULL with @error unset: the user logged out. */
static char *
choose_pool(BrokerUi *ui, const OrielBrokerUiOptions *broker, gboolean automated, const char *message,
            GError **error)
{
    if (broker->pool)
        return g_strdup(broker->pool);
    g_autoptr(GPtrArray) pools = oriel_broker_client_list(ui->client, error);
    if (!pools)
        return NULL;
    if (pools->len == 0) {
        g_set_error(error, ORIEL_BROKER_ERROR, ORIEL_BROKER_ERROR_FORBIDDEN,
                    "the broker offers no desktop to %s", oriel_broker_client_get_user(ui->client));
        return NULL;
    }
    if (pools->len == 1)
        return g_strdup(((OrielBrokerPool *)pools->pdata[0])->name);
    if (automated) {
        g_set_error(error, ORIEL_BROKER_ERROR, ORIEL_BROKER_ERROR_INVALID,
                    "the broker offers %u pools: choose one with --broker-pool", pools->len);
        return NULL;
    }
    return g_strdup(run_pool_window(ui, pools, message));
}

int
oriel_viewer_broker_run(OrielViewerOptions *options, const OrielBrokerUiOptions *broker)
{
    BrokerUi ui = { .options = options, .started_us = g_get_monotonic_time() };
    gboolean automated = broker->user != NULL;
    g_autofree char *message = NULL;
    g_autoptr(GError) error = NULL;
    g_autoptr(OrielBrokerClient) client = oriel_broker_client_new(broker->url, broker->ca_file, &error);

    if (!client) {
        g_printerr("oriel-viewer: %s\n", error->message);
        return ORIEL_VIEWER_EXIT_FAILURE;
    }
    ui.client = client;
    options->refresh = refresh_from_broker;
    options->refresh_data = &ui;
    options->logout_hotkey = g_strdup(LOGOUT_HOTKEY);

    for (;;) {
        g_clear_error(&error);
        if (automated) {
            if (!login_automated(&ui, broker, &error))
                break;
        } else if (!run_login_window(&ui, message)) {
            return ORIEL_VIEWER_EXIT_OK; /* the user quit */
        }
        g_clear_pointer(&message, g_free);
        log_event(&ui, "broker-login", NULL);

        g_autofree char *pool = choose_pool(&ui, broker, automated, NULL, &error);
        g_autoptr(OrielViewerConnection) connection = NULL;
        if (pool)
            connection = oriel_broker_client_connect(client, pool, &error);
        if (!connection) {
            oriel_broker_client_logout(client);
            if (automated)
                break;
            /* Logged out from the pool list, or an error for the login window. */
            message = error ? g_strdup(error->message) : NULL;
            continue;
        }
        log_event(&ui, "broker-ticket", NULL);
        g_free(ui.pool);
        ui.pool = g_steal_pointer(&pool);
        int status = oriel_viewer_app_run(options, connection);
        oriel_broker_client_logout(client);
        log_event(&ui, "broker-logout", NULL);
        if (automated || !options->kiosk) {
            g_free(ui.pool);
            return status;
        }
        /* Kiosk: back to the login window, whatever ended the session. */
        message = g_strdup(status == ORIEL_VIEWER_EXIT_OK ? "You are logged out."
                                                          : "Your session has ended. Sign in again.");
    }
    g_free(ui.pool);
    if (!error)
        return ORIEL_VIEWER_EXIT_OK;
    g_printerr("oriel-viewer: %s\n", error->message);
    return exit_code_for_error(error);
}
