"""Pre-flight: a secret that cannot be masked without garbling the output gets a warning (not a failure)."""
import re

from c7n_upgrade.redact import WEAK_SECRET_LEN, weak_secret


def test_secrets_can_be_masked(ctx, reporter):
    """A secret shorter than 8 characters, or equal to a word the output is full of (`prod`, `devops`,
    the namespace, a release name), is masked only where it stands alone, so it may show inside longer
    words, and masking it garbles names: warn, naming the key and its variable, never the value."""
    settings = ctx.settings
    words = set(re.split(r"[^A-Za-z0-9]+", " ".join([settings.env_name, settings.namespace, *(
        part for s in ctx.plan.steps for part in (s.release, s.chart))])))
    for key, var, value in ((s.key, s.var, s.value) for s in ctx.clients.secrets):
        why = weak_secret(value, words)
        if why:
            line = (f"warning: secret {key} (${{{var}}}) cannot be masked cleanly: {why}; it is masked only "
                    f"where it stands alone, and masking it garbles the output. Choose one of "
                    f"{WEAK_SECRET_LEN} characters or more that is no common word.")
            reporter.note(line)
