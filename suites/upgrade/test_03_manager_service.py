"""Step 3: upgrade manager-service to 0.9.0."""
import pytest

from fixtures import step_tests as t

pytestmark = pytest.mark.step(3)

t.bind_step(globals(), 3)  # the plan's step 3: its `before:`, the upgrade, the rollout, its `after:`
