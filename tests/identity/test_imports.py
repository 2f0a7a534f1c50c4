from __future__ import annotations

import subprocess
import sys


def test_importing_the_package_builds_no_converters() -> None:
    # Style rule: nothing happens at import time; OpenCC, pypinyin and the region table load on first use.
    probe = (
        "import sys, gateway.identity as i, gateway.identity.names as n, gateway.identity.regions as r;"
        "print(n._t2s.cache_info().currsize, r._regions.cache_info().currsize, 'pypinyin' in sys.modules)"
    )
    output = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert output.split() == ["0", "0", "False"]
