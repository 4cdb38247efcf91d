/* The board's producer on snd-aloop: whether something plays into the
 * loopback cable a2dpsrcd captures from. snd-aloop lets the side that
 * opens first fix rate, format and channels for the other for as long as
 * it stays open, so a capture held open while nothing plays would force
 * the next producer to our rate (a hw producer cannot reopen at another
 * one). The cable's "PCM Slave Active" control (read on the capture's
 * card, device and subdevice; snd-aloop notifies each change) tells when
 * the producer runs; output.c lets the capture go while it does not, so
 * the producer chooses, and opens it again, at the producer's rate, when
 * it plays. Only for a capture on a Loopback card; any other device is
 * captured as it is. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aloop-status.h"
#include "daemon.h"
#include "log.h"

static int read_active(struct daemon *d, bool *playing)
{
        int r = snd_ctl_elem_read(d->producer_ctl, d->producer_value);

        if (r < 0)
                return r;
        *playing = snd_ctl_elem_value_get_boolean(d->producer_value, 0) != 0;
        return 0;
}

static int on_ctl_event(sd_event_source *s, int fd, uint32_t revents, void *ud)
{
        struct daemon *d = ud;
        snd_ctl_event_t *ev;
        bool playing;

        snd_ctl_event_alloca(&ev);
        while (snd_ctl_read(d->producer_ctl, ev) > 0) {
                /* any event of the card: the value is read again below */
        }
        if (read_active(d, &playing) < 0 || playing == d->producer_playing)
                return 0;
        d->producer_playing = playing;
        log_info("the loopback's producer %s", playing ? "plays" : "stopped");
        output_producer_changed(d, playing);
        return 0;
}

/* An underrun stops the producer's substream just as a producer that is
 * done does, and the cable's control cannot tell them apart: ALSA's procfs
 * status can (XRUN until the client recovers, "closed" once it is gone). */
int producer_watch_sub_state(struct daemon *d)
{
        char text[64];
        size_t n;
        FILE *f;

        if (!d->producer_status[0] || !(f = fopen(d->producer_status, "re")))
                return PCM_SUB_UNKNOWN;
        n = fread(text, 1, sizeof(text) - 1, f);
        fclose(f);
        text[n] = '\0';
        return (int)pcm_sub_state_parse(text);
}

void producer_watch_stop(struct daemon *d)
{
        sd_event_source_disable_unref(d->producer_io);
        d->producer_io = NULL;
        if (d->producer_ctl)
                snd_ctl_close(d->producer_ctl);
        d->producer_ctl = NULL;
        if (d->producer_value)
                snd_ctl_elem_value_free(d->producer_value);
        d->producer_value = NULL;
        d->producer_known = false;
        d->producer_status[0] = '\0';
}

int producer_watch_start(struct daemon *d, const char *capture)
{
        snd_pcm_t *pcm = NULL;
        snd_pcm_info_t *info;
        snd_ctl_card_info_t *card_info;
        struct pollfd pfd;
        char hw[32];
        int card, r;

        if (d->producer_ctl)
                return 0;
        /* which card: an open without hw_params fixes nothing on the cable */
        if (snd_pcm_open(&pcm, capture, SND_PCM_STREAM_CAPTURE, SND_PCM_NONBLOCK) < 0)
                return 0;
        snd_pcm_info_alloca(&info);
        r = snd_pcm_info(pcm, info);
        card = r < 0 ? -1 : snd_pcm_info_get_card(info);
        snprintf(hw, sizeof(hw), "hw:%d", card);
        if (card < 0 || snd_ctl_open(&d->producer_ctl, hw, SND_CTL_NONBLOCK) < 0) {
                d->producer_ctl = NULL;
                snd_pcm_close(pcm);
                return 0;
        }
        snd_ctl_card_info_alloca(&card_info);
        if (snd_ctl_card_info(d->producer_ctl, card_info) < 0 ||
            strcmp(snd_ctl_card_info_get_driver(card_info), "Loopback") != 0 ||
            snd_ctl_elem_value_malloc(&d->producer_value) < 0)
                goto not_loopback;
        snd_ctl_elem_value_set_interface(d->producer_value, SND_CTL_ELEM_IFACE_PCM);
        snd_ctl_elem_value_set_name(d->producer_value, "PCM Slave Active");
        snd_ctl_elem_value_set_device(d->producer_value, snd_pcm_info_get_device(info));
        snd_ctl_elem_value_set_subdevice(d->producer_value, snd_pcm_info_get_subdevice(info));
        /* the producer plays into the other device of the pair, same subdevice */
        snprintf(d->producer_status, sizeof(d->producer_status), "/proc/asound/card%d/pcm%dp/sub%d/status",
                 card, snd_pcm_info_get_device(info) ^ 1, snd_pcm_info_get_subdevice(info));
        snd_pcm_close(pcm);
        pcm = NULL;
        if (read_active(d, &d->producer_playing) < 0 ||
            snd_ctl_subscribe_events(d->producer_ctl, 1) < 0 ||
            snd_ctl_poll_descriptors(d->producer_ctl, &pfd, 1) != 1 ||
            sd_event_add_io(d->event, &d->producer_io, pfd.fd, EPOLLIN, on_ctl_event, d) < 0)
                goto not_loopback;
        d->producer_known = true;
        log_info("capture '%s' is snd-aloop: it is let go while nothing plays into it, so that "
                 "the producer chooses the rate (producer %s)", capture,
                 d->producer_playing ? "plays" : "stopped");
        return 0;
not_loopback:
        if (pcm)
                snd_pcm_close(pcm);
        producer_watch_stop(d);
        return 0;
}
