/* The doctor's rules on snapshots built by hand. */
#include <check.h>
#include <errno.h>
#include <string.h>

#include "check-main.h"
#include "doctor.h"

#define S 1000000ull
#define ADDR "00:11:22:33:44:55"

static struct doctor_snapshot snap;
static struct history hist;
static struct doctor_finding fs[DOCTOR_MAX_FINDINGS];
static size_t nf;

/* A healthy board streaming to a healthy speaker, 1 h after start. */
static void healthy(void)
{
        memset(&snap, 0, sizeof(snap));
        history_init(&hist);
        snap.now_us = 3600 * S;
        snap.board.bluetoothd = true;
        snap.board.speaker_mode = true;
        strcpy(snap.board.adapter, "hci0");
        snap.have_device = true;
        strcpy(snap.device.address, ADDR);
        strcpy(snap.device.name, "Flip 6");
        snap.device.known = snap.device.paired = snap.device.trusted = snap.device.connected = true;
        snap.device.uuids_known = true;
        snap.device.profiles = PROF_A2DP_SINK | PROF_AVRCP | PROF_HFP;
        snap.device.is_output = snap.device.configured = snap.device.streaming = true;
        snap.audio.engine_running = true;
        snap.audio.engine_rate = snap.audio.capture_rate = 48000;
        strcpy(snap.audio.capture, "hw:Loopback,1,0");
        snap.audio.volume = 100;
        snap.audio.avrcp_volume = true;
        snap.audio.have_codec = true;
        snap.audio.sbc = (struct sbc_params){ .rate = 48000, .mode = SBC_CH_JOINT, .channels = 2, .blocks = 16,
                                              .subbands = 8, .min_bitpool = 2, .max_bitpool = 53 };
        snap.audio.period_us = 3000;
        snap.audio.queue_us = 10000;
        snap.audio.encoder_us = 1500;
        snap.audio.speaker_us = 120000;
        snap.audio.speaker_source = SPEAKER_DELAY_REPORTED;
        snap.radio.status = 0;
        snap.radio.has_rssi = snap.radio.has_link_quality = true;
        snap.radio.rssi = 0;
        snap.radio.link_quality = 255;
}

static const struct doctor_finding *run_find(const char *id)
{
        snap.history = history_find(&hist, ADDR);
        nf = doctor_run(&snap, fs, DOCTOR_MAX_FINDINGS);
        for (size_t i = 0; i < nf; i++)
                if (strcmp(fs[i].id, id) == 0)
                        return &fs[i];
        return NULL;
}

static const struct doctor_finding *expect(const char *id, enum doctor_verdict v, const char *seen,
                                           const char *fix)
{
        const struct doctor_finding *f = run_find(id);

        ck_assert_msg(f != NULL, "no finding %s", id);
        ck_assert_msg(f->verdict == v, "%s: %s, not %s: %s", id, doctor_verdict_name(f->verdict),
                      doctor_verdict_name(v), f->seen);
        if (seen)
                ck_assert_msg(strstr(f->seen, seen), "%s seen: '%s' lacks '%s'", id, f->seen, seen);
        if (fix)
                ck_assert_msg(strstr(f->fix, fix), "%s fix: '%s' lacks '%s'", id, f->fix, fix);
        return f;
}

static void note(enum history_kind k, uint64_t at_s, uint32_t silent_ms, const char *detail)
{
        history_record(&hist, ADDR, k, at_s * S, silent_ms, detail);
}

START_TEST(healthy_is_all_ok)
{
        healthy();
        run_find("");
        ck_assert_uint_ge(nf, 15);
        for (size_t i = 0; i < nf; i++)
                ck_assert_msg(fs[i].verdict == DOCTOR_OK, "%s: %s", fs[i].id, fs[i].seen);
        ck_assert_int_eq(doctor_worst(fs, nf), DOCTOR_OK);
        /* ids are stable and unique */
        for (size_t i = 0; i < nf; i++)
                for (size_t j = i + 1; j < nf; j++)
                        ck_assert_str_ne(fs[i].id, fs[j].id);
}
END_TEST

START_TEST(board_blockers)
{
        healthy();
        snap.have_device = false;
        snap.board.blocker = BLOCKER_ON_BATTERY;
        expect("speaker-mode", DOCTOR_PROBLEM, "battery", "mains");
        snap.board.blocker = BLOCKER_NO_BR_EDR;
        expect("speaker-mode", DOCTOR_PROBLEM, "Low Energy only", "BR/EDR");
        snap.board.blocker = BLOCKER_ADAPTER_OFF;
        expect("speaker-mode", DOCTOR_PROBLEM, "powered off", "power on");
        snap.board.blocked = true;
        expect("speaker-mode", DOCTOR_PROBLEM, "rfkill", "rfkill unblock bluetooth");
        snap.board.blocker = BLOCKER_NO_ADAPTER;
        expect("speaker-mode", DOCTOR_PROBLEM, "No Bluetooth adapter", NULL);
        ck_assert_int_eq(doctor_worst(fs, nf), DOCTOR_PROBLEM);
        snap.board.bluetoothd = false;
        expect("bluetoothd", DOCTOR_PROBLEM, NULL, "systemctl start bluetooth");
        ck_assert_ptr_null(run_find("speaker-mode"));  /* said once, by bluetoothd */
        /* the board alone: no device findings */
        ck_assert_ptr_null(run_find("volume"));
}
END_TEST

START_TEST(not_a_sink_lists_profiles)
{
        healthy();
        snap.device.profiles = PROF_HSP | PROF_HFP;
        expect("a2dp-sink", DOCTOR_PROBLEM, "headset (HSP), hands-free (HFP)", "cannot play music");
        snap.device.uuids_known = false;
        snap.device.profiles = 0;
        expect("a2dp-sink", DOCTOR_WARNING, "not told its services", "connect");
        /* a refusal of the audio profile says it too */
        snap.device.uuids_known = true;
        snap.device.profiles = PROF_A2DP_SINK;
        note(HIST_CONNECT_FAILED, 3500, 0, "br-connection-profile-unavailable");
        expect("a2dp-sink", DOCTOR_PROBLEM, "refused the audio connection", NULL);
        ck_assert_uint_eq(doctor_profile_of_uuid("0000110b-0000-1000-8000-00805f9b34fb"), PROF_A2DP_SINK);
        ck_assert_uint_eq(doctor_profile_of_uuid("0000111E-0000-1000-8000-00805F9B34FB"), PROF_HFP);
        ck_assert_uint_eq(doctor_profile_of_uuid("00001200-0000-1000-8000-00805f9b34fb"), 0);
        ck_assert_uint_eq(doctor_profile_of_uuid("12345678-0000-1000-8000-00805f9b34fb"), PROF_OTHER);
        ck_assert_uint_eq(doctor_profile_of_uuid(NULL), 0);
}
END_TEST

START_TEST(range_from_page_timeouts)
{
        healthy();
        snap.device.connected = snap.device.configured = snap.device.streaming = false;
        note(HIST_CONNECTED, 1000, 0, NULL);
        note(HIST_CONNECT_FAILED, 3300, 0, "br-connection-page-timeout");
        note(HIST_CONNECT_FAILED, 3590, 0, "br-connection-page-timeout");
        expect("in-range", DOCTOR_PROBLEM, "did not answer 2 connection attempts", "within a few metres");
        expect("in-range", DOCTOR_PROBLEM, "last 10 s ago); last connected 43 min ago", NULL);
        expect("in-range", DOCTOR_PROBLEM, "no scan has found it since a2dpsrcd started", NULL);
        history_seen(&hist, ADDR, 3000 * S, -82);
        expect("in-range", DOCTOR_PROBLEM, "last found by a scan 10 min ago (-82 dBm)", NULL);
        history_seen(&hist, ADDR, 3595 * S, -50);
        expect("in-range", DOCTOR_PROBLEM, "a scan found it since (5 s ago, -50 dBm): it is near now", NULL);
        /* older than 10 min: not now's story */
        snap.now_us = 4500 * S;
        expect("in-range", DOCTOR_OK, NULL, NULL);
        /* a connection since clears it */
        snap.now_us = 3600 * S;
        note(HIST_CONNECTED, 3595, 0, NULL);
        expect("in-range", DOCTOR_OK, NULL, NULL);
}
END_TEST

START_TEST(bond_lost_needs_pairing_and_refusal)
{
        healthy();
        snap.device.connected = snap.device.configured = snap.device.streaming = false;
        note(HIST_CONNECT_FAILED, 3590, 0, "br-connection-refused");
        expect("bond", DOCTOR_PROBLEM, "forgotten the pairing", "a2dpsrcctl forget " ADDR);
        ck_assert_int_eq(run_find("in-range")->verdict, DOCTOR_OK);   /* it answered */
        snap.device.paired = false;
        expect("bond", DOCTOR_OK, "Not paired yet", NULL);
}
END_TEST

START_TEST(busy_with_another_source)
{
        healthy();
        expect("busy", DOCTOR_OK, NULL, NULL);
        note(HIST_ACQUIRE_FAILED, 3580, 0, "Input/output error");
        note(HIST_ACQUIRE_FAILED, 3590, 0, "Input/output error");
        expect("busy", DOCTOR_WARNING, "refused to start the stream 2 times", "other device");
        healthy();
        note(HIST_SUSPENDED, 3590, 0, NULL);          /* while sound played */
        expect("busy", DOCTOR_WARNING, "suspended the stream 1 time while audio played", NULL);
        healthy();
        note(HIST_SUSPENDED, 3590, 90000, NULL);      /* after silence: not a phone */
        expect("busy", DOCTOR_OK, NULL, NULL);
}
END_TEST

START_TEST(auto_sleep_is_a_fixed_time_after_silence)
{
        healthy();
        note(HIST_SUSPENDED, 1000, 90200, NULL);
        expect("auto-sleep", DOCTOR_OK, "once after 90 s", NULL);
        note(HIST_DISCONNECTED, 2000, 89700, NULL);
        note(HIST_SUSPENDED, 3000, 90500, NULL);
        expect("auto-sleep", DOCTOR_WARNING, "3 times, each about 90 s after the audio stopped",
               "a2dpsrcctl idle-suspend 80");
        snap.audio.idle_suspend_s = 60;
        expect("auto-sleep", DOCTOR_WARNING, NULL, "IdleSuspend (60 s) already");
        /* at random times after silence: no timer */
        healthy();
        note(HIST_SUSPENDED, 1000, 20000, NULL);
        note(HIST_SUSPENDED, 2000, 300000, NULL);
        expect("auto-sleep", DOCTOR_OK, "No repeated sleep", NULL);
        /* our own idle release is not the speaker's sleep */
        healthy();
        note(HIST_IDLE_RELEASED, 1000, 60000, NULL);
        note(HIST_IDLE_RELEASED, 2000, 60000, NULL);
        expect("auto-sleep", DOCTOR_OK, NULL, NULL);
}
END_TEST

START_TEST(no_sound_causes_apart)
{
        healthy();
        strcpy(snap.audio.stream_blocked, "capture-no-data: hw:Loopback,1,0 delivered nothing for 1.5 s");
        expect("capture", DOCTOR_PROBLEM, "delivered nothing", "snd-aloop");
        healthy();
        strcpy(snap.audio.stream_blocked, "capture-no-producer: nothing plays into hw:Loopback,1,0");
        expect("capture", DOCTOR_WARNING, "Nothing plays into the board's loopback", "Start playback");
        healthy();
        snap.audio.engine_running = false;
        snap.audio.engine_failures = 3;
        expect("capture", DOCTOR_PROBLEM, "cannot be opened (3 attempts", NULL);
        healthy();
        snap.audio.capture_rate = 44100;
        expect("capture-rate", DOCTOR_WARNING, "44100 Hz", "48000 Hz");
        strcpy(snap.audio.stream_blocked, "capture-rate: 44100 Hz does not fit");
        expect("capture-rate", DOCTOR_PROBLEM, NULL, "48000 Hz");
        healthy();
        snap.audio.silent_ms = 45000;
        expect("silence", DOCTOR_WARNING, "digital silence for 45 s", "Start playback");
        healthy();
        snap.device.streaming = false;
        snap.device.idle_released = true;
        snap.audio.idle_suspend_s = 30;
        expect("silence", DOCTOR_WARNING, "released after 30 s", NULL);
        healthy();
        snap.audio.media_local = true;
        expect("routing", DOCTOR_PROBLEM, "Media is routed", "a2dpsrcctl route media bluetooth");
        healthy();
        snap.audio.local_categories = 2;
        expect("routing", DOCTOR_OK, "2 other categories", "default-output bluetooth");
        healthy();
        snap.audio.volume = 0;
        expect("volume", DOCTOR_PROBLEM, "Volume is 0", "a2dpsrcctl volume");
        healthy();
        snap.device.streaming = false;
        snap.device.suspended = true;
        snap.device.resume_in_s = 4;
        note(HIST_SUSPENDED, 3580, 0, NULL);
        expect("suspended", DOCTOR_WARNING, "suspended the stream 20 s ago", NULL);
        expect("suspended", DOCTOR_WARNING, "again in 4 s", NULL);
}
END_TEST

START_TEST(low_volume)
{
        healthy();
        snap.audio.volume = 20;
        expect("volume", DOCTOR_WARNING, "20/127 (15%), set as the speaker's own volume (AVRCP)", NULL);
        snap.audio.avrcp_volume = false;
        snap.audio.volume = 64;
        expect("volume", DOCTOR_WARNING, "software gain", "volume 127");
        snap.audio.volume = 127;
        expect("volume", DOCTOR_OK, NULL, NULL);
}
END_TEST

START_TEST(codec_and_latency)
{
        const struct doctor_finding *f;

        healthy();
        snap.audio.have_offer = true;
        memcpy(snap.audio.offer, (uint8_t[]){ 0x3f, 0xff, 2, 53 }, 4);
        f = expect("codec", DOCTOR_OK, "In use: SBC", NULL);
        ck_assert_ptr_nonnull(strstr(f->seen, "offered SBC 48/44.1 kHz; joint stereo, stereo, dual channel, mono; "
                                              "bitpool 2-53"));
        ck_assert_ptr_nonnull(strstr(f->seen, "48000 Hz is the capture's own rate"));
        snap.audio.sbc.max_bitpool = 28;
        expect("codec", DOCTOR_WARNING, NULL, "bitpool 28");
        expect("latency", DOCTOR_OK, "134 ms in all: capture period 3 ms, queue 10 ms, encoder 1.5 ms, "
               "speaker 120 ms; typical Bluetooth speakers give 120-180 ms", NULL);
        snap.audio.speaker_us = 250000;
        expect("latency", DOCTOR_WARNING, "264 ms", "speaker's own delay");
        snap.audio.speaker_us = SPEAKER_DELAY_ASSUMED_US;
        snap.audio.speaker_source = SPEAKER_DELAY_ASSUMED;
        snap.audio.queue_us = 200000;
        expect("latency", DOCTOR_WARNING, "speaker (not reported, assumed) 125 ms", "closer");
        snap.audio.speaker_us = 40000;
        snap.audio.speaker_source = SPEAKER_DELAY_SET;
        expect("latency", DOCTOR_WARNING, "speaker (not reported, as set) 40 ms", "closer");
}
END_TEST

START_TEST(link_quality_over_minutes)
{
        healthy();
        note(HIST_STALL, 3500, 0, NULL);
        note(HIST_BITPOOL_DOWN, 3550, 0, "45");
        note(HIST_BITPOOL_DOWN, 3560, 0, "35");
        note(HIST_LINK_ERROR, 3000, 0, "x");          /* 10 min ago: outside */
        snap.audio.underruns = 7;
        snap.audio.dropped_ms = 120;
        expect("link-quality", DOCTOR_WARNING, "1 stall, 2 bitpool steps down (to 35), 0 link errors",
               "within 1 m");
        expect("link-quality", DOCTOR_WARNING, "7 socket underruns, 120 ms of audio dropped", NULL);
}
END_TEST

START_TEST(radio_figures)
{
        healthy();
        expect("radio", DOCTOR_OK, "RSSI 0 dB (inside the golden receive range), link quality 255/255", NULL);
        snap.radio.rssi = -15;
        snap.radio.link_quality = 180;
        expect("radio", DOCTOR_WARNING, "-15 dB below", "within 1 m");
        snap.radio.has_link_quality = false;
        snap.radio.error = -EIO;
        expect("radio", DOCTOR_WARNING, "RSSI -15 dB below the golden receive range, link quality not "
               "available (the controller refuses these reads)", NULL);
        snap.radio.status = -ENODEV;
        expect("radio", DOCTOR_OK, "not available: no HCI device", NULL);
        snap.radio.status = -EPERM;
        expect("radio", DOCTOR_OK, "refused", NULL);
        snap.device.connected = false;
        expect("radio", DOCTOR_OK, "not connected", NULL);
}
END_TEST

START_TEST(scan_while_streaming)
{
        healthy();
        snap.board.discovering = true;
        expect("scan", DOCTOR_WARNING, "while audio streams", "bluetoothctl scan off");
        snap.board.our_scan = true;
        expect("scan", DOCTOR_WARNING, NULL, "StopDiscovery");
        snap.device.streaming = false;
        expect("scan", DOCTOR_OK, NULL, NULL);
}
END_TEST

START_TEST(unknown_device_and_room)
{
        healthy();
        snap.device.known = false;
        snap.device.ours = true;
        expect("device-known", DOCTOR_PROBLEM, "paired through a2dpsrc", "pairing mode");
        ck_assert_ptr_null(run_find("a2dp-sink"));
        /* no room: fewer findings, nothing written past the end */
        healthy();
        memset(fs, 0x55, sizeof(fs));
        ck_assert_uint_eq(doctor_run(&snap, fs, 3), 3);
        ck_assert_uint_eq(((unsigned char *)&fs[3])[0], 0x55);
        ck_assert_uint_eq(doctor_run(&snap, fs, 0), 0);
}
END_TEST

static Suite *doctor_suite(void)
{
        Suite *s = suite_create("doctor");
        TCase *tc = tcase_create("rules");

        tcase_add_test(tc, healthy_is_all_ok);
        tcase_add_test(tc, board_blockers);
        tcase_add_test(tc, not_a_sink_lists_profiles);
        tcase_add_test(tc, range_from_page_timeouts);
        tcase_add_test(tc, bond_lost_needs_pairing_and_refusal);
        tcase_add_test(tc, busy_with_another_source);
        tcase_add_test(tc, auto_sleep_is_a_fixed_time_after_silence);
        tcase_add_test(tc, no_sound_causes_apart);
        tcase_add_test(tc, low_volume);
        tcase_add_test(tc, codec_and_latency);
        tcase_add_test(tc, link_quality_over_minutes);
        tcase_add_test(tc, radio_figures);
        tcase_add_test(tc, scan_while_streaming);
        tcase_add_test(tc, unknown_device_and_room);
        suite_add_tcase(s, tc);
        return s;
}

CHECK_MAIN(doctor_suite)
