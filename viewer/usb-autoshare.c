/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Whether newly plugged USB devices are shared, as remote-viewer decides. */
#include "oriel-viewer.h"

gboolean
oriel_viewer_usb_autoshare(gboolean command_line, const OrielViewerConnection *connection)
{
    /* virt-viewer's session has auto-usbredir on by default; a .vv file's
     * enable-usb-autoshare sets it, and enable-usbredir=0 leaves no USB at
     * all.  --no-usb-autoshare (command_line FALSE) wins over the file. */
    return command_line && connection->enable_usb_autoshare != ORIEL_VIEWER_OFF &&
           connection->enable_usbredir != ORIEL_VIEWER_OFF;
}
