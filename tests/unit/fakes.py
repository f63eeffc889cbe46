"""Fakes for the step logic's collaborators: a clock, pods, Kubernetes, helm. No cluster, no MariaDB."""
from __future__ import annotations

import contextlib
import dataclasses
from dataclasses import dataclass, field
from typing import Iterator, Optional

from c7n_upgrade.access import ClusterAccess
from c7n_upgrade.helm import CommandResult, HelmError, Release, command_line
from c7n_upgrade.kube import JobInfo
from c7n_upgrade.kube.pods import image_tag
from c7n_upgrade.probes import Health
from c7n_upgrade.settings import HttpAccess


class FakeClock:
    """A clock that only moves when the code under test sleeps."""

    def __init__(self):
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.sleeps.append(seconds)
        self.now += seconds


@dataclass
class Pod:
    name: str
    version: str
    ready: bool = True
    deleting: bool = False
    ip: str = "127.20.0.1"
    phase: str = "Running"
    release: str = ""
    image: str = ""  # the main container's image ("": none given)
    waiting: list = field(default_factory=list)  # "container: reason", as PodInfo has them
    restart_count: int = 0
    containers: list = field(default_factory=list)  # kube.ContainerState, as PodInfo has them
    conditions: list = field(default_factory=list)

    @property
    def images(self) -> list[str]:
        return [self.image] if self.image else []

    @property
    def image_tag(self):
        return image_tag(self.image) if self.image else None

    def describe(self) -> str:
        return f"{self.name}: ready={self.ready} version={self.version}"


@dataclass
class FakeKube:
    """Pods by release and hook Jobs by name; records what was asked and deleted."""

    pods: dict[str, list[Pod]] = field(default_factory=dict)
    jobs: dict[str, JobInfo] = field(default_factory=dict)
    deleted: list[str] = field(default_factory=list)
    asked: list[str] = field(default_factory=list)
    recorded: list[dict] = field(default_factory=list)  # the namespace's events, as the API lists them

    def events(self, field_selector=None) -> list[dict]:
        return list(self.recorded)

    def pods_of_release(self, release: str) -> list[Pod]:
        self.asked.append(release)
        return list(self.pods.get(release, []))

    def list_pods(self, label_selector=None) -> list[Pod]:
        key, _, value = (label_selector or "").partition("=")
        if key == "choerodon.io/release" and not value:  # every release's pods (ClusterAccess.pods_by_release)
            return [dataclasses.replace(p, release=release) for release, pods in self.pods.items() for p in pods]
        return [p for pods in self.pods.values() for p in pods if key == "job-name" and p.release == value]

    def hook_jobs(self, names) -> list[JobInfo]:
        return [self.jobs[n] for n in names if n in self.jobs]

    def delete_job(self, name: str) -> JobInfo:
        self.deleted.append(name)
        return self.jobs.pop(name)

    def pod_log_tail(self, pod: str, lines: int = 50, container=None, previous: bool = False) -> str:
        return f"{'previous ' if previous else ''}log of {pod}\nits last line"

    def recent_events(self, limit: int = 30) -> list[str]:
        return ["an event"]


def job(name: str, *, finished: bool) -> JobInfo:
    return JobInfo(name=name, active=0 if finished else 1, succeeded=1 if finished else 0, failed=0,
                   finished=finished, condition="Complete" if finished else None)


def release(name: str, chart: str, version: str, status: str = "deployed") -> Release:
    return Release(name=name, namespace="ns", revision=1, status=status, chart=f"{chart}-{version}",
                   chart_name=chart, chart_version=version)


class FakeHelm:
    """What HelmClient offers the step logic, over an in-memory list of releases.

    A write moves the release to the chart version it names (as `helm upgrade` does) unless `fail`
    holds an error text; `writes` records every write's argv and the values files' contents."""

    namespace = "ns"

    def __init__(self, releases: list[Release], values: Optional[dict] = None, fail: str = ""):
        self.releases = {r.name: r for r in releases}
        self.values = values or {}
        self.fail = fail
        self.writes: list[list[str]] = []
        self.written_values: list[list[str]] = []
        self.lists = 0
        self.values_read: list[str] = []

    def list_releases(self, only=None) -> list[Release]:
        self.lists += 1
        return [r for r in self.releases.values() if only is None or r.name == only]

    def get_values(self, name: str) -> dict:
        self.values_read.append(name)
        return dict(self.values.get(name, {}))

    def build_argv(self, action, name, chart_ref, *, version, values_files=(), timeout_s=600) -> list[str]:
        argv = ["helm", action, name, chart_ref, "--version", version]
        for path in values_files:
            argv += ["-f", str(path)]
        return argv + ["--timeout", str(timeout_s)]

    @staticmethod
    def command_line(argv) -> str:
        return command_line(argv)

    def write(self, action, name, chart_ref, **kwargs) -> CommandResult:
        argv = self.build_argv(action, name, chart_ref, **kwargs)
        self.writes.append(argv)
        self.written_values.append([open(p).read() for p in kwargs.get("values_files", ())])
        if self.fail:
            raise HelmError(CommandResult(argv, 1, "", f"Error: {self.fail}\n"))
        chart = chart_ref.split("/", 1)[1]
        self.releases[name] = release(name, chart, kwargs["version"])
        return CommandResult(argv, 0, "done\n", "")


class RecordingReporter:
    """A Reporter that keeps everything in memory: step titles, attachments, notes and progress lines."""

    def __init__(self) -> None:
        self.attachments: dict[str, str] = {}
        self.steps: list[str] = []
        self.lines: list[str] = []

    @contextlib.contextmanager
    def step(self, title: str) -> Iterator[None]:
        self.steps.append(title)
        yield

    def attach(self, name: str, body: str, kind: str = "text") -> None:
        self.attachments[name] = body

    def progress(self, line: str) -> None:
        self.lines.append(line)

    def note(self, line: str) -> None:
        self.lines.append(line)

    def text(self) -> str:
        """Everything recorded, for "does it show anywhere" checks."""
        return "\n".join([*self.steps, *self.lines, *self.attachments, *self.attachments.values()])


UP = Health("UP", 200, {"status": "UP"}, None, '{"status":"UP"}')
DOWN = Health("DOWN", 503, {"status": "DOWN"}, None, '{"status":"DOWN"}')


class FakeAccess(ClusterAccess):
    """The real ClusterAccess (so the real rollout rule runs) over FakeKube; each pod answers
    `health[pod name]`, UP when not given."""

    def __init__(self, kube: FakeKube, health: Optional[dict] = None, said: Optional[dict] = None):
        super().__init__(kube, HttpAccess("direct", 1.0))
        self.health = health if health is not None else {}
        self.said = said if said is not None else {}  # pod name -> the version its /info states

    def pod_health(self, pod, port: int, path: str = "/health") -> Health:
        return self.health.get(pod.name, UP)

    def reported_version(self, pod, port: int, path: str = "/info"):
        return self.said.get(pod.name)
