"""How a run ends (fixtures/safety.py), the parts a unit test can reach: the first SIGTERM/SIGHUP
interrupts like Ctrl-C and later ones cannot cut the cleanup short; a terminal that is gone (EIO
after SIGHUP) does not break the cleanup's output."""
from __future__ import annotations

import errno
import signal

import pytest

from fixtures.safety import TolerantFile, _Interrupts


def test_the_first_signal_interrupts_and_later_ones_are_ignored():
    interrupts = _Interrupts()
    with pytest.raises(KeyboardInterrupt, match="SIGTERM received"):
        interrupts.handler(signal.SIGTERM, None)
    interrupts.handler(signal.SIGHUP, None)  # during the cleanup: noted, not raised
    assert interrupts.received == ["SIGTERM", "SIGHUP"]


def test_installing_and_restoring_the_handlers():
    interrupts = _Interrupts()
    before = signal.getsignal(signal.SIGHUP)
    interrupts.install()
    try:
        assert signal.getsignal(signal.SIGTERM) == interrupts.handler
        assert signal.getsignal(signal.SIGHUP) == interrupts.handler
    finally:
        interrupts.restore()
    assert signal.getsignal(signal.SIGHUP) == before


class GoneTerminal:
    def __init__(self):
        self.written = []
        self.gone = False

    def write(self, text):
        if self.gone:
            raise OSError(errno.EIO, "Input/output error")
        self.written.append(text)
        return len(text)

    def flush(self):
        if self.gone:
            raise OSError(errno.EIO, "Input/output error")

    def isatty(self):
        return True


def test_a_terminal_that_is_gone_swallows_the_writes():
    terminal = GoneTerminal()
    tolerant = TolerantFile(terminal)
    assert tolerant.write("summary\n") == 8 and terminal.written == ["summary\n"]
    terminal.gone = True
    assert tolerant.write("more\n") == 5
    tolerant.flush()
    assert tolerant.broken and terminal.written == ["summary\n"] and tolerant.isatty()
