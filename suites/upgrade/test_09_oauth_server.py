"""Step 9: upgrade oauth-server to 0.9.0."""
import pytest

from fixtures import step_tests as t

pytestmark = pytest.mark.step(9)

t.bind_step(globals(), 9)  # the plan's step 9: its `before:`, the upgrade, the rollout, its `after:`
