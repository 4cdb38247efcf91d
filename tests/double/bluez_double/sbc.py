"""SBC codec-specific information elements (A2DP spec 4.3.2), pure helpers.

byte 0: sampling frequency (high nibble: 16k 0x80, 32k 0x40, 44.1k 0x20,
        48k 0x10) | channel mode (mono 0x08, dual 0x04, stereo 0x02,
        joint 0x01)
byte 1: block length (4 0x80, 8 0x40, 12 0x20, 16 0x10) | subbands (4 0x08,
        8 0x04) | allocation (SNR 0x02, loudness 0x01)
byte 2: minimum bitpool, byte 3: maximum bitpool
"""

FREQS = ((0x10, 48000), (0x20, 44100), (0x40, 32000), (0x80, 16000))
MODES = ((0x01, 'joint'), (0x02, 'stereo'), (0x04, 'dual'), (0x08, 'mono'))
BLOCKS = ((0x10, 16), (0x20, 12), (0x40, 8), (0x80, 4))
SUBBANDS = ((0x04, 8), (0x08, 4))
ALLOCS = ((0x01, 'loudness'), (0x02, 'snr'))

MIN_BITPOOL = 2
MAX_BITPOOL = 250

DEFAULT_SINK_CAPS = bytes([0xff, 0xff, 0x02, 0x35])


def _one_bit(v):
    return v != 0 and (v & (v - 1)) == 0


def fields(data):
    b = bytes(data)
    return {'freq': b[0] & 0xf0, 'mode': b[0] & 0x0f,
            'blocks': b[1] & 0xf0, 'subbands': b[1] & 0x0c,
            'alloc': b[1] & 0x03, 'min': b[2], 'max': b[3]}


def check_config(config, caps):
    """The check a (strict) sink does on AVDTP SET_CONFIGURATION.
    Returns None when acceptable, else a short reason."""
    config = bytes(config)
    if len(config) != 4:
        return 'configuration is %d bytes, SBC needs 4' % len(config)
    if len(caps) != 4:
        return None
    c, k = fields(config), fields(caps)
    for name in ('freq', 'mode', 'blocks', 'subbands', 'alloc'):
        if not _one_bit(c[name]):
            return '%s must have exactly one bit set (0x%02x)' % (name, c[name])
        if c[name] & ~k[name]:
            return '%s 0x%02x not supported by the sink' % (name, c[name])
    if c['min'] < MIN_BITPOOL or c['max'] > MAX_BITPOOL:
        return 'bitpool %d..%d outside 2..250' % (c['min'], c['max'])
    if c['min'] > c['max']:
        return 'minimum bitpool %d above maximum %d' % (c['min'], c['max'])
    if c['min'] < k['min'] or c['max'] > k['max']:
        return 'bitpool %d..%d outside the sink range %d..%d' % (
            c['min'], c['max'], k['min'], k['max'])
    return None


def choose_config(sink_caps, source_caps=b'\xff\xff\x02\xfa'):
    """What a sink picks when it configures the stream itself (remote
    SET_CONFIGURATION): 44.1 kHz if possible, joint stereo, 16 blocks,
    8 subbands, loudness, widest common bitpool range."""
    k, s = fields(sink_caps), fields(source_caps)

    def pick(mask, table, prefer=None):
        order = list(table)
        if prefer is not None:
            order.sort(key=lambda e: e[0] != prefer)
        for bit, _ in order:
            if mask & bit:
                return bit
        return 0

    freq = pick(k['freq'] & s['freq'], FREQS, prefer=0x20)
    mode = pick(k['mode'] & s['mode'], MODES)
    blocks = pick(k['blocks'] & s['blocks'], BLOCKS)
    subbands = pick(k['subbands'] & s['subbands'], SUBBANDS)
    alloc = pick(k['alloc'] & s['alloc'], ALLOCS)
    lo = max(k['min'], s['min'], MIN_BITPOOL)
    hi = min(k['max'], s['max'], MAX_BITPOOL)
    return bytes([freq | mode, blocks | subbands | alloc, lo, max(lo, hi)])


def describe(config):
    config = bytes(config)
    if len(config) != 4:
        return config.hex()
    c = fields(config)
    return '%s %s blocks=%s subbands=%s %s bitpool=%d..%d' % (
        dict(FREQS).get(c['freq'], hex(c['freq'])),
        dict(MODES).get(c['mode'], hex(c['mode'])),
        dict(BLOCKS).get(c['blocks'], hex(c['blocks'])),
        dict(SUBBANDS).get(c['subbands'], hex(c['subbands'])),
        dict(ALLOCS).get(c['alloc'], hex(c['alloc'])), c['min'], c['max'])
