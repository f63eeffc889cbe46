"""Step 2: upgrade config-server to 0.9.0."""
import pytest

from fixtures import step_tests as t

pytestmark = pytest.mark.step(2)

t.bind_step(globals(), 2)  # the plan's step 2: its `before:`, the upgrade, the rollout, its `after:`
