"""Step 5: deploy notify-service 0.9.0 (with asgard-service it replaces event-store-service); its database first."""
import pytest

from fixtures import step_tests as t

pytestmark = pytest.mark.step(5)

t.bind_step(globals(), 5)  # the plan's step 5: its `before:`, the upgrade, the rollout, its `after:`
