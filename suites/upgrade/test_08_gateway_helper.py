"""Step 8: upgrade gateway-helper to 0.9.0."""
import pytest

from fixtures import step_tests as t

pytestmark = pytest.mark.step(8)

t.bind_step(globals(), 8)  # the plan's step 8: its `before:`, the upgrade, the rollout, its `after:`
