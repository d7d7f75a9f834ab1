/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The benchmark's SPICE link-reply parser reads bytes from a server: a reply
 * header then a body of the size it announces, both bounded and checked. */
#include <stdint.h>

#include "tools/spice-link-proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    guint32 body_size = 0;
    guint32 minor = 0;
    SpiceLinkReplyInfo info;

    if (!spice_link_reply_header_parse(data, size, &body_size, &minor, NULL))
        return 0;
    if (body_size > SPICE_LINK_REPLY_MAX_SIZE)
        __builtin_trap(); /* the header check must bound the body */
    if (size - SPICE_LINK_HEADER_SIZE >= body_size)
        spice_link_reply_body_parse(data + SPICE_LINK_HEADER_SIZE, body_size, &info, NULL);
    return 0;
}
