"""Loading and comparing the reference cases measured on the original interpreter.

The comparison rules are those of the shared conformance checker: the last sequence value
printed, numbers to 3 decimals, the type word exactly; ERROR means the program must fail.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from rasp import Interpreter, RaspError

HERE = Path(__file__).resolve().parent
VALUE = re.compile(r"\[(.*)\](?:\*(\d+))? \((ints|floats|strings|bools)\)")
ORIGINAL_ERRORS = ("!!", "something went wrong", "antlr exception", "not implemented")


def load(path: Path) -> list[dict]:
    doc = json.loads(path.read_text())
    return doc["cases"] if isinstance(doc, dict) else doc


def parse_value(text: str):
    found = VALUE.findall(text)
    if not found:
        return None
    body, times, kind = found[-1]
    items = [x.strip() for x in body.split(", ")] if body else []
    return kind, items * int(times) if times else items


def same_value(expected: str, got: str) -> bool:
    exp, act = parse_value(expected), parse_value(got)
    if exp is None or act is None or exp[0] != act[0] or len(exp[1]) != len(act[1]):
        return False
    if exp[0] in ("ints", "floats"):
        try:
            return all(abs(float(a) - float(b)) <= 1.5e-3 for a, b in zip(exp[1], act[1]))
        except ValueError:
            return exp[1] == act[1]
    return exp[1] == act[1]


def run_case(case: dict) -> tuple[bool, str]:
    """Run a case in-process; (matches, what we printed or the error)."""
    kind = case.get("kind", "value")
    lines = case["program"].strip("\n").split("\n")
    it = Interpreter(warn=lambda text: None, interactive=(kind == "print"))
    try:
        it.run("\n".join(lines[:-1]) + "\n", "case.rasp")
    except RaspError as e:
        return False, f"setup failed: {e}"
    expected = case["expected"]
    failing = expected == "ERROR" or (kind == "print" and expected.strip().startswith(
        ORIGINAL_ERRORS))
    try:
        printed = it.run(lines[-1] + "\n", "case.rasp")
    except RaspError as e:
        return failing, f"error: {e.message}"
    if failing:
        return False, printed
    printed = printed.rstrip("\n")
    if kind == "value":
        return same_value(expected, printed.split("\n")[-1]), printed
    if kind == "selector":
        return printed.split("\n")[1:] == expected.split("\n"), printed
    return printed == expected, printed
