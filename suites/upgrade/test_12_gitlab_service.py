"""Step 12: upgrade gitlab-service to 0.9.1."""
import pytest

from fixtures import step_tests as t

pytestmark = pytest.mark.step(12)

test_upgrade = t.test_upgrade
test_rollout = t.test_rollout
