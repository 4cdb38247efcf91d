"""Two speakers at once (issue #13, docs/multi-output.md): the control
plane on the double.

Spare endpoints: with MultiOutput on, one more endpoint per codec follows
the usual ones, in the same order (bluetoothd 5.66 gives a second speaker
the next idle endpoint of the codec); off, exactly the usual ones."""

import time

from common import A2dpTestCase


def leaves(endpoints):
    return [p.rsplit('/', 1)[1] for _, _, p in endpoints if '/hci0/' in p]


class SpareEndpoints(A2dpTestCase):

    def test_off_registers_the_usual_endpoints_only(self):
        self.add_speaker()
        self.start_daemon()
        time.sleep(0.5)         # a spare registration would have come by now
        got = leaves(self.bluez.registered_endpoints())
        self.assertTrue(got)
        self.assertFalse([x for x in got if x.endswith('_2')], got)

    def test_on_registers_a_spare_per_codec_after_them_in_the_same_order(self):
        self.add_speaker()
        self.write_state(speaker_mode=True, multi_output=True)
        self.start_daemon()
        self.daemon.wait_for(lambda: any(x.endswith('_2') for x in
                                         leaves(self.bluez.registered_endpoints())),
                             5, what='spare endpoints registered')
        eps = self.bluez.registered_endpoints()
        got = leaves(eps)
        usual = [x for x in got if not x.endswith('_2')]
        self.assertEqual(usual[-2:], ['a2dp_source_sbc_xq', 'a2dp_source_sbc'])
        self.assertEqual(got, usual + [x + '_2' for x in usual])
        for _, _, p in eps:
            if p.endswith('_2'):
                self.assertIn('/org/a2dpsrc/bluez/hci0/spare/', p)
