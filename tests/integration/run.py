#!/usr/bin/python3
"""Runs the integration tests (tests/integration/test_*.py) with unittest and
prints one closing line 'N passed, N failed, N skipped', naming each skipped
test and why (also on a line "skipped: ID: REASON" each, for CI's log).

Usage: run.py [PATTERN...]   (PATTERN selects test modules or test ids by substring)

Tests that belong to their own make target (the soak, the valgrind run) are
left out unless their variable is set, and the closing line says so.
A2DPSRC_NO_SKIP=1 (CI) makes any skip a failure: a check CI cannot run must
be made to run there, not pass quietly.
"""
import os
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
# module -> (variable that selects it, its make target)
OWN_TARGET = {'test_soak': ('SOAK_SECONDS', 'make soak'),
              'test_valgrind': ('A2DPSRC_VALGRIND', 'make check-valgrind')}


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
    left_out = sorted({'%s (%s)' % (m, target) for t in tests for m, (var, target) in OWN_TARGET.items()
                       if t.id().startswith(m + '.') and not os.environ.get(var)})
    tests = [t for t in tests if not any(t.id().startswith(m + '.') and not os.environ.get(var)
                                         for m, (var, _) in OWN_TARGET.items())]
    runner = unittest.TextTestRunner(verbosity=2, resultclass=CountingResult,
                                     stream=sys.stdout)
    result = runner.run(unittest.TestSuite(tests))
    failed = len(result.failures) + len(result.errors) + len(result.unexpectedSuccesses)
    skipped = len(result.skipped)
    passed = result.testsRun - failed - skipped
    for test, reason in result.skipped:
        print("skipped: %s: %s" % (test.id(), reason.strip().splitlines()[0][:200] if reason.strip() else '?'))
    line = "%d passed, %d failed, %d skipped" % (passed, failed, skipped)
    if skipped:
        line += " (%s)" % ', '.join(t.id().split('.')[-1] for t, _ in result.skipped)
    if left_out:
        line += "; not in this run: %s" % ', '.join(left_out)
    print(line)
    if result.testsRun == 0:
        print("no integration test ran", file=sys.stderr)
        return 1
    if skipped and os.environ.get('A2DPSRC_NO_SKIP'):
        print("A2DPSRC_NO_SKIP: %d test(s) skipped; each must run here" % skipped, file=sys.stderr)
        return 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
