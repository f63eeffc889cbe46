"""Redaction: every form of every secret is masked, nothing else is."""
from __future__ import annotations

import base64
import io
import json
import logging
from urllib.parse import quote, urlencode

from pydantic import SecretStr

from c7n_upgrade.redact import MASK, Redactor

SECRET = "p@ss w0rd/+=&Z"


def test_plain_occurrences_are_masked():
    r = Redactor(["s3cr3t-value"])
    assert r.redact("pw=s3cr3t-value and again s3cr3t-value.") == f"pw={MASK} and again {MASK}."


def test_text_without_secrets_is_unchanged():
    r = Redactor(["s3cr3t-value"])
    assert r.redact("nothing to see here") == "nothing to see here"
    assert Redactor().redact("no secrets known") == "no secrets known"


def test_longest_secret_first():
    r = Redactor(["abcd", "abcdefgh"])
    assert r.redact("x abcdefgh y") == f"x {MASK} y"


def test_url_encoded_forms():
    r = Redactor([SECRET])
    form = urlencode({"grant_type": "password", "password": SECRET})  # quote_plus form
    assert SECRET not in r.redact(form)
    assert "p%40ss" not in r.redact(form)
    assert r.redact(f"GET /x?pw={quote(SECRET, safe='')}") == f"GET /x?pw={MASK}"


def test_base64_forms_whole_and_embedded():
    r = Redactor([SECRET])
    whole = base64.b64encode(SECRET.encode()).decode()
    assert r.redact(f"data: {whole}") == f"data: {MASK}"
    # Basic auth: the secret is inside a longer base64 text, at any alignment
    for user in ("a", "ab", "abc", "admin"):
        header = "Basic " + base64.b64encode(f"{user}:{SECRET}".encode()).decode()
        redacted = r.redact(header)
        assert MASK in redacted
        # what is left is the user's part plus at most a few boundary characters
        left = len(redacted) - len("Basic ") - len(MASK)
        assert left <= -(-(len(user) + 1) * 4 // 3) + 4, redacted


def test_json_escaped_form():
    r = Redactor(['quote"back\\slash'])
    doc = json.dumps({"password": 'quote"back\\slash'})
    assert r.redact(doc) == '{"password": "%s"}' % MASK


def test_add_later_and_secretstr():
    r = Redactor()
    r.add(SecretStr("token-abcdef123456"))
    r.add("")  # ignored
    r.add(None)  # ignored
    assert r.redact("Bearer token-abcdef123456") == f"Bearer {MASK}"
    assert len(r) == 1


def test_short_secrets_only_as_whole_tokens():
    r = Redactor(["ab1"])
    assert r.redact("password=ab1&x=1") == f"password={MASK}&x=1"
    assert r.redact("tab1e") == "tab1e"  # inside a word: left alone
    assert r.notes and "ab1" not in " ".join(r.notes)


def test_bytes():
    r = Redactor(["s3cr3t-value"])
    assert r.redact_bytes(b"x s3cr3t-value y") == f"x {MASK} y".encode()
    assert r.redact(b"s3cr3t-value") == MASK


def test_repr_does_not_show_secrets():
    r = Redactor(["s3cr3t-value"])
    assert "s3cr3t" not in repr(r)


def test_logging_filter_masks_message_args_and_traceback():
    r = Redactor(["s3cr3t-value"])
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(r.filter())
    logger = logging.getLogger("test_redact_filter")
    logger.propagate = False
    logger.addHandler(handler)
    try:
        logger.warning("password is %s", "s3cr3t-value")
        try:
            raise RuntimeError("failed with s3cr3t-value")
        except RuntimeError:
            logger.exception("boom")
    finally:
        logger.removeHandler(handler)
    out = stream.getvalue()
    assert "s3cr3t-value" not in out
    assert f"password is {MASK}" in out
    assert f"RuntimeError: failed with {MASK}" in out


def test_secret_like_values_found_under_secret_keys_at_any_depth():
    from c7n_upgrade.redact import secret_like_values

    values = {"env": {"open": {"SPRING_DATASOURCE_PASSWORD": "db-pass-1", "GITLAB_PRIVATETOKEN": "tok-abcdef",
                               "MINIO_ACCESSKEY": "AKIA1234", "SPRING_DATASOURCE_URL": "jdbc:mysql://h/db",
                               "REPLICAS": 3}},
              "preJob": {"preConfig": {"mysql": {"password": "pj-pass-2", "username": "choerodon"}}},
              "secrets": [{"name": "x", "value": "list-secret-3"}], "tokenTtl": True}
    found = set(secret_like_values(values))
    # "x" is too short to be a secret; the URL, the username, the count and the boolean are not secrets
    assert found == {"db-pass-1", "tok-abcdef", "AKIA1234", "pj-pass-2", "list-secret-3"}


# ---- hostile values: every form they take in our output ------------------------------------------
HOSTILE = ["@Choerodon'2019", "  !lead \"and\" trail 密码  ", "%pass*word&\nsecond line $x", "*star\\back;#é",
           "&amp;中文 sécret words long enough to be folded by the YAML emitter at eighty columns"]


def test_yaml_quoted_escaped_and_folded_forms_are_masked():
    import yaml

    r = Redactor(HOSTILE)
    for secret in HOSTILE:
        for width_key in ("k", "k" * 40, "k" * 70):
            for style in (None, "'", '"'):
                for allow_unicode in (True, False):
                    doc = yaml.safe_dump({"env": {width_key: secret}}, default_style=style,
                                         allow_unicode=allow_unicode)
                    shown = r.redact(doc)
                    for line in (secret.strip(), *secret.splitlines(), secret.replace("'", "''")):
                        if len(line.strip()) >= 4:
                            assert line.strip() not in shown, (secret, shown)
                    assert yaml.safe_load(doc)["env"][width_key] == secret  # the dump was a real one
    assert r.redact(yaml.safe_dump({"pw": "@Choerodon'2019"})) == f"pw: '{MASK}'\n"


def test_repr_ascii_and_bytes_forms_are_masked():
    r = Redactor(HOSTILE)
    for secret in HOSTILE:
        for shown in (repr(secret), ascii(secret), repr(secret.encode()), repr({"pw": secret}),
                      json.dumps(repr(secret))):
            assert r.redact(shown).count(MASK) >= 1, shown
            assert secret not in r.redact(shown) and repr(secret)[1:-1] not in r.redact(shown)


def test_each_line_of_a_multiline_secret_and_the_trimmed_secret_are_masked():
    r = Redactor(HOSTILE)
    assert r.redact("log: second line $x") == f"log: {MASK}"
    assert r.redact("pw=!lead \"and\" trail 密码;") == f"pw={MASK};"


def test_html_and_xml_escaped_forms_are_masked():
    import html

    r = Redactor(HOSTILE)
    for secret in HOSTILE:
        assert secret.strip() not in r.redact(html.escape(secret))
        assert html.escape(secret.strip()) not in r.redact(f"<x a=\"{html.escape(secret)}\"/>")


def test_the_part_of_a_secret_at_a_cut_is_masked():
    """pytest's saferepr keeps both ends of a long repr around '...': the pieces of a secret there go."""
    r = Redactor(["correct-horse-battery"])
    assert r.redact("['aaaa', 'correct-hor...ery', 'b']") == f"['aaaa', '{MASK}...{MASK}', 'b']"
    assert r.redact("nothing cut here... or here") == "nothing cut here... or here"


def test_innocent_text_is_left_alone():
    r = Redactor(HOSTILE)
    text = "second opinion; trail mix; words are long; line 42; the lead; UP DOWN ..."
    assert r.redact(text) == text
    assert r.contains_secret("x @Choerodon'2019") and not r.contains_secret(text)


def test_a_short_secret_or_a_common_word_is_called_weak_with_the_reason():
    from c7n_upgrade.redact import weak_secret

    assert weak_secret("pw-12") == "it is 5 characters long (fewer than 8)"
    assert weak_secret("Password") == weak_secret("choerodon") == "it is a word the output is full of"
    assert weak_secret("choerodon-devops-prod", ["choerodon-devops-prod"]) == "it is a word the output is full of"
    assert weak_secret("q7#Lm2!vXz") == ""
