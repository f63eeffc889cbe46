"""Step 15: XWiki's manual steps (checked), wiki-service 0.9.1, then the wiki home-page update."""
import pytest

from fixtures import step_tests as t

pytestmark = pytest.mark.step(15)

test_xwiki_manual_steps = t.test_xwiki_manual_steps
test_upgrade = t.test_upgrade
test_rollout = t.test_rollout
test_wiki_home_page = t.test_wiki_home_page
