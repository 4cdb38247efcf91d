/* What Manager1's two halves share: manager.c (methods, dispatch) and
 * manager-props.c (property values, Get/Set, change signals, saving). */
#ifndef A2DPSRC_MANAGER_PROPS_H
#define A2DPSRC_MANAGER_PROPS_H

#include <dbus/dbus.h>

#include "daemon.h"

#define MANAGER_PATH "/org/a2dpsrc"
#define MANAGER_IFACE "org.a2dpsrc.Manager1"
#define ERR_PREFIX "org.a2dpsrc.Error."
#define ERR_INVALID ERR_PREFIX "InvalidArguments"
#define ERR_NOT_FOUND ERR_PREFIX "NotFound"
#define ERR_NOT_AVAILABLE ERR_PREFIX "NotAvailable"
#define ERR_NOT_SINK ERR_PREFIX "NotAudioSink"
#define ERR_IN_PROGRESS ERR_PREFIX "InProgress"
#define ERR_FAILED ERR_PREFIX "Failed"

/* The output speaker's transport: the one streaming, else any of it. */
struct transport *manager_output_transport(struct daemon *d);
/* What keeps speaker mode from working now (BLOCKER_NONE when nothing). */
enum blocker manager_current_blocker(struct daemon *d);
/* Saves the settings and replies to msg: empty, or the failure. */
DBusHandlerResult manager_reply_saved(struct daemon *d, DBusMessage *msg);
/* The per-speaker methods' arguments (sig: an address, then one value of
 * type, or DBUS_TYPE_INVALID for none): the address, or NULL once the
 * error (usage, or the address's) is replied. The speaker need not be
 * known to BlueZ yet. */
const char *manager_address_args(struct daemon *d, DBusMessage *msg, const char *sig, int type, void *value,
                                 const char *usage);
/* manager-outputs.c: GetOutputs(), DisconnectOutput(s), SetOutputVolume(sq),
 * SetOutputCodec(ss). */
DBusHandlerResult manager_get_outputs(struct daemon *d, DBusMessage *msg);
DBusHandlerResult manager_disconnect_output(struct daemon *d, DBusMessage *msg);
DBusHandlerResult manager_set_output_volume(struct daemon *d, DBusMessage *msg);
DBusHandlerResult manager_set_output_codec(struct daemon *d, DBusMessage *msg);
/* org.freedesktop.DBus.Properties on /org/a2dpsrc. */
DBusHandlerResult manager_props_get(struct daemon *d, DBusMessage *msg);
DBusHandlerResult manager_props_get_all(struct daemon *d, DBusMessage *msg);
DBusHandlerResult manager_props_set(struct daemon *d, DBusMessage *msg);

#endif
