"""Step 13: upgrade agile-service to 0.9.1 (敏捷管理升级)."""
import pytest

from fixtures import step_tests as t

pytestmark = pytest.mark.step(13)

test_upgrade = t.test_upgrade
test_rollout = t.test_rollout
