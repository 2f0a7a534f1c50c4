"""Run every benchmark (or the ones named): ``python -m benchmarks [idgen matching search-http ...]``
(a name's hyphens stand for its directory's underscores)."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

HERE = Path(__file__).parent


def main() -> None:
    names = sys.argv[1:] or sorted(p.parent.name for p in HERE.glob("*/run.py"))
    for name in names:
        script = HERE / name.replace("-", "_") / "run.py"
        if not script.exists():
            sys.exit(f"no benchmark {name!r}")
        print(f"== benchmarks/{name} ==", flush=True)
        sys.argv = [str(script)]
        runpy.run_path(str(script), run_name="__main__")


if __name__ == "__main__":
    main()
