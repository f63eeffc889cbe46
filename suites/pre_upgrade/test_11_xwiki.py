"""Pre-flight: XWiki's data dir can be read where the env says (step 15's checkpoint reads it)."""
from c7n_upgrade import operations


def test_xwiki_data_dir_answers(settings):
    """xwiki.host answers and xwiki.data_dir holds xwiki.properties and extension/repository."""
    problems = operations.xwiki_site_problems(settings.xwiki)
    assert not problems, "; ".join(problems)
