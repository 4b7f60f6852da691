"""Fail CI when a test skipped for any reason but missing hardware (a GPU).

CI installs every extra and Debian's chromium, and the repository carries its data, so on a
fresh clone every test must run: a test that skips for want of data, of a package or of a
browser hides a check. Reads the JUnit XML that pytest wrote (``--junitxml``).
"""

from __future__ import annotations

import re
import sys
import xml.etree.ElementTree as ET

# the only reasons a test may skip in CI: hardware the CI machine does not have
ALLOWED = (re.compile(r"CUDA|GPU", re.I),)
# words that mark a skip for want of data (named apart in the failure message)
DATA = re.compile(r"data|measurement|realdata|shared|csv|not found|no such file", re.I)


def main(path: str) -> int:
    root = ET.parse(path).getroot()
    cases = list(root.iter("testcase"))
    skipped, xfailed = [], 0
    for case in cases:
        for s in case.iter("skipped"):
            if s.get("type") == "pytest.xfail":  # an expected failure (a recorded miss), not a skip
                xfailed += 1
                continue
            reason = s.get("message", "") or (s.text or "")
            skipped.append((f"{case.get('classname', '')}::{case.get('name', '')}", reason))
    bad = [(name, why) for name, why in skipped if not any(a.search(why) for a in ALLOWED)]
    data = [(name, why) for name, why in bad if DATA.search(why)]
    print(f"ci: {len(cases)} tests, {xfailed} xfailed, {len(skipped)} skipped "
          f"({len(skipped) - len(bad)} for missing hardware, {len(data)} for want of data)")  # fmt: skip
    for name, why in bad:
        kind = "for want of data" if (name, why) in data else "not allowed in CI"
        print(f"ci: skipped {kind}: {name}: {why}", file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: check_skips.py JUNIT.xml")
    sys.exit(main(sys.argv[1]))
