"""The report page: one self-contained HTML file per version (`reports/index.html`), which
the MLflow UI shows in its artifact viewer. Charts are inline SVG, styles inline, nothing
is fetched: a server behind a firewall shows it as well."""

from __future__ import annotations

from collections import Counter
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from mdflow.render import human, plural
from mdflow.visitors import sections as s
from mdflow.visitors.base import DatasetVersion, builtin
from mdflow.visitors.svg import esc

if TYPE_CHECKING:
    import pandas as pd

STYLE = """
body{font:13px/1.45 -apple-system,'Segoe UI',Roboto,'DejaVu Sans',sans-serif;margin:12px;
color:#222;max-width:1100px}
h1{font-size:18px;margin:0 0 4px}h2{font-size:15px;border-bottom:1px solid #ddd;
padding-bottom:2px;margin:22px 0 8px}h3{font-size:13px;margin:12px 0 4px}
nav a{margin-right:10px;color:#2a5db0;text-decoration:none}
table{border-collapse:collapse;margin:4px 0}td,th{border:1px solid #ddd;padding:2px 6px;
text-align:left;white-space:nowrap}th{background:#f4f4f4}
table.num td+td{text-align:right}
table.kv td+td{white-space:normal;word-break:break-all}.scroll{overflow-x:auto;max-width:100%}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(250px,1fr));gap:6px}
figure{margin:0;border:1px solid #eee;padding:2px}svg{max-width:100%;height:auto}
.added{color:#1a7f37}.removed{color:#c62828;text-decoration:line-through}
.changed{color:#b26a00}.note{color:#666}
.legend .bar{display:inline-block;width:12px;height:10px;background:#4c72b0}
.legend .line{display:inline-block;width:14px;height:0;border-top:2px solid #dd8452;
margin-left:10px;vertical-align:middle}
"""


@builtin("report")
class Report:
    """One HTML page per version: overview, schema and its changes, statistics, a chart per
    column, correlations, columns by category, drift against a baseline, target and
    prediction; for folders, files by extension and what changed."""

    top_level = True  # its page is reports/index.html (reports/<name>/ when given a name)

    def __init__(
        self,
        baseline: str | None = None,
        group_by: str | None = None,
        max_columns: int = 60,
        bins: int = 30,
    ) -> None:
        self.baseline, self.group_by = baseline, group_by
        self.max_columns, self.bins = max_columns, bins

    def visit(
        self, version: DatasetVersion, previous: DatasetVersion | None, out: Path
    ) -> dict[str, float]:
        baseline, base_note = self._baseline(version, previous)
        parts: list[tuple[str, str]] = []
        metrics: dict[str, float] = {}
        if version.is_table:
            frame = version.frame()
            before = previous.frame() if previous is not None and previous.is_table else None
            base = before if baseline is previous else None
            if baseline is not None and baseline is not previous and baseline.is_table:
                base = baseline.frame()
            parts.append(("Overview", overview(version, previous, frame, base_note)))
            import numpy as np

            with np.errstate(all="ignore"):  # infinities make NaN statistics, shown empty
                left_out = self._table(parts, version, frame, before, base, base_note)
            metrics["columns_left_out"] = float(len(left_out))
        else:
            parts.append(("Overview", overview(version, previous, None, "")))
            if version.kind == "dir":
                parts.append(("Files", folder(version, previous)))
        page = document(f"{version.path} — mdflow report", version, parts)
        (out / "index.html").write_text(page, encoding="utf-8")
        return metrics

    def _baseline(
        self, version: DatasetVersion, previous: DatasetVersion | None
    ) -> tuple[DatasetVersion | None, str]:
        if not self.baseline:
            return previous, "the previous version"
        found = version.at(self.baseline) if version.at is not None else None
        if found is None:
            return None, f"baseline {self.baseline} (not found, or its data is not cached)"
        return found, f"baseline {self.baseline}"

    def _table(
        self,
        parts: list[tuple[str, str]],
        version: DatasetVersion,
        frame: pd.DataFrame,
        before: pd.DataFrame | None,
        base: pd.DataFrame | None,
        base_note: str,
    ) -> list[str]:
        parts.append(("Schema", s.schema(frame, before)))
        parts.append(("Statistics", s.statistics(frame)))
        charts, left_out = s.distributions(frame, self.max_columns, self.bins)
        if left_out:
            items = "".join(f"<li>{esc(x)}</li>" for x in left_out)
            charts += f'<p class="note">Not charted:</p><ul class="note">{items}</ul>'
        parts.append(("Distributions", charts))
        parts.append(("Correlations", s.correlations(frame, self.max_columns)))
        group = self._group(version, frame)
        if group is not None:
            parts.append(("By category", s.by_category(frame, group, self.max_columns)))
        if base is not None:
            text = f"<p>Compared with {esc(base_note)}.</p>"
            parts.append(("Drift", text + s.drift(frame, base, self.bins, self.max_columns)))
        else:
            parts.append(("Drift", f"<p>No drift: {esc(base_note)} is missing.</p>"))
        if version.target and version.target in frame:
            splits = [(version.split or "this version", frame)]
            for label, other in (version.other_splits() if version.other_splits else {}).items():
                splits.append((label, other.frame()))
            if base is not None:
                splits.append((base_note, base))
            part = s.target(splits, version.target, version.prediction)
            parts.append(("Target and prediction", part))
        return left_out

    def _group(self, version: DatasetVersion, frame: pd.DataFrame) -> str | None:
        """The column to group by: declared (option group_by, else the dataset's category),
        else a target with few classes."""
        declared = self.group_by or version.category
        if declared:
            return declared if declared in frame else None
        t = version.target
        if t and t in frame and frame[t].nunique() <= s.MAX_GROUPS:
            return t
        return None


def overview(
    version: DatasetVersion,
    previous: DatasetVersion | None,
    frame: pd.DataFrame | None,
    base_note: str,
) -> str:
    rows: list[list[object]] = [
        ["path", version.path],
        ["hash", version.hash],
        ["size", f"{human(version.size)} ({version.size:,} bytes)"],
    ]
    if frame is not None:
        rows += [["rows", f"{len(frame):,}"], ["columns", f"{len(frame.columns):,}"]]
        cells, missing = frame.size, int(frame.isna().sum().sum())
        rows.append(["missing cells", f"{missing:,} ({missing / max(cells, 1):.1%})"])
        rows.append(["duplicate rows", f"{int(frame.duplicated().sum()):,}"])
        if version.rows is not None and version.rows > len(frame):
            rows.append(["note", f"statistics on the first {len(frame):,} of {version.rows:,}"])
    if version.kind == "dir":
        rows.append(["files", f"{len(version.files):,}"])
    rows += [
        [k, v]
        for k, v in (
            ("split", version.split),
            ("target", version.target),
            ("prediction", version.prediction),
        )
        if v
    ]
    if version.commit:
        rows.append(["commit", version.commit])
    rows.append(["previous version", previous.describe() if previous else "none"])
    if frame is not None and base_note:
        rows.append(["drift against", base_note])
    return s.table(["", ""], rows, "kv")


def folder(version: DatasetVersion, previous: DatasetVersion | None) -> str:
    """Files by extension (count and size); files added, removed and changed."""
    counts: Counter[str] = Counter()
    sizes: Counter[str] = Counter()
    for p, _, size in version.iter_files():
        ext = PurePosixPath(p).suffix or "(none)"
        counts[ext] += 1
        sizes[ext] += size
    rows = [[e, f"{n:,}", human(sizes[e])] for e, n in counts.most_common()]
    text = s.table(["extension", "files", "size"], rows, "num")
    if previous is None:
        return text + "<p>No previous version to compare with.</p>"
    now = {p: h for p, h, _ in version.iter_files()}
    before = {p: h for p, h, _ in previous.iter_files()}
    changes = {
        "added": sorted(now.keys() - before.keys()),
        "removed": sorted(before.keys() - now.keys()),
        "changed": sorted(p for p in now if p in before and before[p] != now[p]),
    }
    text += "<h3>Against the previous version</h3>"
    for kind, paths in changes.items():
        shown = "".join(f"<li>{esc(p)}</li>" for p in paths[:50])
        more = f"<li>… and {len(paths) - 50:,} more</li>" if len(paths) > 50 else ""
        text += f'<p><span class="{kind}">{plural(len(paths), "file")} {kind}</span></p>'
        text += f"<ul>{shown}{more}</ul>" if paths else ""
    return text


def document(title: str, version: DatasetVersion, parts: list[tuple[str, str]]) -> str:
    anchors = [(t, t.lower().replace(" ", "-")) for t, _ in parts]
    nav = " ".join(f'<a href="#{a}">{esc(t)}</a>' for t, a in anchors)
    body = "".join(
        f'<section id="{a}"><h2>{esc(t)}</h2>{html}</section>'
        for (t, a), (_, html) in zip(anchors, parts, strict=True)
    )
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width">'
        f"<title>{esc(title)}</title><style>{STYLE}</style></head><body>"
        f'<h1>{esc(version.path)}</h1><p class="note">mdflow report of version '
        f"{esc(version.hash)}</p><nav>{nav}</nav>{body}</body></html>\n"
    )
