"""Step 5: deploy notify-service 0.9.0 (with asgard-service it replaces event-store-service); its database first."""
import pytest

from fixtures import step_tests as t

pytestmark = pytest.mark.step(5)

test_database = t.test_database
test_upgrade = t.test_upgrade
test_rollout = t.test_rollout
