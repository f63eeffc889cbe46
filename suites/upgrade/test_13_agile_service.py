"""Step 13: upgrade agile-service to 0.9.1 (敏捷管理升级)."""
import pytest

from fixtures import step_tests as t

pytestmark = pytest.mark.step(13)

t.bind_step(globals(), 13)  # the plan's step 13: its `before:`, the upgrade, the rollout, its `after:`
