"""Step 11: the CRD, GitLab SSH, devops-service 0.9.3 with the new values, then the smooth upgrade."""
import pytest

from fixtures import step_tests as t

pytestmark = pytest.mark.step(11)

t.bind_step(globals(), 11)  # the plan's step 11: its `before:`, the upgrade, the rollout, its `after:`
