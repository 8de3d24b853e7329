"""The sections of a table's report page, each an HTML fragment: schema, statistics,
distributions, correlations, distributions by category, drift, target and prediction."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mdflow.visitors import svg
from mdflow.visitors.analysis import ks_statistic, total_variation
from mdflow.visitors.builtins import statistic
from mdflow.visitors.svg import esc

if TYPE_CHECKING:
    import pandas as pd

MAX_GROUPS = 8  # categories shown side by side; the largest ones
TOP_VALUES = 8  # values of a text column shown in its bar chart
KS_ROWS = 200_000  # values a side the drift's KS distance is computed on (a sample beyond)


def table(header: list[str], rows: list[list[Any]], cls: str = "") -> str:
    """An HTML table; cells are escaped unless they are already markup (a Markup)."""
    head = "".join(f"<th>{esc(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{c if isinstance(c, Markup) else esc(c)}</td>" for c in r) + "</tr>"
        for r in rows
    )
    return f'<div class="scroll"><table class="{cls}"><tr>{head}</tr>{body}</table></div>'


class Markup(str):
    """Text that is HTML already (escaped where it had to be)."""


def grid(charts: list[str]) -> str:
    return '<div class="grid">' + "".join(f"<figure>{c}</figure>" for c in charts) + "</div>"


def numeric(frame: pd.DataFrame) -> list[str]:
    return [str(c) for c in frame.select_dtypes("number").columns]


def schema(frame: pd.DataFrame, before: pd.DataFrame | None) -> str:
    """Columns, dtypes, nulls and distinct values; what changed since `before`."""
    old = {str(c): str(t) for c, t in before.dtypes.items()} if before is not None else {}
    nulls, rows = frame.isna().sum(), max(len(frame), 1)
    out = []
    for col, dtype in ((str(c), str(t)) for c, t in frame.dtypes.items()):
        if before is None:
            change = ""
        elif col not in old:
            change = Markup('<span class="added">added</span>')
        elif old[col] != dtype:
            change = Markup(f'<span class="changed">retyped from {esc(old[col])}</span>')
        else:
            change = "unchanged"
        n = int(nulls[col])
        unique = int(frame[col].nunique())
        out.append([col, dtype, f"{n:,} ({n / rows:.1%})", f"{unique:,}", change])
    gone = [c for c in old if c not in set(map(str, frame.columns))]
    out += [[c, old[c], "", "", Markup('<span class="removed">removed</span>')] for c in gone]
    text = table(["column", "dtype", "nulls", "distinct", "change"], out)
    if before is None:
        return text + "<p>No previous version to compare with.</p>"
    added = sum(1 for c in map(str, frame.columns) if c not in old)
    retyped = sum(1 for c, t in frame.dtypes.items() if str(c) in old and old[str(c)] != str(t))
    return (
        f"<p>Against the previous version: {added} added, {len(gone)} removed, "
        f"{retyped} retyped.</p>" + text
    )


def statistics(frame: pd.DataFrame) -> str:
    cols = numeric(frame)
    rows = []
    for c in cols:
        d = frame[c].describe()
        rows.append(
            [
                c,
                *(
                    statistic(d[k])
                    for k in ("count", "mean", "std", "min", "25%", "50%", "75%", "max")
                ),
            ]
        )
    text = ""
    if rows:
        head = ["column", "count", "mean", "std", "min", "25%", "median", "75%", "max"]
        text += "<h3>Numeric columns</h3>" + table(head, rows, "num")
    others = [str(c) for c in frame.columns if str(c) not in set(cols)]
    if others:
        rows = []
        for c in others:
            counts = frame[c].astype("string").value_counts()
            top, freq = (str(counts.index[0]), int(counts.iloc[0])) if len(counts) else ("", 0)
            rows.append([c, f"{int(frame[c].count()):,}", f"{len(counts):,}", top, f"{freq:,}"])
        text += "<h3>Other columns</h3>"
        text += table(["column", "count", "distinct", "most frequent", "its count"], rows, "num")
    return text


def distributions(frame: pd.DataFrame, max_columns: int, bins: int) -> tuple[str, list[str]]:
    """A chart per column: histograms of numeric columns, the top values of the others; and
    every column left out with its reason."""
    import numpy as np

    charts, left_out = [], []
    for i, col in enumerate(str(c) for c in frame.columns):
        series = frame[col]
        if i >= max_columns:
            left_out.append(f"{col}: past the first {max_columns} columns (option max_columns)")
            continue
        values = series.dropna()
        if values.empty:
            left_out.append(f"{col}: every value is missing")
            continue
        if col in set(numeric(frame)):
            data = values.to_numpy(dtype=float)
            data = data[np.isfinite(data)]
            if data.size == 0:
                left_out.append(f"{col}: no finite value")
                continue
            counts, edges = np.histogram(data, bins=bins)
            charts.append(svg.histogram(col, counts.tolist(), edges.tolist()))
            continue
        shares = values.astype("string").value_counts(normalize=True)
        if len(shares) == len(values) and len(values) > TOP_VALUES:
            left_out.append(f"{col}: every value is distinct ({len(values):,}), like an identifier")
            continue
        top = shares.iloc[:TOP_VALUES]
        more = f" (top {TOP_VALUES} of {len(shares):,})" if len(shares) > TOP_VALUES else ""
        charts.append(svg.bars(col + more, [str(k) for k in top.index], top.tolist()))
    return grid(charts), left_out


def correlations(frame: pd.DataFrame, max_columns: int) -> str:
    cols = [c for c in numeric(frame) if frame[c].min() < frame[c].max()]  # they vary
    if len(cols) < 2:
        return "<p>Fewer than two numeric columns that vary: no correlation to show.</p>"
    note = ""
    if len(cols) > max_columns:
        note = f"<p>The first {max_columns} of {len(cols)} numeric columns.</p>"
        cols = cols[:max_columns]
    matrix = frame[cols].corr().to_numpy().tolist()
    return note + '<div class="scroll">' + svg.heatmap(cols, matrix) + "</div>"


def by_category(frame: pd.DataFrame, group: str, max_columns: int) -> str:
    """Box plots of every numeric column, one box per category of `group`."""
    counts = frame[group].astype("string").value_counts()
    chosen = [str(k) for k in counts.index[:MAX_GROUPS]]
    note = f"<p>Grouped by <b>{esc(group)}</b> ({len(counts):,} categories"
    note += f"; the {MAX_GROUPS} largest shown).</p>" if len(counts) > MAX_GROUPS else ").</p>"
    cols = [c for c in numeric(frame) if c != group][:max_columns]
    keys = frame[group].astype("string")
    chosen_rows = keys.isin(chosen)
    grouped = frame.loc[chosen_rows, cols].groupby(keys[chosen_rows], sort=False)
    import numpy as np

    quantiles = grouped.quantile(np.array([0, 0.25, 0.5, 0.75, 1]))  # (group, q) x column
    charts = []
    for col in cols:
        groups = []
        for name in chosen:
            if name not in quantiles.index.get_level_values(0):
                continue
            q = [float(v) for v in quantiles[col].loc[name]]
            if not all(np.isfinite(q)):  # every value missing, or infinite ones
                continue
            iqr = q[3] - q[1]
            q[0], q[4] = max(q[0], q[1] - 1.5 * iqr), min(q[4], q[3] + 1.5 * iqr)
            groups.append((name, q))
        if groups:
            charts.append(svg.boxes(col, groups))
    return note + grid(charts)


def drift(frame: pd.DataFrame, base: pd.DataFrame, bins: int, max_columns: int) -> str:
    """Per shared column, KS distance (numeric) or total variation (categories) against the
    baseline; numeric histograms with the baseline's scaled to this version's row count."""
    import numpy as np

    nums = set(numeric(frame)) & set(numeric(base))
    rows: list[list[Any]] = []
    charts: list[str] = []
    common = [str(c) for c in frame.columns if str(c) in set(map(str, base.columns))]
    for col in common:
        if col in nums:
            a, b = frame[col].dropna().to_numpy(float), base[col].dropna().to_numpy(float)
            a, b = a[np.isfinite(a)], b[np.isfinite(b)]
            dist = ks_statistic(_sample(a), _sample(b))
            rows.append([col, "KS", f"{dist:.3f}", _mean_move(a, b)])
            if len(charts) < max_columns and a.size and b.size:
                lo, hi = min(a.min(), b.min()), max(a.max(), b.max())
                now, edges = np.histogram(a, bins=bins, range=(lo, hi))
                then, _ = np.histogram(b, bins=bins, range=(lo, hi))
                scaled = (then * (a.size / b.size)).tolist()
                charts.append(svg.histogram(col, now.tolist(), edges.tolist(), scaled))
        else:
            dist, shares = total_variation(frame[col], base[col])
            moved = ", ".join(f"{k}: {x:.1%} → {y:.1%}" for k, (x, y) in list(shares.items())[:3])
            rows.append([col, "TVD", f"{dist:.3f}", moved])
    rows.sort(key=lambda r: -float(r[2]))
    legend = (
        '<p class="legend"><span class="bar"></span> this version '
        '<span class="line"></span> baseline (scaled to this version\'s rows)</p>'
    )
    return table(["column", "measure", "distance", "moves"], rows) + legend + grid(charts)


def _sample(values: Any) -> Any:
    """At most KS_ROWS values, drawn with a fixed seed: the KS distance of two samples of
    200,000 is within ~0.005 of the full one, at a fraction of the sort."""
    import numpy as np

    if values.size <= KS_ROWS:
        return values
    return np.random.default_rng(0).choice(values, KS_ROWS, replace=False)


def _mean_move(a: Any, b: Any) -> str:
    if not (a.size and b.size):
        return ""
    return f"mean {svg.short(float(b.mean()))} → {svg.short(float(a.mean()))}"


def target(splits: list[tuple[str, pd.DataFrame]], name: str, prediction: str | None) -> str:
    """The target's distribution in each split (this version's first; categories in one
    order and colour throughout), how a prediction column agrees with it per split, and the
    confusion table of this version's split."""
    import numpy as np

    frames = [(label, f) for label, f in splits if name in f]
    y = frames[0][1][name]
    numeric_target = y.dtype.kind in "fi" and y.nunique() > 20
    charts, order = [], [str(k) for k in y.astype("string").value_counts().index]
    for label, f in frames:
        if numeric_target:
            d = f[name].dropna().to_numpy(float)
            counts, edges = np.histogram(d[np.isfinite(d)], bins=30)
            charts.append(svg.histogram(f"{name} in {label}", counts.tolist(), edges.tolist()))
            continue
        shares = f[name].astype("string").value_counts(normalize=True)
        order += [str(k) for k in shares.index if str(k) not in order]
        keys = [k for k in order if k in shares.index]
        values = [float(shares[k]) for k in keys]
        colours = [order.index(k) for k in keys]
        charts.append(svg.bars(f"{name} in {label}", keys, values, colours=colours))
    text = grid(charts)
    if prediction:
        rows = [[label, f"{len(f):,}", _agreement(f, name, prediction)] for label, f in frames]
        text += f"<h3>{esc(prediction)} against {esc(name)}, per split</h3>"
        text += table(["split", "rows", "prediction against target"], rows, "num")
        first = frames[0][1]
        if not numeric_target and prediction in first:
            text += f"<h3>Confusion table in {esc(frames[0][0])}</h3>"
            text += _confusion(first[name].astype("string"), first[prediction].astype("string"))
    return text


def _agreement(f: pd.DataFrame, name: str, prediction: str) -> str:
    if prediction not in f:
        return "no prediction column"
    y, p = f[name], f[prediction]
    if y.dtype.kind in "fi" and p.dtype.kind in "fi" and y.nunique() > 20:
        return f"mean absolute error {statistic(float((y - p).abs().mean()))}"
    agree = float((y.astype("string") == p.astype("string")).mean())
    return f"{agree:.1%} agree"


def _confusion(ys: pd.Series, ps: pd.Series) -> str:
    labels = [str(k) for k in ys.value_counts().index[:10]]
    rows = [[f"{t}", *(int(((ys == t) & (ps == q)).sum()) for q in labels)] for t in labels]
    return table(["target \\ predicted", *labels], rows, "num")
