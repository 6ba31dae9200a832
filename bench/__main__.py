"""`python -m bench`: run every benchmark (bench/bench_*.py), print one Markdown table of their figures.

Each benchmark runs as its own subprocess (so one's imports, threads and memory do not colour the next)
and prints, besides its human-readable report, one machine-readable line per figure:

    RESULT {"benchmark": ..., "figure": ..., "value": ..., "unit": ..., "anchor": ..., "ratio": ...}

This collects those lines into one table (figure, measured value, anchor, ratio), prints it, and writes it
to bench/out/results.md. A benchmark's own output goes to stderr as it runs.

    python -m bench                      # full sizes (several minutes)
    python -m bench --quick              # smaller sizes where a benchmark supports them
    python -m bench --only crypto,transform
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
OUT = BENCH / "out" / "results.md"
PREFIX = "RESULT "

# Arguments for --quick, per benchmark (the part of the file name after bench_); others run as they are.
QUICK_ARGS: dict[str, list[str]] = {
    "anonymity": ["--repeat", "1"],
    "compiled_model": ["--repeat", "2", "--no-endpoint-model"],
    "crypto": ["--quick", "--runs", "2", "--file-runs", "1"],
    "endpoint": ["--duration", "2", "--connections", "1,32", "--sigv4-connections", "32"],
    "ping": ["--duration", "4"],
    "privacy_utility": ["--dp-seeds", "2", "--model-seeds", "1"],
    # 10M with Spark against it (and 50M with `--slow`, by hand) only in the full run
    "scale": ["--rows", "200000,1000000", "--spark-rows", "0"],
    "scale_spark": ["--rows", "200000", "--files", "2"],
    "scan": ["--rows", "200000", "--transform-rows", "200000"],
    "transform": ["--rows", "200000"],
}


# Arguments for the full run where a benchmark's own defaults are not what it should measure here:
# bench_scale compares Spark with the streaming process at 10M, so bench_scale_spark's own comparison
# (with the in-memory engine, which holds the whole table) runs at 1M.
FULL_ARGS: dict[str, list[str]] = {
    "scale_spark": ["--rows", "1000000", "--files", "4"],
}


@dataclass
class Outcome:
    name: str
    command: list[str]
    seconds: float = 0.0
    returncode: int = 0
    results: list[dict] = field(default_factory=list)
    malformed: int = 0


def discover() -> list[str]:
    return sorted(p.stem.removeprefix("bench_") for p in BENCH.glob("bench_*.py"))


def run_one(name: str, quick: bool) -> Outcome:
    command = [sys.executable, str(BENCH / f"bench_{name}.py"), *(QUICK_ARGS if quick else FULL_ARGS).get(name, [])]
    outcome = Outcome(name, command)
    env = dict(os.environ)
    # benchmarks import the repository's packages (and tests' model factory) whatever the cwd
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    print(f"\n=== {name}: {' '.join(Path(c).name if i < 2 else c for i, c in enumerate(command))}",
          file=sys.stderr, flush=True)
    t0 = time.perf_counter()
    with subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, text=True, bufsize=1) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith(PREFIX):
                try:
                    outcome.results.append(json.loads(line[len(PREFIX):]))
                except ValueError:
                    outcome.malformed += 1
            else:
                sys.stderr.write(line)
                sys.stderr.flush()
    outcome.returncode = proc.returncode
    outcome.seconds = time.perf_counter() - t0
    return outcome


def _cell(value: object) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        if abs(value) >= 1000:
            return f"{value:,.0f}"
        return f"{value:.3g}" if abs(value) < 10 else f"{value:.2f}".rstrip("0").rstrip(".")
    if isinstance(value, int):
        return f"{value:,}"
    return str(value).replace("|", "\\|")


def table(outcomes: list[Outcome], quick: bool) -> str:
    command = "python -m bench" + (" --quick" if quick else "")
    lines = [
        f"Measured {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')} with `{command}`"
        f" on {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}.",
        "",
        "| benchmark | figure | measured | anchor | ratio |",
        "| --- | --- | ---: | --- | ---: |",
    ]
    for o in outcomes:
        for r in o.results:
            unit = r.get("unit") or ""
            measured = f"{_cell(r.get('value'))} {unit}".strip()
            lines.append(f"| {_cell(r.get('benchmark', o.name))} | {_cell(r.get('figure'))} | {measured} "
                         f"| {_cell(r.get('anchor'))} | {_cell(r.get('ratio'))} |")
        if o.returncode != 0:
            lines.append(f"| {o.name} | **failed** (exit {o.returncode}; see its output) | — | — | — |")
        elif not o.results:
            lines.append(f"| {o.name} | **no figures reported** | — | — | — |")
    lines += ["", "Ratio = measured / anchor; the anchor says whether higher (>=) or lower (<=) is the target.",
              "Run time per benchmark: " + ", ".join(f"{o.name} {o.seconds:.0f} s" for o in outcomes) + "."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes where a benchmark supports them")
    parser.add_argument("--only", help="comma-separated benchmarks to run (default: all): " + ", ".join(discover()))
    parser.add_argument("--out", type=Path, default=OUT, help=f"where to write the table (default {OUT})")
    args = parser.parse_args(argv)
    names = discover()
    if args.only:
        chosen = [n.strip().removeprefix("bench_") for n in args.only.split(",") if n.strip()]
        unknown = [n for n in chosen if n not in names]
        if unknown:
            parser.error(f"unknown benchmark(s): {', '.join(unknown)} (known: {', '.join(names)})")
        names = chosen
    outcomes = [run_one(name, args.quick) for name in names]
    text = table(outcomes, args.quick)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_name(args.out.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(args.out)
    print(text)
    print(f"written to {args.out}", file=sys.stderr)
    failed = [o.name for o in outcomes if o.returncode != 0 or o.malformed]
    if failed:
        print(f"failed or malformed output: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
