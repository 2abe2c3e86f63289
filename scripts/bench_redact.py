"""`scripts/bench redact`: what redaction costs and how well it works.

- a mebibyte of hostile input per rule (tests/fixtures/adversarial.py), one line each;
- the cost per event of typical events (a command line, a note, an output sample, a diff);
- precision and recall on the labelled corpus (tests/fixtures/secrets_corpus.py);
- the same for detect-secrets, when it is installed, as the library we measured before
  writing our own rules.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a file: the repository root is what `scripts.` needs
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from prtrace_core.redact import Redactor
from scripts.bench_common import bench_parser, command_line, machine, publish, today
from tests.fixtures.adversarial import ADVERSARIAL, adversarial, every_rule, repeated
from tests.fixtures.secrets_corpus import LOOKALIKES, SECRETS

__all__ = ["bench_redact", "corpus_scores", "main", "redact_section"]

SUMMARY = "redaction: hostile megabytes per rule, cost per event, corpus precision and recall"

MIB = 1 << 20

_DIFF = "".join(
    f"@@ -{i},3 +{i},3 @@\n context line {i}\n-    value = compute(x, {i})\n+    value = compute(x, {i} + 1)\n"
    for i in range(1, 200, 4)
)
TYPICAL: dict[str, str] = {
    "command line (80 B)": "pytest tests/test_parser.py -k 'token and not slow' -x --maxfail=1 -q",
    "note (120 B)": "tried the retry with backoff; the flaky test is the session timeout, not the parser",
    "output sample (4 KiB)": ("collected 42 items\n" + "tests/test_parser.py ........ [ 19%]\n" * 110)[:4096],
    "diff (8 KiB)": _DIFF[:8192],
}


def _median_s(action: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def corpus_scores(redact: Callable[[str], str]) -> dict[str, Any]:
    """Recall: secrets gone without a byte left. Precision: of the records changed, the share
    that held a secret (a look-alike changed is a false alarm)."""
    caught = [r.id for r in SECRETS if not any(s in redact(r.text) for s in r.secrets)]
    damaged = [r.id for r in LOOKALIKES if redact(r.text) != r.text]
    tp, fp = len(caught), len(damaged)
    return {
        "secrets": len(SECRETS), "lookalikes": len(LOOKALIKES), "caught": tp, "damaged": fp,
        "recall": tp / len(SECRETS), "precision": tp / (tp + fp) if tp + fp else 1.0,
        "missed_ids": sorted({r.id for r in SECRETS} - set(caught)), "damaged_ids": damaged,
    }


def _detect_secrets() -> Callable[[str], str] | None:
    """detect-secrets as a redactor: every value its default plugins report, removed."""
    try:
        from detect_secrets.core.scan import scan_line
        from detect_secrets.settings import default_settings
    except ImportError:
        return None

    def redact(text: str) -> str:
        with default_settings():
            for line in text.splitlines():
                for found in scan_line(line):
                    if found.secret_value and len(found.secret_value) >= 4:
                        text = text.replace(found.secret_value, "[REDACTED]")
        return text

    return redact


def bench_redact(runs: int = 5) -> dict[str, Any]:
    redactor = Redactor()
    inputs = {rule: adversarial(rule, MIB) for rule in ADVERSARIAL}
    hostile = {rule: _median_s(lambda t=text: redactor.text(t), max(1, runs // 2)) for rule, text in inputs.items()}
    prefixes = {name: repeated(unit, MIB) for name, unit in every_rule().items() if name not in ADVERSARIAL}
    slowest = max(prefixes, key=lambda name: _median_s(lambda t=prefixes[name]: redactor.text(t), 1))
    hostile[f"every other keyword ({len(prefixes)}), slowest: {slowest}"] = _median_s(
        lambda t=prefixes[slowest]: redactor.text(t), max(1, runs // 2))
    typical = {name: _median_s(lambda t=text: [redactor.text(t) for _ in range(200)], runs) / 200
               for name, text in TYPICAL.items()}
    result: dict[str, Any] = {"hostile_s": hostile, "typical_s": typical, "ours": corpus_scores(redactor.text)}
    if (other := _detect_secrets()) is not None:
        result["detect_secrets"] = corpus_scores(other)
        result["detect_secrets_typical_s"] = {
            name: _median_s(lambda t=text: [other(t) for _ in range(20)], max(1, runs // 2)) / 20
            for name, text in TYPICAL.items()
        }
    return result


def redact_section(r: dict[str, Any], command: str, machine: str, date: str) -> str:
    ours = r["ours"]
    lines = [
        f"Command: `{command}`  ",
        f"Machine: {machine}  ",
        f"Date: {date}",
        "",
        "A mebibyte of hostile input on one line, per rule (the unit each rule looks for, repeated;",
        "tests/fixtures/adversarial.py). A pattern that backtracked would take minutes here.",
        "",
        "| input (1 MiB) | redaction |",
        "|---|---:|",
        *(f"| `{rule}` | {seconds * 1000:.0f} ms |" for rule, seconds in
          sorted(r["hostile_s"].items(), key=lambda kv: -kv[1])),
        "",
        "Cost per event, typical events (median of 200 in a row):",
        "",
        "| event | prtrace rules | detect-secrets |",
        "|---|---:|---:|",
    ]
    theirs = r.get("detect_secrets_typical_s", {})
    for name, seconds in r["typical_s"].items():
        other = f"{theirs[name] * 1e6:,.0f} µs" if name in theirs else "not installed"
        lines.append(f"| {name} | {seconds * 1e6:,.0f} µs | {other} |")
    lines += [
        "",
        f"Labelled corpus (tests/fixtures/secrets_corpus.py): {ours['secrets']} secrets, {ours['lookalikes']} look-alikes.",
        "",
        "| redactor | recall | precision | secrets missed | look-alikes changed |",
        "|---|---:|---:|---:|---:|",
        f"| prtrace rules | {ours['recall']:.1%} | {ours['precision']:.1%} | {ours['secrets'] - ours['caught']} | "
        f"{ours['damaged']} |",
    ]
    if "detect_secrets" in r:
        ds = r["detect_secrets"]
        lines.append(f"| detect-secrets (default plugins) | {ds['recall']:.1%} | {ds['precision']:.1%} | "
                     f"{ds['secrets'] - ds['caught']} | {ds['damaged']} |")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    parser = bench_parser("redact", SUMMARY)
    parser.add_argument("--runs", type=int, default=5, help="runs per figure (the median is kept)")
    options = parser.parse_args(argv)
    section = redact_section(bench_redact(options.runs), command_line("redact", argv), machine(), today())
    publish("Redaction", section, no_write=options.no_write)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
