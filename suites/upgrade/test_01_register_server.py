"""Step 1: upgrade register-server (go-register-server) to 0.9.0; Eureka shows VERSION 0.9.0."""
import pytest

from fixtures import step_tests as t

pytestmark = pytest.mark.step(1)

t.bind_step(globals(), 1)  # the plan's step 1: its `before:`, the upgrade, the rollout, its `after:`
