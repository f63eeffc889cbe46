"""Step 9: upgrade oauth-server to 0.9.0."""
import pytest

from fixtures import steps

pytestmark = pytest.mark.step(9)

test_upgrade = steps.test_upgrade
test_rollout = steps.test_rollout
