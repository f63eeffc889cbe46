# Thin root conftest: the suite's pytest plugin lives in fixtures/ (hooks; how a run ends; fixtures; the
# post-upgrade snapshot).
pytest_plugins = ["fixtures.stability", "fixtures.plugin", "fixtures.safety", "fixtures.clients", "fixtures.snapshot",
                  "fixtures.preflight"]
