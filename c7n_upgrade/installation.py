"""A Choerodon installation as the upgrade sees it, and the work of one plan step.

`Installation` ties the clients together (helm, Kubernetes, MySQL, platform API, probes) for one env.
`StepWork` does one step of the plan: find the release, decide whether it is already done, clear
leftover hook Jobs, run helm with the kept values, wait for the rollout and prove it.
Nothing here reads pytest config: the plugin builds these objects from the validated env.
"""
from __future__ import annotations

import contextlib
import re
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable, Optional

import yaml

from . import helm as helm_mod
from . import i18n, probes, waiters
from .kube import RELEASE_LABEL, KubeError
from .plan import Plan, Step
from .redact import Redactor, secret_like_values
from .report import NullReporter, Reporter


class StepFailed(Exception):
    """A step could not be completed; the message says why (already redacted)."""


@dataclass
class Outcome:
    action: str  # upgraded | installed | already-upgraded | dry-run | waited
    release: str
    detail: str = ""


@dataclass
class ReleaseView:
    """What helm says about a release (None fields when it is absent)."""

    name: str
    chart_name: Optional[str] = None
    chart_version: Optional[str] = None
    status: Optional[str] = None
    revision: Optional[int] = None

    @property
    def exists(self) -> bool:
        return self.status is not None


class Installation:
    def __init__(self, env, plan: Plan, *, helm, kube, redactor: Redactor,
                 reporter: Reporter | None = None, lang: str = "en", mysql_admin=None,
                 platform_factory: Callable | None = None):
        self.env = env
        self.plan = plan
        self.helm = helm
        self.kube = kube
        self.redactor = redactor
        self.reporter = reporter or NullReporter()
        self.lang = lang
        self.mysql_admin = mysql_admin
        self._platform_factory = platform_factory
        self._releases: Optional[list] = None
        self._platform = None

    # ---- releases -------------------------------------------------------------------------
    def helm_releases(self, refresh: bool = False) -> list:
        """Releases helm knows in the namespace; uninstalled ones (Helm 2 `list --all`) count as absent."""
        if self._releases is None or refresh:
            self._releases = [r for r in self.helm.list_releases() if r.status != "uninstalled"]
        return self._releases

    def release_name(self, step: Step) -> str:
        """The actual release name: pinned by the env, else found by chart, else the default."""
        pinned = self.env.release_name(step.release)
        if pinned:
            return pinned
        by_chart = [r for r in self.helm_releases() if r.chart_name == step.chart]
        if len(by_chart) == 1:
            return by_chart[0].name
        if len(by_chart) > 1:
            names = ", ".join(sorted(r.name for r in by_chart))
            exact = [r for r in by_chart if r.name == step.release]
            if exact:
                return exact[0].name
            raise StepFailed(f"several releases use chart {step.chart} ({names}); pin one under "
                             f"'releases: {{{step.release}: NAME}}' in the env file")
        return step.release

    def release_view(self, step: Step, refresh: bool = False) -> ReleaseView:
        name = self.release_name(step)
        for r in self.helm_releases(refresh):
            if r.name == name:
                return ReleaseView(name, r.chart_name, r.chart_version, r.status, r.revision)
        return ReleaseView(name)

    def release_values(self, name: str) -> dict:
        """`helm get values`, with every secret-looking value (passwords, tokens, keys) added to the
        redactor first, so that no dump or diff of them can show one."""
        values = self.helm.get_values(name)
        for secret in secret_like_values(values):
            self.redactor.add(secret)
        return values

    # ---- probing --------------------------------------------------------------------------
    def probe_pod_health(self, pod, port: int, path: str = "/health") -> probes.Health:
        timeout = self.env.timeouts.http
        if self.env.access == "proxy":
            try:
                status, _headers, body = self.kube.proxy_get(pod.name, port, path, timeout)
            except Exception as exc:  # unreachable through the API server
                return probes.Health(status="UNREACHABLE", code=None, body=None, error=str(exc))
            return probes.parse_health(status, body.decode("utf-8", "replace"))
        if not pod.ip:
            return probes.Health(status="UNREACHABLE", code=None, body=None, error="pod has no IP yet")
        return probes.get_health(f"http://{pod.ip}:{port}{path}", timeout)

    def service_get(self, service: str, port_name_or_number, path: str = "/") -> tuple[int, str]:
        """GET through a Service: its clusterIP in direct mode, the API server proxy otherwise."""
        svc = self.kube.service(service)
        port = _service_port(svc, port_name_or_number)
        timeout = self.env.timeouts.http
        if self.env.access == "proxy":
            status, _h, body = self.kube.proxy_service_get(service, port, path, timeout)
            return status, body.decode("utf-8", "replace")
        import requests

        resp = requests.get(f"http://{svc.cluster_ip}:{port}{path}", timeout=timeout,
                            headers={"Accept": "application/json, text/html;q=0.9, */*;q=0.5"})
        return resp.status_code, resp.text

    def rollout_state(self, step: Step, release: str, version: str, pods=None) -> "waiters.RolloutState":
        """One observation of the release: its pods (listed now, or the `pods` given) and their health."""
        port = step.health_port
        probe = (lambda pod: self.probe_pod_health(pod, port)) if port else None
        source = self.kube if pods is None else _GivenPods(pods)
        return waiters.observe_release(source, probe, release, version, port, "/health")

    def pods_by_release(self) -> dict[str, list]:
        """Every pod carrying a release label, grouped by release: one list call for a whole snapshot."""
        grouped: dict[str, list] = {}
        for pod in self.kube.list_pods(RELEASE_LABEL):
            grouped.setdefault(pod.release, []).append(pod)
        return grouped

    def eureka_instances(self) -> list:
        reg = self.plan.step("register-server") if _has(self.plan, "register-server") else None
        service = self.release_name(reg) if reg else "register-server"
        status, body = self.service_get(service, reg.service_port if reg else 8000, "/eureka/apps")
        self.reporter.attach("eureka /eureka/apps", self.redactor.redact(body), "json")
        if status != 200:
            raise StepFailed(f"Eureka answered HTTP {status}")
        return probes.parse_eureka(body, "application/json")

    # ---- platform API ---------------------------------------------------------------------
    def platform(self):
        if self._platform is None:
            from .platform import PlatformClient

            factory = self._platform_factory or (lambda url: PlatformClient(url, timeout=self.env.timeouts.http))
            client = factory(self.env.gateway_url)
            p = self.env.platform
            token = client.login(p.admin_user, p.admin_password.get_secret_value(),
                                 p.client_id, p.client_secret.get_secret_value())
            self.redactor.add(token)
            self._platform = client  # only once logged in
        return self._platform

    def attach_platform_exchanges(self, name: str) -> None:
        if self._platform is not None and getattr(self._platform, "exchanges", None):
            lines = [" ".join(str(x) for x in ex) for ex in self._platform.exchanges]
            self.reporter.attach(name, self.redactor.redact("\n".join(lines)))


class _GivenPods:
    """Answers `pods_of_release` from pods listed earlier (the post-upgrade snapshot)."""

    def __init__(self, pods: list):
        self._pods = pods

    def pods_of_release(self, release: str) -> list:
        return list(self._pods)


def _has(plan: Plan, release: str) -> bool:
    return any(s.release == release for s in plan.steps)


def _service_port(svc, wanted) -> int:
    """The Service's port for the plan's port; a single-port Service may serve it on another number
    (the sandbox without root serves port 80 on 8080)."""
    try:
        return svc.port(wanted)
    except KeyError:
        if len(set(svc.ports.values())) == 1:
            return svc.port()
        raise StepFailed(f"service {svc.name} has no port {wanted!r} (ports: {svc.ports})") from None


def render_values(values: dict, placeholders: dict) -> dict:
    """The plan's extra values with {placeholders} filled in from the env (dotted keys kept).
    A value that is a single placeholder keeps the placeholder's type (a port stays an int)."""
    out = {}
    for key, value in values.items():
        if not isinstance(value, str):
            out[key] = value
        elif (whole := re.fullmatch(r"\{(\w+)\}", value)) and whole.group(1) in placeholders:
            out[key] = placeholders[whole.group(1)]
        else:
            out[key] = value.format(**placeholders)
    return out


class StepWork:
    """One step of the plan against one installation."""

    def __init__(self, inst: Installation, step: Step, *, dry_run: bool = False,
                 total_steps: int | None = None):
        self.inst = inst
        self.step = step
        self.dry_run = dry_run
        self.total = total_steps or len(inst.plan.steps)
        self.outcome: Optional[Outcome] = None

    @property
    def release(self) -> str:
        return self.inst.release_name(self.step)

    def _t(self, key: str, **kw) -> str:
        return i18n.title(self.inst.lang, key, **kw)

    # ---- deciding -------------------------------------------------------------------------
    def is_done(self, view: ReleaseView) -> bool:
        """At the target chart version, deployed, every pod Ready on that version and UP."""
        if not (view.exists and view.chart_version == self.step.version and view.status == "deployed"):
            return False
        state = self.inst.rollout_state(self.step, view.name, self.step.version)
        return state.done

    # ---- the helm work --------------------------------------------------------------------
    def apply(self) -> Outcome:
        step, inst, rep, red = self.step, self.inst, self.inst.reporter, self.inst.redactor
        view = inst.release_view(step, refresh=True)
        name = view.name
        if step.action == "upgrade" and not view.exists:
            raise StepFailed(f"release {name} (chart {step.chart}) is not installed in namespace "
                             f"{inst.env.namespace}; pin its name under 'releases:' in the env file")
        if view.exists and view.chart_name and view.chart_name != step.chart:
            raise StepFailed(f"release {name} runs chart {view.chart_name}, the plan expects {step.chart}")
        if view.status and view.status.startswith("pending"):
            raise StepFailed(f"release {name} is {view.status}: an earlier helm operation was interrupted. "
                             f"Check `helm history {name}`, roll back to the last deployed revision "
                             f"(`helm rollback {name} REVISION`), then re-run")
        if self.is_done(view):
            with rep.step(self._t("already", release=name, new=step.version)):
                pass
            self.outcome = Outcome("already-upgraded", name, f"{name} already at {step.version}")
            return self.outcome

        current = inst.release_values(name) if view.exists else {}
        extra = render_values(step.values, inst.env.placeholders(step.database))
        new_values = helm_mod.deep_merge(current, helm_mod.dotted_to_nested(extra))
        diff = helm_mod.values_diff(current, new_values)
        if view.exists and view.chart_version == step.version and view.status == "deployed" and not diff:
            # helm is done and the values are right; the pods were not (an earlier run failed there):
            # wait again, no second helm call
            self.outcome = Outcome("waited", name, f"{name} already at chart {step.version}; waiting for pods")
            return self.outcome
        rep.attach(f"values diff {name}", red.redact(diff or "(no change)"), "diff")

        chart_ref = f"{inst.env.helm.repo_name}/{step.chart}"
        title = (self._t("upgrade", release=name, old=view.chart_version or "?", new=step.version)
                 if view.exists else self._t("install", release=name, new=step.version))
        with rep.step(title):
            self.clear_hook_jobs(name)
            with contextlib.ExitStack() as stack:
                files = [stack.enter_context(helm_mod.values_file(current))]
                if extra:
                    files.append(stack.enter_context(helm_mod.values_file(helm_mod.dotted_to_nested(extra))))
                action = "upgrade" if view.exists else "install"
                if self.dry_run:
                    argv = inst.helm.build_argv(
                        action, name, chart_ref,
                        version=step.version, values_files=files, timeout_s=int(inst.env.timeouts.step))
                    rep.attach(f"helm command (dry run) {name}", red.redact(inst.helm.command_line(argv)), "text")
                    rep.progress(red.redact(f"dry run [{step.number:02d}]: {inst.helm.command_line(argv)}"))
                    self.outcome = Outcome("dry-run", name, red.redact(inst.helm.command_line(argv)))
                    return self.outcome
                try:
                    result = inst.helm.write(action, name, chart_ref, version=step.version, values_files=files,
                                             timeout_s=int(inst.env.timeouts.step))
                except helm_mod.HelmError as exc:
                    res = exc.result
                    rep.attach(f"helm {name}", red.redact(_command_text(inst.helm, res)), "text")
                    raise StepFailed(red.redact(f"helm failed for {name}: {helm_mod.error_line(res)}")) from None
                rep.attach(f"helm {name}", red.redact(_command_text(inst.helm, result)), "text")
        inst._releases = None
        self.outcome = Outcome("upgraded" if view.exists else "installed", name)
        return self.outcome

    def clear_hook_jobs(self, release: str) -> list[str]:
        names = [f"{release}-{hook}" for hook in self.step.hooks]
        if not names:
            return []
        existing = self.inst.kube.hook_jobs(names)
        active = [j for j in existing if not j.finished]
        if active:
            raise StepFailed(f"hook Job(s) {', '.join(j.name for j in active)} still running: helm would refuse "
                             "with 'already exists'; wait for them to finish (or investigate), then re-run")
        jobs = [j for j in existing if j.finished]
        if not jobs:
            return []
        if self.dry_run:
            self.inst.reporter.note(f"dry run: would remove finished hook Jobs {', '.join(j.name for j in jobs)}")
            return []
        with self.inst.reporter.step(self._t("hook_jobs")):
            for job in jobs:
                self.inst.kube.delete_job(job.name)
            lines = [f"deleted job {j.name}" for j in jobs]
            self.inst.reporter.attach(f"hook jobs removed ({release})", "\n".join(lines))
            self.inst.reporter.note(f"{release}: removed finished hook Jobs {', '.join(j.name for j in jobs)}")
        return [j.name for j in jobs]

    # ---- waiting and proving --------------------------------------------------------------
    def wait(self) -> "waiters.RolloutState":
        step, inst = self.step, self.inst
        name = self.release
        timeout = float(inst.env.timeouts.step)
        started = time.monotonic()
        last_line = {"t": 0.0, "line": ""}

        def on_progress(elapsed: float, state) -> None:
            if state is None:
                return
            line = i18n.progress(inst.lang, n=step.number, total=self.total, release=name,
                                 ready=state.ready, pods=state.total, version=step.version,
                                 on_version=state.on_target_version, up=state.health_up,
                                 elapsed=elapsed, timeout=timeout)
            now = time.monotonic()
            what = line.rsplit("(", 1)[0]  # the state without the clock
            if what != last_line["line"] or now - last_line["t"] > 10:
                inst.reporter.progress(line)
                last_line.update(t=now, line=what)

        with inst.reporter.step(self._t("wait", release=name, new=step.version)):
            try:
                state = waiters.wait_for_release(
                    lambda: inst.rollout_state(step, name, step.version), timeout=timeout,
                    on_progress=on_progress, interval=0.2, backoff=1.3,
                    max_interval=float(inst.env.timeouts.poll_max), settle_checks=3, settle_seconds=0.6,
                    retry_on=(KubeError,))
            except waiters.WaitTimeout as exc:
                self.attach_diagnostics(name, exc.last)
                last = exc.last
                summary = "; ".join(last.reasons()) if last else "no observation"
                raise StepFailed(f"{name} not rolled out to {step.version} after {timeout:.0f}s: {summary}") from None
            inst.reporter.attach(f"health {name}", inst.redactor.redact(_health_bodies(state)), "json")
            inst.reporter.note(f"{name}: {state.total} pod(s) on {step.version}, all UP "
                               f"({time.monotonic() - started:.1f}s)")
        return state

    def attach_diagnostics(self, release: str, state) -> None:
        inst, red = self.inst, self.inst.redactor
        lines = []
        try:
            for pod in inst.kube.pods_of_release(release):
                lines.append(pod.describe())
                inst.reporter.attach(f"log tail {pod.name}", red.redact(inst.kube.pod_log_tail(pod.name, 50)))
        except Exception as exc:  # diagnostics must never hide the real failure
            lines.append(f"(could not list pods: {exc})")
        inst.reporter.attach(f"pods {release}", red.redact("\n".join(lines) or "(no pods)"))
        try:
            inst.reporter.attach("recent events", red.redact("\n".join(inst.kube.recent_events(40))))
        except Exception as exc:
            inst.reporter.attach("recent events", f"(could not read events: {exc})")
        if state is not None:
            inst.reporter.attach(f"last health bodies {release}", red.redact(_health_bodies(state)), "json")

    def check_eureka(self) -> None:
        step, inst = self.step, self.inst
        with inst.reporter.step(self._t("eureka", app=step.chart, new=step.version)):
            instances = inst.eureka_instances()
            problems = probes.eureka_version_problems(instances, {step.chart: step.version})
            if problems:
                raise StepFailed("; ".join(problems))


def _command_text(helm, result) -> str:
    return (f"$ {helm.command_line(result.argv)}\n(exit {result.exit_code}, {result.duration:.1f}s)\n"
            f"{result.stdout}{result.stderr}")


def _health_bodies(state) -> str:
    bodies = getattr(state, "health_bodies", None) or {}
    return yaml.safe_dump(bodies, sort_keys=True, allow_unicode=True) if bodies else "{}"


def tcp_reachable(host: str, port: int, timeout: float = 5.0) -> tuple[bool, str]:
    """A plain TCP connect (what `nc -z` does) and the first bytes the server sends, if any."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.settimeout(1.0)
            try:
                banner = sock.recv(64).decode("ascii", "replace").strip()
            except OSError:
                banner = ""
            return True, banner
    except OSError as exc:
        return False, str(exc)


def parallel_map(fn, items, workers: int = 16) -> list:
    items = list(items)
    if len(items) <= 1:
        return [fn(i) for i in items]
    with ThreadPoolExecutor(max_workers=min(workers, len(items))) as pool:
        return list(pool.map(fn, items))
