"""Step 12: upgrade gitlab-service to 0.9.1."""
import pytest

from fixtures import step_tests as t

pytestmark = pytest.mark.step(12)

t.bind_step(globals(), 12)  # the plan's step 12: its `before:`, the upgrade, the rollout, its `after:`
