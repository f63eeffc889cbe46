"""Step 6: deploy asgard-service 0.9.0; its database first."""
import pytest

from fixtures import step_tests as t

pytestmark = pytest.mark.step(6)

t.bind_step(globals(), 6)  # the plan's step 6: its `before:`, the upgrade, the rollout, its `after:`
