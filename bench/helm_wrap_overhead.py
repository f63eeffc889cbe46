"""What D/bin/helm's wrapper (c7n_sandbox/helmwrap.py) adds to a helm call.

Alternately runs the real Helm 3 directly and through the wrapper (`helm version --short` and
`helm template` of a sandbox chart: no cluster needed), `--runs` times each after one warm-up, and
prints one JSON object on the last line: the medians, the overhead per call (ms) and
`ratio = direct median / wrapped median` (1.0: no cost). No aim is asserted: the suite makes about 50
helm calls per run, so the overhead times 50 is what a run pays.
"""
from __future__ import annotations

import argparse
import json
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import child_env, real_helm  # noqa: E402
from c7n_upgrade.dotenv import dotenv_line  # noqa: E402
from c7n_upgrade.plan import load_plan  # noqa: E402
from c7n_sandbox import charts  # noqa: E402
from c7n_sandbox.helmwrap import write_wrapper  # noqa: E402
from c7n_sandbox.base import SECRET_VARIABLES  # noqa: E402


def _time(argv: list[str], env: dict) -> float:
    started = time.perf_counter()
    subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   check=True, timeout=60)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    runs = parser.parse_args().runs
    helm = real_helm()
    with tempfile.TemporaryDirectory(prefix="c7n-bench-helmwrap-") as tmp:
        d = Path(tmp)
        wrapper = str(write_wrapper(d, helm))
        # as `up` leaves it: the wrapper masks these secrets' forms in every call's argv
        (d / "secrets.env").write_text("".join(dotenv_line(name, secrets.token_urlsafe(18)) for name in SECRET_VARIABLES))
        (d / "secrets.env").chmod(0o600)
        chart = next(c for c in charts.catalogue(load_plan("0.8-to-0.9")) if c.name == "config-server")
        tgz = d / chart.filename
        tgz.write_bytes(charts.chart_tgz(chart))
        env = child_env({"HELM_CONFIG_HOME": str(d / "h"), "HELM_CACHE_HOME": str(d / "h"),
                         "HELM_DATA_HOME": str(d / "h")})
        out = {}
        for name, args in (("version", ["version", "--short"]), ("template", ["template", "t", str(tgz)])):
            direct, wrapped = [], []
            for i in range(runs + 1):
                a, b = _time([helm, *args], env), _time([wrapper, *args], env)
                if i:  # the first pair is the warm-up
                    direct.append(a)
                    wrapped.append(b)
            dm, wm = statistics.median(direct), statistics.median(wrapped)
            out[name] = {"direct_ms": round(dm * 1000, 1), "wrapped_ms": round(wm * 1000, 1),
                         "overhead_ms": round((wm - dm) * 1000, 1), "ratio": round(dm / wm, 3)}
            print(f"{name}: {out[name]}", file=sys.stderr)
        lines = (d / "helm-calls.jsonl").read_text().splitlines()
        out["jsonl_lines"] = len(lines)  # one per wrapped call
        out["runs"] = runs
    print(json.dumps(out))


if __name__ == "__main__":
    main()
