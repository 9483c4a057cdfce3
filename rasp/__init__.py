"""RASP: the Restricted Access Sequence Processing language of "Thinking Like Transformers".

    from rasp import Interpreter
    it = Interpreter()
    it.run('load "sort"; my_sort = sort(tokens, tokens);')
    it.evaluate("my_sort", "banana")   # ['a', 'a', 'a', 'b', 'n', 'n']
"""

from typing import Any

from .errors import RaspError, RaspSyntaxError, format_error
from .interpreter import Interpreter
from .parser import parse

__all__ = ["Interpreter", "RaspError", "RaspSyntaxError", "format_error", "parse",
           "load_ipython_extension", "unload_ipython_extension", "__version__"]
__version__ = "0.1.0"


# `%load_ext rasp` looks for these here. IPython is imported only then (rasp.notebook, the
# `notebook` extra): importing rasp never needs it.
def load_ipython_extension(shell: Any) -> None:
    from .notebook import load_ipython_extension as load

    load(shell)


def unload_ipython_extension(shell: Any) -> None:
    from .notebook import unload_ipython_extension as unload

    unload(shell)
