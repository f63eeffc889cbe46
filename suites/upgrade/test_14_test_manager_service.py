"""Step 14: upgrade test-manager-service to 0.9.2 (测试管理升级)."""
import pytest

from fixtures import step_tests as t

pytestmark = pytest.mark.step(14)

t.bind_step(globals(), 14)  # the plan's step 14: its `before:`, the upgrade, the rollout, its `after:`
