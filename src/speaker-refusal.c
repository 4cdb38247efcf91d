/* What a speaker's connections say of the codecs it refuses, for whichever
 * output it is to be (the first, the second of MultiOutput, or one that
 * connected by itself): a failed connection after our SelectConfiguration
 * is a refusal of that configuration, and a configuration it accepts says
 * it is not busy. The learning itself is codec-refusal.c's. */
#include <strings.h>

#include "codec-control.h"
#include "codec-refusal.h"
#include "daemon.h"
#include "log.h"

/* A connection that failed after our SelectConfiguration chose a codec
 * for this speaker, with no SetConfiguration since: the speaker refused
 * that configuration (bluetoothd 5.66 reports it as a failed connection,
 * br-connection-create-socket). Learnt for the speaker; SBC, which every
 * sink must take, is never held against it, and a refusal of SBC too
 * undoes what was learnt since the speaker last streamed (a speaker busy
 * with a phone refuses every configuration). unnamed: the connection was
 * not ours, and only a selection made for none of ours counts (and the
 * other way round). True: connect again at once, and the endpoint of that
 * codec lets bluetoothd move to the next one. */
bool speaker_refusal_learn(struct daemon *d, const char *addr, bool unnamed)
{
        const struct a2dp_codec *c = d->chosen_codec;
        unsigned n;

        if (d->chosen_unnamed != unnamed)
                return false;
        d->chosen_codec = NULL;
        if (!c || strcasecmp(d->chosen_for, addr) != 0)
                return false;
        if (c->index == CODEC_SBC) {
                n = codec_refusal_sbc_refused(&d->refusals, addr);
                if (n)
                        log_info("%s refused SBC too: it refused the connection, not the %u codec%s "
                                 "before it, which it is offered again", addr, n, n == 1 ? "" : "s");
                return false;
        }
        if (!codec_refusal_add(&d->refusals, addr, c->index))
                return false;
        /* busy a moment ago: the next codec waits for the next attempt,
         * or every attempt would page it twice */
        if (codec_refusal_busy(&d->refusals, addr)) {
                log_info("%s refused its %s configuration; its next codec is tried at the next attempt",
                         addr, c->label);
                return false;
        }
        log_warn("%s refused its %s configuration; connecting it again with its next codec", addr,
                 c->label);
        diagnose_note(d, addr, HIST_CONNECT_FAILED, "refused its codec configuration");
        return true;
}

/* The speaker took a configuration (SetConfiguration: its AVDTP
 * SET_CONFIGURATION answered), whoever connected it: it is not busy. What
 * it refused while busy is forgotten, and the codec it plays (bluetoothd
 * tries it first next time: LastUsed) chosen again as it streams alone. */
void speaker_refusal_configured(struct daemon *d, const char *addr)
{
        if (codec_refusal_confirm(&d->refusals, addr))
                codec_control_mark_rechoose(d, addr, true);
}
