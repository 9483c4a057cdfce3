"""The grammar: conflict-free LALR, found where an installed package looks for it."""

from lark import Lark

from rasp.parser import get_parser, grammar_path


def test_grammar_builds_strict_without_conflicts():
    parser = get_parser(strict=True)
    assert isinstance(parser, Lark)


def test_grammar_file_is_the_top_level_one_in_a_checkout():
    assert grammar_path().name == "rasp.lark"
    assert grammar_path().parent.name == "grammar"
