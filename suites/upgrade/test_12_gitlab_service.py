"""Step 12: upgrade gitlab-service to 0.9.1."""
import pytest

from fixtures import steps

pytestmark = pytest.mark.step(12)

test_upgrade = steps.test_upgrade
test_rollout = steps.test_rollout
