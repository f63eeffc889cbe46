"""Step 16: choerodon-front 0.9.1 with PRO_FILE_SERVER; the page; the OAuth client 'choerodon'."""
import pytest

from fixtures import step_tests as t

pytestmark = pytest.mark.step(16)

t.bind_step(globals(), 16)  # the plan's step 16: its `before:`, the upgrade, the rollout, its `after:`
