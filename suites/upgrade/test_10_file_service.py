"""Step 10: upgrade file-service to 0.9.0."""
import pytest

from fixtures import step_tests as t

pytestmark = pytest.mark.step(10)

t.bind_step(globals(), 10)  # the plan's step 10: its `before:`, the upgrade, the rollout, its `after:`
