#!/usr/bin/python3
"""Check audio captured from the a2dpsrc test plugin, bit for bit.

Usage:
  check_capture.py CAPTURE (.wav or raw S16_LE) --channels C --rate R
      [--freq HZ --amp A --offset HZ --duration S]   expected sine
      [--file RAW]                                   expected file, then silence
      [--frames N]                                   expected frame count

Sine sample n of channel c is round(A * 32767 * sin(2 pi f_c n / rate)),
rounding halves away from zero (C's round()), f_1 = f + offset.
Standard library only: this runs on Debian's /usr/bin/python3.
"""
import argparse
import math
import struct
import sys
import wave


def load(path, channels):
    if path.endswith(".wav"):
        with wave.open(path) as w:
            if w.getsampwidth() != 2 or w.getnchannels() != channels:
                sys.exit("%s: not S16 with %d channels" % (path, channels))
            data = w.readframes(w.getnframes())
    else:
        with open(path, "rb") as f:
            data = f.read()
    n = len(data) // 2
    return struct.unpack("<%dh" % n, data[: 2 * n])


def c_round(x):
    return int(math.copysign(math.floor(abs(x) + 0.5), x))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("capture")
    ap.add_argument("--channels", type=int, default=2)
    ap.add_argument("--rate", type=int, default=48000)
    ap.add_argument("--freq", type=float, default=1000)
    ap.add_argument("--amp", type=float, default=0.5)
    ap.add_argument("--offset", type=float, default=0)
    ap.add_argument("--duration", type=float, default=0)
    ap.add_argument("--file")
    ap.add_argument("--frames", type=int)
    a = ap.parse_args()

    got = load(a.capture, a.channels)
    frames = len(got) // a.channels
    if a.frames is not None and frames != a.frames:
        print("frame count %d, expected %d" % (frames, a.frames))
        return 1
    if a.file:
        ref = load(a.file, a.channels)
    dur = round(a.duration * a.rate) if a.duration > 0 else None
    bad = 0
    first = None
    for n in range(frames):
        for c in range(a.channels):
            if a.file:
                i = n * a.channels + c
                exp = ref[i] if i < len(ref) else 0
            elif dur is not None and n >= dur:
                exp = 0
            else:
                f = a.freq + (a.offset if c == 1 else 0)
                # same operation order as the plugin
                exp = c_round(a.amp * 32767.0 * math.sin(2.0 * math.pi * f * n / a.rate))
            if got[n * a.channels + c] != exp:
                bad += 1
                if first is None:
                    first = (n, c, got[n * a.channels + c], exp)
    print("frames %d mismatches %d%s" % (
        frames, bad, "" if first is None else
        " first at frame %d ch %d: got %d expected %d" % first))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
