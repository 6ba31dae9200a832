"""`privml risk FILE --quasi a,b,c [--sensitive s] [--population FILE] [--json]`: measure a table.

Prints k, l, t (with a sensitive attribute), prosecutor risk, sample uniqueness, the share of records
above the risk threshold, and journalist risk when a population table is given. Values from the
table are never printed: only counts and ratios.
"""

from __future__ import annotations

import argparse
from typing import Any

from privml.cli.numbers import percent, sig3
from privml.cli.output import add_json_flag, emit_json, print_privacy_warnings
from privml.errors import PrivmlError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("risk", help="measure re-identification risk (k, l, t, prosecutor, journalist) of a table")
    p.add_argument("file")
    p.add_argument("--quasi", required=True, help="comma-separated quasi-identifier columns")
    p.add_argument("--sensitive", help="comma-separated sensitive columns (for l-diversity and t-closeness)")
    p.add_argument("--population", help="population table with the same quasi-identifier columns (journalist risk)")
    p.add_argument("--threshold", type=float, default=0.2,
                   help="a record whose risk exceeds this counts as at risk (default 0.2)")
    p.add_argument("--distance", choices=["equal", "ordered"], default="equal",
                   help="t-closeness distance (default equal)")
    p.add_argument("--sep", help="CSV delimiter (default: detected)")
    add_json_flag(p)
    p.set_defaults(func=cmd_risk)


def _columns(text: str | None) -> list[str]:
    return [c.strip() for c in text.split(",") if c.strip()] if text else []


def measure_table(df: Any, quasi: list[str], sensitive: list[str], *, threshold: float = 0.2,
                  distance: str = "equal", population: Any = None) -> dict[str, Any]:
    import numpy as np

    from privml.anonymity import risk as risk_mod
    from privml.anonymity.models import SensitiveColumn, measure
    from privml.report.verdicts import warnings_json

    for col in [*quasi, *sensitive]:
        if col not in df.columns:
            raise PrivmlError(f"column {col}: not in the table")
    if not 0 < threshold <= 1:
        raise PrivmlError("--threshold must be in (0, 1]")
    ids, n_classes = risk_mod.class_ids_of(df, quasi)
    sizes = np.bincount(ids, minlength=n_classes)
    cols = [SensitiveColumn.encode(s, df[s]) for s in sensitive]
    result: dict[str, Any] = {"rows": len(df), "quasi_identifiers": quasi, "sensitive_attributes": sensitive}
    result.update(measure(ids, n_classes, cols, distance).as_dict())
    result["risk"] = risk_mod.prosecutor(sizes, threshold)
    if population is not None:
        for col in quasi:
            if col not in population.columns:
                raise PrivmlError(f"column {col}: not in the population table")
        result["risk"].update(risk_mod.journalist(risk_mod.row_keys(df, quasi),
                                                  risk_mod.row_keys(population, quasi), threshold))
    result["class_sizes"] = risk_mod.size_histogram(sizes)
    result["warnings"] = warnings_json(result)
    return result


def cmd_risk(args: argparse.Namespace) -> int:
    from privml.io import read_table

    quasi = _columns(args.quasi)
    if not quasi:
        raise PrivmlError("--quasi needs at least one column")
    sensitive = _columns(args.sensitive)
    df = read_table(args.file, sep=args.sep)
    population = read_table(args.population, sep=args.sep) if args.population else None
    for col in [*quasi, *sensitive]:
        if col in df.columns and df[col].isna().any():
            df[col] = df[col].fillna("")
    result = measure_table(df, quasi, sensitive, threshold=args.threshold, distance=args.distance,
                           population=population)
    if args.json:
        emit_json(result)
        return 0
    r = result["risk"]
    lines = [
        f"rows: {result['rows']}   equivalence classes: {r['classes']}",
        f"k-anonymity: k = {result['k']}",
    ]
    if sensitive:
        lines.append(f"l-diversity: distinct l = {result['l']}, entropy l = {sig3(result['l_entropy'])}")
        lines.append(f"t-closeness ({args.distance} distance): t = {sig3(result['t'])}")
    lines += [
        f"prosecutor risk: highest {percent(r['prosecutor_max'])}, average {percent(r['prosecutor_avg'])}",
        f"sample uniqueness: {percent(r['sample_uniqueness'])} of records",
        f"records above risk {percent(r['threshold'])}: {percent(r['records_above_threshold'])}",
    ]
    if "journalist_max" in r:
        lines.append(
            f"journalist risk: highest {percent(r['journalist_max'])}, average {percent(r['journalist_avg'])}, "
            f"records above threshold {percent(r['journalist_records_above_threshold'])}"
        )
    print("\n".join(lines))
    print_privacy_warnings(result["warnings"])
    return 0
