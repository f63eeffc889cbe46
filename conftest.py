# Thin root conftest: the suite's pytest plugin lives in fixtures/ (hooks; fixtures; the post-upgrade snapshot).
pytest_plugins = ["fixtures.plugin", "fixtures.clients", "fixtures.snapshot"]
