"""Step 10: upgrade file-service to 0.9.0."""
import pytest

from fixtures import steps

pytestmark = pytest.mark.step(10)

test_upgrade = steps.test_upgrade
test_rollout = steps.test_rollout
