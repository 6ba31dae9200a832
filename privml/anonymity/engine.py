"""AnonymityEngine: the policy's `anonymity:` targets applied to the quasi-identifiers of a table.

    engine = AnonymityEngine(config)         # an AnonymityConfig (privml.policy.engine_config builds it)
    released = engine.fit_transform(df)      # suppressed rows dropped, index preserved
    engine.transform(new_rows)               # same levels / same Mondrian boxes, never an error
    engine.row_router()                      # the same, one row of plain cells at a time
    engine.report()                          # k, l, t, risk before/after, utility, transformation
    AnonymityEngine.from_state(engine.get_state())   # plain data (lists, dicts, numpy arrays), no code

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
from privml.anonymity.axes import box_label
from privml.anonymity.axis_fit import fit_axes
from privml.anonymity.config import AnonymityConfig
from privml.anonymity.encoding import EncodedTable
from privml.anonymity.hierarchy import ROOT, Hierarchy, leaf_index, load_hierarchy
from privml.anonymity.histogram import TupleHistogram, search_histogram
from privml.anonymity.histogram_fit import histogram_lines, mondrian_figures, recoding_figures
from privml.anonymity.labels import PartitionLabels
from privml.anonymity.lattice import SearchResult, search
from privml.anonymity.messages import unmet_message, whole_table_message
from privml.anonymity.metrics import Metric, make_metric
from privml.anonymity.models import Constraints, SensitiveColumn, classes_ok, measure
from privml.anonymity.mondrian import MondrianTree, mondrian, ncp
from privml.anonymity.rows import RowRouter, mondrian_router, recoding_router
from privml.anonymity.utility import average_class_size, discernibility, recoded_utility
from privml.errors import CheckFailed, PrivmlError
from privml.io.rows import data_row

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
                raise PrivmlError(f"column {col}: {row} is empty")
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
        threshold = float(self.config.risk_threshold)
        if self.config.algorithm == "mondrian":
            lines, sensitive = histogram_lines(histogram, self.config)
            _, utility, transformation = self._fit_mondrian(lines, constraints, sensitive, histogram.counts)
            figures = mondrian_figures(histogram, lines, self.axes_, self.tree_, self.labels_, sensitive, constraints,
                                       threshold)
            self.record_fit(constraints, *figures.as_args(), utility, transformation)
            return np.zeros(len(histogram), dtype=bool)
        found = search_histogram(histogram, self.config, constraints)
        if found is None:
            raise CheckFailed(unmet_message(constraints, float(self.config.max_suppression),
                                            "no generalization of the quasi-identifiers"))
        self.hierarchies_ = found.hierarchies
        suppressed, utility, transformation = self._recoded(found.table, found.metric, found.result)
        self.record_fit(constraints, *recoding_figures(histogram, found, constraints, threshold).as_args(), utility,
                        transformation)
        return suppressed

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
        self.levels_ = {col: int(level) for col, level in zip(self.quasi_identifiers, result.node, strict=True)}
        utility = recoded_utility(self.quasi_identifiers, table, metric, result)
        return result.suppressed_rows, utility, dict(self.levels_)

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
        return fit_axes(self.config, df, weights)

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
        # which rows a fit suppressed is the fitting table's business (the release drops them), never the
        # model's: a state holds none (older states did, and their labels are not read back)
        engine.suppressed_index_ = []
        engine.report_ = dict(state.get("report", {}))
        return engine


# -- helpers ---------------------------------------------------------------------------------------
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
