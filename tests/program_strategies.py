"""Random well-formed RASP programs and inputs (hypothesis strategies), and RASP source for them.

A program is a list of `reference_evaluator` trees: function definitions and assignments
`v0 = ...;`, `v1 = ...;`, each using the names before it. Generation is guided by kinds
(s-op, selector, atom) and element types (numbers, strings, bools), so most programs compute
something; type clashes (`"a" < 1`, averaging strings, a string default among numbers) still
happen, and a few programs pass a value of the wrong kind on purpose, so both evaluators must
also agree on what is an error.

`render` writes a tree as RASP with as few parentheses as the grammar's precedence allows
(plus a few redundant ones), so a parser that got the precedence wrong computes different
values.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

from reference_evaluator import (
    Aggregate,
    Assign,
    Binary,
    Call,
    Cond,
    Contains,
    Def,
    DictLit,
    Index,
    ListLit,
    Lit,
    Paren,
    Select,
    Unary,
    Var,
)

NUM, STR, BOOL = "num", "str", "bool"
SOP, SEL, ATOM = "sop", "sel", "atom"
ARITHMETIC = ("+", "-", "*", "/", "%", "^")
COMPARISONS = ("==", "!=", "<", ">", "<=", ">=")
# Small numbers mostly (sums of these floats are exact, so both sides round alike); now and
# then one near the edges of int64 and float64 precision.
INT_LITERALS = st.sampled_from([*range(-3, 10), 63, 100])
FLOAT_LITERALS = st.sampled_from([0.5, 1.0, 2.25, 3.5, 0.0, -1.5, 2.0 ** 53, 1e20])
BIG_INTS = st.sampled_from([2 ** 53 + 1, 2 ** 63 - 1, -(2 ** 63), 2 ** 64])
FLOAT_INPUTS = st.one_of(FLOAT_LITERALS, st.just(-0.0))  # equal to 0.0, but prints otherwise
STR_LITERALS = st.sampled_from(["a", "b", "c", "ab", ""])
LETTERS = "aabc"
INPUT_KINDS = ("chars", "strings", "ints", "floats", "bools", "numbers")


@dataclass(frozen=True)
class Case:
    """A program and the inputs to evaluate its s-ops and selectors on."""

    statements: tuple
    inputs: tuple

    @property
    def source(self) -> str:
        return render_program(self.statements)

    @property
    def names(self) -> list[str]:
        return [s.name for s in self.statements if isinstance(s, Assign)]


# ---------------------------------------------------------------- rendering

PRIMARY, UNARY, POWER, PRODUCT, MODULO, SUM, COMPARE, LOGIC, CONDITIONAL, IN = range(10)
LEVELS = {"^": POWER, "*": PRODUCT, "/": PRODUCT, "%": MODULO, "+": SUM, "-": SUM,
          "and": LOGIC, "or": LOGIC, **{op: COMPARE for op in COMPARISONS}}


def render_program(statements) -> str:
    return "\n".join(_statement(s) for s in statements) + "\n"


def _statement(stmt) -> str:
    if isinstance(stmt, Assign):
        return f"{stmt.name} = {render(stmt.value)};"
    body = " ".join(f"{a.name} = {render(a.value)};" for a in stmt.body)
    return (f"def {stmt.name}({', '.join(stmt.params)}) {{ {body}"
            f"{' ' if body else ''}return {render(stmt.result)}; }}")


def render(e) -> str:
    return _render(e)[0]


def _wrap(e, loosest: int) -> str:
    """`e`'s text, in parentheses if it binds more loosely than the place allows."""
    text, level = _render(e)
    return text if level <= loosest else f"({text})"


def _literal(value: Any) -> tuple[str, int]:
    if isinstance(value, bool):
        return str(value), PRIMARY
    if isinstance(value, str):
        return f'"{value}"', PRIMARY
    text = repr(abs(value))
    if "e" in text:  # RASP writes floats as digits.digits only
        text = f"{abs(value):.1f}"
    return (text, PRIMARY) if value >= 0 and not text.startswith("-") else (f"-{text}", UNARY)


def _render(e) -> tuple[str, int]:
    """Source text and its precedence level (grammar/rasp.lark: loosest `in`, tightest
    primaries; each binary level is left-associative, `^`'s right side is a unary)."""
    match e:
        case Lit(value=value):
            return _literal(value)
        case Var(name=name):
            return name, PRIMARY
        case Paren(inner=inner):
            return f"({render(inner)})", PRIMARY
        case ListLit(items=items):
            return "[" + ", ".join(render(i) for i in items) + "]", PRIMARY
        case DictLit(pairs=pairs):
            return "{" + ", ".join(f"{render(k)}: {render(v)}" for k, v in pairs) + "}", PRIMARY
        case Unary(op="round" | "indicator" as op, operand=operand):
            return f"{op}({render(operand)})", PRIMARY
        case Unary(op=op, operand=operand):
            return f"{op}{' ' if op == 'not' else ''}{_wrap(operand, UNARY)}", UNARY
        case Binary(op=op, left=left, right=right):
            level = LEVELS[op]
            right_text = _wrap(right, UNARY if op == "^" else level - 1)
            return f"{_wrap(left, level)} {op} {right_text}", level
        case Cond(then=then, test=test, otherwise=otherwise):
            return (f"{_wrap(then, CONDITIONAL)} if {_wrap(test, IN)} else "
                    f"{_wrap(otherwise, LOGIC)}", CONDITIONAL)
        case Contains(item=item, container=container):
            return f"{_wrap(item, IN)} in {_wrap(container, CONDITIONAL)}", IN
        case Index(target=target, index=index):
            return f"{_wrap(target, PRIMARY)}[{render(index)}]", PRIMARY
        case Call(name=name, args=args):
            return f"{name}({', '.join(render(a) for a in args)})", PRIMARY
        case Select(keys=keys, queries=queries, op=op):
            return f"select({render(keys)}, {render(queries)}, {op})", PRIMARY
        case Aggregate(selector=sel, values=values, default=default):
            extra = "" if default is None else f", {render(default)}"
            return f"aggregate({render(sel)}, {render(values)}{extra})", PRIMARY
    raise AssertionError(f"cannot render {e!r}")


# ---------------------------------------------------------------- inputs

def inputs(kind: str) -> st.SearchStrategy:
    """Inputs of one token type: a string (a sequence of characters) or a list of atoms."""
    def lists(elements):
        return st.lists(elements, min_size=1, max_size=6)
    return {
        "chars": st.text(alphabet=LETTERS, min_size=1, max_size=6),
        "strings": lists(st.sampled_from(["a", "b", "ab", "", "1"])),
        "ints": lists(st.integers(-3, 9)),
        "floats": lists(FLOAT_INPUTS),
        "bools": lists(st.booleans()),
        "numbers": lists(st.one_of(st.integers(-3, 9), FLOAT_INPUTS, st.booleans(), BIG_INTS)),
    }[kind]


# ---------------------------------------------------------------- programs

class _Generator:
    """Draws one program, choosing each construct by the kind of value wanted."""

    def __init__(self, draw, input_kind: str, mistakes: bool):
        self.draw = draw
        self.numeric_input = input_kind in ("ints", "floats", "numbers", "bools")
        self.mistakes = mistakes
        self.scope: list[tuple[str, str, str | None]] = []  # (name, kind, element type)
        self.functions: list[tuple[str, tuple, tuple[str, str | None]]] = []

    # -- choices
    def pct(self, percent: int) -> bool:
        return self.draw(st.integers(0, 99)) < percent

    def pick(self, options: list):
        return self.draw(st.sampled_from(options))

    def elem(self) -> str:
        return self.pick([NUM, STR, BOOL])

    def literal(self, elem: str) -> Lit:
        strategy = {NUM: st.one_of(INT_LITERALS, FLOAT_LITERALS), STR: STR_LITERALS,
                    BOOL: st.booleans()}[elem]
        return Lit(self.draw(strategy))

    def names(self, kind: str, elem: str | None) -> list[str]:
        return [n for n, k, t in self.scope if k == kind and (elem is None or t == elem)]

    # -- expressions
    def expr(self, kind: str, elem: str | None, depth: int):
        e = {SOP: self.sop, SEL: lambda _, d: self.sel(d), ATOM: self.atom}[kind](elem, depth)
        return Paren(e) if self.pct(5) else e

    def operand(self, elem: str, depth: int):
        """Where RASP takes an s-op or an atom (which it makes a constant s-op)."""
        if self.mistakes and self.pct(6):
            return self.wrong(depth)
        return self.atom(elem, 0) if self.pct(25) else self.sop(elem, depth)

    def wrong(self, depth: int):
        """A value of a kind no operator here wants: a selector or a list."""
        return self.sel(depth) if self.pct(70) else ListLit((self.literal(NUM),))

    def ordered(self, op: str, a, b):
        return Binary(op, a, b) if self.pct(60) else Binary(op, b, a)

    def sop(self, elem: str, depth: int):
        if depth <= 0 or self.pct(15):
            return self.sop_leaf(elem)
        d = depth - 1
        builders = {NUM: self._num_sop, STR: self._str_sop, BOOL: self._bool_sop}[elem](d)
        builders += [lambda: self.aggregate(elem, d), lambda: self.index(elem, d),
                     lambda: self.cond(SOP, elem, d), lambda: self.library_sop(elem, d)]
        if self.calls_for(SOP, elem):
            builders.append(lambda: self.call(SOP, elem, d))
        return self.pick(builders)()

    def sop_leaf(self, elem: str):
        leaves = {NUM: ["indices", "length", "tokens_int", "tokens_float", "tokens_asis"]
                  if self.numeric_input else ["indices", "length"],
                  STR: ["tokens", "tokens_str"],
                  BOOL: ["tokens_bool"]}[elem]
        if self.mistakes and self.pct(5):
            leaves = ["tokens_int", "tokens_float", "tokens_asis"]
        return Var(self.pick(leaves + self.names(SOP, elem) * 3))

    def _num_sop(self, d: int) -> list:
        return [
            lambda: self.ordered(self.pick(ARITHMETIC), self.sop(NUM, d), self.operand(NUM, d)),
            lambda: Unary(self.pick(["-", "+", "round"]), self.sop(NUM, d)),
            lambda: Unary("indicator", self.sop(self.elem(), d)),
            lambda: Index(ListLit(tuple(self.literal(NUM) for _ in range(self.draw(
                st.integers(1, 4))))), self.sop(NUM, d)),
        ]

    def _str_sop(self, d: int) -> list:
        return [
            lambda: self.ordered("+", self.sop(STR, d), self.operand(STR, d)),
            lambda: self.ordered("*", self.sop(STR, d), self.operand(NUM, d)),
            lambda: Index(Lit(self.draw(st.sampled_from(["abc", "xy"]))), self.sop(NUM, d)),
            lambda: Index(DictLit(((Lit("a"), Lit("x")), (Lit("b"), Lit("y")), (Lit(1), Lit("z")))),
                          self.sop(self.pick([STR, NUM]), d)),
        ]

    def _bool_sop(self, d: int) -> list:
        def compare():
            elem = self.elem()
            return self.ordered(self.pick(COMPARISONS), self.sop(elem, d), self.operand(elem, d))

        def in_list():
            elem = self.elem()
            items = tuple(self.literal(elem) for _ in range(self.draw(st.integers(0, 3))))
            return Contains(self.sop(elem, d), ListLit(items))

        def atom_in():
            elem = self.elem()
            return Contains(self.atom(elem, 0), self.sop(elem, d))
        return [
            compare, compare, in_list, atom_in,
            lambda: Unary("not", self.sop(self.elem(), d)),
            lambda: self.ordered(self.pick(["and", "or"]), self.sop(self.elem(), d),
                                 self.operand(self.elem(), d)),
        ]

    def aggregate(self, elem: str, d: int):
        default = None if self.pct(40) else (
            self.sop(elem, d) if self.mistakes and self.pct(10) else self.atom(elem, 0))
        return Aggregate(self.sel(d), self.operand(elem, d), default)

    def index(self, elem: str, d: int):
        """`s[i]`: the value at position i everywhere (negative i counts from the end)."""
        return Index(self.sop(elem, d), Lit(self.draw(st.integers(-3, 6))))

    def cond(self, kind: str, elem: str, d: int):
        if kind == ATOM:
            return Cond(self.atom(elem, d), self.atom(BOOL, d), self.atom(elem, d))
        return Cond(self.operand(elem, d), self.sop(self.pick([BOOL, BOOL, NUM]), d),
                    self.operand(elem, d))

    def library_sop(self, elem: str, d: int):
        any_elem = self.elem()
        options = {
            NUM: [lambda: Call("selector_width", (self.sel(d),)),
                  lambda: Call("count", (self.sop(any_elem, d), self.atom(any_elem, 0))),
                  lambda: Call("average", (self.sop(NUM, d),)),
                  lambda: Call(self.pick(["max", "min"]), (self.sop(NUM, d),
                                                          self.operand(NUM, d)))],
            STR: [],
            BOOL: [lambda: Call("has_focus", (self.sel(d),)),
                   lambda: Call("contains", (self.sop(any_elem, d), self.atom(any_elem, 0))),
                   lambda: Call(self.pick(["mark_last_instance", "mark_first_instance"]),
                                (self.sop(any_elem, d), self.atom(any_elem, 0)))],
        }[elem] + [
            lambda: Call("load_from_location", (self.sop(elem, d), self.operand(NUM, d))),
            lambda: Call("shift", (self.sop(elem, d), Lit(self.draw(st.integers(0, 3))),
                                   self.atom(elem, 0))),
            lambda: Call("sort", (self.sop(elem, d), self.sop(self.elem(), d))),
        ]
        return self.pick(options)()

    def sel(self, depth: int):
        if depth <= 0 or self.pct(15):
            return Var(self.pick(["full_s"] + self.names(SEL, None) * 3)) if self.pct(30) else (
                Select(self.sop_leaf(NUM), self.sop_leaf(NUM), self.pick(COMPARISONS)))
        d = depth - 1
        elem = self.elem()
        builders = [
            lambda: Select(self.operand(elem, d), self.operand(elem, d), self.pick(COMPARISONS)),
            lambda: Select(self.operand(elem, d), self.operand(elem, d), self.pick(COMPARISONS)),
            lambda: Binary(self.pick(["and", "or"]), self.sel(d), self.sel(d)),
            lambda: Unary("not", self.sel(d)),
            lambda: Call(self.pick(["select_from_last", "select_from_first"]),
                         (self.sop(elem, d), self.atom(elem, 0))),
            lambda: Call("select_next_identical", (self.sop(elem, d),)),
        ]
        if self.calls_for(SEL, None):
            builders.append(lambda: self.call(SEL, None, d))
        return self.pick(builders)()

    def atom(self, elem: str, depth: int):
        names = self.names(ATOM, elem)
        if depth <= 0 or self.pct(30):
            return Var(self.pick(names)) if names and self.pct(30) else self.literal(elem)
        d = depth - 1
        builders = {
            NUM: [lambda: Binary(self.pick(ARITHMETIC), self.atom(NUM, d), self.atom(NUM, d)),
                  lambda: Unary(self.pick(["-", "+", "round"]), self.atom(NUM, d)),
                  lambda: Call(self.pick(["max", "min"]), (self.atom(NUM, d),
                                                          self.atom(NUM, d)))],
            STR: [lambda: Binary("+", self.atom(STR, d), self.atom(STR, d)),
                  lambda: Binary("*", self.atom(STR, d), Lit(self.draw(st.integers(0, 3)))),
                  lambda: Index(Lit("abc"), Lit(self.draw(st.integers(-4, 3))))],
            BOOL: [lambda: Binary(self.pick(COMPARISONS), self.atom(NUM, d), self.atom(NUM, d)),
                   lambda: Binary(self.pick(["and", "or"]), self.atom(BOOL, d),
                                  self.atom(self.elem(), d)),
                   lambda: Unary("not", self.atom(self.elem(), d)),
                   lambda: Contains(self.atom(NUM, d), ListLit((Lit(1), Lit(2.25))))],
        }[elem] + [lambda: self.cond(ATOM, elem, d)]
        if self.calls_for(ATOM, elem):
            builders.append(lambda: self.call(ATOM, elem, d))
        return self.pick(builders)()

    # -- functions
    def calls_for(self, kind: str, elem: str | None) -> list:
        return [f for f in self.functions if f[2] == (kind, elem)]

    def call(self, kind: str, elem: str | None, d: int):
        name, params, _ = self.pick(self.calls_for(kind, elem))
        args = tuple(Lit(self.draw(st.integers(0, 4))) if p == "count"
                     else self.argument(p, d) for p in params)
        return Call(name, args)

    def argument(self, param: tuple[str, str | None], d: int):
        kind, elem = param
        return self.operand(elem, d) if kind == SOP else self.expr(kind, elem, d)

    def kind(self) -> tuple[str, str | None]:
        kind = self.pick([SOP, SOP, SOP, SEL, ATOM])
        return kind, (None if kind == SEL else self.elem())

    def function(self) -> Def:
        name = f"f{len(self.functions)}"
        if self.pct(25):
            return self.recursive(name)
        params = tuple(self.kind() for _ in range(self.draw(st.integers(1, 3))))
        names = tuple(f"p{i}" for i in range(len(params)))
        outer = list(self.scope)
        self.scope += [(n, k, t) for n, (k, t) in zip(names, params)]
        body = ()
        if self.pct(40):
            kind, elem = self.kind()
            body = (Assign("l0", self.expr(kind, elem, 2)),)
            self.scope.append(("l0", kind, elem))
        result_kind = self.kind()
        result = self.expr(*result_kind, 2)
        self.scope = outer
        self.functions.append((name, params, result_kind))
        return Def(name, names, body, result)

    def recursive(self, name: str) -> Def:
        """`x` transformed n times, by recursion on an atom: `x if n < 1 else f(g(x), n-1)`."""
        kind = self.pick([SOP, ATOM])
        elem = self.elem()
        outer = list(self.scope)
        self.scope.append(("rx", kind, elem))
        step = self.expr(kind, elem, 1)
        self.scope = outer
        result = Cond(Var("rx"), Binary("<", Var("rn"), Lit(1)),
                      Call(name, (step, Binary("-", Var("rn"), Lit(1)))))
        self.functions.append((name, ((kind, elem), "count"), (kind, elem)))
        return Def(name, ("rx", "rn"), (), result)

    def program(self) -> tuple:
        statements = []
        for i in range(self.draw(st.integers(1, 6))):
            if len(self.functions) < 2 and self.pct(25):
                statements.append(self.function())
            kind, elem = self.kind()
            statements.append(Assign(f"v{i}", self.expr(kind, elem, self.draw(
                st.integers(1, 3)))))
            self.scope.append((f"v{i}", kind, elem))
        return tuple(statements)


@st.composite
def cases(draw) -> Case:
    """A random program with one to three inputs, mostly of the token type it expects."""
    input_kind = draw(st.sampled_from(INPUT_KINDS))
    statements = _Generator(draw, input_kind, mistakes=draw(st.integers(0, 9)) == 0).program()
    examples = draw(st.lists(inputs(input_kind), min_size=1, max_size=3))
    if draw(st.integers(0, 9)) == 0:  # now and then, an input of another type
        examples.append(draw(st.sampled_from(INPUT_KINDS).flatmap(inputs)))
    return Case(statements, tuple(examples))
