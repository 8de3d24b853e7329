"""Report page benchmark: the chart rendering mdflow uses (hand-written inline SVG) next to
matplotlib (SVG and base64 PNG), and the whole page on tables of growing size.

Prints: the import time of each renderer (a fresh interpreter each), the bytes and time of
12 histograms, the size of matplotlib and its dependencies on disk, and the time and bytes
of the `report` visitor's page. See benchmarks/README.md.
"""

from __future__ import annotations

import base64
import importlib.metadata
import io
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd


def import_seconds(module: str, runs: int = 3) -> float:
    """The best of `runs` fresh interpreters: `module`'s own cumulative import time
    (python -X importtime), whatever was imported before it."""
    best = float("inf")
    for _ in range(runs):
        proc = subprocess.run(
            [sys.executable, "-X", "importtime", "-c", f"import numpy, {module}"],
            capture_output=True,
            text=True,
            check=True,
        )
        for line in proc.stderr.splitlines():
            parts = [p.strip() for p in line.removeprefix("import time:").split("|")]
            if len(parts) == 3 and parts[2] == module:
                best = min(best, int(parts[1]) / 1e6)
    return best


def installed_mib(dists: list[str]) -> float:
    total = 0
    for name in dists:
        try:
            files = importlib.metadata.distribution(name).files or []
        except importlib.metadata.PackageNotFoundError:
            continue
        total += sum(f.size or 0 for f in files if f.hash is not None)
    return total / 2**20


def charts(data: list[np.ndarray]) -> dict[str, tuple[int, float]]:
    from mdflow.visitors import svg

    out = {}
    start = time.perf_counter()
    text = ""
    for i, values in enumerate(data):
        counts, edges = np.histogram(values, bins=30)
        text += svg.histogram(f"column {i}", counts.tolist(), edges.tolist())
    out["hand-written SVG"] = (len(text.encode()), time.perf_counter() - start)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    for fmt in ("svg", "png"):
        start, size = time.perf_counter(), 0
        for i, values in enumerate(data):
            fig, ax = plt.subplots(figsize=(2.6, 1.5))
            ax.hist(values, bins=30)
            ax.set_title(f"column {i}", fontsize=9)
            buf = io.BytesIO()
            fig.savefig(buf, format=fmt, dpi=100)
            plt.close(fig)
            raw = buf.getvalue()
            size += len(base64.b64encode(raw)) if fmt == "png" else len(raw)
        name = "matplotlib SVG" if fmt == "svg" else "matplotlib PNG (base64)"
        out[name] = (size, time.perf_counter() - start)
    return out


def page(rows: int) -> tuple[int, float]:
    from mdflow.visitors import DatasetVersion
    from mdflow.visitors.page import Report

    rng = np.random.default_rng(1)
    frame = pd.DataFrame({f"x{i}": rng.normal(i, 1 + i, rows) for i in range(12)})
    frame["species"] = rng.choice(["Adelie", "Chinstrap", "Gentoo"], rows)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "t.parquet"
        frame.to_parquet(path)
        version = DatasetVersion(
            "t.parquet",
            "h",
            "file",
            path.stat().st_size,
            lambda _: path.open("rb"),
            rows=rows,
            target="species",
        )
        start = time.perf_counter()
        Report().visit(version, version, Path(tmp))
        return (Path(tmp) / "index.html").stat().st_size, time.perf_counter() - start


def main() -> None:
    print("import (s, cumulative, numpy imported first):")
    for module in ("mdflow.visitors.svg", "matplotlib.pyplot"):
        print(f"  {module:24} {import_seconds(module):.3f}")
    deps = ["matplotlib", "contourpy", "cycler", "fonttools", "kiwisolver", "pillow", "pyparsing"]
    print(f"installed: matplotlib and its dependencies {installed_mib(deps):.0f} MiB")
    rng = np.random.default_rng(0)
    data = [rng.normal(0, 1, 10_000) for _ in range(12)]
    print("12 histograms:")
    for name, (size, seconds) in charts(data).items():
        print(f"  {name:24} {size / 1024:8.1f} KiB {seconds:6.3f} s")
    print("report page (12 numeric columns, a category):")
    for rows in (1_000, 100_000, 1_000_000):
        size, seconds = page(rows)
        print(f"  {rows:>9,} rows {size / 1024:8.1f} KiB {seconds:6.2f} s")


if __name__ == "__main__":
    main()
