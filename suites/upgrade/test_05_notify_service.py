"""Step 5: deploy notify-service 0.9.0 (with asgard-service it replaces event-store-service); its database first."""
import pytest

from fixtures import steps

pytestmark = pytest.mark.step(5)

test_database = steps.test_database
test_upgrade = steps.test_upgrade
test_rollout = steps.test_rollout
