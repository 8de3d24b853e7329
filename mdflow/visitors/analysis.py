"""Built-in visitors that compare and plot: drift, plots, target (roles and splits)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mdflow.visitors.base import DatasetVersion, TableVisitor, builtin
from mdflow.visitors.builtins import md_table

if TYPE_CHECKING:
    import pandas as pd


def _numeric(frame: pd.DataFrame) -> list[str]:
    return [str(c) for c in frame.select_dtypes("number").columns]


def ks_statistic(a: Any, b: Any) -> float:
    """Two-sample Kolmogorov-Smirnov distance: the largest gap between the two ECDFs."""
    import numpy as np

    a, b = np.sort(np.asarray(a, dtype=float)), np.sort(np.asarray(b, dtype=float))
    if len(a) == 0 or len(b) == 0:
        return 0.0
    grid = np.concatenate([a, b])
    gap = np.searchsorted(a, grid, side="right") / len(a) - np.searchsorted(
        b, grid, side="right"
    ) / len(b)
    return float(np.abs(gap).max())


def total_variation(a: pd.Series, b: pd.Series) -> tuple[float, dict[str, tuple[float, float]]]:
    """Half the L1 distance between category shares, and the shares of the top categories."""
    pa, pb = a.astype(str).value_counts(normalize=True), b.astype(str).value_counts(normalize=True)
    keys = pa.index.union(pb.index)
    pa, pb = pa.reindex(keys, fill_value=0.0), pb.reindex(keys, fill_value=0.0)
    top = (pa - pb).abs().sort_values(ascending=False).index[:10]
    return float((pa - pb).abs().sum() / 2), {str(k): (float(pb[k]), float(pa[k])) for k in top}


@builtin("drift")
class Drift(TableVisitor):
    """Per column, how far the distribution moved since the previous version."""

    def visit_table(
        self, version: DatasetVersion, previous: DatasetVersion | None, out: Path
    ) -> dict[str, float]:
        if previous is None or not previous.is_table:
            return {}
        now, before = version.frame(), previous.frame()
        numeric = set(_numeric(now)) & set(_numeric(before))
        rows: list[list[str]] = []
        report: dict[str, dict[str, Any]] = {}
        for col in [str(c) for c in now.columns if str(c) in set(map(str, before.columns))]:
            if col in numeric:
                dist = ks_statistic(now[col].dropna(), before[col].dropna())
                report[col] = {"ks": dist}
                rows.append([col, "numeric (KS)", f"{dist:.3f}", ""])
            else:
                dist, shares = total_variation(now[col], before[col])
                report[col] = {"tvd": dist, "shares_before_after": shares}
                moved = ", ".join(f"{k}: {x:.1%}→{y:.1%}" for k, (x, y) in list(shares.items())[:3])
                rows.append([col, "categorical (TVD)", f"{dist:.3f}", moved])
        (out / "drift.json").write_text(json.dumps(report, indent=2))
        header = f"Compared with the previous version {previous.describe()}.\n\n"
        (out / "drift.md").write_text(
            header + md_table(["column", "measure", "distance", "largest moves"], rows)
        )
        dists = [v.get("ks", v.get("tvd", 0.0)) for v in report.values()]
        return {"max_distance": max(dists, default=0.0)}


@builtin("plots")
class Plots(TableVisitor):
    """Histograms and box plots of the numeric columns, as PNG grids of `per_row` charts a
    row, each with its own axes; plots.md names every column left out and why."""

    def __init__(self, max_columns: int = 48, per_row: int = 3) -> None:
        self.max_columns, self.per_row = max_columns, max(1, per_row)

    def visit_table(
        self, version: DatasetVersion, previous: DatasetVersion | None, out: Path
    ) -> dict[str, float]:
        import numpy as np

        frame = version.frame()
        data: dict[str, Any] = {}
        left_out: list[list[str]] = []
        for col in _numeric(frame):
            values = frame[col].to_numpy(dtype=float)
            values = values[np.isfinite(values)]
            if values.size == 0:
                left_out.append([col, "no finite value (every value missing)"])
            elif len(data) >= self.max_columns:
                left_out.append([col, f"past the first {self.max_columns} (option max_columns)"])
            else:
                data[col] = values
        text = f"Plotted: {', '.join(data) or 'none'}.\n\n"
        if left_out:
            text += "Left out:\n\n" + md_table(["column", "why"], left_out)
        (out / "plots.md").write_text(text)
        metrics = {"plotted_columns": float(len(data))}
        if left_out:
            metrics["left_out_columns"] = float(len(left_out))
        if data:
            self._grid(data, out / "histograms.png", box=False)
            self._grid(data, out / "boxplots.png", box=True)
        return metrics

    def _grid(self, data: dict[str, Any], path: Path, box: bool) -> None:
        """One chart per column, `per_row` a row (900 px wide for three)."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        per_row = min(self.per_row, len(data))
        rows = -(-len(data) // per_row)
        fig, axes = plt.subplots(rows, per_row, figsize=(3.0 * per_row, 2.2 * rows), squeeze=False)
        for ax, (col, values) in zip(axes.flat, data.items(), strict=False):
            if box:  # horizontal, on its own axis: columns of any scale stay readable
                _horizontal_box(ax, values)
                ax.set_yticks([])
            else:
                ax.hist(values, bins=30, color="#4c72b0")
            ax.set_title(col, fontsize=10)
            ax.tick_params(labelsize=8)
        for ax in list(axes.flat)[len(data) :]:
            ax.axis("off")
        fig.tight_layout()
        fig.savefig(path, dpi=100)
        plt.close(fig)


def _horizontal_box(ax: Any, values: Any) -> None:
    try:
        ax.boxplot(values, orientation="horizontal")  # matplotlib 3.10 and later
    except TypeError:
        ax.boxplot(values, vert=False)


@builtin("target")
class Target(TableVisitor):
    """The target column's distribution in this split; agreement with a prediction column."""

    def visit_table(
        self, version: DatasetVersion, previous: DatasetVersion | None, out: Path
    ) -> dict[str, float]:
        if not version.target:
            return {}
        frame = version.frame()
        target = frame[version.target]
        split = version.split or "unsplit"
        metrics: dict[str, float] = {}
        if target.dtype.kind in "fi" and target.nunique() > 20:
            desc = target.describe()
            text = md_table(["statistic", split], [[k, f"{v:.4g}"] for k, v in desc.items()])
            metrics["mean"] = float(desc["mean"])
        else:
            shares = target.astype(str).value_counts(normalize=True)
            text = md_table(
                ["class", f"share in {split}"], [[k, f"{v:.1%}"] for k, v in shares.items()]
            )
            metrics |= {f"share.{k}": float(v) for k, v in shares.items()}
        if version.prediction and version.prediction in frame:
            pred = frame[version.prediction]
            if target.dtype.kind in "fi" and pred.dtype.kind in "fi":
                metrics["mae"] = float((target - pred).abs().mean())
            else:
                metrics["agreement"] = float((target.astype(str) == pred.astype(str)).mean())
        header = f"**{version.target}** in split **{split}**\n\n"
        (out / "target.md").write_text(header + text)
        (out / "target.json").write_text(json.dumps({"split": split, **metrics}, indent=2))
        return metrics
