"""One step of the plan: upgrade (or install) its release with the kept values, and prove the rollout.

`ReleaseUpgrade.apply` decides from what it observes, in this order:
- a release the plan upgrades that helm does not list, one on another chart, one left pending by
  an interrupted helm call, one whose values pin its image (`image.tag`) to another version: the
  step fails before any helm call, naming what to do;
- helm lists it at the target, deployed, with the plan's values already in, and every pod is there,
  Ready and UP over the settle window (`rollout.confirm`): already upgraded, no helm call (`wait` and
  `observe_now` then rest on that window, not a second one);
- the same without the pods there: no second helm call, the pods are waited for (an earlier run
  failed while waiting);
- otherwise: finished hook Jobs of earlier installs are removed, then `helm upgrade`/`install` with
  the release's current values (0600 file) and the plan's values on top (a second 0600 file);
  in a dry run the command is recorded instead.
`wait` then waits for the rollout (`rollout.wait` under the env's `RolloutPolicy`: every pod on the
target label and image, UP for the settle window) and asks each pod's `/info` which version it runs.
"""
from __future__ import annotations

import contextlib
import re
import time
import dataclasses
from dataclasses import dataclass
from typing import Any, Mapping, Optional

import yaml

from . import helm as helmlib
from . import i18n, rollout
from .access import ClusterAccess
from .kube import KubeError
from .plan import Step
from .releases import Releases, ReleaseView
from .report import StepLog
from .stability import UNHEALTHY_PODS, StabilityWatch, probe_failures, recorded
from .terminal import TerminalWatch


@dataclass
class UpgradeOutcome:
    """What `apply` did, with what it observed."""

    action: str                       # upgraded | installed | already-upgraded | waited | dry-run
    release: str
    listed: Optional[ReleaseView] = None           # helm's listing of the release after the action
    rollout: Optional[rollout.RolloutState] = None  # the pods observed (already-upgraded)
    command: str = ""                              # dry run: the helm command it would run (redacted)


def image_pins(values: dict, version: str) -> list[str]:
    """The values keys that pin the service's image to another version than `version` (`image.tag`):
    kept over the upgrade, they would run the old image under the new chart's labels."""
    image = values.get("image") if isinstance(values, dict) else None
    tag = image.get("tag") if isinstance(image, dict) else None
    if tag is None or str(tag) in ("", version):
        return []
    return [f"image.tag: {tag}"]


def pin_advice(release: str, chart_ref: str, chart_version: str, pins: list[str], version: str) -> str:
    """What to tell an operator whose release's values pin its image."""
    return (f"release {release}'s values pin {', '.join(pins)}: the upgrade to {version} would keep that image "
            f"running under {version}'s labels. Remove the pin first, keeping the release where it is: "
            f"`helm get values {release} > v.yaml`, delete the key from v.yaml, then "
            f"`helm upgrade {release} {chart_ref} --version {chart_version} -f v.yaml`; re-run after that")


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


@dataclass(eq=False, kw_only=True)
class ReleaseUpgrade:
    """One step of the plan against one installation (see the module's docstring)."""

    step: Step
    helm: Any                         # helm.HelmClient (or a fake with its methods)
    kube: Any                         # kube.KubeClient: hook Jobs, diagnostics
    releases: Releases
    access: ClusterAccess
    policy: rollout.RolloutPolicy
    chart_repo: str                   # the chart repo's name: `helm upgrade R <chart_repo>/<chart>`
    values: Optional[Mapping[str, Any]]  # the step's plan values, rendered once (None: the env gives none)
    log: StepLog
    dry_run: bool = False
    total_steps: int = 0
    values_dir: Optional[str] = None  # the run's private directory for values files (None: the temp dir)
    stability: StabilityWatch = dataclasses.field(default_factory=StabilityWatch)  # the run's, shared by its steps
    outcome: Optional[UpgradeOutcome] = None
    observed: Optional[rollout.RolloutState] = None  # the last settled observation (wait, observe_now)

    @property
    def release(self) -> str:
        return self.releases.name_of(self.step)

    # ---- deciding -------------------------------------------------------------------------
    def observe_done(self, view: ReleaseView) -> Optional[rollout.RolloutState]:
        """The settled observation that proves the step done (helm at the target, deployed, every pod
        there, Ready and UP over the settle window, as a rollout ends), or None."""
        if not view.at_target(self.step.version):
            return None
        try:
            state = rollout.confirm(lambda: self.access.observe(self.step, view.name, self.step.version), self.policy,
                                    history=self.history(view.name, self.step.version))
        except rollout.RolloutNotDone:
            return None
        except rollout.RolloutUnstable as exc:  # history does not heal: the step fails, not "waited"
            self.attach_diagnostics(view.name, exc.last)
            raise self.log.failed(unstable_reason(view.name, exc.problems, exc.elapsed)) from None
        if self.access.version_problems(state.pods, self.step.health_port, self.step.version):
            return None
        return state

    def _settled_by_apply(self) -> Optional[rollout.RolloutState]:
        """The settled observation `apply` proved "already upgraded" with (None otherwise): the
        rollout's verdict rests on it instead of a second settle window."""
        outcome = self.outcome
        return outcome.rollout if outcome is not None and outcome.action == "already-upgraded" else None

    def _refuse(self, view: ReleaseView) -> None:
        step, name = self.step, view.name
        if step.action == "upgrade" and not view.exists:
            raise self.log.failed(f"release {name} (chart {step.chart}) is not installed in namespace "
                                  f"{self.helm.namespace}; pin its name under 'releases:' in the env file")
        if view.exists and view.chart_name and view.chart_name != step.chart:
            raise self.log.failed(f"release {name} runs chart {view.chart_name}, the plan expects {step.chart}")
        if view.status and view.status.startswith("pending"):
            raise self.log.failed(f"release {name} is {view.status}: an earlier helm operation was interrupted. "
                                  f"Check `helm history {name}`, roll back to the last deployed revision "
                                  f"(`helm rollback {name} REVISION`), then re-run")

    def _extra_values(self) -> dict:
        if not self.step.values:
            return {}
        if self.values is None:
            raise self.log.failed(f"step {self.step.number} ({self.step.release}) has values to fill, "
                                  "and the env file gives no 'mysql' section to fill them")
        return dict(self.values)

    # ---- the helm work --------------------------------------------------------------------
    def apply(self) -> UpgradeOutcome:
        step, log = self.step, self.log
        view = self.releases.fresh(step)  # this release as helm has it now; the others need no new listing
        name = view.name
        self._refuse(view)
        current = self.releases.values(name) if view.exists else {}
        extra = helmlib.dotted_to_nested(self._extra_values())
        merged = helmlib.deep_merge(current, extra)
        pins = image_pins(merged, step.version)
        if pins:  # before any helm call, the dry run's included: never carry an old image over
            raise log.failed(pin_advice(name, f"{self.chart_repo}/{step.chart}", view.chart_version or "?",
                                        pins, step.version))
        diff = helmlib.values_diff(current, merged)
        if view.at_target(step.version) and not diff:
            # helm is done and the plan's values are in: no second helm call
            done = self.observe_done(view)
            if done is not None:
                with log.step("already", release=name, new=step.version):
                    pass
                return self._outcome(UpgradeOutcome("already-upgraded", name, listed=view, rollout=done))
            # the pods were not there (an earlier run failed while waiting): wait again
            return self._outcome(UpgradeOutcome("waited", name, listed=view))
        shown = helmlib.shown_diff(current, merged, helmlib.plan_keys(step.values))
        log.attach(f"values diff {name}", shown or "(no change)", "diff")

        action = "upgrade" if view.exists else "install"
        title = (dict(key="upgrade", release=name, old=view.chart_version or "?", new=step.version)
                 if view.exists else dict(key="install", release=name, new=step.version))
        with log.step(**title):
            self.clear_hook_jobs(name)
            with contextlib.ExitStack() as stack:
                files = [stack.enter_context(helmlib.values_file(current, self.values_dir))]
                if extra:
                    files.append(stack.enter_context(helmlib.values_file(extra, self.values_dir)))
                args = dict(version=step.version, values_files=files, timeout_s=self.policy.timeout)
                chart_ref = f"{self.chart_repo}/{step.chart}"
                if self.dry_run:
                    command = log.redact(self.helm.command_line(self.helm.build_argv(action, name, chart_ref, **args)))
                    log.attach(f"helm command (dry run) {name}", command, "text")
                    log.progress(f"dry run [{step.number:02d}]: {command}")
                    return self._outcome(UpgradeOutcome("dry-run", name, listed=view, command=command))
                try:
                    result = self.helm.write(action, name, chart_ref, **args)
                except helmlib.HelmError as exc:
                    log.attach(f"helm {name}", _command_text(self.helm, exc.result), "text")
                    self._forget_listing(step)  # helm may have changed the release before it failed
                    raise log.failed(f"helm failed for {name}: {helmlib.error_line(exc.result)}"
                                     f"{self._failed_hooks(name)}") from None
                log.attach(f"helm {name}", _command_text(self.helm, result), "text")
        listed = self.releases.fresh(step)  # what helm says now
        if listed.status == "failed":  # helm answered, and marked the release failed: waiting cannot help
            raise log.failed(f"helm marked {name} failed after its {action} (helm status {name}){self._failed_hooks(name)}")
        return self._outcome(UpgradeOutcome("upgraded" if view.exists else "installed", name, listed=listed))

    def _outcome(self, outcome: UpgradeOutcome) -> UpgradeOutcome:
        self.outcome = outcome
        return outcome

    def clear_hook_jobs(self, release: str) -> list[str]:
        """Remove the finished hook Jobs an earlier install left (helm would refuse their names);
        fail while one still runs. Returns the names removed."""
        names = [f"{release}-{hook}" for hook in self.step.hooks]
        if not names:
            return []
        existing = self.kube.hook_jobs(names)
        active = [j for j in existing if not j.finished]
        if active:
            raise self.log.failed(f"hook Job(s) {', '.join(j.name for j in active)} still running: helm would "
                                  "refuse with 'already exists'; wait for them to finish (or investigate), "
                                  "then re-run")
        jobs = [j.name for j in existing if j.finished]
        if not jobs:
            return []
        if self.dry_run:
            self.log.note(f"dry run: would remove finished hook Jobs {', '.join(jobs)}")
            return []
        with self.log.step("hook_jobs"):
            for job in jobs:
                self.kube.delete_job(job)
            self.log.attach(f"hook jobs removed ({release})", "\n".join(f"deleted job {j}" for j in jobs))
            self.log.note(f"{release}: removed finished hook Jobs {', '.join(jobs)}")
        return jobs

    # ---- waiting --------------------------------------------------------------------------
    def wait(self) -> rollout.RolloutState:
        """Wait until every pod of the release is Ready, on the target version and UP, settled."""
        step, log = self.step, self.log
        name = self.release
        timeout = self.policy.timeout
        started = time.monotonic()
        last_line = {"t": 0.0, "line": ""}

        def on_progress(elapsed: float, state) -> None:
            if state is None:
                return
            line = i18n.progress(log.lang, n=step.number, total=self.total_steps, release=name,
                                 ready=state.ready, pods=state.total, version=step.version,
                                 on_version=state.on_target_version, up=state.health_up,
                                 elapsed=elapsed, timeout=timeout)
            detail = _not_up_text(state, log.lang)
            now = time.monotonic()
            what = line.rsplit("(", 1)[0] + detail  # the state without the clock
            # a line when the state changes, else a heartbeat: a long wait is not a screen of copies
            if what != last_line["line"] or now - last_line["t"] >= HEARTBEAT_S:
                log.progress(f"{line}{'; ' + detail if detail else ''}")
                last_line.update(t=now, line=what)

        with log.step("wait", release=name, new=step.version):
            try:
                state = self._settled_by_apply() or rollout.wait(
                    lambda: self.access.observe(step, name, step.version), self.policy,
                    on_progress=on_progress, retry_on=(KubeError,),
                    terminal=TerminalWatch(unschedulable_grace=self.policy.unschedulable_grace).check,
                    history=self.history(name, step.version))
            except (rollout.RolloutNotDone, rollout.RolloutUnstable, rollout.RolloutTerminal) as exc:
                self.attach_diagnostics(name, exc.last)
                earlier = self._earlier_failure()
                if earlier is not None and isinstance(exc, rollout.RolloutUnstable):
                    raise earlier from None  # its pods were Ready, then went with an earlier release
                raise log.failed(self._wait_failure(exc) + (f"; meanwhile {earlier}" if earlier else "")) from None
            log.attach(f"health {name}", _health_bodies(state), "json")
            self._check_what_it_says(name, state, step.version)
            log.note(i18n.say(log.lang, "r_settled", release=name, pods=state.total, version=step.version,
                              seconds=time.monotonic() - started))
        self.observed = state
        return state

    def _wait_failure(self, exc) -> str:
        name, version = self.release, self.step.version
        if isinstance(exc, rollout.RolloutUnstable):
            return unstable_reason(name, exc.problems, exc.elapsed)
        if isinstance(exc, rollout.RolloutTerminal):
            return (f"{name} cannot roll out to {version} (seen after {exc.elapsed:.0f}s; waiting would not heal "
                    f"it): {exc.terminal.describe()}{self._log_lines(exc.terminal)}")
        return f"{name} not rolled out to {version} after {self.policy.timeout:.0f}s: {why_not_done(exc.last, self.log.lang)}"

    def _earlier_failure(self):
        """An earlier step's release that became unstable meanwhile (`stability.EarlierStepUnstable`), or None.
        When this step's pods were Ready and then went too, it is the likelier cause (a service DOWN because
        config-server flapped); when they never were, this step stays the cause (its fault may be what took
        the earlier one down, as a database it broke) and the earlier one is named beside it."""
        try:
            return self.stability.earliest_unstable(self.access.pods_by_release(),
                                                    probe_failures(self.kube.events(UNHEALTHY_PODS)),
                                                    skip_step=self.step.number)
        except KubeError:
            return None

    def observe_now(self) -> Optional[rollout.RolloutState]:
        """Read-only, a dry run's verdict: the release as it runs now, at the version helm lists (the
        target, or the installed one before the upgrade), settled over the window a rollout ends with.
        None when it is not installed yet; the step fails when what runs is not Ready and UP throughout."""
        step, log = self.step, self.log
        view = self.releases.view(step)
        if not view.exists:
            return None
        version = view.chart_version or step.version

        def once() -> rollout.RolloutState:
            return self.access.observe(step, view.name, version)

        with log.step("observe", release=view.name, version=version):
            try:
                state = self._settled_by_apply() or rollout.confirm(once, self.policy,
                                                                    history=self.history(view.name, version))
            except rollout.RolloutNotDone as exc:
                self.attach_diagnostics(view.name, exc.last)
                raise log.failed(f"{view.name} at {version} is not healthy now: "
                                 f"{why_not_done(exc.last, log.lang)}") from None
            except rollout.RolloutUnstable as exc:
                self.attach_diagnostics(view.name, exc.last)
                raise log.failed(unstable_reason(view.name, exc.problems, exc.elapsed)) from None
            log.attach(f"health {view.name}", _health_bodies(state), "json")
            self._check_what_it_says(view.name, state, version)
        self.observed = state
        return state

    def history(self, release: str, version: str) -> rollout.History:
        """What Kubernetes recorded of the release's pods since this run saw them Ready (`stability.py`);
        the run keeps watching the release after its step."""
        self.stability.follow(release, version, self.step.number)

        def look(state: rollout.RolloutState) -> list[str]:
            if not state.done and not self.stability.marks.get(release):
                return []  # nothing marked before the rollout is done: no event list to read yet
            try:
                failures = probe_failures(self.kube.events(UNHEALTHY_PODS))
            except KubeError:  # this look cannot judge; the next one reads the events again
                return []
            return self.stability.look(release, version, state.pods, failures, done=state.done)
        return look

    def _check_what_it_says(self, release: str, state: rollout.RolloutState, version: str) -> None:
        """Fail the step when a pod's service states another version at /info than `version`: the
        label and the image tag say it, the service itself says otherwise."""
        said = self.access.version_problems(state.pods, self.step.health_port, version)
        if said:
            self.attach_diagnostics(release, state)
            raise self.log.failed(f"{release} is not running {version}: " + "; ".join(said))

    def _forget_listing(self, step) -> None:
        """After a failed helm call: list the release again, so that what the run reports later (the
        proof, the summary) is what helm has now; a failure here leaves helm's error the cause."""
        try:
            self.releases.fresh(step)
        except helmlib.HelmError:
            pass

    def _failed_hooks(self, release: str, lines: int = 5) -> str:
        """The release's hook Jobs that failed, each with its pod's state and last log lines ("" if none)."""
        try:
            failed = [j for j in self.kube.hook_jobs(f"{release}-{h}" for h in self.step.hooks) if j.condition == "Failed"]
            parts = []
            for job in failed:
                pods = self.kube.list_pods(f"job-name={job.name}")
                pod = pods[-1] if pods else None
                text = self.kube.pod_log_tail(pod.name, lines) if pod else ""
                shown = " | ".join(line.strip() for line in text.strip().splitlines()[-lines:] if line.strip())
                state = "; ".join(pod.waiting) if pod and pod.waiting else (pod.phase if pod else "no pod left")
                parts.append(f"hook Job {job.name} failed ({job.failed} pod(s) failed; {state})"
                             + (f", its last log lines: {shown}" if shown else ""))
        except KubeError as exc:  # the helm failure stays the cause; this only adds to it
            return f"; (its hook Jobs could not be read: {exc})"
        return "".join(f"; {p}" for p in parts)

    def _log_lines(self, terminal, lines: int = 5) -> str:
        """The last log lines of a terminal state's container, on one line (its last run when it crashed)."""
        if not terminal.container or terminal.reason != "CrashLoopBackOff":
            return ""
        text = self.kube.pod_log_tail(terminal.pod, lines, container=terminal.container, previous=True)
        shown = " | ".join(line.strip() for line in text.strip().splitlines()[-lines:] if line.strip())
        return f"; its last log lines: {shown}" if shown else ""

    def attach_diagnostics(self, release: str, state) -> None:
        """Pods, their log tails, recent events and the last health bodies: why it did not roll out."""
        log = self.log
        lines = []
        try:
            for pod in self.kube.pods_of_release(release):
                lines.append(pod.describe())
                log.attach(f"log tail {pod.name}", self.kube.pod_log_tail(pod.name, 50))
        except Exception as exc:  # diagnostics must never hide the real failure
            lines.append(f"(could not list pods: {exc})")
        log.attach(f"pods {release}", "\n".join(lines) or "(no pods)")
        try:
            log.attach("recent events", "\n".join(self.kube.recent_events(40)))
        except Exception as exc:
            log.attach("recent events", f"(could not read events: {exc})")
        if state is not None:
            log.attach(f"last health bodies {release}", _health_bodies(state), "json")


HEARTBEAT_S = 30.0  # an unchanged progress line is repeated at most this often


def _not_up_text(state, lang: str, *, causes: bool = False, limit: int = 3) -> str:
    """The pods whose health is not UP, with the status they gave (and, with `causes`, each DOWN
    component of their answer with its error: the cause, not the start of the body; the first
    `limit` pods, so the reason fits a screen; every body is in the report)."""
    if not state.not_up:
        return ""
    pods = sorted(state.not_up.items())
    if causes:
        parts = [f"{pod} {i18n.word(lang, 'answered')} {state.not_up_causes.get(pod, status)}"
                 for pod, status in pods[:limit]]
        if len(pods) > limit:
            parts.append(f"+{len(pods) - limit}")
    else:
        parts = [f"{pod} ({status})" for pod, status in pods]
    return i18n.word(lang, "not_up") + ": " + "; ".join(parts)


def unstable_reason(release: str, problems: list[str], elapsed: float) -> str:
    """Why a release that was Ready does not count as settled: what Kubernetes recorded since."""
    return f"{release} is not stable (seen after {elapsed:.0f}s): {recorded(problems)}"


def why_not_done(state, lang: str = "en") -> str:
    """Why a release is not rolled out, naming the pods: the rule's reasons, the pods not Ready,
    and the last answer of each pod not UP."""
    if state is None:
        return "no observation"
    parts = list(state.reasons())
    not_ready = state.not_ready()
    if not_ready:
        parts.append(i18n.word(lang, "not_ready") + ": " + ", ".join(not_ready))
    detail = _not_up_text(state, lang, causes=True)
    if detail:
        parts.append(detail)
    return "; ".join(parts) or "not done"


def _command_text(helm, result) -> str:
    """What the report keeps of a helm write: the command, its exit and time, and helm's error line. Not
    its whole output: the release's NOTES and a template error can quote values no allowlist vetted."""
    error = f"error: {helmlib.error_line(result)}\n" if result.exit_code else ""
    return (f"$ {helm.command_line(result.argv)}\n(exit {result.exit_code}, {result.duration:.1f}s)\n{error}"
            "(helm's own output is not kept here: it can quote the release's values)\n")


def _health_bodies(state) -> str:
    bodies = getattr(state, "health_bodies", None) or {}
    return yaml.safe_dump(bodies, sort_keys=True, allow_unicode=True) if bodies else "{}"
