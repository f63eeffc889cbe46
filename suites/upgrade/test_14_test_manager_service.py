"""Step 14: upgrade test-manager-service to 0.9.2 (测试管理升级)."""
import pytest

from fixtures import steps

pytestmark = pytest.mark.step(14)

test_upgrade = steps.test_upgrade
test_rollout = steps.test_rollout
