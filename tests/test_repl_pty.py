"""The REPL end to end, in a real pseudo-terminal, typed into as a person would.

Every keystroke waits for output that can only appear once the REPL is ready for it (a result,
then the next `>>`): keys sent between two prompts reach a terminal in cooked mode and can be
lost. `>> ` is matched as `>>`, since prompt_toolkit draws its trailing space as a cursor move.
"""

from __future__ import annotations

import io
import os
import signal
import sys
from pathlib import Path

import pytest

pexpect = pytest.importorskip("pexpect")

pytestmark = [pytest.mark.pty,
              pytest.mark.skipif(sys.platform == "win32", reason="needs a POSIX pty")]

ROOT = Path(__file__).resolve().parent.parent


def spawn(cwd: Path, colour: bool = False, history: str = "", sigint=signal.SIG_DFL):
    env = dict(os.environ, PROMPT_TOOLKIT_NO_CPR="1", TERM="xterm", RASP_HISTORY=history,
               PYTHONPATH=str(ROOT))
    env.pop("NO_COLOR", None)
    if not colour:
        env["NO_COLOR"] = "1"
    child = pexpect.spawn(sys.executable, ["-m", "rasp"], env=env, cwd=str(cwd),
                          dimensions=(24, 120), encoding="utf-8", timeout=10,
                          preexec_fn=lambda: signal.signal(signal.SIGINT, sigint))
    child.logfile_read = io.StringIO()
    child.expect_exact(">>")
    return child


def leave(child) -> str:
    """Ctrl-D on an empty line: the REPL ends with exit code 0. Returns all it wrote."""
    child.sendcontrol("d")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    return child.logfile_read.getvalue()


def test_multi_line_function_colour_ctrl_c_and_ctrl_d(tmp_path):
    child = spawn(tmp_path, colour=True)
    child.send("def double(s) {\r")
    child.expect_exact("..")  # the statement is incomplete: a continuation line
    child.send("return s * 2;\r}\r")
    child.expect_exact("\x1b[36mfunction:\x1b[0m \x1b[1mdouble(s)\x1b[0m")
    child.expect_exact(">>")
    child.send("y = double(indices);\r")
    child.expect_exact('\x1b[36ms-op:\x1b[0m \x1b[1my\x1b[0m')
    child.expect_exact('y("hello") = [0, 2, 4, 6, 8] \x1b[2m(ints)\x1b[0m')
    child.expect_exact(">>")
    child.send("z = (1 +\x03")  # Ctrl-C drops the unfinished entry, silently
    child.expect_exact(">>")
    assert "Interrupt" not in child.before
    child.send("(y)(\"ab\");\r")
    child.expect_exact("=  [0, 2] (ints)")
    child.expect_exact(">>")
    leave(child)


def test_ctrl_c_stops_a_long_evaluation_and_keeps_the_definitions(tmp_path):
    # started with SIGINT ignored, as a background job of a shell is: Ctrl-C must still work
    child = spawn(tmp_path, sigint=signal.SIG_IGN)
    child.send("x = 7;\r")
    child.expect_exact("value: x =  7")
    child.expect_exact(">>")
    # `x + 1;` prints before the loop starts, so the terminal is back in cooked mode and
    # Ctrl-C becomes SIGINT; the loop alone would run for a minute.
    child.send("x + 1; for i in range(3000) { for j in range(3000) { y = j; } }\r")
    child.expect_exact("value: out =  8")
    child.sendcontrol("c")
    child.expect_exact("interrupted: the entry was stopped")
    child.expect_exact(">>")
    child.send("x * 2;\r")
    child.expect_exact("value: out =  14")
    child.expect_exact(">>")
    assert "\x1b[36m" not in leave(child)  # NO_COLOR: no colour in what rasp prints


def test_history_file_load_from_the_folder_and_tab_completion(tmp_path):
    (tmp_path / "mine.rasp").write_text("mine_sop = indices * 3;\n")
    history = str(tmp_path / "history")
    child = spawn(tmp_path, history=history)
    child.send('load "mine";\r')
    child.expect_exact("s-op: mine_sop")
    child.expect_exact(">>")
    leave(child)

    child = spawn(tmp_path, history=history)
    child.send("\x1b[A\r")  # Up: the entry of the previous session
    child.expect_exact("s-op: mine_sop")
    child.expect_exact(">>")
    child.send("mine_s\t")
    child.expect_exact("op")  # Tab completed the name that `load` brought in
    child.send(";\r")
    child.expect_exact('mine_sop("hello") = [0, 3, 6, 9, 12] (ints)')
    child.expect_exact(">>")
    leave(child)
