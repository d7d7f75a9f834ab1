/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * File transfers from the client into a directory (internal to the
 * protocol library).  Each call says what FILE_XFER_STATUS to send back, if
 * any; the session encodes it.
 */
#pragma once

#include "oriel-agent.h"

/* At most this many transfers at once; more are refused. */
#define ORIEL_AGENT_MAX_TRANSFERS 16

typedef struct OrielAgentFileXfer OrielAgentFileXfer;

typedef struct OrielAgentXferReply {
    bool send;                  /* a status must go back */
    uint32_t status;            /* VD_AGENT_FILE_XFER_STATUS_* */
    uint64_t free_space;        /* for NOT_ENOUGH_SPACE */
    uint32_t io_error;          /* a GIOErrorEnum value, for ERROR */
} OrielAgentXferReply;

typedef struct OrielAgentXferStats {
    unsigned active;
    uint64_t done;
    uint64_t failed;
    uint64_t bytes;
    char last_name[256];
} OrielAgentXferStats;

/* dir NULL: every transfer is refused as disabled. */
int oriel_agent_file_xfer_new(const char *dir, OrielAgentFileXfer **ret_xfer);
void oriel_agent_file_xfer_free(OrielAgentFileXfer *xfer);
bool oriel_agent_file_xfer_enabled(const OrielAgentFileXfer *xfer);

void oriel_agent_file_xfer_start(OrielAgentFileXfer *xfer, uint32_t id,
                                 const uint8_t *keyfile, size_t len,
                                 OrielAgentXferReply *reply);
void oriel_agent_file_xfer_data(OrielAgentFileXfer *xfer, uint32_t id,
                                const uint8_t *data, size_t len,
                                OrielAgentXferReply *reply);
/* The client cancelled or failed transfer id: the partial file goes. */
void oriel_agent_file_xfer_cancel(OrielAgentFileXfer *xfer, uint32_t id);
void oriel_agent_file_xfer_cancel_all(OrielAgentFileXfer *xfer);
void oriel_agent_file_xfer_stats(const OrielAgentFileXfer *xfer,
                                 OrielAgentXferStats *ret_stats);
