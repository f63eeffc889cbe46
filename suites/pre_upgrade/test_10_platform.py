"""Pre-flight: the platform API answers at gateway_url and gives the admin a token (steps 11, 15 and 16 need it)."""


def test_admin_gets_a_token(platform, settings, reporter):
    """The admin credentials and the OAuth client work at gateway_url: a token is obtained."""
    client = platform.client()
    reporter.attach("platform login", platform.exchanges())
    assert client.token, f"no token from {settings.platform.gateway_url}"
