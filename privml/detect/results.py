"""What a scan returns: per column the detected type, the proposed role and action, and why.

Plain data below everything else in privml.detect that reads it (`risk` refines it, `scan` builds it,
`policy` turns it into a policy), so those modules import it and not each other.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from privml.policy import Role

__all__ = ["ColumnScan", "ScanResult"]


@dataclass(frozen=True)
class ColumnScan:
    name: str
    pii_type: str | None
    confidence: float
    role: Role
    action: str
    params: dict[str, Any] = field(default_factory=dict)
    hierarchy: dict[str, Any] | None = None
    example: str = ""  # masked to the value's shape; never a raw value
    evidence: str = ""  # counts and shares; never a value
    numeric: bool = False  # every sampled value is a number (a DP model then needs the column's bounds)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["role"] = self.role.value
        return out


@dataclass(frozen=True)
class ScanResult:
    columns: list[ColumnScan]
    rows_total: int
    rows_sampled: int
    seed: int

    def column(self, name: str) -> ColumnScan:
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(name)

    def with_role(self, role: Role) -> list[ColumnScan]:
        return [c for c in self.columns if c.role is role]

    @property
    def identifiers(self) -> list[str]:
        return [c.name for c in self.with_role(Role.IDENTIFIER)]

    @property
    def quasi_identifiers(self) -> list[str]:
        return [c.name for c in self.with_role(Role.QUASI_IDENTIFIER)]

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows_total": self.rows_total,
            "rows_sampled": self.rows_sampled,
            "seed": self.seed,
            "columns": [c.to_dict() for c in self.columns],
        }

    def to_text(self) -> str:
        """A table for a terminal: one line per column."""
        head = ("column", "pii type", "conf", "role", "action", "example")
        rows = [head] + [
            (c.name, c.pii_type or "-", f"{c.confidence:.2f}", c.role.value, _action_text(c), c.example)
            for c in self.columns
        ]
        widths = [max(len(r[i]) for r in rows) for i in range(len(head) - 1)]
        lines = ["  ".join(cell.ljust(w) for cell, w in zip(r[:-1], widths, strict=True)) + "  " + r[-1]
                 for r in rows]
        lines.append(f"({self.rows_sampled} of {self.rows_total} rows sampled, seed {self.seed})")
        return "\n".join(lines)


def _action_text(col: ColumnScan) -> str:
    if not col.params:
        return col.action
    return f"{col.action}(" + ", ".join(f"{k}={v}" for k, v in col.params.items()) + ")"
