/* gen-audio: the benchmark's input signals, raw S16_LE interleaved stereo
 * (or WAV with --wav), deterministic.
 *
 *   gen-audio sine  --rate R --seconds S [--freq F] [--offset D] [--amp A] OUT
 *   gen-audio music --rate R --seconds S [--seed N] OUT
 *
 * sine: the ALSA test plugin's formula exactly (tests/alsa/README.md):
 * round(A * 32767 * sin(2 pi f_c n / rate)), f_1 = F + D, so a file played
 * by a peer carries the very samples the plugin hands a2dpsrcd.
 *
 * music: a music-like, non-periodic signal (for the analyzer's --ref
 * alignment and for a codec load closer to real programme material than a
 * sine): random chords of decaying harmonic tones, a bass line, a
 * pentatonic melody, a kick, a noise hi-hat and a noise pad, panned across
 * the stereo image, with random velocities and timing. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint32_t rng_state = 0x12345678u;

static uint32_t rng(void)
{
        /* xorshift32 */
        rng_state ^= rng_state << 13;
        rng_state ^= rng_state >> 17;
        rng_state ^= rng_state << 5;
        return rng_state;
}

static double noise(void)
{
        return (double)rng() / 2147483648.0 - 1.0;
}

static double midi_hz(int note)
{
        return 440.0 * pow(2.0, (note - 69) / 12.0);
}

/* a plucked/struck harmonic tone: harmonics 1/k, upper ones decaying faster */
static double tone(double f, double t, double decay)
{
        double v = 0;

        for (int k = 1; k <= 6; k++)
                v += sin(2 * M_PI * f * k * t) * exp(-t * decay * k) / k;
        return v * (1 - exp(-t * 400));          /* 2.5 ms attack */
}

static void write_wav_header(FILE *f, unsigned rate, uint32_t frames)
{
        uint32_t data = frames * 4, byte_rate = rate * 4;
        uint8_t h[44];

        memcpy(h, "RIFF", 4);
        uint32_t riff = 36 + data;
        memcpy(h + 4, &riff, 4);
        memcpy(h + 8, "WAVEfmt ", 8);
        uint32_t fmt_len = 16;
        uint16_t pcm = 1, ch = 2, align = 4, bits = 16;
        memcpy(h + 16, &fmt_len, 4);
        memcpy(h + 20, &pcm, 2);
        memcpy(h + 22, &ch, 2);
        memcpy(h + 24, &rate, 4);
        memcpy(h + 28, &byte_rate, 4);
        memcpy(h + 32, &align, 2);
        memcpy(h + 34, &bits, 2);
        memcpy(h + 36, "data", 4);
        memcpy(h + 40, &data, 4);
        fwrite(h, 1, sizeof(h), f);
}

static int16_t clip16(double v)
{
        v = round(v);
        if (v > 32767)
                return 32767;
        if (v < -32768)
                return -32768;
        return (int16_t)v;
}

int main(int argc, char **argv)
{
        const char *kind = NULL, *out = NULL;
        unsigned rate = 44100;
        double seconds = 10, freq = 997, offset = 1, amp = 0.5;
        int wav = 0;

        for (int i = 1; i < argc; i++) {
                const char *a = argv[i];
                if (!strcmp(a, "--rate") && i + 1 < argc)
                        rate = (unsigned)atoi(argv[++i]);
                else if (!strcmp(a, "--seconds") && i + 1 < argc)
                        seconds = atof(argv[++i]);
                else if (!strcmp(a, "--freq") && i + 1 < argc)
                        freq = atof(argv[++i]);
                else if (!strcmp(a, "--offset") && i + 1 < argc)
                        offset = atof(argv[++i]);
                else if (!strcmp(a, "--amp") && i + 1 < argc)
                        amp = atof(argv[++i]);
                else if (!strcmp(a, "--seed") && i + 1 < argc)
                        rng_state = (uint32_t)strtoul(argv[++i], NULL, 0) | 1u;
                else if (!strcmp(a, "--wav"))
                        wav = 1;
                else if (!kind)
                        kind = a;
                else if (!out)
                        out = a;
                else
                        goto usage;
        }
        if (!kind || !out || rate < 8000 || seconds <= 0 ||
            (strcmp(kind, "sine") && strcmp(kind, "music")))
                goto usage;

        FILE *f = fopen(out, "wb");
        if (!f) {
                perror(out);
                return 1;
        }
        uint32_t frames = (uint32_t)(seconds * rate);
        if (wav)
                write_wav_header(f, rate, frames);

        if (!strcmp(kind, "sine")) {
                for (uint32_t n = 0; n < frames; n++) {
                        int16_t s[2];
                        s[0] = (int16_t)round(amp * 32767 * sin(2 * M_PI * freq * n / rate));
                        s[1] = (int16_t)round(amp * 32767 * sin(2 * M_PI * (freq + offset) * n / rate));
                        fwrite(s, sizeof(s), 1, f);
                }
                fclose(f);
                return 0;
        }

        /* music: 120 bpm, a chord per bar (2 s) picked at random from six,
         * every note with its own velocity and a few ms of "human" timing,
         * a random-walk melody, and a slowly breathing noise pad, so that
         * no stretch of the signal repeats (the analyzer's --ref alignment
         * needs that). */
        static const int chords[6][3] = { { 60, 64, 67 }, { 57, 60, 64 }, { 53, 57, 60 },
                                          { 55, 59, 62 }, { 52, 55, 59 }, { 50, 53, 57 } };
        static const int penta[] = { 67, 69, 72, 74, 76, 79, 81, 84 };
        const double beat = 0.5;
        long cur_bar = -1, cur_beat = -1;
        int chord = 0, bass_note = 36, mel_idx = 3;
        double bar_t0 = 0, beat_t0 = 0, mel_t0 = 0, mel_next = 0, mel_dur = 0.25;
        double chord_vel = 1, bass_vel = 1, kick_vel = 1, mel_vel = 1, hat_t0 = -1, hat_vel = 0;
        double pad_lp = 0, pad_env = 0.5, hat_next = 0.125;
        for (uint32_t n = 0; n < frames; n++) {
                double t = (double)n / rate;
                long bar = (long)(t / 2.0), bt = (long)(t / beat);
                double l = 0, r = 0, c;

                if (bar != cur_bar) {           /* a new chord */
                        cur_bar = bar;
                        chord = (int)(rng() % 6);
                        chord_vel = 0.6 + 0.4 * (rng() % 1000) / 1000.0;
                        bar_t0 = bar * 2.0 + 0.012 * (rng() % 1000) / 1000.0;
                }
                if (bt != cur_beat) {           /* bass and kick */
                        cur_beat = bt;
                        bass_note = chords[chord][rng() % 3] - 24;
                        bass_vel = 0.5 + 0.5 * (rng() % 1000) / 1000.0;
                        kick_vel = (bt % 2 == 0 || rng() % 4 == 0) ? 0.6 + 0.4 * (rng() % 1000) / 1000.0 : 0;
                        beat_t0 = bt * beat + 0.008 * (rng() % 1000) / 1000.0;
                }
                if (t >= mel_next) {            /* next melody note */
                        mel_t0 = t;
                        mel_idx += (int)(rng() % 5) - 2;
                        if (mel_idx < 0)
                                mel_idx = 1;
                        if (mel_idx > 7)
                                mel_idx = 6;
                        static const double durs[] = { 0.125, 0.25, 0.25, 0.375, 0.5, 0.75 };
                        mel_dur = durs[rng() % 6];
                        mel_vel = (rng() % 5 == 0) ? 0 : 0.5 + 0.5 * (rng() % 1000) / 1000.0;
                        mel_next = t + mel_dur;
                }
                if (t >= hat_next) {            /* hi-hat, irregular */
                        hat_t0 = t;
                        hat_vel = 0.3 + 0.7 * (rng() % 1000) / 1000.0;
                        hat_next = t + ((rng() % 3) ? 0.25 : 0.125);
                }
                double tc = t - bar_t0, tb = t - beat_t0, tm = t - mel_t0;
                if (tc > 0)
                        for (int k = 0; k < 3; k++)
                                c = tone(midi_hz(chords[chord][k]), tc, 1.2) * 0.14 * chord_vel,
                                l += c * 0.75, r += c * 0.45;
                if (tb > 0) {
                        c = tone(midi_hz(bass_note), tb, 3.0) * 0.28 * bass_vel;
                        l += c;
                        r += c;
                        c = sin(2 * M_PI * (45 * tb + 3 * (1 - exp(-tb * 30)))) * exp(-tb * 18) * 0.4 * kick_vel;
                        l += c;
                        r += c;
                }
                c = tone(midi_hz(penta[mel_idx]), tm, 4.0) * 0.22 * mel_vel;
                l += c * 0.4;
                r += c * 0.9;
                if (hat_t0 >= 0) {
                        c = noise() * exp(-(t - hat_t0) * 90) * 0.07 * hat_vel;
                        l += c * 0.6;
                        r += c;
                }
                /* pad: low-passed noise whose level wanders */
                pad_lp += (noise() - pad_lp) * 0.02;
                if (n % 441 == 0) {
                        pad_env += 0.04 * noise();
                        if (pad_env < 0.2)
                                pad_env = 0.2;
                        if (pad_env > 1)
                                pad_env = 1;
                }
                c = pad_lp * 0.25 * pad_env;
                l += c;
                r -= c * 0.7;
                int16_t s2[2] = { clip16(l * 0.75 * 32767), clip16(r * 0.75 * 32767) };
                fwrite(s2, sizeof(s2), 1, f);
        }
        fclose(f);
        return 0;
usage:
        fprintf(stderr, "usage: gen-audio sine|music [--rate R] [--seconds S] [--freq F] [--offset D]\n"
                        "                 [--amp A] [--seed N] [--wav] OUT\n");
        return 2;
}
