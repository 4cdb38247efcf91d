#!/usr/bin/python3
"""Runs the integration tests (tests/integration/test_*.py) with unittest and
prints one closing line 'N passed, N failed, N skipped'.

Usage: run.py [PATTERN...]   (PATTERN selects test modules or test ids by substring)
"""
import os
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))


def iter_tests(suite):
    for t in suite:
        if isinstance(t, unittest.TestSuite):
            yield from iter_tests(t)
        else:
            yield t


class CountingResult(unittest.TextTestResult):
    def startTest(self, test):
        self._t0 = time.monotonic()
        super().startTest(test)

    def stopTest(self, test):
        super().stopTest(test)
        if self.showAll:
            self.stream.writeln("    (%.1f s)" % (time.monotonic() - self._t0))


def main():
    sys.path.insert(0, HERE)
    patterns = [a for a in sys.argv[1:] if a]
    loader = unittest.TestLoader()
    suite = loader.discover(HERE, pattern="test_*.py", top_level_dir=HERE)
    tests = [t for t in iter_tests(suite)
             if not patterns or any(p in t.id() for p in patterns)]
    runner = unittest.TextTestRunner(verbosity=2, resultclass=CountingResult,
                                     stream=sys.stdout)
    result = runner.run(unittest.TestSuite(tests))
    failed = len(result.failures) + len(result.errors) + len(result.unexpectedSuccesses)
    skipped = len(result.skipped)
    passed = result.testsRun - failed - skipped
    print("%d passed, %d failed, %d skipped" % (passed, failed, skipped))
    if result.testsRun == 0:
        print("no integration test ran", file=sys.stderr)
        return 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
