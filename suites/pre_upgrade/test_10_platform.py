"""Pre-flight: the platform API answers at gateway_url and gives the admin a token (steps 11, 15 and 16 need it)."""


def test_admin_gets_a_token(platform, settings, reporter):
    """The admin credentials and the OAuth client work at gateway_url: a token is obtained."""
    client = platform.client()
    reporter.attach("platform login", platform.exchanges())
    assert client.token, f"no token from {settings.platform.gateway_url}"


def test_the_platform_calls_inputs_hold(platform, settings, reporter):
    """Read-only, before the first write: the organization the OAuth client goes in exists, and the gateway
    answers a read-only call through each route the plan writes through (steps 11, 15, 16), authorized and
    without `failed: true`, so a wrong organization or a failing gateway stops the run here."""
    from c7n_upgrade.operations import platform_inputs

    assert settings.front_oauth is not None, "the env has no platform section: steps 11, 15 and 16 need one"
    client = platform.client()
    notes: list[str] = []
    try:
        problems = platform_inputs(client, settings.front_oauth, notes=notes)
    finally:
        reporter.attach("platform read-only calls", platform.exchanges())
    for note in notes:
        reporter.note(note)
    assert not problems, "the platform calls of the plan would fail: " + "; ".join(problems)
