"""Step 13: upgrade agile-service to 0.9.1 (敏捷管理升级)."""
import pytest

from fixtures import steps

pytestmark = pytest.mark.step(13)

test_upgrade = steps.test_upgrade
test_rollout = steps.test_rollout
