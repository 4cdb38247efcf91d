#include <stdio.h>
#include <string.h>

#include "policy.h"

enum blocker policy_blocker(const struct policy_inputs *in)
{
        /* ordered by what the user must fix first */
        if (!in->have_adapter)
                return BLOCKER_NO_ADAPTER;
        if (!in->br_edr)
                return BLOCKER_NO_BR_EDR;
        if (in->on_battery)
                return BLOCKER_ON_BATTERY;
        if (!in->powered)
                return BLOCKER_ADAPTER_OFF;
        return BLOCKER_NONE;
}

const char *policy_blocker_name(enum blocker b)
{
        switch (b) {
        case BLOCKER_NO_ADAPTER: return "no-adapter";
        case BLOCKER_NO_BR_EDR: return "no-br-edr";
        case BLOCKER_ADAPTER_OFF: return "adapter-off";
        case BLOCKER_ON_BATTERY: return "on-battery";
        case BLOCKER_NONE: break;
        }
        return "";
}

const char *policy_blocker_message(enum blocker b)
{
        switch (b) {
        case BLOCKER_NO_ADAPTER:
                return "No Bluetooth adapter is available";
        case BLOCKER_NO_BR_EDR:
                return "Bluetooth audio output is not supported on this device "
                       "(the adapter has no BR/EDR)";
        case BLOCKER_ADAPTER_OFF:
                return "The Bluetooth adapter is powered off";
        case BLOCKER_ON_BATTERY:
                return "Speaker mode is not available while the device runs on battery";
        case BLOCKER_NONE:
                break;
        }
        return "";
}

const char *policy_blocker_error(enum blocker b)
{
        switch (b) {
        case BLOCKER_NO_ADAPTER:
        case BLOCKER_NO_BR_EDR:
                return "org.a2dpsrc.Error.NotSupported";
        case BLOCKER_ADAPTER_OFF:
                return "org.a2dpsrc.Error.NotAvailable";
        case BLOCKER_ON_BATTERY:
                return "org.a2dpsrc.Error.OnBattery";
        case BLOCKER_NONE:
                break;
        }
        return "org.a2dpsrc.Error.Failed";
}

enum output_state policy_state(bool speaker_mode, bool connecting, bool configured, bool streaming)
{
        if (!speaker_mode)
                return OUT_OFF;
        if (streaming)
                return OUT_STREAMING;
        if (configured)
                return OUT_CONNECTED;
        if (connecting)
                return OUT_CONNECTING;
        return OUT_IDLE;
}

const char *policy_state_name(enum output_state s)
{
        static const char *const names[] = {
                [OUT_OFF] = "off", [OUT_IDLE] = "idle", [OUT_CONNECTING] = "connecting",
                [OUT_CONNECTED] = "connected", [OUT_STREAMING] = "streaming",
        };
        return (unsigned)s < sizeof(names) / sizeof(names[0]) ? names[s] : "off";
}

unsigned policy_backoff_s(unsigned attempt, unsigned max_s)
{
        unsigned d = 1;

        for (unsigned i = 0; i < attempt && d < max_s; i++)
                d *= 2;
        return d > max_s ? max_s : d;
}

unsigned policy_reconnect_delay_s(unsigned attempt)
{
        return policy_backoff_s(attempt, 60);
}

unsigned policy_close_holdoff_s(struct close_history *h, const char *address, uint64_t now_us)
{
        /* set up again the last wait after the last close; a close before
         * then (it set a stream up itself and closed that) is soon too */
        uint64_t soon = (uint64_t)policy_reconnect_delay_s(h->attempt) * 1000000 + POLICY_CLOSE_CALM_US;

        if (strcmp(h->address, address) != 0) {
                snprintf(h->address, sizeof(h->address), "%s", address);
                h->at_us = 0;
        }
        if (h->at_us && now_us >= h->at_us && now_us - h->at_us < soon) {
                if (h->attempt < 16)
                        h->attempt++;
        } else {
                h->attempt = 0;
        }
        h->at_us = now_us ? now_us : 1;
        return policy_reconnect_delay_s(h->attempt);
}
