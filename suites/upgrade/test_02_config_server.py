"""Step 2: upgrade config-server to 0.9.0."""
import pytest

from fixtures import step_tests as t

pytestmark = pytest.mark.step(2)

test_upgrade = t.test_upgrade
test_rollout = t.test_rollout
