"""Step 7: upgrade api-gateway to 0.9.0."""
import pytest

from fixtures import step_tests as t

pytestmark = pytest.mark.step(7)

t.bind_step(globals(), 7)  # the plan's step 7: its `before:`, the upgrade, the rollout, its `after:`
