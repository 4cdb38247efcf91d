/* What the Bluetooth output's latency is made of, capture to the
 * speaker's ear (Manager1.Latency, the doctor), and the speaker's own
 * share of it: reported, set by its user, or assumed (speaker-delay.h),
 * which the engine also aligns two speakers on. */
#include "daemon.h"
#include "log.h"
#include "speaker-delay.h"
#include "stream.h"

uint32_t output_speaker_delay_us(struct daemon *d, const struct transport *t,
                                 enum speaker_delay_source *source)
{
        struct device *dev = bluez_device_by_path(d, t->device);
        uint32_t set = dev ? state_speaker_delay(&d->state, dev->address) : 0;

        return speaker_delay_us(t->has_delay, t->delay, set, source);
}

/* A delay set for a speaker changed (SetSpeakerDelay): the engine aligns
 * on it from now on. */
void output_speaker_delay_changed(struct daemon *d)
{
        if (d->streaming)
                stream_set_output_delay(d->stream, first_slot(d), output_speaker_delay_us(d, d->streaming, NULL));
        /* the second speaker's too (it was left on the old one) */
        if (d->streaming2)
                stream_set_output_delay(d->stream, second_slot(d), output_speaker_delay_us(d, d->streaming2, NULL));
}

void output_align_short(struct daemon *d, unsigned slot, uint32_t short_us)
{
        const struct transport *t = slot == first_slot(d) ? d->streaming : d->streaming2;
        const struct device *dev = t ? bluez_device_by_path(d, t->device) : NULL;
        unsigned rate = d->engine_rate ? d->engine_rate : 48000;

        log_warn("two speakers: %s is heard %u ms ahead of the other, whose delay is longer "
                 "by more than the %u ms it can be held back at %u Hz",
                 dev ? dev->address : "one speaker", short_us / 1000,
                 (unsigned)((uint64_t)STREAM_ALIGN_MAX_FRAMES * 1000 / rate), rate);
}

uint32_t output_latency_of(struct daemon *d, const struct transport *t, unsigned slot)
{
        const struct stream_output_stats *st;
        uint64_t us;

        if (!t || !d->engine_rate || slot >= STREAM_OUTPUTS_MAX)
                return 0;
        st = &stream_stats(d->stream)->out[slot];
        /* one capture period waits to be read, then what sits in our queue
         * and the socket, the encoder's look-ahead, the speaker's own delay
         * (reported, set or assumed), and with two speakers what this one
         * is held back to be heard with the other */
        us = (uint64_t)d->engine_period * 1000000 / d->engine_rate;
        us += atomic_load(&st->queue_us);
        us += (uint64_t)t->info.delay_samples * 1000000 / t->info.rate;
        us += output_speaker_delay_us(d, t, NULL);
        us += atomic_load(&st->align_us);
        return (uint32_t)us;
}

uint32_t output_latency_us(struct daemon *d)
{
        return output_latency_of(d, d->streaming, first_slot(d));
}
