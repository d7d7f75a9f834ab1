/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * File transfers into a directory.  The client names the file; the name is
 * reduced to a single safe component and never replaces an existing file
 * (O_EXCL, with " (N)" suffixes).  A transfer that is cancelled or fails
 * removes what it wrote.
 */
#include "agent-file-xfer.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

/* GIOErrorEnum values spice-gtk decodes in detailed errors. */
enum {
    IO_ERROR_FAILED = 0,
    IO_ERROR_INVALID_FILENAME = 10,
    IO_ERROR_NO_SPACE = 12,
    IO_ERROR_INVALID_ARGUMENT = 13,
    IO_ERROR_PERMISSION_DENIED = 14,
};

#define NAME_MAX_BYTES 255
#define KEYFILE_MAX 4096

typedef struct Transfer {
    bool used;
    uint32_t id;
    int fd;
    uint64_t size;
    uint64_t received;
    char name[NAME_MAX_BYTES + 1];
} Transfer;

struct OrielAgentFileXfer {
    char *dir;
    Transfer transfers[ORIEL_AGENT_MAX_TRANSFERS];
    OrielAgentXferStats stats;
};

int
oriel_agent_sanitize_file_name(const char *name, size_t len, char **ret_name)
{
    const char *base = name;
    size_t base_len = len;
    char *out;
    size_t n = 0;

    /* Only the last component, whichever separator the client used. */
    for (size_t i = 0; i < len; i++) {
        if (name[i] == '/' || name[i] == '\\') {
            base = name + i + 1;
            base_len = len - i - 1;
        }
    }
    out = malloc(NAME_MAX_BYTES + 1);
    if (!out)
        return -ENOMEM;
    for (size_t i = 0; i < base_len && n < NAME_MAX_BYTES; i++) {
        unsigned char c = (unsigned char)base[i];

        if (c == '\0')
            break;
        if (n == 0 && (c == '.' || c == ' '))
            continue;
        out[n++] = (c < 0x20 || c == 0x7f) ? '_' : (char)c;
    }
    /* Do not leave half a UTF-8 sequence where the cut fell. */
    if (n == NAME_MAX_BYTES) {
        size_t end = n;

        while (end > 0 && ((unsigned char)out[end - 1] & 0xc0) == 0x80)
            end--;
        if (end > 0 && ((unsigned char)out[end - 1] & 0xc0) == 0xc0)
            n = end - 1;
    }
    while (n > 0 && out[n - 1] == ' ')
        n--;
    if (n == 0) {
        memcpy(out, "file", 5);
        n = 4;
    }
    out[n] = '\0';
    *ret_name = out;
    return 0;
}

int
oriel_agent_file_xfer_new(const char *dir, OrielAgentFileXfer **ret_xfer)
{
    OrielAgentFileXfer *xfer = calloc(1, sizeof(*xfer));

    if (!xfer)
        return -ENOMEM;
    if (dir) {
        xfer->dir = strdup(dir);
        if (!xfer->dir) {
            free(xfer);
            return -ENOMEM;
        }
    }
    for (size_t i = 0; i < ORIEL_AGENT_MAX_TRANSFERS; i++)
        xfer->transfers[i].fd = -1;
    *ret_xfer = xfer;
    return 0;
}

static void
transfer_remove(OrielAgentFileXfer *xfer, Transfer *t, bool keep)
{
    if (!t->used)
        return;
    if (t->fd >= 0)
        close(t->fd);
    if (!keep) {
        int dfd = open(xfer->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

        if (dfd >= 0) {
            unlinkat(dfd, t->name, 0);
            close(dfd);
        }
        xfer->stats.failed++;
    } else {
        xfer->stats.done++;
        memcpy(xfer->stats.last_name, t->name, sizeof(t->name));
    }
    memset(t, 0, sizeof(*t));
    t->fd = -1;
    xfer->stats.active--;
}

void
oriel_agent_file_xfer_cancel_all(OrielAgentFileXfer *xfer)
{
    if (!xfer)
        return;
    for (size_t i = 0; i < ORIEL_AGENT_MAX_TRANSFERS; i++)
        transfer_remove(xfer, &xfer->transfers[i], false);
}

void
oriel_agent_file_xfer_free(OrielAgentFileXfer *xfer)
{
    if (!xfer)
        return;
    oriel_agent_file_xfer_cancel_all(xfer);
    free(xfer->dir);
    free(xfer);
}

bool
oriel_agent_file_xfer_enabled(const OrielAgentFileXfer *xfer)
{
    return xfer->dir != NULL;
}

static Transfer *
transfer_find(OrielAgentFileXfer *xfer, uint32_t id)
{
    for (size_t i = 0; i < ORIEL_AGENT_MAX_TRANSFERS; i++)
        if (xfer->transfers[i].used && xfer->transfers[i].id == id)
            return &xfer->transfers[i];
    return NULL;
}

/* Finds "key=value" in the [vdagent-file-xfer] group of the key file
 * spice-gtk sends.  value is copied, NUL-terminated, into buf. */
static bool
keyfile_get(const char *text, size_t len, const char *key, char *buf,
            size_t buf_size)
{
    size_t key_len = strlen(key);
    bool in_group = false;
    size_t pos = 0;

    while (pos < len) {
        const char *line = text + pos;
        const char *nl = memchr(line, '\n', len - pos);
        size_t line_len = nl ? (size_t)(nl - line) : len - pos;

        pos += line_len + 1;
        if (line_len > 0 && line[line_len - 1] == '\r')
            line_len--;
        if (line_len > 0 && line[0] == '[') {
            in_group = line_len == strlen("[vdagent-file-xfer]") &&
                       memcmp(line, "[vdagent-file-xfer]", line_len) == 0;
            continue;
        }
        if (!in_group || line_len <= key_len || line[key_len] != '=' ||
            memcmp(line, key, key_len) != 0)
            continue;
        line += key_len + 1;
        line_len -= key_len + 1;
        if (line_len >= buf_size)
            return false;
        memcpy(buf, line, line_len);
        buf[line_len] = '\0';
        return true;
    }
    return false;
}

static void
reply_error(OrielAgentXferReply *reply, uint32_t io_error)
{
    reply->send = true;
    reply->status = VD_AGENT_FILE_XFER_STATUS_ERROR;
    reply->io_error = io_error;
}

static uint32_t
io_error_from_errno(int error)
{
    switch (error) {
    case ENOSPC:
    case EDQUOT:
        return IO_ERROR_NO_SPACE;
    case EACCES:
    case EPERM:
    case EROFS:
        return IO_ERROR_PERMISSION_DENIED;
    case ENAMETOOLONG:
    case EILSEQ:
        return IO_ERROR_INVALID_FILENAME;
    default:
        return IO_ERROR_FAILED;
    }
}

/* Creates a file for safe_name that does not exist yet, trying
 * "name (1).ext" and so on. */
static int
create_unique(int dfd, const char *safe_name, char *ret_name,
              size_t ret_size)
{
    const char *dot = strrchr(safe_name, '.');
    size_t stem = (dot && dot != safe_name) ? (size_t)(dot - safe_name)
                                            : strlen(safe_name);
    const char *ext = safe_name + stem;

    for (unsigned n = 0; n < 100; n++) {
        char candidate[NAME_MAX_BYTES + 16];
        int fd;

        if (n == 0)
            snprintf(candidate, sizeof(candidate), "%s", safe_name);
        else
            snprintf(candidate, sizeof(candidate), "%.*s (%u)%s",
                     (int)(stem > 200 ? 200 : stem), safe_name, n,
                     strlen(ext) > 40 ? "" : ext);
        if (strlen(candidate) >= ret_size)
            return -ENAMETOOLONG;
        fd = openat(dfd, candidate,
                    O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
                    0644);
        if (fd >= 0) {
            memcpy(ret_name, candidate, strlen(candidate) + 1);
            return fd;
        }
        if (errno != EEXIST)
            return -errno;
    }
    return -EEXIST;
}

void
oriel_agent_file_xfer_start(OrielAgentFileXfer *xfer, uint32_t id,
                            const uint8_t *keyfile, size_t len,
                            OrielAgentXferReply *reply)
{
    char name_raw[4096];
    char size_text[32];
    char *safe_name = NULL;
    char *end = NULL;
    unsigned long long size;
    struct statvfs vfs;
    Transfer *t = NULL;
    int dfd = -1;
    int fd;

    memset(reply, 0, sizeof(*reply));
    if (!xfer->dir) {
        reply->send = true;
        reply->status = VD_AGENT_FILE_XFER_STATUS_DISABLED;
        goto out;
    }
    if (transfer_find(xfer, id) || len > KEYFILE_MAX ||
        !keyfile_get((const char *)keyfile, len, "name", name_raw,
                     sizeof(name_raw)) ||
        !keyfile_get((const char *)keyfile, len, "size", size_text,
                     sizeof(size_text))) {
        reply_error(reply, IO_ERROR_INVALID_ARGUMENT);
        goto out;
    }
    errno = 0;
    size = strtoull(size_text, &end, 10);
    if (errno != 0 || end == size_text || *end != '\0' ||
        size_text[0] == '-') {
        reply_error(reply, IO_ERROR_INVALID_ARGUMENT);
        goto out;
    }
    for (size_t i = 0; i < ORIEL_AGENT_MAX_TRANSFERS && !t; i++)
        if (!xfer->transfers[i].used)
            t = &xfer->transfers[i];
    if (!t) {
        reply_error(reply, IO_ERROR_FAILED);
        goto out;
    }
    mkdir(xfer->dir, 0700);
    dfd = open(xfer->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) {
        reply_error(reply, io_error_from_errno(errno));
        goto out;
    }
    if (fstatvfs(dfd, &vfs) == 0 &&
        (uint64_t)vfs.f_bavail * vfs.f_bsize < size) {
        reply->send = true;
        reply->status = VD_AGENT_FILE_XFER_STATUS_NOT_ENOUGH_SPACE;
        reply->free_space = (uint64_t)vfs.f_bavail * vfs.f_bsize;
        goto out;
    }
    if (oriel_agent_sanitize_file_name(name_raw, strlen(name_raw),
                                       &safe_name) < 0) {
        reply_error(reply, IO_ERROR_FAILED);
        goto out;
    }
    fd = create_unique(dfd, safe_name, t->name, sizeof(t->name));
    if (fd < 0) {
        reply_error(reply, io_error_from_errno(-fd));
        goto out;
    }
    t->used = true;
    t->id = id;
    t->fd = fd;
    t->size = size;
    t->received = 0;
    xfer->stats.active++;
    reply->send = true;
    if (size == 0) {
        transfer_remove(xfer, t, true);
        reply->status = VD_AGENT_FILE_XFER_STATUS_SUCCESS;
    } else {
        reply->status = VD_AGENT_FILE_XFER_STATUS_CAN_SEND_DATA;
    }
out:
    if (dfd >= 0)
        close(dfd);
    free(safe_name);
}

void
oriel_agent_file_xfer_data(OrielAgentFileXfer *xfer, uint32_t id,
                           const uint8_t *data, size_t len,
                           OrielAgentXferReply *reply)
{
    Transfer *t = transfer_find(xfer, id);

    memset(reply, 0, sizeof(*reply));
    if (!t) {
        /* Unknown or already finished: tell the client it failed. */
        reply_error(reply, IO_ERROR_INVALID_ARGUMENT);
        return;
    }
    if (len > t->size - t->received) {
        transfer_remove(xfer, t, false);
        reply_error(reply, IO_ERROR_INVALID_ARGUMENT);
        return;
    }
    while (len > 0) {
        ssize_t n = write(t->fd, data, len);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            int error = n < 0 ? errno : ENOSPC;

            transfer_remove(xfer, t, false);
            reply_error(reply, io_error_from_errno(error));
            return;
        }
        data += n;
        len -= (size_t)n;
        t->received += (uint64_t)n;
        xfer->stats.bytes += (uint64_t)n;
    }
    if (t->received == t->size) {
        if (close(t->fd) < 0) {
            int error = errno;

            t->fd = -1;
            transfer_remove(xfer, t, false);
            reply_error(reply, io_error_from_errno(error));
            return;
        }
        t->fd = -1;
        transfer_remove(xfer, t, true);
        reply->send = true;
        reply->status = VD_AGENT_FILE_XFER_STATUS_SUCCESS;
    }
}

void
oriel_agent_file_xfer_cancel(OrielAgentFileXfer *xfer, uint32_t id)
{
    Transfer *t = transfer_find(xfer, id);

    if (t)
        transfer_remove(xfer, t, false);
}

void
oriel_agent_file_xfer_stats(const OrielAgentFileXfer *xfer,
                            OrielAgentXferStats *ret_stats)
{
    *ret_stats = xfer->stats;
}
