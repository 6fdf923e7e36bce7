"""``python -m benchmarks [name ...]`` (``make bench``): run the benchmark modules, print tables.

Every ``benchmarks/bench_*.py`` module defines ``run() -> list[dict]``; each dict is one row with
at least ``benchmark``, ``measured``, ``target`` and ``ok`` keys. Results are printed as a
Markdown table and written to ``benchmarks/results/latest.md`` for the closing notes. Targets are
reported, not asserted: a machine under load must not turn CI red.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _modules(selected: list[str]) -> list[str]:
    names = sorted(m.name for m in pkgutil.iter_modules([str(HERE)]) if m.name.startswith("bench_"))
    if selected:
        names = [n for n in names if any(s in n for s in selected)]
    return names


def _table(rows: list[dict]) -> str:
    keys = ["benchmark", "measured", "target", "ok"]
    extra = sorted({k for r in rows for k in r} - set(keys))
    keys += extra
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    for r in rows:
        lines.append("| " + " | ".join(str(r.get(k, "")) for k in keys) + " |")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    out = [f"# invoicekit benchmarks ({time.strftime('%Y-%m-%d %H:%M:%S')})", ""]
    for name in _modules(argv):
        module = importlib.import_module(f"benchmarks.{name}")
        t0 = time.perf_counter()
        print(f"== {name} ...", flush=True)
        rows = module.run()
        section = f"## {name} ({time.perf_counter() - t0:.1f} s)\n\n{_table(rows)}\n"
        print(section, flush=True)
        out.append(section)
    results = HERE / "results"
    results.mkdir(exist_ok=True)
    (results / "latest.md").write_text("\n".join(out))
    print(f"written: {results / 'latest.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
