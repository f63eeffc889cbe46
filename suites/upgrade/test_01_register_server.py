"""Step 1: upgrade register-server (go-register-server) to 0.9.0; Eureka shows VERSION 0.9.0."""
import pytest

from fixtures import steps

pytestmark = pytest.mark.step(1)

test_upgrade = steps.test_upgrade
test_rollout = steps.test_rollout
test_eureka = steps.test_eureka
