"""What a speaker's sink SEPs offer, codec by codec: capability presets,
the check a strict sink makes on AVDTP SET_CONFIGURATION, and the choice a
sink makes when it configures the stream itself.  Pure helpers.

Layouts (A2DP spec 4.3 SBC, 4.5 MPEG-2/4 AAC, 4.7 vendor codecs; vendors'
published definitions for aptX, aptX HD and LDAC):

  SBC      codec 0x00, 4 bytes (sbc.py)
  AAC      codec 0x02, 6 bytes: object type (MPEG-2 LC 0x80, MPEG-4 LC
           0x40, LTP 0x20, scalable 0x10); 8000 0x80 11025 0x40 12000 0x20
           16000 0x10 22050 0x08 24000 0x04 32000 0x02 44100 0x01;
           48000 0x80 64000 0x40 88200 0x20 96000 0x10 | 1 channel 0x08,
           2 channels 0x04; VBR 0x80 | bit rate (23 bits, big-endian)
  vendor   codec 0xff: u32 vendor id, u16 codec id (little-endian), then:
    aptX     0x0000004f/0x0001: 16000 0x80 32000 0x40 44100 0x20
             48000 0x10 | mono 0x01 stereo 0x02                   (7 bytes)
    aptX HD  0x000000d7/0x0024: the same byte, then 4 reserved   (11 bytes)
    LDAC     0x0000012d/0x00aa: 44100 0x20 48000 0x10 88200 0x08
             96000 0x04 176400 0x02 192000 0x01; mono 0x04 dual 0x02
             stereo 0x01                                          (8 bytes)

bluetoothd 5.66 shows a remote SEP's Capabilities as the codec-specific
bytes, vendor header included, and Codec 0xff for every vendor codec (no
Vendor property on a remote SEP); it pairs a vendor SEP with a local
endpoint only when both vendor id and codec id match (a2dp.c
endpoint_match_codec_ind).
"""

import struct

from . import sbc

SBC = 0x00
AAC = 0x02
VENDOR = 0xff

APTX = (0x0000004f, 0x0001)
APTX_HD = (0x000000d7, 0x0024)
LDAC = (0x0000012d, 0x00aa)
VENDORS = {APTX: 'aptx', APTX_HD: 'aptx-hd', LDAC: 'ldac'}


def vendor_header(vendor, codec):
    return struct.pack('<IH', vendor, codec)


def vendor_of(blob):
    """(vendor id, codec id) of a vendor blob, None when it is too short."""
    blob = bytes(blob)
    if len(blob) < 6:
        return None
    return struct.unpack_from('<IH', blob, 0)


# Sink capability presets: name -> (codec, capabilities).  Every name here
# is a value of the AddDevice option SinkCodecs.
PRESETS = {
    # SBC everything, bitpool 2..53 (the double's default speaker)
    'sbc': (SBC, sbc.DEFAULT_SINK_CAPS),
    # SBC with dual channel and a maximum bitpool that allows SBC-XQ
    # (dual channel bitpool 38+ per channel at 44.1 kHz, as bluez-alsa and
    # PipeWire define it): what Sony and Bose sinks advertise
    'sbc-xq': (SBC, bytes([0xff, 0xff, 0x02, 0x4a])),
    # 44.1 and 48 kHz, stereo
    'aptx': (VENDOR, vendor_header(*APTX) + bytes([0x30 | 0x02])),
    # aptX at 44.1 kHz only (a sink of the first aptX generation)
    'aptx-44k': (VENDOR, vendor_header(*APTX) + bytes([0x20 | 0x02])),
    'aptx-hd': (VENDOR, vendor_header(*APTX_HD) + bytes([0x30 | 0x02, 0, 0, 0, 0])),
    # MPEG-2 and MPEG-4 AAC LC, 44.1 and 48 kHz, 1 or 2 channels, VBR,
    # up to 320 kbit/s
    'aac': (AAC, bytes([0xc0, 0x01, 0x80 | 0x0c, 0x80 | 0x04, 0xe2, 0x00])),
    # 44.1..96 kHz, every channel mode
    'ldac': (VENDOR, vendor_header(*LDAC) + bytes([0x3c, 0x07])),

    # -- malformed and odd capabilities --------------------------------------
    # a vendor SEP too short to hold its vendor header: bluetoothd shows
    # it, no local endpoint matches it
    'vendor-short': (VENDOR, bytes([0x4f, 0x00, 0x00])),
    # aptX's vendor header cut after the header: no frequency/mode byte
    'aptx-short': (VENDOR, vendor_header(*APTX)),
    # aptX's codec id under another vendor id (an unknown codec)
    'aptx-wrong-vendor': (VENDOR, vendor_header(0x0000004e, 0x0001) + bytes([0x32])),
    # aptX with no frequency and no channel mode bit
    'aptx-empty': (VENDOR, vendor_header(*APTX) + bytes([0x00])),
    # LDAC with no frequency bit
    'ldac-empty': (VENDOR, vendor_header(*LDAC) + bytes([0x00, 0x07])),
    # AAC cut short (4 of 6 bytes)
    'aac-short': (AAC, bytes([0xc0, 0x01, 0x8c, 0x84])),
    # AAC with no object type the source can send
    'aac-empty': (AAC, bytes([0x00, 0x01, 0x8c, 0x84, 0xe2, 0x00])),
}


def codec_name(codec, blob):
    """'sbc', 'aac', 'aptx', 'aptx-hd', 'ldac', or None (unknown vendor or
    a malformed blob)."""
    if codec == SBC:
        return 'sbc'
    if codec == AAC:
        return 'aac'
    if codec == VENDOR:
        return VENDORS.get(vendor_of(blob))
    return None


def sink_endpoints(names, first_seid=1):
    """SinkEndpoints entries for a list of preset names (or (name, caps)
    pairs), SEIDs counted from first_seid in the order given.  ValueError
    on a name that is no preset."""
    out = []
    for i, n in enumerate(names):
        caps = None
        if isinstance(n, (tuple, list)):
            n, caps = n
        if str(n) not in PRESETS:
            raise ValueError('no sink codec preset %r (%s)' % (str(n), ', '.join(PRESETS)))
        codec, preset = PRESETS[str(n)]
        out.append({'SEID': first_seid + i, 'Codec': codec,
                    'Capabilities': bytes(preset if caps is None else caps)})
    return out


def matches(local_codec, local_caps, remote_codec, remote_caps):
    """avdtp_find_remote_sep + endpoint_match_codec_ind: same codec type;
    for vendor codecs the same vendor id and codec id, and neither blob
    shorter than the vendor header."""
    if local_codec != remote_codec:
        return False
    if local_codec != VENDOR:
        return True
    lv, rv = vendor_of(local_caps), vendor_of(remote_caps)
    return lv is not None and rv is not None and lv == rv


def is_sbc_xq(config):
    """An SBC configuration of SBC-XQ's kind: dual channel (a2dpsrcd's
    plain SBC is joint stereo; its XQ is dual channel at bitpool 35 at
    48 kHz and 38 at 44.1 kHz, per channel, so a bitpool threshold would
    not tell them apart)."""
    c = bytes(config)
    return len(c) == 4 and c[0] & 0x0f == 0x04


def _one_bit(v):
    return v != 0 and (v & (v - 1)) == 0


def _fields(name, blob):
    """name -> [(field, value mask)] of a blob; None when it is too short."""
    b = bytes(blob)
    if name in ('aptx', 'aptx-hd'):
        if len(b) < 7:
            return None
        return [('frequency', b[6] & 0xf0), ('channel mode', b[6] & 0x0f)]
    if name == 'ldac':
        if len(b) < 8:
            return None
        return [('frequency', b[6] & 0x3f), ('channel mode', b[7] & 0x07)]
    if name == 'aac':
        if len(b) < 6:
            return None
        return [('object type', b[0]), ('frequency', b[1] << 4 | b[2] >> 4),
                ('channels', b[2] & 0x0c)]
    return None


AAC_MAX_BITRATE = (1 << 23) - 1


def aac_bitrate(blob):
    b = bytes(blob)
    return (b[3] & 0x7f) << 16 | b[4] << 8 | b[5]


def check_config(codec, config, caps):
    """The check a strict sink does on AVDTP SET_CONFIGURATION of the SEP
    with these capabilities.  None when acceptable, else a short reason."""
    config, caps = bytes(config), bytes(caps)
    if codec == SBC:
        return sbc.check_config(config, caps)
    name = codec_name(codec, caps)
    if name is None:
        return 'codec not supported by this SEP'
    if codec == VENDOR and vendor_of(config) != vendor_of(caps):
        return 'vendor header %s is not the SEP\'s %s' % (
            config[:6].hex(), caps[:6].hex())
    want = {'aptx': 7, 'aptx-hd': 11, 'ldac': 8, 'aac': 6}[name]
    if len(config) != want:
        return 'configuration is %d bytes, %s needs %d' % (len(config), name, want)
    cf, kf = _fields(name, config), _fields(name, caps)
    if kf is None:
        return None             # nothing to check against
    for (field, v), (_, k) in zip(cf, kf):
        if not _one_bit(v):
            return '%s must have exactly one bit set (0x%x)' % (field, v)
        if v & ~k:
            return '%s 0x%x not supported by the sink' % (field, v)
    if name == 'aac':
        if config[3] & 0x80 and not caps[3] & 0x80:
            return 'VBR not supported by the sink'
        top = aac_bitrate(caps)
        if top and aac_bitrate(config) > top:
            return 'bit rate %d above the sink\'s %d' % (aac_bitrate(config), top)
    return None


def _pick(mask, order):
    for bit in order:
        if mask & bit:
            return bit
    return 0


def choose_config(codec, sink_caps, source_caps):
    """What a sink picks when it configures the stream itself (a remote
    SET_CONFIGURATION): 48 kHz where both have it (44.1 kHz for SBC, as
    sbc.choose_config), stereo, the best of the rest; None when the two
    share no configuration."""
    k, s = bytes(sink_caps), bytes(source_caps)
    if codec == SBC:
        return sbc.choose_config(k, s)
    name = codec_name(codec, k)
    if name is None or codec_name(codec, s) != name:
        return None
    kf, sf = _fields(name, k), _fields(name, s)
    if kf is None or sf is None:
        return None
    common = [a[1] & b[1] for a, b in zip(kf, sf)]
    if name in ('aptx', 'aptx-hd'):
        freq = _pick(common[0], (0x10, 0x20, 0x40, 0x80))
        mode = _pick(common[1], (0x02, 0x01))
        if not freq or not mode:
            return None
        tail = bytes(4) if name == 'aptx-hd' else b''
        return k[:6] + bytes([freq | mode]) + tail
    if name == 'ldac':
        freq = _pick(common[0], (0x10, 0x20, 0x04, 0x08, 0x01, 0x02))
        mode = _pick(common[1], (0x01, 0x02, 0x04))
        if not freq or not mode:
            return None
        return k[:6] + bytes([freq, mode])
    # AAC
    obj = _pick(common[0], (0x80, 0x40, 0x20, 0x10))
    freq = _pick(common[1], (0x008, 0x010, 0x020, 0x040, 0x080, 0x001, 0x002,
                             0x004, 0x100, 0x200, 0x400, 0x800))
    chans = _pick(common[2], (0x04, 0x08))
    if not obj or not freq or not chans:
        return None
    rates = [r for r in (aac_bitrate(k), aac_bitrate(s)) if r]
    rate = min(rates) if rates else 320000
    vbr = 0x80 if k[3] & s[3] & 0x80 else 0
    return bytes([obj, freq >> 4, (freq & 0x0f) << 4 | chans,
                  vbr | (rate >> 16) & 0x7f, (rate >> 8) & 0xff, rate & 0xff])


def describe(codec, config):
    config = bytes(config)
    if codec == SBC:
        return sbc.describe(config)
    name = codec_name(codec, config) or 'codec 0x%02x' % codec
    return '%s %s' % (name, config.hex())
