"""bench/upgrade_latency.py's clock: the node's pod lines reach the sandbox's D/logs/sandbox.log and
bench/common.pod_events reads them back (no sandbox: the sandbox's own log set-up, the node's logger)."""
from __future__ import annotations

import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.common import pod_events  # noqa: E402
from c7n_sandbox.base import SandboxBase  # noqa: E402
from c7n_sandbox.node.pod import pods_log  # noqa: E402


def test_the_nodes_pod_lines_reach_the_sandbox_log_and_read_back(tmp_path):
    sandbox = SandboxBase(tmp_path / "sb")
    sandbox.dir.mkdir()
    sandbox._setup_logging()
    try:
        # the node's formats (node/choerodon.py, node/pod.py)
        pods_log.info("pod %s/%s created (version label %s, start in %.1fs)", "c7n", "iam-service-old-1", "0.8.0", 0.0)
        pods_log.info("pod %s/%s Ready", "c7n", "iam-service-old-1")
        pods_log.info("pod %s/%s created (version label %s, start in %.1fs)", "c7n", "iam-service-new-2", "0.9.0", 0.7)
        pods_log.info("pod %s/%s Ready", "c7n", "iam-service-new-2")
        pods_log.info("pod %s/%s deleted", "c7n", "iam-service-old-1")
        logging.getLogger("c7n_upgrade.throwaway_mariadb").info("a product module's line")
    finally:
        sandbox._close_logging()
    pods_log.info("pod %s/%s Ready", "c7n", "after-close-3")  # the handler is gone
    log = sandbox.dir / "logs" / "sandbox.log"
    assert "a product module's line" in log.read_text()
    pods = pod_events(log, ["iam-service"])
    assert sorted(pods) == ["iam-service-new-2", "iam-service-old-1"]
    old, new = pods["iam-service-old-1"], pods["iam-service-new-2"]
    assert old.release == new.release == "iam-service"
    assert (old.version, old.delay, new.version, new.delay) == ("0.8.0", 0.0, "0.9.0", 0.7)
    assert old.created <= old.ready <= new.created <= new.ready <= old.deleted
    assert new.deleted is None
