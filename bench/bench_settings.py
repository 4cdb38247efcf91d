"""The bench's set-up: where the binaries are, the stream every
configuration sends (SBC 44.1 kHz joint stereo, bitpool 53, MTU 895), the
speaker of the double, the priorities, and say().

DAEMON, PLUGIN, ANALYZER and LOCAL_OUTPUT are replaced at run time by
bench.py's main() (--daemon, --local-output, the snapshot of the binaries):
the other modules read them as bench_settings.NAME when they run, never
import them by name.  Importing this module puts tests/integration (the
harness) on sys.path.
"""

import os
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..'))
sys.path.insert(0, os.path.join(ROOT, 'tests', 'integration'))

BUILD = os.path.abspath(os.environ.get('BUILD', os.path.join(ROOT, 'build')))
DAEMON = os.path.join(BUILD, 'a2dpsrcd')
PLUGIN = os.path.join(BUILD, 'tests', 'libasound_module_pcm_a2dpsrc_test.so')
ANALYZER = os.path.join(BUILD, 'tests', 'speaker-analyze')
FLOOR = os.path.join(BUILD, 'bench', 'sbc-floor')
GEN = os.path.join(BUILD, 'bench', 'gen-audio')
CAPTURE_FLOOR = os.path.join(BUILD, 'bench', 'capture-floor')
RSS_FLOOR = os.path.join(BUILD, 'bench', 'rss-floor')

RATE = 44100
TONE = 997          # not 1000: see docs/performance.md ("Signals")
TONE_OFFSET = 1
AMPLITUDE = 0.5
CONFIG_HEX = '21150235'                  # 44.1k JS, 16 blk, 8 sb, loudness, 2..53
# the speaker: 44.1 kHz only, bitpool <= 53, no dual channel: with dual
# channel a2dpsrcd (and PipeWire) would stream SBC-XQ, and the table
# compares plain SBC (SBC-XQ has its row in the codec table)
SINK_CAPS = bytes([0x23, 0xff, 2, 53])
WRITE_MTU = 895
SPEAKER = '00:11:22:33:44:55'
SPEAKER2 = '00:11:22:33:44:56'      # the second speaker of --two
SPEAKER_PATH = '/org/bluez/hci0/dev_00_11_22_33_44_55'
BLUEALSA_PCM = 'bluealsa:DEV=%s,PROFILE=a2dp' % SPEAKER
RT_PRIO = 40                 # a2dpsrcd's audio thread
# "none" (no local output at all) aborts the daemon when streaming starts
# (stream.c start_engine() marks a NULL local PCM as running, process() then
# calls snd_pcm_drop(NULL)); until that is fixed the bench, like make demo,
# gives it alsa-lib's "null" PCM, which the audio thread drops at the first
# period and never writes to.  --local-output none selects the real thing.
LOCAL_OUTPUT = 'null'
DOUBLE_RT_PRIO = 30          # the speaker double: the measuring instrument
CLK_TCK = os.sysconf('SC_CLK_TCK')
PROPS = 'org.freedesktop.DBus.Properties'
DEFAULT_JSON = os.path.join(ROOT, 'bench', 'results', 'latest.json')


def say(msg=''):
    print(msg, file=sys.stderr, flush=True)

