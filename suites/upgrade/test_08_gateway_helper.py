"""Step 8: upgrade gateway-helper to 0.9.0."""
import pytest

from fixtures import step_tests as t

pytestmark = pytest.mark.step(8)

test_upgrade = t.test_upgrade
test_rollout = t.test_rollout
