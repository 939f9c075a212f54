#!/usr/bin/env python3
# Reads a meson testlog.json and prints "P passed, F failed" in test cases: Catch2 suites
# report their own case counts; any other test counts as one case.
import json, re, sys

passed = failed = 0
for line in open(sys.argv[1]):
    if not line.strip():
        continue
    t = json.loads(line)
    out = t.get('stdout', '') or ''
    ok = t.get('result') in ('OK', 'EXPECTEDFAIL')
    m_all = re.search(r'All tests passed \((\d+) assertions? in (\d+) test cases?\)', out)
    m_mix = re.search(r'test cases:\s*(\d+)\s*\|\s*(\d+) passed\s*\|\s*(\d+) failed', out)
    if m_all and ok:
        passed += int(m_all.group(2))
    elif m_mix:
        p, f = int(m_mix.group(2)), int(m_mix.group(3))
        if not ok and f == 0:
            f = 1  # the suite failed outside a test case (crash after the summary, timeout)
        passed += p
        failed += f
    elif ok:
        passed += 1
    else:
        failed += 1
print(f"{passed} passed, {failed} failed")
