"""When a speaker of the double presents a sample (issue #13: two speakers
within +-2 ms of what their Delay promises).

A sample is found by its content (an onset in the decoded audio), never by
its RTP timestamp: two streams' timestamps start at unrelated values.  For
that sample:

  presentation = arrival of the packet that carries it
               + the frames before it in that packet / rate
               + the speaker's MediaTransport1 Delay (1/10 ms; A2DP delay
                 reporting counts from reception to rendering, so it holds
                 the speaker's own buffering and decoding)

Arrival is the kernel's time (recording format 3, template parameter
arrival_timestamps): the double's radio takes no time, so the moment the
daemon's packet is queued on the speaker's socket is its arrival.  The
speaker thread's read time (clock='read') is late by Python's scheduling,
by milliseconds, too coarse for a 2 ms check; use it only where the test
makes the speaker read late on purpose (SpeakerStall, a link limit), when
it is the modelled arrival.

The decoded audio is what a decoder outputs, and a decoder outputs input
frame k at decoded frame k + D, D its algorithmic delay.  decoder_delay_frames
(stated by the caller; 0 by default) is taken off the onset's decoded
position to find the packet that carried it.  Comparing two speakers of
the same codec it cancels out; across codecs, state each decoder's D.  The
decoded audio is assumed to start with the first packet's first frame
(speaker-analyze --pcm-out decodes every packet of an SBC recording).
"""

import harness

RTP_HEADER = 12


def arrivals(records, clock='kernel'):
    """Arrival ns of each packet of read_recording(path, kernel_times=True)
    records.  clock 'kernel': the kernel's time (an error where the
    recording has none); 'read': the speaker thread's."""
    if clock not in ('kernel', 'read'):
        raise ValueError('clock %r' % clock)
    out = []
    for t_read, t_kernel, _ in records:
        if clock == 'read':
            out.append(t_read)
        elif t_kernel is None:
            raise ValueError('no kernel arrival time (a recording of '
                             'format 1 or 2?)')
        else:
            out.append(t_kernel)
    return out


def sbc_packet_frames(packet):
    """Audio frames (per channel) in one A2DP SBC RTP packet: the media
    payload header's frame count times the first SBC frame's blocks times
    subbands.  Fragmented packets are not handled (the daemon does not
    fragment SBC)."""
    if len(packet) < RTP_HEADER + 1 + 2:
        raise ValueError('short SBC packet')
    csrc = packet[0] & 0x0f
    off = RTP_HEADER + 4 * csrc
    if packet[0] & 0x10:                          # header extension
        ext_words = int.from_bytes(packet[off + 2:off + 4], 'big')
        off += 4 + 4 * ext_words
    if packet[off] & 0x80:
        raise ValueError('fragmented SBC packet')
    count = packet[off] & 0x0f
    hdr = packet[off + 1:off + 3]
    if len(hdr) < 2 or hdr[0] != 0x9c:
        raise ValueError('no SBC frame header')
    blocks = 4 * (1 + ((hdr[1] >> 4) & 3))
    subbands = 8 if hdr[1] & 1 else 4
    return count * blocks * subbands


def onset(pcm, threshold, channels=1, start=0):
    """The first frame from start on where a sample's magnitude reaches
    threshold (pcm: interleaved integers), or None."""
    for i in range(start * channels, len(pcm)):
        if abs(pcm[i]) >= threshold:
            return i // channels
    return None


def presentation_ns(arrival_ns, frames_per_packet, frame, rate, delay,
                    decoder_delay_frames=0):
    """When decoded frame `frame` is presented: arrival of the packet that
    carried it + its place in that packet + delay (1/10 ms)."""
    k = frame - decoder_delay_frames
    if k < 0:
        raise ValueError('frame %d is before the first packet' % frame)
    first = 0
    for t, n in zip(arrival_ns, frames_per_packet):
        if k < first + n:
            return t + round((k - first) * 1e9 / rate) + int(delay) * 100000
        first += n
    raise ValueError('frame %d is past the last packet' % frame)


def sbc_presentation_ns(recording, pcm, rate, delay, threshold, channels=2,
                        clock='kernel', decoder_delay_frames=0):
    """presentation_ns of the first onset in a speaker's SBC recording,
    pcm its decoded audio (speaker-analyze --pcm-out, interleaved)."""
    _, records = harness.read_recording(recording, kernel_times=True)
    frame = onset(pcm, threshold, channels)
    if frame is None:
        raise ValueError('%s: no onset at %d' % (recording, threshold))
    return presentation_ns(arrivals(records, clock),
                           [sbc_packet_frames(p) for _, _, p in records],
                           frame, rate, delay, decoder_delay_frames)
