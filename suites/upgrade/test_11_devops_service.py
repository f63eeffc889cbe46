"""Step 11: the CRD, GitLab SSH, devops-service 0.9.3 with the new values, then the smooth upgrade."""
import pytest

from fixtures import step_tests as t

pytestmark = pytest.mark.step(11)

test_crd = t.test_crd
test_gitlab_ssh = t.test_gitlab_ssh
test_upgrade = t.test_upgrade
test_rollout = t.test_rollout
test_smooth_upgrade = t.test_smooth_upgrade
