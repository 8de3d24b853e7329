"""Results: the CSV rows (one per timed command, appended as they are measured) and the
markdown table of medians and ratios made from them."""

from __future__ import annotations

import csv
import statistics
from collections import defaultdict
from dataclasses import asdict, dataclass, fields
from pathlib import Path

TOOLS = ("mdflow", "DVC", "git-lfs")
BASE = "mdflow base"  # --baseline: another mdflow (say, main) measured in the same run
FLOORS = ("cp -r", "cp -al", "stat walk", "read+xxh3")
DONE = "_done"  # the row written when a (scenario, repeat) finished: resume skips it
# the floor each operation is compared with (the operation cannot be faster)
FLOOR_OF = {
    ("add", "first run"): "cp -r",
    ("add", "no-op"): "stat walk",
    ("status", "no-op"): "stat walk",
    ("add", "no-op after change"): "stat walk",
    ("status", "no-op after change"): "stat walk",
    ("checkout", "empty workspace, warm cache"): "cp -r",
    ("pull", "fresh clone, empty cache"): "cp -r",
    ("pull (S3)", "fresh clone, empty cache"): "cp -r",
}


@dataclass
class Row:
    scenario: str
    title: str
    repeat: int
    step: int
    operation: str
    state: str
    tool: str
    seconds: float
    max_rss_mib: float
    error: str
    cpu_seconds: float = 0.0  # user + system
    s3_requests: int = 0  # `--s3`: requests moto served during the command
    user_seconds: float = 0.0  # the CPU time split (empty in CSVs written before the split)
    system_seconds: float = 0.0


def load(path: Path) -> list[Row]:
    if not path.exists():
        return []
    with path.open(newline="") as f:
        return [
            Row(
                **{
                    **r,
                    "repeat": int(r["repeat"]),
                    "step": int(r["step"]),
                    "seconds": float(r["seconds"]),
                    "max_rss_mib": float(r["max_rss_mib"]),
                    "cpu_seconds": float(r.get("cpu_seconds") or 0),
                    "s3_requests": int(r.get("s3_requests") or 0),
                    "user_seconds": float(r.get("user_seconds") or 0),
                    "system_seconds": float(r.get("system_seconds") or 0),
                }
            )
            for r in csv.DictReader(f)
        ]


def save(path: Path, rows: list[Row]) -> None:
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, [x.name for x in fields(Row)])
        w.writeheader()
        w.writerows(asdict(r) for r in rows)


def append(path: Path, rows: list[Row]) -> None:
    new = not path.exists()
    with path.open("a", newline="") as f:
        w = csv.DictWriter(f, [x.name for x in fields(Row)])
        if new:
            w.writeheader()
        w.writerows(asdict(r) for r in rows)


def finished(rows: list[Row]) -> set[tuple[str, int]]:
    return {(r.scenario, r.repeat) for r in rows if r.operation == DONE}


def table(rows: list[Row], about: list[str]) -> str:
    """Markdown: one line per (scenario, operation, state), medians over the repeats."""
    times: dict[tuple[str, str, str], dict[str, list[float]]] = defaultdict(
        lambda: defaultdict(list)
    )
    rss: dict[tuple[str, str, str], list[float]] = defaultdict(list)
    cpu: dict[tuple[str, str, str], dict[str, list[Row]]] = defaultdict(lambda: defaultdict(list))
    errors: dict[tuple[str, str, str], dict[str, str]] = defaultdict(dict)
    order: dict[tuple[str, str, str], tuple[int, str]] = {}
    titles: dict[str, str] = {}
    for r in rows:
        if r.operation == DONE:
            continue
        key = (r.scenario, r.operation, r.state)
        order.setdefault(key, (r.step, r.tool))
        titles[r.scenario] = r.title
        if r.error:
            errors[key][r.tool] = r.error
        else:
            times[key][r.tool].append(r.seconds)
            cpu[key][r.tool].append(r)
            if r.tool == "mdflow":
                rss[key].append(r.max_rss_mib)
    base = any(r.tool == BASE for r in rows)
    header = _HEADER + (" base | mdflow/base | base CPU s |" if base else "")
    width = header.count("|") - 1
    lines = [*about, "", header, "|" + "---|" * width]
    floors = {k: v for k, v in times.items() if k[1] in FLOORS}
    scenario = ""
    for key in sorted(order, key=lambda k: (_first(rows, k[0]), order[k][0], k[1])):
        if key[1] in FLOORS:
            continue
        if key[0] != scenario:
            scenario = key[0]
            lines.append(f"| **{titles[scenario]}** |" + " |" * (width - 1))
        lines.append(_line(key, times[key], errors[key], rss[key], cpu[key], floors, base))
    lines += ["", "Floors (median seconds; `stat walk` and `read+xxh3` in-process):", ""]
    lines += ["| data | " + " | ".join(FLOORS) + " |", "|---|" + "---:|" * len(FLOORS)]
    for sc in dict.fromkeys(k[0] for k in floors):
        cells = [_cell(floors.get((sc, f, "-"), {}).get("floor", [])) for f in FLOORS]
        lines.append(f"| {titles[sc]} | " + " | ".join(cells) + " |")
    lines += _requests(rows, titles)
    lines += _scaling(times, rss, order)
    failed = [
        f"- {k[0]}, {k[1]} ({k[2]}), {t}: {e}"
        for k, v in errors.items()
        for t, e in v.items()
        if not e.startswith("skipped")
    ]
    if failed:
        lines += ["", "Failed commands:", "", *failed]
    return "\n".join(lines) + "\n"


_HEADER = (
    "| operation | state | mdflow (min-max) | DVC | git-lfs | floor | mdflow/DVC "
    "| mdflow/git-lfs | mdflow/floor | mdflow peak MiB | mdflow CPU s | runs |"
)


def _requests(rows: list[Row], titles: dict[str, str]) -> list[str]:
    """`--s3`: how many requests each tool's S3 commands sent to moto (median of the runs);
    moto's cost per request is in the seconds above, and weighs by this count."""
    counts: dict[tuple[str, str], dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
    for r in rows:
        if r.operation.endswith("(S3)") and not r.error:
            counts[(r.scenario, r.operation)][r.tool].append(r.s3_requests)
    if not counts:
        return []
    lines = ["", "Requests to S3 (moto) per command, median (mdflow's through its server):", ""]
    lines += ["| data | operation | mdflow | DVC |", "|---|---|---:|---:|"]
    for (sc, op), by_tool in counts.items():
        cells = [str(round(statistics.median(by_tool[t]))) if t in by_tool else "n/a"
                 for t in ("mdflow", "DVC")]  # fmt: skip
        lines.append(f"| {titles[sc]} | {op} | " + " | ".join(cells) + " |")
    return lines


def _cpu(rows: list[Row]) -> str:
    """Median CPU seconds, with the medians of user and system time when the CSV has them
    (a run bound by the disk shows it in system time)."""
    if not any(r.cpu_seconds for r in rows):
        return ""
    cell = f"{statistics.median(r.cpu_seconds for r in rows):.3f}"
    if any(r.user_seconds or r.system_seconds for r in rows):
        user = statistics.median(r.user_seconds for r in rows)
        system = statistics.median(r.system_seconds for r in rows)
        cell += f" ({user:.2f}u {system:.2f}s)"
    return cell


def _scaling(
    times: dict[tuple[str, str, str], dict[str, list[float]]],
    rss: dict[tuple[str, str, str], list[float]],
    order: dict[tuple[str, str, str], tuple[int, str]],
) -> list[str]:
    """With two sizes of `files:N` or more: mdflow's milliseconds per 1,000 files at each size
    (equal across a line: time linear in the number of files) and what its peak memory grows
    by per file from the smallest size to the largest (the process's own size cancels)."""
    sizes = sorted({int(k[0].split("-")[1]) for k in times if k[0].startswith("files-")})
    if len(sizes) < 2:
        return []
    ops = sorted({(k[1], k[2]) for k in times if k[1] not in FLOORS}, key=lambda o: min(
        order[k][0] for k in order if (k[1], k[2]) == o))  # fmt: skip
    head = " | ".join(f"{n:,}" for n in sizes)
    lines = ["", "Scaling with the number of files (mdflow; ms per 1,000 files, median):", ""]
    lines += [f"| operation | state | {head} | peak memory, bytes per file more |"]
    lines += ["|---|---|" + "---:|" * (len(sizes) + 1)]
    for op, state in ops:
        cells = []
        for n in sizes:
            mine = times.get((f"files-{n}", op, state), {}).get("mdflow", [])
            cells.append(f"{statistics.median(mine) * 1e6 / n:.0f}" if mine else "")
        low = rss.get((f"files-{sizes[0]}", op, state), [])
        high = rss.get((f"files-{sizes[-1]}", op, state), [])
        slope = (max(high) - max(low)) * 2**20 / (sizes[-1] - sizes[0]) if low and high else None
        per_file = f"{slope:,.0f}" if slope is not None else ""
        lines.append(f"| {op} | {state} | " + " | ".join(cells) + f" | {per_file} |")
    return lines


def _first(rows: list[Row], scenario: str) -> int:
    return next(i for i, r in enumerate(rows) if r.scenario == scenario)


def _line(
    key: tuple[str, str, str],
    times: dict[str, list[float]],
    errors: dict[str, str],
    rss: list[float],
    cpu: dict[str, list[Row]],
    floors: dict[tuple[str, str, str], dict[str, list[float]]],
    base: bool,
) -> str:
    med = {t: statistics.median(v) for t, v in times.items() if v}
    cells = [med.get(t) for t in TOOLS]
    shown = [_cell(times.get(t, [])) if t not in errors else _failed(errors[t]) for t in TOOLS]
    floor_name = FLOOR_OF.get((key[1], key[2]))
    floor_times = floors.get((key[0], floor_name or "", "-"), {}).get("floor", [])
    floor = statistics.median(floor_times) if floor_times else None
    mine = cells[0]
    ratios = [_ratio(mine, cells[1]), _ratio(mine, cells[2]), _ratio(mine, floor)]
    floor_cell = f"{floor_name} {floor:.3f}" if floor is not None else ""
    peak = f"{max(rss):.0f}" if rss else ""
    runs = max((len(v) for v in times.values()), default=0)
    mdflow = times.get("mdflow", [])
    if len(mdflow) > 1:
        shown[0] += f" ({min(mdflow):.3f}-{max(mdflow):.3f})"
    extra = []
    if base:
        extra = [
            _cell(times.get(BASE, [])) if BASE not in errors else _failed(errors[BASE]),
            _ratio(mine, med.get(BASE)),
            _cpu(cpu.get(BASE, [])),
        ]
    return (
        f"| {key[1]} | {key[2]} | "
        + " | ".join(
            [*shown, floor_cell, *ratios, peak, _cpu(cpu.get("mdflow", [])), str(runs), *extra]
        )
        + " |"
    )


def _failed(error: str) -> str:
    return "skipped" if error.startswith("skipped") else "failed"


def _cell(values: list[float]) -> str:
    return f"{statistics.median(values):.3f}" if values else "n/a"


def _ratio(mine: float | None, other: float | None) -> str:
    if mine is None or other is None or other <= 0:
        return ""
    return f"{mine / other:.2f}x"
