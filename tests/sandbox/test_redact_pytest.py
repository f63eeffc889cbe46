"""What pytest itself prints is masked: `-l` locals, assertion rewriting (diffs included), truncated
reprs, captured output and logs, the JUnit XML; with hostile secrets (quotes, backslashes, `$ % ; #`,
leading `@ ! % * &`, spaces at both ends, a newline, latin-1 and CJK characters).

A small test project registers the suite's RedactionHooks (as the plugin does for a suite run) and
fails in the ways that print values; its whole output is searched for each secret in the forms a
reader would recognise (computed here, independently of the redactor)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HOSTILE = [
    "@Choerodon'2019 \"q\" `id` $HOME \\ 50% ;#é",
    "  !lead and trail 密码 '\"  ",
    "%pass*word&\nsecond line $x",
    "*star'\"mix\\back;#",
    "&amp;中文 sécret#%s",
]

CONFTEST = f"""
from c7n_upgrade.redact import Redactor
from fixtures.reporting import RedactionHooks

SECRETS = {HOSTILE!r}

def pytest_configure(config):
    config.pluginmanager.register(RedactionHooks(Redactor(SECRETS)), "c7n-redaction")
"""

TESTS = """
import logging
from conftest import SECRETS

def login(user, password):
    return password == "not it"

def test_locals_and_call(capsys):
    password = SECRETS[0]
    values = {"env": {"open": {"SPRING_DATASOURCE_PASSWORD": SECRETS[1]}}, "padding": "x" * 300}
    print("printed", SECRETS[2])
    logging.getLogger("t").warning("logged %s", SECRETS[3])
    assert login("admin", password)

def test_string_diff():
    left = "user=admin;password=" + SECRETS[4] + ";end=1"
    right = "user=admin;password=" + SECRETS[4] + ";end=2"
    assert left == right

def test_dict_diff():
    assert {"a": SECRETS[0], "b": SECRETS[2]} == {"a": SECRETS[0], "b": "other"}

def test_truncated_repr():
    blob = ["y" * 100 + SECRETS[1] + "z" * 100, SECRETS[3] * 3]
    assert blob is None

def test_exception_message():
    raise RuntimeError("cannot log in with " + repr(SECRETS[2]))
"""


def forms(secret: str) -> set[str]:
    """How a secret would be recognisable in text: raw, trimmed, each line, repr/JSON/YAML-quoted insides."""
    out = {secret, secret.strip(), repr(secret)[1:-1], json.dumps(secret)[1:-1],
           json.dumps(secret, ensure_ascii=False)[1:-1], secret.replace("'", "''")}
    out |= {line.strip() for line in secret.splitlines()}
    return {f for f in out if len(f) >= 4}


def test_nothing_pytest_prints_holds_a_secret(tmp_path):
    (tmp_path / "conftest.py").write_text(CONFTEST, encoding="utf-8")
    (tmp_path / "test_leaky.py").write_text(TESTS, encoding="utf-8")
    junit = tmp_path / "junit.xml"
    proc = subprocess.run([sys.executable, "-m", "pytest", "-l", "-rA", "-p", "no:cacheprovider",
                           "--rootdir", str(tmp_path), "-c", "/dev/null", f"--junitxml={junit}", str(tmp_path)],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "PYTHONIOENCODING": "utf-8"})
    output = proc.stdout + proc.stderr
    assert proc.returncode == 1 and "5 failed" in output, output[-3000:]
    # what was printed is there, masked: the locals, the diffs, the captured output
    assert "password   = '******'" in output
    assert "printed ******" in output and "logged ******" in output
    assert "Skipping" in output or "******;end=1" in output
    text = output + junit.read_text(encoding="utf-8")
    for secret in HOSTILE:
        leaked = [f for f in forms(secret) if f in text]
        assert not leaked, f"{secret!r} shown as {leaked}"
