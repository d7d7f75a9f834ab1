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
    const OrielBrokerUiOptions *broker;
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

/* ---- waiting for a call, without a window ----------------------------------- */

static void
on_waited(GObject *source, GAsyncResult *result, gpointer user_data)
{
    GAsyncResult **ret = user_data;
    *ret = g_object_ref(result);
}

/* The result of the call started with on_waited and @slot, once it came;
 * the main loop runs meanwhile (timers, the windows). */
static GAsyncResult *
wait_result(GAsyncResult **slot)
{
    while (!*slot)
        g_main_context_iteration(NULL, TRUE);
    return *slot;
}

/* Ends the broker session in the background; "broker-logout" once the
 * broker answered.  The client waits for it before it goes. */
static void
on_logged_out(GObject *source, GAsyncResult *result, gpointer user_data)
{
    BrokerUi *ui = user_data;
    oriel_broker_client_logout_finish(ui->client, result);
    log_event(ui, "broker-logout", NULL);
}

static void
logout_in_background(BrokerUi *ui)
{
    if (oriel_broker_client_is_logged_in(ui->client))
        oriel_broker_client_logout_async(ui->client, NULL, on_logged_out, ui);
}

/* ---- reconnects: a fresh one-time ticket ------------------------------------ */

static void
on_refresh_connected(GObject *source, GAsyncResult *result, gpointer user_data)
{
    GTask *task = user_data;
    BrokerUi *ui = g_task_get_task_data(task);
    GError *error = NULL;
    OrielViewerConnection *connection = oriel_broker_client_connect_finish(ui->client, result, &error);

    if (connection) {
        log_event(ui, "broker-ticket", NULL);
        g_task_return_pointer(task, connection, (GDestroyNotify)oriel_viewer_connection_free);
    } else if (g_error_matches(error, ORIEL_BROKER_ERROR, ORIEL_BROKER_ERROR_AUTH) ||
               g_error_matches(error, ORIEL_BROKER_ERROR, ORIEL_BROKER_ERROR_FORBIDDEN) ||
               g_error_matches(error, ORIEL_BROKER_ERROR, ORIEL_BROKER_ERROR_NOT_FOUND)) {
        g_task_return_new_error(task, ORIEL_VIEWER_ERROR, ORIEL_VIEWER_ERROR_ENDED, "%s", error->message);
        g_error_free(error);
    } else {
        g_task_return_error(task, error);
    }
    g_object_unref(task);
}

/* OrielViewerOptions.refresh_async: a fresh one-time ticket for the next
 * attempt.  When the broker no longer serves this session, the viewer
 * stops reconnecting (ORIEL_VIEWER_ERROR_ENDED). */
static void
refresh_from_broker(gpointer refresh_data, GCancellable *cancellable, GAsyncReadyCallback callback,
                    gpointer user_data)
{
    BrokerUi *ui = refresh_data;
    GTask *task = g_task_new(NULL, cancellable, callback, user_data);

    g_task_set_task_data(task, ui, NULL);
    oriel_broker_client_connect_async(ui->client, ui->pool, cancellable, on_refresh_connected, task);
}

static OrielViewerConnection *
refresh_from_broker_finish(gpointer refresh_data, GAsyncResult *result, GError **error)
{
    return g_task_propagate_pointer(G_TASK(result), error);
}

/* ---- the pool list ---------------------------------------------------------- */
/* Shown between the list and the connect; no broker call runs meanwhile. */

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

/* ---- the login window ------------------------------------------------------ */

/* The call the window waits for: each has its line in the window. */
typedef enum {
    BUSY_NONE,
    BUSY_LOGIN,
    BUSY_LIST,
    BUSY_CONNECT,
} Busy;

static const char *const busy_text[] = {
    [BUSY_LOGIN] = "Signing in...",
    [BUSY_LIST] = "Getting your desktops...",
    [BUSY_CONNECT] = "Starting your desktop...",
};
static const char *const busy_event[] = {
    [BUSY_LOGIN] = "login",
    [BUSY_LIST] = "list",
    [BUSY_CONNECT] = "connect",
};

typedef struct {
    BrokerUi *ui;
    GMainLoop *loop;
    GtkWidget *window;
    GtkWidget *user;
    GtkWidget *password;
    GtkWidget *message;
    GtkWidget *busy_box;
    GtkWidget *spinner;
    GtkWidget *busy_label;
    GtkWidget *button;
    GtkWidget *cancel;
    GtkWidget *quit;          /* NULL in kiosk mode */
    Busy busy;
    GCancellable *cancellable; /* of the call running */
    guint calls;              /* started, callback not yet run (cancelled ones too) */
    OrielViewerConnection *connection; /* the result */
    char *pool;
} LoginWindow;

static void
show_message(GtkWidget *label, const char *text)
{
    gtk_label_set_text(GTK_LABEL(label), text ? text : "");
    gtk_widget_set_visible(label, text && *text);
}

/* The widgets for @login->busy.  Sign-in waits until a cancelled call
 * has returned too: one call of a kind at a time. */
static void
update_busy(LoginWindow *login)
{
    gboolean busy = login->busy != BUSY_NONE;

    gtk_widget_set_sensitive(login->user, !busy);
    gtk_widget_set_sensitive(login->password, !busy);
    gtk_widget_set_sensitive(login->button, !busy && login->calls == 0);
    gtk_widget_set_visible(login->busy_box, busy);
    gtk_widget_set_visible(login->cancel, busy);
    if (login->quit)
        gtk_widget_set_visible(login->quit, !busy);
    if (busy) {
        gtk_label_set_text(GTK_LABEL(login->busy_label), busy_text[login->busy]);
        gtk_spinner_start(GTK_SPINNER(login->spinner));
    } else {
        gtk_spinner_stop(GTK_SPINNER(login->spinner));
    }
}

static void
set_busy(LoginWindow *login, Busy busy)
{
    login->busy = busy;
    if (busy != BUSY_NONE) {
        g_clear_object(&login->cancellable);
        login->cancellable = g_cancellable_new();
        login->calls++;
        show_message(login->message, NULL);
        log_event(login->ui, "broker-busy", busy_event[busy]);
    }
    update_busy(login);
}

/* Back to the form, with @text (or none). */
static void
back_to_form(LoginWindow *login, const char *text, GtkWidget *focus)
{
    set_busy(login, BUSY_NONE);
    show_message(login->message, text);
    if (gtk_widget_get_visible(login->window))
        gtk_widget_grab_focus(focus ? focus : login->user);
}

/* A call's callback is running: FALSE when it was cancelled (the window
 * is already back to its form), or the window moved on. */
static gboolean
call_returned(LoginWindow *login, Busy busy, const GError *error)
{
    g_assert(login->calls > 0);
    login->calls--;
    if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED) || login->busy != busy) {
        /* A login the broker answered before the cancel is undone. */
        logout_in_background(login->ui);
        update_busy(login);
        return FALSE;
    }
    return TRUE;
}

static void start_connect(LoginWindow *login, const char *pool);

static void
on_pools_listed(GObject *source, GAsyncResult *result, gpointer user_data)
{
    LoginWindow *login = user_data;
    BrokerUi *ui = login->ui;
    g_autoptr(GError) error = NULL;
    g_autoptr(GPtrArray) pools = oriel_broker_client_list_finish(ui->client, result, &error);

    if (!call_returned(login, BUSY_LIST, error))
        return;
    if (pools && pools->len == 0)
        g_set_error(&error, ORIEL_BROKER_ERROR, ORIEL_BROKER_ERROR_FORBIDDEN, "the broker offers no desktop to %s",
                    oriel_broker_client_get_user(ui->client));
    if (!pools || pools->len == 0) {
        logout_in_background(ui);
        back_to_form(login, error->message, NULL);
        return;
    }
    if (pools->len == 1) {
        start_connect(login, ((OrielBrokerPool *)pools->pdata[0])->name);
        return;
    }
    set_busy(login, BUSY_NONE);
    gtk_widget_hide(login->window);
    const char *chosen = run_pool_window(ui, pools, NULL);
    gtk_widget_show(login->window);
    if (ui->options->kiosk)
        gtk_window_fullscreen(GTK_WINDOW(login->window));
    if (!chosen) {
        logout_in_background(ui);
        back_to_form(login, NULL, NULL);
        return;
    }
    start_connect(login, chosen);
}

static void
on_connected(GObject *source, GAsyncResult *result, gpointer user_data)
{
    LoginWindow *login = user_data;
    g_autoptr(GError) error = NULL;
    OrielViewerConnection *connection = oriel_broker_client_connect_finish(login->ui->client, result, &error);

    if (!call_returned(login, BUSY_CONNECT, error)) {
        oriel_viewer_connection_free(connection);
        return;
    }
    if (!connection) {
        logout_in_background(login->ui);
        back_to_form(login, error->message, NULL);
        return;
    }
    login->connection = connection;
    g_main_loop_quit(login->loop);
}

static void
start_connect(LoginWindow *login, const char *pool)
{
    g_free(login->pool);
    login->pool = g_strdup(pool);
    set_busy(login, BUSY_CONNECT);
    oriel_broker_client_connect_async(login->ui->client, pool, login->cancellable, on_connected, login);
}

static void
on_logged_in(GObject *source, GAsyncResult *result, gpointer user_data)
{
    LoginWindow *login = user_data;
    BrokerUi *ui = login->ui;
    g_autoptr(GError) error = NULL;
    gboolean ok = oriel_broker_client_login_finish(ui->client, result, &error);

    if (!call_returned(login, BUSY_LOGIN, error))
        return;
    if (!ok) {
        log_event(ui, "broker-login-failed", NULL);
        back_to_form(login, error->message, login->password);
        return;
    }
    log_event(ui, "broker-login", NULL);
    if (ui->broker->pool) {
        start_connect(login, ui->broker->pool);
        return;
    }
    set_busy(login, BUSY_LIST);
    oriel_broker_client_list_async(ui->client, login->cancellable, on_pools_listed, login);
}

static void
on_login(GtkWidget *widget, gpointer user_data)
{
    LoginWindow *login = user_data;
    const char *user = gtk_entry_get_text(GTK_ENTRY(login->user));

    if (login->busy != BUSY_NONE || login->calls > 0)
        return;
    if (!*user) {
        show_message(login->message, "Enter your user name.");
        gtk_widget_grab_focus(login->user);
        return;
    }
    set_busy(login, BUSY_LOGIN);
    oriel_broker_client_login_async(login->ui->client, user, gtk_entry_get_text(GTK_ENTRY(login->password)),
                                    login->cancellable, on_logged_in, login);
    gtk_entry_set_text(GTK_ENTRY(login->password), "");
}

/* Cancel or Escape: the call running stops, the form comes back. */
static void
cancel_call(LoginWindow *login)
{
    if (login->busy == BUSY_NONE)
        return;
    g_cancellable_cancel(login->cancellable);
    log_event(login->ui, "broker-cancelled", busy_event[login->busy]);
    back_to_form(login, "Cancelled.", NULL);
}

static void
on_cancel_clicked(GtkWidget *widget, gpointer user_data)
{
    cancel_call(user_data);
}

static gboolean
on_login_key(GtkWidget *widget, GdkEventKey *event, gpointer user_data)
{
    LoginWindow *login = user_data;

    if (event->keyval != GDK_KEY_Escape || login->busy == BUSY_NONE)
        return FALSE;
    cancel_call(login);
    return TRUE;
}

static gboolean
on_login_delete(GtkWidget *widget, GdkEvent *event, gpointer user_data)
{
    LoginWindow *login = user_data;

    /* A kiosk has nothing behind its login window. */
    if (!login->ui->options->kiosk) {
        cancel_call(login);
        g_main_loop_quit(login->loop);
    }
    return TRUE;
}

static void
on_quit_clicked(GtkWidget *widget, gpointer user_data)
{
    LoginWindow *login = user_data;
    g_main_loop_quit(login->loop);
}

/* Until logged in and connected: the connection (*ret_pool its pool), or
 * NULL when the user quit (never in kiosk mode). */
static OrielViewerConnection *
run_login_window(BrokerUi *ui, const char *message, char **ret_pool)
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
    g_signal_connect(login.window, "key-press-event", G_CALLBACK(on_login_key), &login);

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

    /* While a call runs: a spinner and what it waits for. */
    login.busy_box = gtk_box_new(GTK_ORIENTATION_HORIZONTAL, 6);
    gtk_widget_set_halign(login.busy_box, GTK_ALIGN_CENTER);
    login.spinner = gtk_spinner_new();
    gtk_box_pack_start(GTK_BOX(login.busy_box), login.spinner, FALSE, FALSE, 0);
    login.busy_label = gtk_label_new(NULL);
    gtk_box_pack_start(GTK_BOX(login.busy_box), login.busy_label, FALSE, FALSE, 0);
    gtk_box_pack_start(GTK_BOX(box), login.busy_box, FALSE, FALSE, 0);

    buttons = gtk_button_box_new(GTK_ORIENTATION_HORIZONTAL);
    gtk_button_box_set_layout(GTK_BUTTON_BOX(buttons), GTK_BUTTONBOX_END);
    gtk_box_set_spacing(GTK_BOX(buttons), 6);
    if (!ui->options->kiosk) {
        login.quit = gtk_button_new_with_mnemonic("_Quit");
        g_signal_connect(login.quit, "clicked", G_CALLBACK(on_quit_clicked), &login);
        gtk_container_add(GTK_CONTAINER(buttons), login.quit);
    }
    login.cancel = gtk_button_new_with_mnemonic("_Cancel");
    g_signal_connect(login.cancel, "clicked", G_CALLBACK(on_cancel_clicked), &login);
    gtk_container_add(GTK_CONTAINER(buttons), login.cancel);
    login.button = gtk_button_new_with_mnemonic("_Log in");
    g_signal_connect(login.button, "clicked", G_CALLBACK(on_login), &login);
    gtk_container_add(GTK_CONTAINER(buttons), login.button);
    gtk_box_pack_start(GTK_BOX(box), buttons, FALSE, FALSE, 0);

    gtk_widget_show_all(login.window);
    update_busy(&login);
    show_message(login.message, message);
    if (ui->options->kiosk)
        gtk_window_fullscreen(GTK_WINDOW(login.window));
    gtk_widget_grab_focus(login.user);
    log_event(ui, "broker-login-window", NULL);
    g_main_loop_run(login.loop);

    /* The window goes: no callback of a call may come after it. */
    if (login.cancellable)
        g_cancellable_cancel(login.cancellable);
    while (login.calls > 0)
        g_main_context_iteration(NULL, TRUE);
    gtk_widget_destroy(login.window);
    g_main_loop_unref(login.loop);
    g_clear_object(&login.cancellable);
    if (login.connection)
        *ret_pool = g_steal_pointer(&login.pool);
    g_free(login.pool);
    return login.connection;
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

/* --broker-user with --broker-password-file: no window; the calls run in
 * turn. */
static OrielViewerConnection *
connect_automated(BrokerUi *ui, char **ret_pool, GError **error)
{
    const OrielBrokerUiOptions *broker = ui->broker;
    char *password = NULL;
    g_autoptr(GAsyncResult) login_result = NULL;

    if (!read_password_file(broker->password_file, &password, error))
        return NULL;
    oriel_broker_client_login_async(ui->client, broker->user, password, NULL, on_waited, &login_result);
    explicit_bzero(password, strlen(password));
    g_free(password);
    if (!oriel_broker_client_login_finish(ui->client, wait_result(&login_result), error))
        return NULL;
    log_event(ui, "broker-login", NULL);

    g_autofree char *pool = g_strdup(broker->pool);
    if (!pool) {
        g_autoptr(GAsyncResult) list_result = NULL;
        oriel_broker_client_list_async(ui->client, NULL, on_waited, &list_result);
        g_autoptr(GPtrArray) pools = oriel_broker_client_list_finish(ui->client, wait_result(&list_result), error);
        if (!pools)
            return NULL;
        if (pools->len == 0) {
            g_set_error(error, ORIEL_BROKER_ERROR, ORIEL_BROKER_ERROR_FORBIDDEN,
                        "the broker offers no desktop to %s", oriel_broker_client_get_user(ui->client));
            return NULL;
        }
        if (pools->len > 1) {
            g_set_error(error, ORIEL_BROKER_ERROR, ORIEL_BROKER_ERROR_INVALID,
                        "the broker offers %u pools: choose one with --broker-pool", pools->len);
            return NULL;
        }
        pool = g_strdup(((OrielBrokerPool *)pools->pdata[0])->name);
    }
    g_autoptr(GAsyncResult) connect_result = NULL;
    oriel_broker_client_connect_async(ui->client, pool, NULL, on_waited, &connect_result);
    OrielViewerConnection *connection =
        oriel_broker_client_connect_finish(ui->client, wait_result(&connect_result), error);
    if (connection)
        *ret_pool = g_steal_pointer(&pool);
    return connection;
}

/* Ends the broker session and waits for the broker's answer. */
static void
logout_and_wait(BrokerUi *ui)
{
    g_autoptr(GAsyncResult) result = NULL;

    oriel_broker_client_logout_async(ui->client, NULL, on_waited, &result);
    oriel_broker_client_logout_finish(ui->client, wait_result(&result));
}

int
oriel_viewer_broker_run(OrielViewerOptions *options, const OrielBrokerUiOptions *broker)
{
    BrokerUi ui = { .options = options, .broker = broker, .started_us = g_get_monotonic_time() };
    gboolean automated = broker->user != NULL;
    g_autofree char *message = NULL;
    g_autoptr(GError) error = NULL;
    g_autoptr(OrielBrokerClient) client = oriel_broker_client_new(broker->url, broker->ca_file, &error);

    if (!client) {
        g_printerr("oriel-viewer: %s\n", error->message);
        return ORIEL_VIEWER_EXIT_FAILURE;
    }
    ui.client = client;
    options->refresh_async = refresh_from_broker;
    options->refresh_finish = refresh_from_broker_finish;
    options->refresh_data = &ui;
    options->logout_hotkey = g_strdup(LOGOUT_HOTKEY);

    for (;;) {
        g_autoptr(OrielViewerConnection) connection = NULL;
        g_autofree char *pool = NULL;

        g_clear_error(&error);
        if (automated) {
            connection = connect_automated(&ui, &pool, &error);
            if (!connection) {
                logout_and_wait(&ui);
                break;
            }
        } else {
            connection = run_login_window(&ui, message, &pool);
            if (!connection)
                return ORIEL_VIEWER_EXIT_OK; /* the user quit */
        }
        g_clear_pointer(&message, g_free);
        log_event(&ui, "broker-ticket", NULL);
        g_free(ui.pool);
        ui.pool = g_steal_pointer(&pool);
        int status = oriel_viewer_app_run(options, connection);
        if (automated || !options->kiosk) {
            logout_and_wait(&ui);
            log_event(&ui, "broker-logout", NULL);
            g_free(ui.pool);
            return status;
        }
        /* Kiosk: back to the login window, whatever ended the session;
         * the logout runs meanwhile. */
        logout_in_background(&ui);
        message = g_strdup(status == ORIEL_VIEWER_EXIT_OK ? "You are logged out."
                                                          : "Your session has ended. Sign in again.");
    }
    g_free(ui.pool);
    if (!error)
        return ORIEL_VIEWER_EXIT_OK;
    g_printerr("oriel-viewer: %s\n", error->message);
    return exit_code_for_error(error);
}
