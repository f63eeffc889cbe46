"""Step 16: choerodon-front 0.9.1 with PRO_FILE_SERVER; the page; the OAuth client 'choerodon'."""
import pytest

from fixtures import step_tests as t

pytestmark = pytest.mark.step(16)

test_upgrade = t.test_upgrade
test_rollout = t.test_rollout
test_front_page = t.test_front_page
test_oauth_client = t.test_oauth_client
