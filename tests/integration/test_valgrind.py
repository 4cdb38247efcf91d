"""One streaming scenario under valgrind (make check-valgrind): connect,
stream, link loss, reconnect, shutdown. valgrind's report fails the test
(common.py scans the daemon log) and so does its exit code."""

import os
import signal
import time
import unittest

from common import A2dpTestCase, SPEAKER_PATH, TONE_HZ


@unittest.skipUnless(os.environ.get('A2DPSRC_VALGRIND'), 'run by make check-valgrind')
class ValgrindTests(A2dpTestCase):

    def test_stream_link_loss_reconnect_shutdown(self):
        self.add_speaker()
        self.start_daemon()
        self.bluez.connect_speaker(SPEAKER_PATH)
        self.wait_streaming(timeout=20)
        time.sleep(2)
        self.bluez.LinkLoss(SPEAKER_PATH)
        # auto-reconnect after ~1 s brings a new stream
        self.daemon.wait_for(lambda: len(self.bluez.recordings()) >= 2, 30, what='reconnect')
        self.wait_streaming(timeout=20)
        time.sleep(1)
        rc = self.daemon.stop(signal.SIGTERM, 30)
        log = self.daemon.log_text()
        self.assertIn('HEAP SUMMARY', log, 'valgrind did not run')
        self.assertTrue('definitely lost: 0 bytes in 0 blocks' in log or
                        'All heap blocks were freed' in log, log[-3000:])
        self.assertIn('ERROR SUMMARY: 0 errors', log)
        self.assertEqual(rc, 0, log[-3000:])


if __name__ == '__main__':
    unittest.main()
