"""``python -m benchmarks [name ...]`` (``make bench``): run the benchmark modules, write the figures.

Every ``benchmarks/bench_*.py`` module defines ``run() -> list[dict]``; each dict is one row with
at least ``benchmark``, ``measured``, ``target`` and ``ok`` keys. Results are printed as Markdown
tables and written to ``docs/performance.md``, the one page that holds benchmark figures (the
other pages link to it). A run of some modules (``python -m benchmarks loader``) replaces only
their sections and keeps the others. Targets are reported, not asserted: a machine under load
must not turn CI red.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import platform
import re
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
#: The page ``make bench`` writes.
PAGE = HERE.parent / "docs" / "performance.md"

_INTRO = """# Performance

Written by `make bench` (`python -m benchmarks`); do not edit by hand, the next run replaces it.
`python -m benchmarks NAME` (e.g. `loader`, `pdfs`, `sandbox`) runs some benchmarks and replaces
only their sections. Each benchmark measures its baseline in the same run and reports a ratio;
targets are reported, never asserted in tests (a machine under load must not turn CI red).
The sandbox runs in its own process where a benchmark talks to it, so it does not share the
client's GIL.
"""
_MARK = re.compile(r"^<!-- section: (\S+) -->$", re.MULTILINE)


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


def _machine() -> str:
    return f"{os.cpu_count()} CPUs, {platform.system()} {platform.machine()}, Python {platform.python_version()}"


def section(name: str, rows: list[dict], elapsed_s: float, doc: str | None) -> str:
    """One module's section of the page: what it measures, when and where, the table."""
    short = name.removeprefix("bench_")
    about = (doc or "").strip().splitlines()[0] if (doc or "").strip() else ""
    measured_on = time.strftime("%Y-%m-%d", time.gmtime())  # evidence: when it was measured
    return (
        f"<!-- section: {name} -->\n"
        f"## {short}\n\n"
        + (f"{about}\n\n" if about else "")
        + f"Measured {measured_on} with `python -m benchmarks {short}` ({elapsed_s:.1f} s; "
        f"{_machine()}).\n\n{_table(rows)}\n"
    )


def merge(page: str, sections: dict[str, str]) -> str:
    """``page`` with the named sections replaced (or added), the others kept, in name order."""
    kept: dict[str, str] = {}
    parts = _MARK.split(page)
    for i in range(1, len(parts) - 1, 2):
        kept[parts[i]] = f"<!-- section: {parts[i]} -->" + parts[i + 1].rstrip("\n") + "\n"
    kept.update(sections)
    body = "\n".join(kept[k].rstrip("\n") + "\n" for k in sorted(kept))
    return _INTRO + "\n" + body


def main(argv: list[str]) -> int:
    from invoicekit._files import write_text

    names = _modules(argv)
    if not names:
        print(f"no benchmark matches {argv}; known: {', '.join(_modules([]))}", file=sys.stderr)
        return 2
    sections: dict[str, str] = {}
    for name in names:
        module = importlib.import_module(f"benchmarks.{name}")
        t0 = time.perf_counter()
        print(f"== {name} ...", flush=True)
        rows = module.run()
        sections[name] = section(name, rows, time.perf_counter() - t0, module.__doc__)
        print(sections[name], flush=True)
    old = PAGE.read_text(encoding="utf-8") if PAGE.exists() else ""
    write_text(PAGE, merge(old, sections))
    print(f"written: {PAGE}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
