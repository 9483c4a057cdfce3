"""`rasp generate FILE NAME --prompt P [--steps N] [--until TOKEN] [--vocab V] [--causal]`:
the s-op NAME as a next-token rule (rasp.generation, through the session): its value at the
last position is appended to the sequence, N times or until TOKEN."""

from __future__ import annotations

import json
from typing import Any, TextIO

from ..errors import RaspError
from .common import (
    EXIT_OK,
    Parser,
    UsageError,
    command,
    expression,
    input_of,
    load,
    natural,
    vocab,
)

__all__ = ["main"]

STEPS = 10  # tokens generated unless told


def _parser(out: TextIO, err: TextIO) -> Parser:
    parser = Parser(prog="rasp generate", out=out, err=err, description="Generate with an "
                    "s-op: its value at the last position is appended as the next token, "
                    "as a decoder does (docs/causal.md).")
    parser.add_argument("file", help="the .rasp program that defines it, or the name of a "
                        "file of the example library")
    parser.add_argument("name", help="the s-op: a name the program defines, or an expression")
    parser.add_argument("--prompt", required=True, metavar="P", help="the tokens to start "
                        "from: a string, or a JSON list or string, as a line of --inputs")
    parser.add_argument("--steps", type=natural, default=STEPS, metavar="N",
                        help="tokens to generate, at most (default %(default)s)")
    parser.add_argument("--until", metavar="TOKEN", help="stop after generating TOKEN (read "
                        "as JSON when the prompt's tokens are not strings)")
    parser.add_argument("--vocab", type=vocab, metavar="V", help="the tokens a step may give "
                        "(default: any of the prompt's kind): a string of one-character "
                        "tokens or a JSON list")
    parser.add_argument("--causal", action="store_true", help="causal semantics (each "
                        "position sees only itself and those before it), as a decoder")
    parser.add_argument("--json", action="store_true", help="print one JSON object: the "
                        "prompt and the tokens generated")
    return parser


@command("rasp generate")
def main(argv: list[str], out: TextIO, err: TextIO) -> int:
    args = _parser(out, err).parse_args(argv)
    prompt = _prompt(args.prompt)
    until = None if args.until is None else _token(args.until, prompt)
    loaded = load(args.file, err, causal=args.causal)
    name = expression(loaded, args.name)
    tokens = loaded.interpreter.generate(name, prompt, args.steps, until, args.vocab)
    n = len(prompt)
    if args.json:
        out.write(json.dumps({"prompt": tokens[:n], "generated": tokens[n:]}) + "\n")
    else:
        out.write(" ".join(map(_shown, tokens[:n])) + " | " +
                  " ".join(map(_shown, tokens[n:])) + "\n")
    return EXIT_OK


def _prompt(text: str) -> list:
    try:
        return list(input_of(text, hint=""))
    except RaspError as e:
        raise UsageError(f"--prompt: {e.message}") from None


def _token(text: str, prompt: list) -> Any:
    """--until: the text itself after a prompt of strings, else a JSON atom."""
    if all(isinstance(t, str) for t in prompt):
        return text
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        value = None
    if not isinstance(value, (bool, int, float)):
        raise UsageError(f"--until: the prompt's tokens are numbers or bools, so TOKEN must "
                         f"be one, got {text!r}")
    return value


def _shown(token: Any) -> str:
    """A token as the output line writes it: a string as itself, others as JSON."""
    return token if isinstance(token, str) else json.dumps(token)
