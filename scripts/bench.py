"""prtrace benchmarks. Each one measures against a baseline in the same run and records the
ratio in docs/benchmarks.md, because absolute times on a shared 2-core machine are noise.

`scripts/bench NAME …` runs scripts/bench_NAME.py; what they share (realistic events, a real
server process, the machine line, writing a section) is in scripts/bench_common.py."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

BENCHMARKS = ("ingest", "daemon", "hooks", "shell", "read", "redact", "push", "agent", "attribution", "viewer")
USAGE = "usage: scripts/bench {" + ",".join(BENCHMARKS) + "} [--help] …"


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE)
        print("\nbenchmarks (each has its own --help):")
        for name in BENCHMARKS:
            print(f"  {name:8} {importlib.import_module(f'scripts.bench_{name}').SUMMARY}")
        return 0 if argv else 2
    if argv[0] not in BENCHMARKS:
        print(USAGE, file=sys.stderr)
        print(f"scripts/bench: unknown benchmark {argv[0]!r}", file=sys.stderr)
        return 2
    module = importlib.import_module(f"scripts.bench_{argv[0]}")
    return int(module.main(argv[1:]))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
