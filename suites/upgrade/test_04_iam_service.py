"""Step 4: upgrade iam-service to 0.9.0."""
import pytest

from fixtures import step_tests as t

pytestmark = pytest.mark.step(4)

t.bind_step(globals(), 4)  # the plan's step 4: its `before:`, the upgrade, the rollout, its `after:`
