"""Step 6: deploy asgard-service 0.9.0; its database first."""
import pytest

from fixtures import steps

pytestmark = pytest.mark.step(6)

test_database = steps.test_database
test_upgrade = steps.test_upgrade
test_rollout = steps.test_rollout
