"""Install and upgrade: values as helm computes them, rendering, hook Jobs, the release's objects,
--wait, and the revision records; shared by the CLI and the sandbox bootstrap."""
from __future__ import annotations

import base64
import copy
import time
from dataclasses import dataclass
from typing import Any, Optional

from c7n_upgrade.sandbox import charts as chartlib
from c7n_upgrade.sandbox.kubeapi import KubeApi, KubeApiError

from .errors import HelmCliError
from .formats import rfc3339
from .repos import ChartPackage
from .storage import ReleaseStorage, StoredRelease


def _hook_records(pkg: ChartPackage, objects: list[dict], now: float) -> list[dict]:
    records = []
    for obj in objects:
        if obj["kind"] != "Job":
            continue
        path = f"{pkg.meta['name']}/" + chartlib.hook_template(_hook_name(obj, pkg))
        records.append({"name": obj["metadata"]["name"], "kind": "Job", "path": path,
                        "manifest": chartlib.dump_yaml(obj), "events": ["pre-install", "pre-upgrade"],
                        "last_run": {"started_at": rfc3339(now), "completed_at": rfc3339(now), "phase": "Succeeded"},
                        "weight": 1})
    return records


def _hook_name(job: dict, pkg: ChartPackage) -> str:
    name = job["metadata"]["name"]
    return next((h for h in pkg.hooks if name.endswith("-" + h)), name)


def _manifest(pkg: ChartPackage, objects: list[dict]) -> str:
    """The release manifest as helm writes it: non-hook objects in helm's install order (Service
    before Deployment), each under its `# Source:` line."""
    docs = []
    for obj in sorted((o for o in objects if o["kind"] != "Job"), key=lambda o: o["kind"] != "Service"):
        template = "deployment.yaml" if obj["kind"] == "Deployment" else "service.yaml"
        docs.append(f"---\n# Source: {pkg.meta['name']}/templates/{template}\n" + chartlib.dump_yaml(obj))
    return "\n".join(docs)


def _chart_templates(pkg: ChartPackage) -> list[dict]:
    """The chart's templates as helm stores them in a release (base64 `data`)."""
    return [{"name": path, "data": base64.b64encode(text.encode()).decode()} for path, text in pkg.templates.items()]


def _apply(api: KubeApi, obj: dict) -> None:
    resource = {"Deployment": "deployments.apps", "Service": "services"}[obj["kind"]]
    ns, name = obj["metadata"]["namespace"], obj["metadata"]["name"]
    current = api.get_or_none(resource, ns, name)
    if current is None:
        api.create(resource, ns, obj)
        return
    obj = copy.deepcopy(obj)
    obj["metadata"]["resourceVersion"] = current["metadata"].get("resourceVersion")
    if obj["kind"] == "Service":
        for key in ("clusterIP", "clusterIPs"):
            if key in (current.get("spec") or {}):
                obj["spec"][key] = current["spec"][key]
    api.replace(resource, ns, name, obj)


def _run_hooks(api: KubeApi, jobs: list[dict], wait: bool, timeout: float) -> tuple[Optional[dict], str]:
    """Create the hook Jobs and mark them complete, or with `wait` (a fault fails them: the runtime runs
    them) wait for each as helm does. (the first Job whose name is taken, why a Job failed or "")."""
    for job in jobs:
        ns, name = job["metadata"]["namespace"], job["metadata"]["name"]
        try:
            created = api.create("jobs.batch", ns, job)
        except KubeApiError as err:
            if err.status == 409:
                return job, ""
            raise
        if wait:
            failed = _wait_job(api, ns, name, timeout)
            if failed:
                return None, failed
            continue
        now = rfc3339(time.time())
        created["status"] = {"succeeded": 1, "startTime": now, "completionTime": now,
                             "conditions": [{"type": "Complete", "status": "True", "lastProbeTime": now,
                                             "lastTransitionTime": now}]}
        try:
            api.replace_status("jobs.batch", ns, name, created)
        except KubeApiError:  # a server without the status subresource: fall back to a merge patch
            api.patch("jobs.batch", ns, name, {"status": created["status"]})
    return None, ""


def _wait_job(api: KubeApi, ns: str, name: str, timeout: float) -> str:
    """Until the Job is Complete ("") or Failed (helm's "job failed: REASON"), as helm watches a hook."""
    deadline = time.monotonic() + timeout
    while True:
        job = api.get_or_none("jobs.batch", ns, name) or {}
        for cond in (job.get("status") or {}).get("conditions") or []:
            if cond.get("status") == "True" and cond.get("type") in ("Complete", "Failed"):
                return "" if cond["type"] == "Complete" else f"job failed: {cond.get('reason', '')}"
        if time.monotonic() >= deadline:
            return "timed out waiting for the condition"
        time.sleep(0.2)


def _wait_ready(api: KubeApi, deployment: dict, timeout: float) -> bool:
    """--wait: until the Deployment has rolled out (its controller saw this spec, every replica is
    updated and available, no old pod is left), as `kubectl rollout status` reads its status."""
    ns, name = deployment["metadata"]["namespace"], deployment["metadata"]["name"]
    replicas = deployment["spec"]["replicas"]
    deadline = time.monotonic() + timeout
    while True:
        current = api.get_or_none("deployments.apps", ns, name) or {"metadata": {}}
        status = current.get("status") or {}
        if (status.get("observedGeneration", 0) >= current["metadata"].get("generation", 1)
                and status.get("updatedReplicas", 0) >= replicas and status.get("replicas", 0) <= replicas
                and status.get("availableReplicas", 0) >= replicas):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.2)


@dataclass
class DeployResult:
    release: StoredRelease
    installed: bool            # a first install (also via upgrade --install)
    objects: list


def deploy(api: KubeApi, *, name: str, pkg: ChartPackage, supplied: dict, namespace: str, dialect: int,
           tiller_ns: str = "kube-system", mode: str = "upgrade", install_missing: bool = False,
           reuse_values: bool = False, reset_values: bool = False, dry_run: bool = False, wait: bool = False,
           timeout: float = 300.0, create_hooks: bool = True, fail_message: Optional[str] = None,
           wait_hooks: bool = False) -> DeployResult:
    """Install (mode="install") or upgrade a release; raises HelmCliError with helm's message."""
    storage = ReleaseStorage(api, dialect, tiller_ns)
    history = storage.history(name, namespace if dialect == 3 else None)
    installing = mode == "install" or (not history and install_missing)
    prefix = ("INSTALLATION FAILED: " if dialect == 3 else "") if installing else "UPGRADE FAILED: "
    if mode == "install" and history:
        if dialect == 3 and history[-1].status not in ("uninstalled",):
            raise HelmCliError("INSTALLATION FAILED: cannot re-use a name that is still in use")
        if dialect == 2:
            raise HelmCliError(f"a release named {name} already exists.")
    current = None
    if not installing:
        if not history:
            raise HelmCliError(f'UPGRADE FAILED: "{name}" has no deployed releases')
        if history[-1].status.startswith("pending-"):
            raise HelmCliError("UPGRADE FAILED: another operation (install/upgrade/rollback) is in progress")
        deployed = [r for r in history if r.status == "deployed"]
        current = deployed[-1] if deployed else None
        if current is None and dialect == 3 and history[-1].status in ("failed", "superseded"):
            current = history[-1]
        if current is None:
            raise HelmCliError(f'UPGRADE FAILED: "{name}" has no deployed releases')
    # values, as helm computes them
    chart_values = pkg.values
    config = supplied
    if current is not None and not reset_values:
        if reuse_values:
            chart_values = current.computed_values()
            config = chartlib.deep_merge(current.config, supplied)
        elif not supplied:
            config = copy.deepcopy(current.config)
    computed = chartlib.deep_merge(chart_values, config)
    objects = chartlib.render(name, pkg.meta["name"], str(pkg.meta["version"]), computed, namespace,
                              pkg.health_port, pkg.service_port, pkg.hooks)
    now = float(int(time.time()))
    version = (history[-1].version + 1) if history else 1
    rel = StoredRelease(name=name, namespace=namespace, version=version,
                  status="pending-install" if installing else "pending-upgrade",
                  first_deployed=history[0].first_deployed if history else now, last_deployed=now,
                  description="Dry run complete" if dry_run else ("Initial install underway" if installing else "Preparing upgrade"),
                  chart=dict(pkg.meta), chart_values=chart_values, config=config, templates=_chart_templates(pkg),
                  manifest=_manifest(pkg, objects), hooks=_hook_records(pkg, objects, now))
    if dry_run:
        return DeployResult(rel, installing, objects)
    storage.create(rel)

    def fail(message: str, description: str):
        rel.status, rel.description = "failed", description
        storage.update(rel)
        if dialect == 2 and installing:
            raise HelmCliError(f"release {name} failed: {message}")
        raise HelmCliError(prefix + message)

    if fail_message:  # the helm-fail fault: a pre-upgrade hook that never finishes; the revision is failed
        fail(fail_message, f"Release \"{name}\" failed: {fail_message}")
    jobs = [o for o in objects if o["kind"] == "Job"]
    if create_hooks and jobs:
        event = "pre-install" if installing else "pre-upgrade"
        taken, failed = _run_hooks(api, jobs, wait_hooks, timeout)
        if failed:  # the hook-fail fault: a hook Job failed
            fail(f"{event} hooks failed: {failed}",
                 f'{"Release" if installing else "Upgrade"} "{name}" failed: {event} hooks failed: {failed}')
        if taken is not None:
            path = f"{pkg.meta['name']}/{chartlib.hook_template(_hook_name(taken, pkg))}"
            exists = f'jobs.batch "{taken["metadata"]["name"]}" already exists'
            if dialect == 3:
                fail(f"{event} hooks failed: warning: Hook {event} {path} failed: {exists}",
                     f"failed {event}: warning: Hook {event} {path} failed: {exists}")
            fail(f"{event} hooks failed: {exists}", f"Release {name} failed: {exists}")
    for obj in objects:
        if obj["kind"] != "Job":
            _apply(api, obj)
    if wait and not _wait_ready(api, objects[0], timeout):
        fail("timed out waiting for the condition",
             f"Release \"{name}\" failed: timed out waiting for the condition")
    if current is not None:
        for old in history:
            if old.status == "deployed":
                old.status = "superseded"
                storage.update(old)
    rel.status = "deployed"
    rel.description = "Install complete" if installing else "Upgrade complete"
    storage.update(rel)
    return DeployResult(rel, installing, objects)


def _library_package(chart: str, version: str, plan_step: Any) -> ChartPackage:
    """The chart package as the repo would serve it, for the library entry points."""
    step = plan_step or {}
    service_port = int(chartlib._field(step, "service_port", None) or 8080)
    spec = chartlib.Chart(name=chart, version=str(version), service_port=service_port,
                          health_port=chartlib._field(step, "health_port"),
                          hooks=tuple(chartlib._field(step, "hooks") or ()))
    return ChartPackage(spec.chart_yaml(), chartlib.default_values(spec), spec.hooks,
                        spec.service_port, spec.health_port, spec.templates())


def install_release(api: KubeApi, *, name: str, chart: str, version: str, values: dict, namespace: str,
                    dialect: int, tiller_ns: str = "kube-system", plan_step: Any = None,
                    create_hooks: bool = True) -> StoredRelease:
    """Install like `helm install`, without a helm-calls.jsonl line (used by the sandbox bootstrap)."""
    pkg = _library_package(chart, version, plan_step)
    return deploy(api, name=name, pkg=pkg, supplied=values or {}, namespace=namespace, dialect=dialect,
                  tiller_ns=tiller_ns, mode="install", create_hooks=create_hooks).release
