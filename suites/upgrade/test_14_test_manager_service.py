"""Step 14: upgrade test-manager-service to 0.9.2 (测试管理升级)."""
import pytest

from fixtures import step_tests as t

pytestmark = pytest.mark.step(14)

test_upgrade = t.test_upgrade
test_rollout = t.test_rollout
