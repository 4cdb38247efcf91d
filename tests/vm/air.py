"""What crossed the air (stdlib only): the ACL data a controller received,
kept by tests/vm/link_capture.py as a btsnoop file (BlueZ's monitor format),
reassembled into L2CAP frames; in them the AVDTP configuration the source
set (Set Configuration, Reconfigure: the codec and its parameters), the
media packets of the stream and the SBC frames in them. check_audio.py
judges the codec from these, not from a2dpsrcd's own Codec property."""

import struct

BTSNOOP_MAGIC = b'btsnoop\0'
BTSNOOP_MONITOR = 2001          # datalink: BlueZ monitor (flags: index << 16 | opcode)
OP_ACL_RX = 5
RTP_PT = 96
SBC_SYNC = 0x9c


EPOCH_DELTA_US = 0x00dcddb30f2f8000     # btsnoop: microseconds since year 0


def btsnoop_acl(path, index, opcode=OP_ACL_RX, timed=False):
    """The ACL packets (handle+flags, length, data) of controller hciINDEX
    with the given monitor opcode in a btsnoop capture; timed: as (time in
    s since the epoch, packet)."""
    with open(path, 'rb') as f:
        data = f.read()
    if data[:8] != BTSNOOP_MAGIC or len(data) < 16:
        raise ValueError('%s: not a btsnoop file' % path)
    if struct.unpack_from('>I', data, 12)[0] != BTSNOOP_MONITOR:
        raise ValueError('%s: not a monitor-format capture' % path)
    off, out = 16, []
    while off + 24 <= len(data):
        _, incl, flags, _, t_us = struct.unpack_from('>IIIIq', data, off)
        rec = data[off + 24:off + 24 + incl]
        off += 24 + incl
        if len(rec) < incl:
            break                                   # cut short at the end
        if flags >> 16 == index and flags & 0xffff == opcode:
            out.append(((t_us - EPOCH_DELTA_US) / 1e6, rec) if timed else rec)
    return out


def l2cap_frames_timed(timed_acl):
    """Reassembled L2CAP frames [(t, cid, payload)] of [(t, ACL packet)],
    each at the time of its last fragment."""
    partial, out = {}, []
    for t, pkt in timed_acl:
        if len(pkt) < 4:
            continue
        hf, dlen = struct.unpack_from('<HH', pkt)
        handle, pb, body = hf & 0x0fff, (hf >> 12) & 3, pkt[4:4 + dlen]
        if pb in (0, 2):                            # a first fragment
            partial[handle] = bytearray(body)
        elif handle in partial:                     # a continuation
            partial[handle] += body
        else:
            continue
        buf = partial[handle]
        if len(buf) >= 4 and len(buf) >= 4 + struct.unpack_from('<H', buf)[0]:
            length, cid = struct.unpack_from('<HH', buf)
            out.append((t, cid, bytes(buf[4:4 + length])))
            del partial[handle]
    return out


def l2cap_frames(acl_packets):
    """Reassembled L2CAP frames [(cid, payload)] of a list of ACL packets."""
    return [(cid, p) for _, cid, p in l2cap_frames_timed((None, pkt) for pkt in acl_packets)]


def sbc_frame_len(hdr):
    """An SBC frame's length from its first three bytes."""
    b = hdr[1]
    blocks = (4, 8, 12, 16)[(b >> 4) & 3]
    mode = (b >> 2) & 3
    subbands = (4, 8)[b & 1]
    bitpool = hdr[2]
    channels = 1 if mode == 0 else 2
    if mode in (0, 1):
        bits = blocks * channels * bitpool
    else:
        bits = (subbands if mode == 3 else 0) + blocks * bitpool
    return 4 + (4 * subbands * channels) // 8 + (bits + 7) // 8


def sbc_frames(payloads):
    """[(bitpool, header bytes)] of every SBC frame in RTP media packets
    (A2DP's media channel; signalling and other channels do not parse as
    RTP with SBC frames and are left out; fragments are skipped)."""
    out = []
    for cid, p in payloads:
        if cid < 0x40 or len(p) < 14 or p[0] >> 6 != 2 or p[1] & 0x7f != RTP_PT:
            continue
        off = 12 + 4 * (p[0] & 0x0f)
        if off >= len(p) or p[off] & 0x80:          # fragmented frame
            continue
        count, off = p[off] & 0x0f, off + 1
        for _ in range(count):
            if off + 3 > len(p) or p[off] != SBC_SYNC:
                break
            n = sbc_frame_len(p[off:off + 3])
            out.append((p[off + 2], bytes(p[off:off + 3])))
            off += n
    return out


def link_sbc_frames(path, index=1):
    """The SBC frames controller hciINDEX (the speaker's) received."""
    return sbc_frames(link_payloads(path, index))


SBC_MODES = ('mono', 'dual channel', 'stereo', 'joint stereo')


def sbc_mode(hdr):
    """An SBC frame's channel mode (SBC_MODES) from its header bytes."""
    return SBC_MODES[(hdr[1] >> 2) & 3]


# ---- the AVDTP configuration (A2DP and AVDTP specifications) -------------------

AVDTP_SET_CONFIGURATION = 0x03
AVDTP_RECONFIGURE = 0x07
AVDTP_MEDIA_CODEC = 0x07        # service category
AVDTP_MAX_CATEGORY = 0x08
CODEC_SBC = 0x00
CODEC_AAC = 0x02
CODEC_VENDOR = 0xff
# (vendor id, vendor codec id): the vendors' published definitions
VENDOR_CODECS = {(0x0000004f, 0x0001): 'aptX', (0x000000d7, 0x0024): 'aptX HD',
                 (0x0000012d, 0x00aa): 'LDAC'}
SBC_RATES = ((0x80, 16000), (0x40, 32000), (0x20, 44100), (0x10, 48000))
SBC_CHANNEL_MODES = ((0x08, 'mono'), (0x04, 'dual channel'), (0x02, 'stereo'), (0x01, 'joint stereo'))
APTX_RATES = ((0x80, 16000), (0x40, 32000), (0x20, 44100), (0x10, 48000))
APTX_CHANNEL_MODES = ((0x01, 'mono'), (0x02, 'stereo'))


class CodecConfig:
    """One configuration the source set: name ('SBC', 'aptX', ...), rate,
    channel mode, for SBC the bitpool range, and the signal's raw codec
    information elements."""
    __slots__ = ('signal', 'name', 'rate', 'mode', 'bitpool', 'info')

    def __str__(self):
        parts = [self.name]
        if self.rate:
            parts.append('%d Hz' % self.rate)
        if self.mode:
            parts.append(self.mode)
        if self.bitpool:
            parts.append('bitpool %d..%d' % self.bitpool)
        return ' '.join(parts)


def one_of(byte, table):
    """The one value a configuration's bit field names, or None when it
    names none or several (capabilities, not a configuration)."""
    hits = [v for bit, v in table if byte & bit]
    return hits[0] if len(hits) == 1 else None


def codec_config(signal, media_codec):
    """A CodecConfig from a Media Codec capability's value (media type,
    codec type, codec information elements); None when it is not audio."""
    if len(media_codec) < 2 or media_codec[0] >> 4 != 0:
        return None
    c = CodecConfig()
    c.signal, c.info = signal, bytes(media_codec[2:])
    c.rate = c.mode = c.bitpool = None
    kind, info = media_codec[1], media_codec[2:]
    if kind == CODEC_SBC and len(info) == 4:
        c.name = 'SBC'
        c.rate = one_of(info[0] & 0xf0, SBC_RATES)
        c.mode = one_of(info[0] & 0x0f, SBC_CHANNEL_MODES)
        c.bitpool = (info[2], info[3])
    elif kind == CODEC_VENDOR and len(info) >= 6:
        vendor, codec = struct.unpack_from('<IH', info)
        c.name = VENDOR_CODECS.get((vendor, codec), 'vendor 0x%08x codec 0x%04x' % (vendor, codec))
        if c.name in ('aptX', 'aptX HD') and len(info) >= 7:
            c.rate = one_of(info[6] & 0xf0, APTX_RATES)
            c.mode = one_of(info[6] & 0x0f, APTX_CHANNEL_MODES)
    elif kind == CODEC_AAC:
        c.name = 'AAC'
    else:
        c.name = 'codec 0x%02x' % kind
    return c


def avdtp_configuration(p):
    """The CodecConfig of an AVDTP Set Configuration or Reconfigure command
    (a single packet), or None for anything else. The whole message must
    parse: SEIDs, then service capabilities (category, length, value) that
    end exactly where the packet does, one of them a Media Codec."""
    if len(p) < 3 or p[0] & 0x0f != 0:               # single packet, command
        return None
    signal = p[1] & 0x3f
    if signal == AVDTP_SET_CONFIGURATION:
        seids, off = p[2:4], 4
    elif signal == AVDTP_RECONFIGURE:
        seids, off = p[2:3], 3
    else:
        return None
    if len(seids) < off - 2 or any(s & 0x03 or not s >> 2 for s in seids):
        return None
    codec = None
    while off < len(p):
        if off + 2 > len(p):
            return None
        cat, n = p[off], p[off + 1]
        if not 1 <= cat <= AVDTP_MAX_CATEGORY or off + 2 + n > len(p):
            return None
        if cat == AVDTP_MEDIA_CODEC:
            codec = p[off + 2:off + 2 + n]
        off += 2 + n
    return codec_config(signal, codec) if codec is not None else None


def media_channel(payloads):
    """The dynamic channel that carried the most bytes: the stream's."""
    sizes = {}
    for cid, p in payloads:
        if cid >= 0x40:
            sizes[cid] = sizes.get(cid, 0) + len(p)
    return max(sizes, key=sizes.get) if sizes else None


def configurations(payloads):
    """Every configuration the source set, in order, from the signalling
    (any dynamic channel but the media one)."""
    media = media_channel(payloads)
    out = []
    for cid, p in payloads:
        if cid >= 0x40 and cid != media:
            c = avdtp_configuration(p)
            if c is not None:
                out.append(c)
    return out


def rtp_ok(p, prev_seq):
    """p starts with an RTP header (version 2, A2DP's payload type) whose
    sequence number follows prev_seq (or any when prev_seq is None)."""
    if len(p) < 12 or p[0] >> 6 != 2 or p[1] & 0x7f != RTP_PT:
        return False
    seq = struct.unpack_from('>H', p, 2)[0]
    return prev_seq is None or seq == (prev_seq + 1) & 0xffff


class MediaPackets:
    """What the media channel carried: packets, how many began with an RTP
    header in sequence, and the payload sizes after that header (for aptX
    and aptX HD the payload is whole codewords: 4 and 6 bytes)."""

    def __init__(self, payloads):
        media = media_channel(payloads)
        self.packets, self.rtp = 0, 0
        self.sizes_bare, self.sizes_after_rtp = [], []
        prev = None
        for cid, p in payloads:
            if cid != media:
                continue
            self.packets += 1
            self.sizes_bare.append(len(p))
            if rtp_ok(p, prev):
                self.rtp += 1
            if len(p) >= 12:
                prev = struct.unpack_from('>H', p, 2)[0]
                self.sizes_after_rtp.append(len(p) - 12 - 4 * (p[0] & 0x0f))

    def whole(self, sizes, unit):
        """Packets whose payload is a whole number of units."""
        return sum(1 for n in sizes if n > 0 and n % unit == 0)


def link_payloads(path, index=1):
    """The L2CAP frames controller hciINDEX (the speaker's) received."""
    return l2cap_frames(btsnoop_acl(path, index))
