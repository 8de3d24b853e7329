"""`make screenshots`: what a person sees in the MLflow UI, as PNGs in docs/screenshots/.

Starts an `mlflow server` on 127.0.0.1, makes a Git repository with mdflow's hooks, commits
a penguins-like table (train and test splits, a target and a prediction column) twice, and
takes headless-browser screenshots of the experiment page, a version run and its report
page (`reports/index.html`). Needs Chromium from the OS packages (`apt-get install
chromium`; `CHROMIUM=/path/to/chrome` to use another). Nothing is fetched from the internet.
"""

from __future__ import annotations

import base64
import csv
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

DOCS = Path(__file__).resolve().parents[1] / "docs" / "screenshots"
MDFLOW = [sys.executable, "-m", "mdflow"]
ENV = {
    **os.environ,
    "GIT_AUTHOR_NAME": "Screens",
    "GIT_AUTHOR_EMAIL": "screens@mdflow.invalid",
    "GIT_COMMITTER_NAME": "Screens",
    "GIT_COMMITTER_EMAIL": "screens@mdflow.invalid",
    "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true",
    # the hooks run `mdflow`: this interpreter's
    "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
}
CONFIG = """
datasets:
- paths: ["data/train.csv"]
  split: train
  target: species
  prediction: predicted
- paths: ["data/test.csv"]
  split: test
  target: species
  prediction: predicted
"""
SPECIES = {  # mean bill length, bill depth, flipper length, body mass; islands
    "Adelie": (38.8, 18.3, 190, 3700, ["Torgersen", "Biscoe", "Dream"]),
    "Chinstrap": (48.8, 18.4, 196, 3733, ["Dream"]),
    "Gentoo": (47.5, 15.0, 217, 5076, ["Biscoe"]),
}


def run(cwd: Path, *args: str) -> str:
    proc = subprocess.run(args, cwd=cwd, env=ENV, capture_output=True, text=True, check=False)
    if proc.returncode:
        raise SystemExit(f"screenshots: `{' '.join(args)}` failed:\n{proc.stdout}{proc.stderr}")
    return proc.stdout


def penguins(path: Path, rows: int, seed: int, shift: float = 0.0) -> None:
    """A table shaped like the Palmer penguins: measures per species, a model's guess."""
    rng = random.Random(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        out = csv.writer(f)
        out.writerow(
            [
                "species",
                "island",
                "bill_length_mm",
                "bill_depth_mm",
                "flipper_length_mm",
                "body_mass_g",
                "sex",
                "year",
                "predicted",
            ]
        )
        names = list(SPECIES)
        for i in range(rows):
            name = names[i % 3] if rng.random() > 0.2 else "Adelie"
            bl, bd, fl, bm, islands = SPECIES[name]
            guess = name if rng.random() > 0.1 else rng.choice(names)
            missing = rng.random() < 0.02
            out.writerow(
                [
                    name,
                    rng.choice(islands),
                    round(rng.gauss(bl + shift, 2.5), 1),
                    round(rng.gauss(bd, 1.0), 1),
                    "" if missing else round(rng.gauss(fl, 6)),
                    round(rng.gauss(bm + 40 * shift, 400), -1),
                    rng.choice(["male", "female"]),
                    2007 + i % 3,
                    guess,
                ]
            )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(top: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    mlflow = str(Path(sys.executable).with_name("mlflow"))
    env = {**ENV, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    args = [
        mlflow,
        "server",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
        "--backend-store-uri",
        f"sqlite:///{top}/mlflow.db",
        "--artifacts-destination",
        str(top / "artifacts"),
    ]
    log = (top / "server.log").open("wb")
    server = subprocess.Popen(args, env=env, stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}"
    for _ in range(120):
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as r:
                if r.status == 200:
                    return server, url
        except OSError:
            time.sleep(0.5)
    server.kill()
    raise SystemExit(f"screenshots: the MLflow server did not start (see {top}/server.log)")


def commit_twice(repo: Path, url: str) -> None:
    run(repo, "git", "init", "-q", "-b", "main")
    run(repo, *MDFLOW, "init")
    with (repo / "mdflow.yaml").open("a") as f:
        f.write(CONFIG)
    run(repo, *MDFLOW, "remote", "add", "origin", url)
    run(repo, *MDFLOW, "install")
    penguins(repo / "data/train.csv", 240, 1)
    penguins(repo / "data/test.csv", 100, 2)
    run(repo, *MDFLOW, "add", "data/train.csv", "data/test.csv")
    run(repo, "git", "add", "-A")
    run(repo, "git", "commit", "-qm", "Penguins: first train and test split")
    penguins(repo / "data/train.csv", 300, 3, shift=1.5)
    run(repo, *MDFLOW, "add", "data/train.csv")
    run(repo, "git", "commit", "-qam", "More penguins, longer bills")


def api(url: str, path: str, body: dict[str, object]) -> dict[str, object]:
    req = urllib.request.Request(
        f"{url}/api/2.0/mlflow/{path}",
        json.dumps(body).encode(),
        {"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())  # type: ignore[no-any-return]


def train_run(url: str) -> tuple[str, str]:
    """The experiment id and the newest train version's run id."""
    found = api(
        url,
        "runs/search",
        {
            "experiment_ids": [e["experiment_id"] for e in _experiments(url)],
            "filter": "tags.`mdflow.path` = 'data/train.csv'",
            "order_by": ["attributes.start_time DESC"],
        },
    )
    first = found["runs"][0]  # type: ignore[index]
    return first["info"]["experiment_id"], first["info"]["run_id"]


def _experiments(url: str) -> list[dict[str, str]]:
    return api(url, "experiments/search", {"max_results": 100})["experiments"]  # type: ignore[return-value]


class Browser:
    """Headless Chromium driven through the DevTools protocol over a pipe (fds 3 and 4,
    messages of JSON ended by NUL): no websocket client, no driver to install."""

    def __init__(self, chromium: str, profile: str) -> None:
        to_chrome, self._to = os.pipe()
        self._from, from_chrome = os.pipe()

        def fds() -> None:
            os.dup2(to_chrome, 3)
            os.dup2(from_chrome, 4)

        flags = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"]
        self.proc = subprocess.Popen(
            [chromium, *flags, f"--user-data-dir={profile}", "--remote-debugging-pipe"],
            pass_fds=(3, 4),
            preexec_fn=fds,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(to_chrome)
        os.close(from_chrome)
        self.count, self.buffer = 0, b""
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})[
            "sessionId"
        ]

    def send(self, method: str, params: dict[str, object] | None = None) -> dict[str, Any]:
        self.count += 1
        message: dict[str, object] = {"id": self.count, "method": method, "params": params or {}}
        if getattr(self, "session", None):
            message["sessionId"] = self.session
        os.write(self._to, json.dumps(message).encode() + b"\0")
        while True:
            while b"\0" not in self.buffer:
                chunk = os.read(self._from, 1 << 20)
                if not chunk:
                    raise SystemExit("screenshots: Chromium stopped")
                self.buffer += chunk
            raw, _, self.buffer = self.buffer.partition(b"\0")
            reply = json.loads(raw)
            if reply.get("id") == self.count:
                if "error" in reply:
                    raise SystemExit(f"screenshots: {method}: {reply['error']}")
                return reply.get("result", {})  # type: ignore[no-any-return]

    def shoot(self, url: str, out: Path, width: int = 1400, height: int = 1000) -> None:
        size = {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False}
        self.send("Emulation.setDeviceMetricsOverride", size)
        self.send("Page.navigate", {"url": "about:blank"})  # a new URL's hash alone: no reload
        self.send("Page.navigate", {"url": url})
        time.sleep(6)  # the UI loads runs and artifacts after the page itself
        shot = self.send("Page.captureScreenshot", {"format": "png"})
        out.write_bytes(base64.b64decode(shot["data"]))
        print(f"wrote {out}")

    def script(self, expression: str) -> None:
        self.send("Runtime.evaluate", {"expression": expression})

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait()


# The MLflow UI opens its assistant panel on a first visit: the screenshots show the page
CLOSE_ASSISTANT = (
    "localStorage.setItem('mlflow.assistant.panelOpen_v1', 'false');"
    "localStorage.setItem('mlflow.assistant.fab.autoOpenedOnFirstLoad_v1', 'true')"
)


# the links mdflow writes open MLflow 3's "Model training" view (runs table), not GenAI's
TRAINING = "?workflowType=machine_learning"


def shoot_all(chromium: str, url: str) -> None:
    exp, run_id = train_run(url)
    page = f"{url}/#/experiments/{exp}"
    with tempfile.TemporaryDirectory(prefix="mdflow-chromium-") as profile:
        browser = Browser(chromium, profile)
        try:
            browser.shoot(page + TRAINING, DOCS / "experiment.png")
            browser.script(CLOSE_ASSISTANT)
            browser.shoot(page + TRAINING, DOCS / "experiment.png")
            browser.shoot(f"{page}/runs/{run_id}{TRAINING}", DOCS / "version-run.png")
            report = f"{page}/runs/{run_id}/artifactPath/reports/index.html{TRAINING}"
            browser.shoot(report, DOCS / "report.png", height=1400)
            local = Path(profile) / "index.html"
            query = f"path=reports/index.html&run_uuid={run_id}"
            with urllib.request.urlopen(f"{url}/get-artifact?{query}", timeout=30) as r:
                local.write_bytes(r.read())
            browser.shoot(local.as_uri(), DOCS / "report-page.png", width=900, height=4100)
        finally:
            browser.close()


def main() -> None:
    chromium = (
        os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    )
    if not chromium:
        raise SystemExit("screenshots: no Chromium — apt-get install chromium (or CHROMIUM=...)")
    DOCS.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="mdflow-screens-") as tmp:
        top = Path(tmp)
        server, url = start_server(top)
        try:
            repo = top / "penguins"
            repo.mkdir()
            commit_twice(repo, url)
            shoot_all(chromium, url)
        finally:
            server.terminate()
            server.wait(timeout=30)


if __name__ == "__main__":
    main()
