"""The gate's rule (fixtures/gate.py): the first block and the first stop are kept, a stop outranks a block,
an interrupt keeps what it interrupted; each phase's skip reason comes from `why_not` alone."""
from __future__ import annotations

from fixtures.gate import Cause, Gate, Running, State


def test_the_first_block_is_kept_and_a_later_failure_does_not_replace_it():
    gate = Gate()
    assert gate.why_not("upgrade") is None and gate.open
    assert gate.block("step 4", "iam-service not rolled out")
    assert not gate.block("step 5", "a consequence")
    assert gate.why_not("upgrade") == "blocked by step 4 (iam-service not rolled out)"
    assert gate.why_not("pre_upgrade") is None  # a pre-upgrade check is never blocked


def test_a_stop_outranks_a_block_and_the_first_cause_is_kept():
    gate = Gate()
    gate.block("step 1", "x")
    assert gate.stop(Cause("unreachable", "the cluster became unreachable"))
    assert not gate.stop(Cause("lock", "another run"))
    assert not gate.block("step 2", "y") and gate.state is State.STOPPED
    for phase in ("pre_upgrade", "upgrade", "post_upgrade"):
        assert gate.why_not(phase) == "not run: the cluster became unreachable"
    assert not gate.stop(None)


def test_the_proof_is_blocked_only_once_the_upgrade_phase_was_reached():
    gate = Gate()
    gate.block("pre-upgrade check test_x", "no space")
    assert gate.why_not("post_upgrade") is None  # `suites/post_upgrade` alone: the read-only proof runs
    gate.why_not("upgrade")
    assert gate.why_not("post_upgrade") == "blocked by pre-upgrade check test_x (no space): the upgrade did not complete"


def test_an_interrupt_keeps_the_test_it_interrupted_and_the_cause():
    gate = Gate(lang="zh")
    gate.stop(Cause("lock", "锁"))
    gate.enter(Running("upgrade", 5, "test_rollout"))
    gate.interrupt()
    assert gate.interrupted and gate.running.step == 5 and gate.cause.kind == "lock"
    assert gate.why_not("upgrade") == "未运行：锁"


def test_in_ci_the_proof_says_the_upgrade_phase_did_not_run():
    gate = Gate(upgrade_allowed=False)
    assert gate.why_not("post_upgrade", {"upgrade", "post_upgrade"}).startswith("not run: the upgrade phase did not run")
    assert gate.why_not("post_upgrade", {"post_upgrade"}) is None
