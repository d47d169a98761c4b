"""loraforge.testing.terminal: the real command on a pseudo-terminal, for tests of what a person sees."""

from __future__ import annotations

import pytest

from loraforge import __version__
from loraforge.testing.terminal import Terminal


def test_a_command_runs_to_its_end_on_a_terminal_of_the_size_asked(tmp_path):
    with Terminal(["--version"], cwd=tmp_path, size=(100, 30)) as terminal:
        assert terminal.wait() == 0
    assert terminal.text.strip() == f"loraforge {__version__}"


def test_waiting_for_what_never_comes_says_what_the_terminal_shows(tmp_path):
    with Terminal(["--version"], cwd=tmp_path) as terminal:
        with pytest.raises(EOFError, match="loraforge"):
            terminal.wait_for(b"Model path", timeout=30)
    with Terminal(["new", "recipe.toml"], cwd=tmp_path) as terminal:
        terminal.wait_for(b"Model path", timeout=60)  # the wizard's first screen
        with pytest.raises(TimeoutError, match="no b'nothing like this'"):
            terminal.wait_for(b"nothing like this", timeout=1)
    assert terminal.code == -9  # still running at the end: killed
    assert not (tmp_path / "recipe.toml").exists()
