"""Step 15: XWiki's manual steps (checked), wiki-service 0.9.1, then the wiki home-page update."""
import pytest

from fixtures import step_tests as t

pytestmark = pytest.mark.step(15)

t.bind_step(globals(), 15)  # the plan's step 15: its `before:`, the upgrade, the rollout, its `after:`
