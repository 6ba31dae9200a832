"""AnonymityEngine: the policy's `anonymity:` targets applied to the quasi-identifiers of a table.

    engine = AnonymityEngine(config)         # an AnonymityConfig (privml.policy.engine_config builds it)
    released = engine.fit_transform(df)      # suppressed rows dropped, index preserved
    engine.transform(new_rows)               # same levels / same Mondrian boxes, never an error
    engine.row_router()                      # the same, one row of plain cells at a time
    engine.report()                          # k, l, t, risk before/after, utility, transformation
    AnonymityEngine.from_state(engine.get_state())   # plain JSON-able data, no code

`fit` raises CheckFailed when the targets cannot be met, PrivmlError for bad input (a value missing
from a hierarchy, an uneven hierarchy, k larger than the table). Messages name columns, never values.
"""

from __future__ import annotations

import math
from dataclasses import asdict
from typing import Any

import numpy as np
import pandas as pd

from privml.anonymity import missing as missing_cells
from privml.anonymity import risk as risk_mod
from privml.anonymity.axes import (
    box_label,
    cooccurrence_order,
    days_since_epoch,
    profile_codes,
)
from privml.anonymity.config import AnonymityConfig
from privml.anonymity.encoding import EncodedTable, group_ids
from privml.anonymity.hierarchy import ROOT, Hierarchy, data_row, leaf_index, load_hierarchy
from privml.anonymity.histogram import TupleHistogram, search_histogram
from privml.anonymity.labels import PartitionLabels
from privml.anonymity.lattice import SearchResult, search
from privml.anonymity.metrics import LossMetric, Metric, make_metric
from privml.anonymity.models import (
    Constraints,
    SensitiveColumn,
    classes_ok,
    distinct_l,
    entropy_l,
    measure,
    recursive_cl_ok,
)
from privml.anonymity.mondrian import MondrianTree, mondrian, ncp
from privml.anonymity.rows import RowRouter, mondrian_router, recoding_router
from privml.anonymity.utility import average_class_size, discernibility, hierarchy_ncp
from privml.errors import CheckFailed, PrivmlError

STATE_VERSION = 1


class AnonymityEngine:
    def __init__(self, config: AnonymityConfig) -> None:
        self.config = config
        self.hierarchies_: dict[str, Hierarchy] = {}
        self.levels_: dict[str, int] = {}
        self.tree_: MondrianTree | None = None
        self.axes_: dict[str, dict[str, Any]] = {}
        self.labels_ = PartitionLabels.from_state(None)
        self.suppressed_index_: list[Any] = []
        self.report_: dict[str, Any] = {}

    # -- properties of the config ------------------------------------------------------------------
    @property
    def quasi_identifiers(self) -> list[str]:
        return list(self.config.quasi_identifiers)

    @property
    def sensitive(self) -> list[str]:
        return list(self.config.sensitive)

    def constraints(self) -> Constraints:
        config = self.config
        k = int(config.k)
        if config.max_risk:
            k = max(k, math.ceil(1.0 / float(config.max_risk) - 1e-9))
        diversity, closeness = config.l_diversity, config.t_closeness
        return Constraints(
            k=k,
            l_kind=diversity.kind if diversity else None,
            l=float(diversity.l) if diversity else 1.0,
            c=diversity.c if diversity else None,
            t=float(closeness.t) if closeness else None,
            t_distance=closeness.distance if closeness else "equal",
            sensitive=tuple(self.sensitive),
        )

    # -- fit ---------------------------------------------------------------------------------------
    def fit(self, df: pd.DataFrame) -> AnonymityEngine:
        self._fit(df)
        return self

    def fit_transform(self, df: pd.DataFrame) -> pd.DataFrame:
        """The generalized training rows without the suppressed ones (index preserved)."""
        return self._fit(df)

    def _fit(self, df: pd.DataFrame) -> pd.DataFrame:
        qis, sens = self.quasi_identifiers, self.sensitive
        for col in [*qis, *sens]:
            if col not in df.columns:
                raise PrivmlError(f"column {col}: listed in the policy but not in the table")
        if not qis:
            raise PrivmlError("anonymity: the policy lists no quasi_identifier columns")
        constraints = self.constraints()
        if constraints.needs_sensitive and not sens:
            raise PrivmlError("anonymity: l-diversity and t-closeness need a column with role 'sensitive'")
        n = len(df)
        if constraints.k > n:
            raise PrivmlError(f"anonymity: k={constraints.k} is larger than the table ({n} rows)")
        # under `missing: value` a missing quasi-identifier is its own value (privml.anonymity.missing)
        for col in [*([] if missing_cells.as_value(self.config) else qis), *sens]:
            missing = df[col].isna().to_numpy()
            if missing.any():
                row = data_row(df[col], int(np.flatnonzero(missing)[0]))
                raise PrivmlError(f"column {col}: data row {row} is empty")
        sensitive = [SensitiveColumn.encode(s, df[s]) for s in sens]
        threshold = float(self.config.risk_threshold)
        before_ids, before_n = risk_mod.class_ids_of(df, qis)
        before_sizes = np.bincount(before_ids, minlength=before_n)
        if self.config.algorithm == "global_recoding":
            suppressed, utility, transformation = self._fit_global(df, constraints, sensitive)
        else:
            suppressed, utility, transformation = self._fit_mondrian(df, constraints, sensitive)
        self.suppressed_index_ = [_plain(v) for v in df.index[suppressed]]
        released = self.transform(df).loc[~suppressed]
        ids, n_classes = risk_mod.class_ids_of(released, qis)
        sizes = np.bincount(ids, minlength=n_classes)
        kept_sensitive = [s.subset(np.flatnonzero(~suppressed)) for s in sensitive]
        achieved = measure(ids, n_classes, kept_sensitive, constraints.t_distance)
        after = risk_mod.prosecutor(sizes, threshold)
        before = risk_mod.prosecutor(before_sizes, threshold)
        if self.config.population:
            population = self._population()
            after.update(risk_mod.journalist(risk_mod.row_keys(released, qis),
                                             risk_mod.row_keys(self.transform(population), qis), threshold))
            before.update(risk_mod.journalist(risk_mod.row_keys(df, qis), risk_mod.row_keys(population, qis),
                                              threshold))
        self.record_fit(constraints, n, int(suppressed.sum()), sizes, before_sizes, achieved, after, before,
                        utility, transformation)
        return released

    def record_fit(self, constraints: Constraints, n: int, suppressed: int, sizes: np.ndarray,
                   before_sizes: np.ndarray, achieved: Any, after: dict[str, Any], before: dict[str, Any],
                   utility: dict[str, Any], transformation: dict[str, Any]) -> None:
        """Check max_risk and write the report, from the released classes' sizes and the figures
        measured on them: every fit ends here (in memory, on a histogram, on Spark), so the report
        has one shape whichever engine fitted."""
        if self.config.max_risk and after["prosecutor_max"] > float(self.config.max_risk) + 1e-12:
            raise CheckFailed(
                f"anonymity: highest prosecutor risk {after['prosecutor_max']:.4g} exceeds max_risk "
                f"{self.config.max_risk}"
            )
        self.report_ = {
            "algorithm": self.config.algorithm,
            "rows_in": n,
            "rows_out": n - suppressed,
            "suppressed_rows": suppressed,
            "quasi_identifiers": self.quasi_identifiers,
            "sensitive_attributes": self.sensitive,
            **achieved.as_dict(),
            "targets": self.targets(constraints),
            "risk": after,
            "risk_before": before,
            "utility": {
                **utility,
                "discernibility": discernibility(sizes, suppressed, n),
                "avg_class_size": average_class_size(sizes),
                "classes": len(sizes),
            },
            "transformation": transformation,
            "class_sizes": risk_mod.size_histogram(sizes),
            "class_sizes_before": risk_mod.size_histogram(before_sizes),
        }

    def fit_histogram(self, histogram: TupleHistogram) -> np.ndarray:
        """The engine fitted on a tuple histogram (`privml.anonymity.histogram`) instead of rows: the
        same levels and hierarchies (global recoding) or axes, cuts and labels (Mondrian), and the same
        report, as `fit` on the rows it counts. Returns which histogram lines the fit suppressed;
        `suppressed_index_` is left to the caller, who knows the rows."""
        if self.config.population:
            raise PrivmlError("anonymity: journalist risk against a population table needs the in-memory engine")
        qis = self.quasi_identifiers
        if histogram.quasi_identifiers != qis or histogram.sensitive != self.sensitive:
            raise PrivmlError("anonymity: the histogram's columns are not the policy's")
        constraints = self.constraints()
        if constraints.needs_sensitive and not self.sensitive:
            raise PrivmlError("anonymity: l-diversity and t-closeness need a column with role 'sensitive'")
        n = histogram.n_rows
        if constraints.k > n:
            raise PrivmlError(f"anonymity: k={constraints.k} is larger than the table ({n} rows)")
        if self.config.algorithm == "mondrian":
            return self._fit_mondrian_histogram(histogram, constraints)
        found = search_histogram(histogram, self.config, constraints)
        if found is None:
            raise CheckFailed(unmet_message(constraints, float(self.config.max_suppression),
                                            "no generalization of the quasi-identifiers"))
        self.hierarchies_ = found.hierarchies
        suppressed, utility, transformation = self._recoded(found.table, found.metric, found.result)
        threshold = float(self.config.risk_threshold)
        d = len(qis)
        _, before_ids = np.unique(histogram.codes[:, :d], axis=0, return_inverse=True)
        before_sizes = np.bincount(before_ids.ravel(), weights=histogram.counts).astype(np.int64)
        kept = np.flatnonzero(~suppressed)
        levels = found.table.levels
        generalized = [levels[j].maps[int(found.result.node[j])][found.table.codes[kept, j]] for j in range(d)]
        ids, n_classes = group_ids(generalized, [lm.cardinality(int(found.result.node[j]))
                                                 for j, lm in enumerate(levels)])
        kept_weights = histogram.counts[kept]
        sizes = np.bincount(ids, weights=kept_weights, minlength=n_classes).astype(np.int64)
        achieved = measure(ids, n_classes, [s.subset(kept) for s in found.sensitive], constraints.t_distance,
                           weights=kept_weights)
        self.record_fit(constraints, n, int(histogram.counts[suppressed].sum()), sizes, before_sizes, achieved,
                        risk_mod.prosecutor(sizes, threshold), risk_mod.prosecutor(before_sizes, threshold),
                        utility, transformation)
        return suppressed

    def _fit_mondrian_histogram(self, histogram: TupleHistogram, constraints: Constraints) -> np.ndarray:
        qis, d = self.quasi_identifiers, len(self.quasi_identifiers)
        lines = pd.DataFrame({c: pd.Series(histogram.values[c][histogram.codes[:, j]], dtype="str")
                              for j, c in enumerate(histogram.columns)})
        as_value = missing_cells.as_value(self.config)
        for col in [*([] if as_value else qis), *self.sensitive]:
            if lines[col].isna().any():
                raise PrivmlError(f"column {col}: a data row is empty")
        counts = histogram.counts
        sensitive = [SensitiveColumn.encode(s, lines[s], weights=counts) for s in self.sensitive]
        _, utility, transformation = self._fit_mondrian(lines, constraints, sensitive, counts)
        # the released classes: partitions whose boxes have the same labels are one class, as on rows
        x = np.column_stack([missing_cells.positions(self.axes_[c], lines[c], strict=True) for c in qis])
        partition = self.tree_.route(x) if self.tree_ is not None else np.zeros(len(lines), dtype=np.int64)
        # labels are distinct per column in PartitionLabels, so their codes say which boxes read alike
        class_of_partition, n_classes = group_ids([self.labels_.codes[:, j].astype(np.int64) for j in range(d)],
                                                  [len(self.labels_.values[j]) for j in range(d)])
        ids = class_of_partition[partition]
        sizes = np.bincount(ids, weights=counts, minlength=n_classes).astype(np.int64)
        _, before_ids = np.unique(histogram.codes[:, :d], axis=0, return_inverse=True)
        before_sizes = np.bincount(before_ids.ravel(), weights=counts).astype(np.int64)
        achieved = measure(ids, n_classes, sensitive, constraints.t_distance, weights=counts)
        threshold = float(self.config.risk_threshold)
        self.record_fit(constraints, histogram.n_rows, 0, sizes, before_sizes, achieved,
                        risk_mod.prosecutor(sizes, threshold), risk_mod.prosecutor(before_sizes, threshold),
                        utility, transformation)
        return np.zeros(len(lines), dtype=bool)

    def _population(self) -> pd.DataFrame:
        from privml.io import read_table

        assert self.config.population is not None
        population = read_table(self.config.population)
        for col in self.quasi_identifiers:
            if col not in population.columns:
                raise PrivmlError(f"column {col}: not in the population table")
        return population[self.quasi_identifiers].fillna("")

    def targets(self, constraints: Constraints) -> dict[str, Any]:
        config = self.config
        return {
            "k": constraints.k,
            "l_diversity": asdict(config.l_diversity) if config.l_diversity else None,
            "t_closeness": asdict(config.t_closeness) if config.t_closeness else None,
            "max_suppression": config.max_suppression,
            "max_risk": config.max_risk,
            "metric": config.metric if config.algorithm == "global_recoding" else "ncp",
        }

    def _fit_global(self, df: pd.DataFrame, constraints: Constraints, sensitive: list[SensitiveColumn]):
        qis = self.quasi_identifiers
        specs = self.config.hierarchies
        self.hierarchies_ = {
            col: load_hierarchy(col, specs.get(col), df[col])
            for col in qis
        }
        if missing_cells.as_value(self.config):
            self.hierarchies_ = {c: missing_cells.with_missing_leaf(h, df[c]) for c, h in self.hierarchies_.items()}
            df = df.copy()
            for col in qis:
                df[col] = missing_cells.fill(df[col])
        table = EncodedTable.encode(df, self.hierarchies_)
        metric = make_metric(self.config.metric, table)
        max_supp = float(self.config.max_suppression)
        result = search(table, constraints, sensitive, max_supp, metric)
        if result is None:
            raise CheckFailed(unmet_message(constraints, max_supp, "no generalization of the quasi-identifiers"))
        return self._recoded(table, metric, result)

    def _recoded(self, table: EncodedTable, metric: Metric, result: SearchResult):
        """The fitted levels and the utility figures of the node the search chose."""
        qis = self.quasi_identifiers
        self.levels_ = {col: int(level) for col, level in zip(qis, result.node, strict=True)}
        suppressed = result.suppressed_rows
        if isinstance(metric, LossMetric):
            per_column = dict(zip(qis, metric.per_column(result.node, suppressed).tolist(), strict=True))
        else:
            column_losses = metric.per_column(result.node)
            per_column = dict(zip(qis, column_losses.tolist(), strict=True)) if column_losses is not None else {}
        col_ncp = hierarchy_ncp(table, result.node, suppressed)
        utility = {
            "metric": metric.name,
            "information_loss": float(result.loss),
            "per_column": per_column,
            "ncp": float(np.mean(list(col_ncp.values()))),
            "ncp_per_column": col_ncp,
            "lattice_nodes_checked": result.checked,
        }
        return suppressed, utility, dict(self.levels_)

    def _fit_mondrian(self, df: pd.DataFrame, constraints: Constraints, sensitive: list[SensitiveColumn],
                      weights: np.ndarray | None = None):
        """`weights`: the rows each line of `df` stands for (a tuple histogram's lines, in first-appearance
        order, with `sensitive` weighted alike): the same axes, cuts and figures as on those rows."""
        qis = self.quasi_identifiers
        self.axes_ = self.axes_for(df[qis], weights)
        x = np.column_stack([missing_cells.positions(self.axes_[col], df[col], strict=True) for col in qis])
        n = len(df) if weights is None else int(weights.sum())
        root_ok = classes_ok(np.zeros(len(df), dtype=np.int64), 1, np.array([n]), constraints, sensitive)
        if not root_ok[0]:
            raise CheckFailed(whole_table_message(constraints, sensitive))
        if any("missing" in self.axes_[col] for col in qis):
            result = missing_cells.mondrian_regions(x, [self.axes_[c] for c in qis], constraints, sensitive, weights)
        else:
            result = mondrian(x, constraints, sensitive, weights)
        self.set_mondrian_boxes(self.axes_, result.tree, result.low, result.high)
        sizes = np.bincount(result.partition_of_row, weights=weights, minlength=result.n_partitions).astype(np.int64)
        spread = x.max(axis=0) - x.min(axis=0)
        spread = np.where(spread == 0, 1.0, spread)
        widths = (result.high - result.low) / spread
        per_column = {col: float(np.sum(widths[:, j] * sizes) / n) for j, col in enumerate(qis)}
        total = ncp(result.low, result.high, sizes, spread)
        utility = {"metric": "ncp", "information_loss": total, "ncp": total, "per_column": per_column,
                   "ncp_per_column": per_column}
        return np.zeros(len(df), dtype=bool), utility, {"algorithm": "mondrian", "partitions": result.n_partitions}

    def set_mondrian_boxes(self, axes: dict[str, dict[str, Any]], tree: MondrianTree, low: np.ndarray,
                           high: np.ndarray) -> None:
        """The fitted Mondrian state: the axes, the tree that routes a row to its partition, and each
        partition's label per quasi-identifier from its box (`low`, `high`: partitions x quasi-identifiers,
        in axis positions). A fit by another engine over the same axes (privml.spark) ends here too."""
        qis = self.quasi_identifiers
        self.axes_ = axes
        self.tree_ = tree
        columns = []
        for j, col in enumerate(qis):
            # many partitions share a box edge pair on one axis: each distinct pair is labelled once
            pairs, pair_of_partition = np.unique(np.column_stack([low[:, j], high[:, j]]), axis=0,
                                                 return_inverse=True)
            pair_labels = np.array([missing_cells.box_label(axes[col], lo, hi) or box_label(axes[col], lo, hi)
                                    for lo, hi in pairs], dtype=object)
            columns.append(pair_labels[pair_of_partition.ravel()])
        self.labels_ = PartitionLabels.from_columns(columns, len(low))

    def axes_for(self, df: pd.DataFrame, weights: np.ndarray | None = None) -> dict[str, dict[str, Any]]:
        """Every quasi-identifier's axis. A categorical axis without a hierarchy is ordered by how its
        categories co-occur with the OTHER quasi-identifiers (`cooccurrence_order`), never by the
        label or a sensitive column, so a median cut groups categories whose rows look alike."""
        as_value = missing_cells.as_value(self.config)
        axes = {col: self._axis_for(col, df[col].dropna() if as_value else df[col]) for col in df.columns}
        if as_value:  # each axis's missing position; the co-occurrence profiles see MISSING as one more value
            axes = {col: missing_cells.with_missing_position(axis, df[col]) for col, axis in axes.items()}
            df = pd.DataFrame({col: missing_cells.fill(df[col]) for col in df.columns}, index=df.index)
        free = [c for c, a in axes.items() if a["kind"] == "category" and "generalizations" not in a]
        if free and len(axes) > 1:
            profiles = {col: profile_codes(axes[col], df[col], weights) for col in df.columns}
            for col in free:
                others = [profiles[c] for c in df.columns if c != col]
                present = set(axes[col]["categories"])  # a missing cell is not a category
                axes[col]["categories"] = [c for c in cooccurrence_order(df[col], others, weights) if c in present]
        return axes

    def _axis_for(self, col: str, values: pd.Series) -> dict[str, Any]:
        """How a column becomes a Mondrian axis: numeric, or categories (hierarchy leaf order, else
        first appearance until `axes_for` reorders them)."""
        dtype = self.config.dtypes.get(col, "auto")
        spec = self.config.hierarchies.get(col)
        if dtype == "date" or (isinstance(spec, dict) and spec.get("type") == "date"):
            days = days_since_epoch(values)
            if np.isnan(days).any():
                row = data_row(values, int(np.flatnonzero(np.isnan(days))[0]))
                raise PrivmlError(f"column {col}: data row {row} is not a date")
            return {"kind": "date"}
        if dtype in ("numeric", "auto") and not isinstance(spec, str):
            parsed = pd.to_numeric(values, errors="coerce")
            if not parsed.isna().any():
                return {"kind": "numeric", "integer": bool((parsed == np.floor(parsed)).all())}
            if dtype == "numeric":
                row = data_row(values, int(np.flatnonzero(parsed.isna().to_numpy())[0]))
                raise PrivmlError(f"column {col}: data row {row} is not a number")
        if spec is not None:  # an ARX file or a built-in (e.g. postcode prefixes)
            hierarchy = load_hierarchy(col, spec, values)
            leaf_index(hierarchy, values, strict=True)
            present = set(values.astype(str))
            rows = [r for r in hierarchy.rows if r[0] in present]
            # a box over several categories is labelled with their lowest common generalization
            return {"kind": "category", "categories": [r[0] for r in rows], "generalizations": rows}
        else:
            categories = [str(v) for v in pd.unique(values.astype(str))]
        return {"kind": "category", "categories": categories}

    # -- transform ---------------------------------------------------------------------------------
    def transform(self, df: pd.DataFrame) -> pd.DataFrame:
        if not self.report_ and not self.levels_ and self.tree_ is None:
            raise PrivmlError("anonymity: the engine is not fitted")
        out = df.copy()
        qis = self.quasi_identifiers
        for col in qis:
            if col not in df.columns:
                raise PrivmlError(f"column {col}: quasi-identifier missing from the table")
        if self.config.algorithm == "global_recoding":
            for col in qis:
                out[col] = self._generalize(col, df[col])
            return out
        assert self.tree_ is not None
        x = np.column_stack([missing_cells.positions(self.axes_[col], df[col], strict=False) for col in qis]) \
            if len(df) else np.zeros((0, len(qis)))
        parts = self.tree_.route(x)
        for j, col in enumerate(qis):
            column = self.labels_.column(j, parts) if len(df) else np.array([], dtype=object)
            column = np.where(np.isnan(x[:, j]), ROOT, column) if len(df) else column
            out[col] = pd.Series(missing_cells.release(column), index=df.index, dtype=object)
        return out

    def _generalize(self, col: str, values: pd.Series) -> pd.Series:
        hierarchy = self.hierarchies_[col]
        level = self.levels_[col]
        has_missing_leaf = missing_cells.MISSING in hierarchy.leaves
        text = missing_cells.fill(values) if has_missing_leaf else values.astype(str)
        codes = leaf_index(hierarchy, text, strict=False)
        column = np.array([row[level] for row in hierarchy.rows], dtype=object)
        result = np.where(codes >= 0, column[np.maximum(codes, 0)], ROOT)
        unseen = np.flatnonzero(codes < 0)
        if len(unseen) and level > 0:
            for i in unseen:
                result[i] = hierarchy.generalize_unseen(text.iloc[i])[level - 1]
        return pd.Series(missing_cells.release(result) if has_missing_leaf else result, index=values.index,
                         dtype=object)

    def suppressed_labels(self) -> list[Any]:
        """The index labels of the rows the fit suppressed (left out of `fit_transform`'s release)."""
        return list(self.suppressed_index_)

    def row_router(self) -> RowRouter:
        """`transform` for one row of plain cells at a time (the quasi-identifiers' cells in
        `quasi_identifiers` order → their released cells), built from the fitted state; inputs it
        does not cover raise `privml.rowform.NotCompiled`."""
        if not self.report_ and not self.levels_ and self.tree_ is None:
            raise PrivmlError("anonymity: the engine is not fitted")
        qis = self.quasi_identifiers
        if self.config.algorithm == "global_recoding":
            return recoding_router([(self.hierarchies_[c], self.levels_[c]) for c in qis])
        assert self.tree_ is not None
        return mondrian_router([self.axes_[c] for c in qis], self.tree_, self.labels_)

    # -- report and state --------------------------------------------------------------------------
    def report(self) -> dict[str, Any]:
        return dict(self.report_)

    def get_state(self) -> dict[str, Any]:
        return {
            "version": STATE_VERSION,
            "config": self.config.to_state(),
            "hierarchies": {c: h.get_state() for c, h in self.hierarchies_.items()},
            "levels": dict(self.levels_),
            "tree": self.tree_.get_state(as_arrays=True) if self.tree_ is not None else None,
            "axes": self.axes_,
            "labels": self.labels_.get_state(),
            "suppressed_index": self.suppressed_index_,
            "report": _jsonable(self.report_),
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> AnonymityEngine:
        if state.get("version") != STATE_VERSION:
            raise PrivmlError("anonymity: fitted engine state has an unknown version")
        engine = cls(AnonymityConfig.from_state(state["config"]))
        engine.hierarchies_ = {c: Hierarchy.from_state(h) for c, h in state["hierarchies"].items()}
        engine.levels_ = {c: int(v) for c, v in state["levels"].items()}
        engine.tree_ = MondrianTree.from_state(state["tree"]) if state.get("tree") else None
        engine.axes_ = dict(state.get("axes", {}))
        engine.labels_ = PartitionLabels.from_state(state.get("labels"))
        engine.suppressed_index_ = list(state.get("suppressed_index", []))
        engine.report_ = dict(state.get("report", {}))
        return engine


# -- helpers ---------------------------------------------------------------------------------------
def unmet_message(c: Constraints, max_supp: float, what: str) -> str:
    parts = [f"k={c.k}"]
    if c.l_kind:
        parts.append(f"{c.l_kind} l-diversity l={c.l:g}" + (f" c={c.c:g}" if c.c else ""))
    if c.t is not None:
        parts.append(f"t-closeness t={c.t:g} ({c.t_distance} distance)")
    return f"anonymity: {what} meets {', '.join(parts)} within a suppression budget of {max_supp:.2%}"


def whole_table_message(c: Constraints, sensitive: list[SensitiveColumn]) -> str:
    """Why Mondrian cannot start: even the whole table as one class misses a target. Only l-diversity
    can (k is checked against the row count first; one class is at distance 0 from the table), so the
    message names the sensitive column, what the whole table reaches, and the policy field to change."""
    one_class = np.zeros(len(sensitive[0].codes) if sensitive else 0, dtype=np.int64)
    for col in sensitive:
        if c.l_kind == "distinct":
            reached = int(distinct_l(one_class, 1, col)[0])
            if reached < c.l:
                return (f"anonymity: the targets cannot be met: sensitive column {col.name} has {reached} "
                        f"distinct values in the whole table, fewer than distinct l-diversity l={c.l:g} needs "
                        f"even with every row in one class. Lower `anonymity.l_diversity.l` to at most {reached}, "
                        "or choose a sensitive column with more distinct values")
        elif c.l_kind == "entropy":
            reached_entropy = float(entropy_l(one_class, 1, col)[0])
            if reached_entropy < c.l * (1 - 1e-12):
                return (f"anonymity: the targets cannot be met: sensitive column {col.name} reaches entropy "
                        f"l={reached_entropy:.3g} over the whole table, below entropy l-diversity l={c.l:g} even "
                        f"with every row in one class. Lower `anonymity.l_diversity.l` to at most "
                        f"{math.floor(reached_entropy * 100 + 1e-6) / 100:g}, or use kind: distinct")
        elif c.l_kind == "recursive" and not recursive_cl_ok(one_class, 1, col, c.c or 1.0, c.l)[0]:
            return (f"anonymity: the targets cannot be met: sensitive column {col.name} misses recursive "
                    f"(c={c.c or 1.0:g}, l={c.l:g})-diversity over the whole table, even with every row in one "
                    "class (its most common value outweighs the rest). Raise `anonymity.l_diversity.c` or "
                    "lower `anonymity.l_diversity.l`")
    return "anonymity: the targets cannot be met even with every row in one class: " + \
        unmet_message(c, 0.0, "no partition").removeprefix("anonymity: ")


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    return obj
