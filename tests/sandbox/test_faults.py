"""Sandbox fault kinds: one registry, the spec syntax, D/faults.json, and what each kind's hooks do."""
import json
import re
from pathlib import Path
from types import SimpleNamespace

import pytest

from c7n_sandbox import faults

ROOT = Path(__file__).resolve().parents[2]


def test_parse_and_store(tmp_path):
    assert faults.parse_fault("notify-service=slow-start:5") == ("notify-service", faults.SlowStart("5"))
    assert faults.parse_fault("x=never-up") == ("x", faults.NeverUp())
    for bad, part in [("x", "'='"), ("=never-up", "RELEASE"), ("x=sleepy", "'sleepy'"),
                      ("x=slow-start", "needs an argument"), ("x=slow-start:soon", "'soon'"),
                      ("x=never-up:3", "takes no argument"), ("x=flap:fast", "'fast'"),
                      ("x=helm-hang", "needs an argument")]:
        with pytest.raises(faults.FaultError, match=re.escape(part)):
            faults.parse_fault(bad)
    assert faults.load_faults(tmp_path) == {}
    faults.set_fault(tmp_path, "a", "slow-start", "2")
    faults.set_fault(tmp_path, "b", "flap")
    assert json.loads((tmp_path / "faults.json").read_text()) == {
        "a": {"kind": "slow-start", "arg": "2"}, "b": {"kind": "flap", "arg": None}}
    assert faults.load_faults(tmp_path)["a"].seconds == 2.0
    assert faults.clear_fault(tmp_path, "a") is True and faults.clear_fault(tmp_path, "a") is False
    assert set(faults.load_faults(tmp_path)) == {"b"}
    assert faults.fault_for(faults.load_faults(tmp_path), "actual-name", "b").kind == "flap"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".faults.")]


def test_every_registered_kind_is_documented_and_every_documented_kind_registered():
    text = (ROOT / "docs" / "sandbox.md").read_text(encoding="utf-8")
    table = text[text.index("## Faults"):text.index("## The installation")]
    documented = {m.group(1) for m in re.finditer(r"^\| `([a-z-]+)(?::\w+)?` \|", table, flags=re.M)}
    assert documented == set(faults.KINDS)
    assert all(cls.kind == name and cls.__doc__ for name, cls in faults.KINDS.items())


def test_the_fault_commands_help_names_every_kind(capsys):
    from c7n_sandbox.__main__ import build_parser

    with pytest.raises(SystemExit):
        build_parser().parse_args(["fault", "--help"])
    shown = "".join(capsys.readouterr().out.split())   # argparse wraps lines, at hyphens too
    assert all(name in shown for name in faults.KINDS) and "slow-start:SECONDS" in shown


NOW = 1000.0  # the faults module's clock, frozen (see the fixture below)


@pytest.fixture(autouse=True)
def frozen_clock(monkeypatch):
    """A pod's age is exact: 2.9 s stays 2.9 s however long the machine takes between two lines."""
    monkeypatch.setattr(faults, "time", SimpleNamespace(monotonic=lambda: NOW))


def _pod(after_bootstrap=True, started_ago=None):
    started = None if started_ago is None else NOW - started_ago
    return SimpleNamespace(after_bootstrap=after_bootstrap, started_at=started)


def _health(fault, pod, upgrading=False):
    body = {"status": "UP", "diskSpace": {"status": "UP"}}
    fault.on_health(pod, body, upgrading)
    return sorted(k for k, v in body.items() if isinstance(v, dict) and v["status"] != "UP")


def test_pod_create_hooks_change_only_what_their_kind_says():
    def start():
        return faults.PodStart(version_label="0.9.0", previous_version="0.8.0", start_delay=0.4)

    slow, wrong, never = start(), start(), start()
    faults.SlowStart("3").on_pod_create(slow)
    faults.WrongVersion().on_pod_create(wrong)
    faults.NeverUp().on_pod_create(never)
    assert (slow.start_delay, slow.version_label) == (3.0, "0.9.0")
    assert (wrong.start_delay, wrong.version_label) == (0.4, "0.8.0")
    assert never == start()
    first = faults.PodStart(version_label="0.9.0", previous_version=None, start_delay=0.4)
    faults.WrongVersion().on_pod_create(first)
    assert first.version_label == "0.9.0", "a Deployment's first template has no old label to keep"


def test_failure_kinds_fail_the_service_pods_or_only_the_hook_jobs_pods():
    def start(owner_kind):
        return faults.PodStart(version_label="0.9.0", previous_version="0.8.0", start_delay=0.4, owner_kind=owner_kind)

    for fault, how in ((faults.ImageMissing(), "image"), (faults.CrashLoop(), "crash")):
        service, hook = start("ReplicaSet"), start("Job")
        fault.on_pod_create(service)
        fault.on_pod_create(hook)
        assert service.failure.how == how and hook.failure is None, fault
    assert "Application run failed" in "".join(faults.SPRING_FAILURE)
    faults.Unschedulable().on_pod_create(s := start("ReplicaSet"))  # the scheduler's part, not the node's
    assert s.failure is None
    service, hook = start("ReplicaSet"), start("Job")
    faults.HookFail().on_pod_create(service)
    faults.HookFail().on_pod_create(hook)
    assert service.failure is None and (hook.failure.how, hook.failure.exit_code) == ("crash", 1)
    assert hook.failure.output == faults.DBTOOL_FAILURE


def test_health_hooks():
    assert _health(faults.NeverUp(), _pod()) == ["refreshScope"]
    assert _health(faults.NeverUp(), _pod(after_bootstrap=False)) == [], "the 0.8 pods stay UP"
    assert _health(faults.DbDown(), _pod()) == []
    assert _health(faults.DbDown(), _pod(after_bootstrap=False), upgrading=True) == ["db"]
    flap = faults.Flap()
    seen = {tuple(_health(flap, _pod(started_ago=t))) for t in (faults.FLAP_PERIOD / 2, faults.FLAP_PERIOD * 1.5)}
    assert seen == {(), ("hystrix",)}
    slow = faults.Flap("3")  # the slow flap: 3 s UP, 3 s DOWN
    assert [tuple(_health(slow, _pod(started_ago=t))) for t in (1, 2.9, 3.1, 5.9, 6.1)] == [
        (), (), ("hystrix",), ("hystrix",), ()]
    assert _health(faults.HelmFail(), _pod(), upgrading=True) == []


def test_helm_bootstrap_and_mysql_hooks():
    assert [k for k, cls in faults.KINDS.items()
            if cls(None if not cls.takes_seconds else "1").leaves_hook_jobs()] == ["leftover-jobs"]
    assert faults.DbDown().refuses_mysql(upgrading=True) and not faults.DbDown().refuses_mysql(upgrading=False)
    assert [k for k, cls in faults.KINDS.items()
            if cls(None if not cls.takes_seconds else "1").deploy_delay()] == ["helm-hang"]
    assert not faults.NeverUp().refuses_mysql(upgrading=True)
    assert [k for k, cls in faults.KINDS.items()
            if cls(None if not cls.takes_seconds else "1").platform_failed()] == ["platform-failed"]
