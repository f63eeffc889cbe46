"""Step 1: upgrade register-server (go-register-server) to 0.9.0; Eureka shows VERSION 0.9.0."""
import pytest

from fixtures import step_tests as t

pytestmark = pytest.mark.step(1)

test_upgrade = t.test_upgrade
test_rollout = t.test_rollout
test_eureka = t.test_eureka
