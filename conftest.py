# Thin root conftest: the suite's pytest plugin lives in fixtures/.
pytest_plugins = ["fixtures.plugin"]
