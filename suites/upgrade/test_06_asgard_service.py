"""Step 6: deploy asgard-service 0.9.0; its database first."""
import pytest

from fixtures import step_tests as t

pytestmark = pytest.mark.step(6)

test_database = t.test_database
test_upgrade = t.test_upgrade
test_rollout = t.test_rollout
