/* Manager1's codec controls: SetCodec, Codecs, and the codecs a speaker
 * offers (src/codec-control.c). */
#ifndef A2DPSRC_CODEC_CONTROL_H
#define A2DPSRC_CODEC_CONTROL_H

#include <dbus/dbus.h>
#include <stdbool.h>

#include "daemon.h"

void codec_control_init(struct daemon *d);
void codec_control_shutdown(struct daemon *d);
/* Manager1.SetCodec(s). */
DBusHandlerResult codec_control_set_codec(struct daemon *d, DBusMessage *msg);
/* Switches t's stream (the first speaker's, or the second's) to the codec
 * named; replies to msg when done or refused (no speaker when t is NULL). */
DBusHandlerResult codec_control_switch(struct daemon *d, DBusMessage *msg, struct transport *t,
                                       const char *name);
/* Manager1.Codecs: the codecs offered now (1 << enum a2dp_codec_index). */
unsigned codec_control_codecs(const struct daemon *d);
/* Decodes Codecs' value (an "as" at v) against the codecs built: 0 and the
 * mask, or -EINVAL / -ENOTSUP with a sentence (codec_parse_names). */
int codec_control_decode_codecs(DBusMessageIter *v, unsigned built, unsigned *mask, char *err,
                                size_t err_len);
/* Sets Codecs from its value; 0, or a negative errno with the D-Bus error
 * name and a sentence. */
int codec_control_set_codecs(struct daemon *d, DBusMessageIter *v, char *err, size_t err_len,
                             const char **err_name);
/* The codecs a speaker offers, from its sepN objects (SBC-XQ where its
 * SBC SEP has room for it). */
unsigned codec_control_offered(const struct device *v);
/* The path of the speaker's first SEP codec c can be configured on, or
 * NULL. */
const char *codec_control_sep_path(const struct device *v, const struct a2dp_codec *c);
/* t, the one output's, streams: a speaker whose codec was chosen to join
 * another's rate (state rechoose-codec) is asked, once, for the best codec
 * it offers. Not while its stream is being set up: bluetoothd 5.66 would
 * take the request into that setup and abort it. */
void codec_control_stream_started(struct daemon *d, struct transport *t);
/* After stream_prepare_bt for t gave err (why): when it was the encoder
 * that could not be made, its codec is left out, for every speaker when
 * its library did not load (-ENOENT), for t's speaker otherwise, and the
 * stream switched to the best codec left, or given up and set up afresh:
 * true, t is not to be attached. false: go on (no failure, or not the
 * encoder's, or one worth another try: out of memory, another speaker's
 * reconfiguration under way). */
bool codec_control_encoder_failed(struct daemon *d, struct transport *t, int err, const char *why);
/* Marks address for that (on) or clears the mark, saved. */
void codec_control_mark_rechoose(struct daemon *d, const char *address, bool on);
/* Appends the names of mask, in registration order, as an "as". */
bool codec_control_append_names(DBusMessageIter *it, unsigned mask);

#endif
