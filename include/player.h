/* Our AVRCP target player: one org.mpris.MediaPlayer2.Player object per
 * adapter, registered with Media1.RegisterPlayer. bluetoothd calls it when
 * a speaker sends a pass-through command (play, pause, next...) and reads
 * what plays from it. Keys leave through a listener; the module takes no
 * decision of its own on what a key means. */
#ifndef A2DPSRC_PLAYER_H
#define A2DPSRC_PLAYER_H

#include <dbus/dbus.h>
#include <stddef.h>

#include "daemon.h"
#include "media-key.h"
#include "now-playing.h"

#define PLAYER_ROOT "/org/a2dpsrc/player"

/* A key from a speaker, through the player of the adapter at adapter_path. */
typedef void (*player_key_fn)(struct daemon *d, enum media_key key, const char *adapter_path, void *ud);

int player_init(struct daemon *d);
/* Tells BlueZ (briefly waiting) and frees everything. */
void player_shutdown(struct daemon *d);
void player_set_key_listener(struct daemon *d, player_key_fn fn, void *ud);

/* SetNowPlaying's a{sv}; -EINVAL with a sentence in err, nothing changed. */
int player_set_now_playing(struct daemon *d, DBusMessageIter *dict, char *err, size_t err_len);
void player_set_status(struct daemon *d, enum playback_status s);
enum playback_status player_status(const struct daemon *d);
const struct now_playing *player_now_playing(const struct daemon *d);

#endif
