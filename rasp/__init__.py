"""RASP: the Restricted Access Sequence Processing language of "Thinking Like Transformers".

    from rasp import Interpreter
    it = Interpreter()
    it.run('load "sort"; my_sort = sort(tokens, tokens);')
    it.evaluate("my_sort", "banana")   # ['a', 'a', 'a', 'b', 'n', 'n']
"""

from .errors import RaspError, RaspSyntaxError, format_error
from .interpreter import Interpreter
from .parser import parse

__all__ = ["Interpreter", "RaspError", "RaspSyntaxError", "format_error", "parse",
           "__version__"]
__version__ = "0.1.0"
