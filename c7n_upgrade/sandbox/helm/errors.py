"""The sandbox helm's one error type."""


class HelmCliError(Exception):
    """Printed as `Error: <message>` on stderr; exit 1."""
