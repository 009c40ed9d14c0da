"""`make bench` runs every benchmark; `make bench ONLY=<name>` runs one.

Each benchmark is a module `bench.<name>` run in its own process (so one's memory and
threads never skew another's), printing its table and writing bench/results/<name>.json.
"""

from __future__ import annotations

import subprocess
import sys
import time

ALL = ["segmenter", "encoder", "index", "index_server", "trainer", "taxonomy", "query", "realtime", "hot_path", "speech", "scale"]


def main(argv: list[str]) -> int:
    names = [n for a in argv for n in a.split(",") if n] or ALL
    unknown = [n for n in names if n not in ALL]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; choose from {', '.join(ALL)}", file=sys.stderr)
        return 2
    failed = []
    for name in names:
        print(f"\n=== bench: {name} ===", flush=True)
        t0 = time.monotonic()
        rc = subprocess.call([sys.executable, "-m", f"bench.{name}"])
        print(f"=== {name}: {'ok' if rc == 0 else f'FAILED ({rc})'} in {time.monotonic() - t0:.0f} s", flush=True)
        if rc:
            failed.append(name)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
