"""Sphinx extension: the book's API reference, from the package's own docstrings.

* Docstrings write math as ``$...$`` and ``$$...$$`` (what the chapters and MathJax use). Before
  autodoc parses a docstring as reStructuredText, inline math becomes ``:math:`...``` and display
  math a ``.. math::`` block (``autodoc-process-docstring``), so the reference renders the same
  formulas as the chapters.
* The directive ``equation-index`` lists, for each equation of the paper cited as "Eq. N" (or
  "Eqs. N, M") in a public docstring of the modules given as its arguments, the functions and
  classes that cite it: an index from the paper to the code, rebuilt from the code at every build.
* The book builds offline, so there are no intersphinx inventories: the types of other libraries
  in signatures (JAX, jaxtyping, NumPy, the standard library, ...) cannot be linked, and the
  nitpicky build (``-n``) is told not to look for them (:data:`EXTERNAL`). Every reference to the
  package itself must resolve.
"""

import importlib
import inspect
import re
from collections import defaultdict

from docutils import nodes
from docutils.parsers.rst import Directive
from docutils.statemachine import StringList

# (role, target) patterns of other libraries' names, for nitpick_ignore_regex
EXTERNAL = [
    (r"py:.*", r"(jax|jaxlib|jaxtyping|numpy|np|pathlib|collections|equinox|eqx|optax|diffrax|argparse|types|typing|t"
               r"|nbclient|matplotlib)(\..+)?"),
    (r"py:.*", r"ndarray|Array|ArrayLike|PRNGKeyArray"),
]

_LITERAL = re.compile(r"(``.+?``)")
_DISPLAY = re.compile(r"\$\$(.+?)\$\$", re.S)
_INLINE = re.compile(r"(?<![\\$])\$(?!\$)((?:(?!\n\s*\n).)+?)(?<![\\$])\$", re.S)
_EQUATION = re.compile(r"\bEqs?\.\s*\(?(\d+)\)?((?:\s*(?:,|and|–|-)\s*\(?\d+\)?)*)")


def _inline(text: str) -> str:
    """``$x$`` -> ``:math:`x```, outside ````literal```` spans; escaped spaces keep RST's inline markup
    rules where a formula touches a word."""
    parts = _LITERAL.split(text)
    for i in range(0, len(parts), 2):
        parts[i] = _INLINE.sub(lambda m: f"\\ :math:`{m.group(1)}`\\ ", parts[i])
    return "".join(parts)


def math_to_rst(lines: list[str]) -> list[str]:
    """The lines of a docstring with its ``$$...$$`` as ``.. math::`` blocks and ``$...$`` as ``:math:`` roles."""
    text = "\n".join(lines)

    def display(match: re.Match) -> str:
        start = text.rfind("\n", 0, match.start()) + 1
        indent = re.match(r"\s*", text[start:match.start()]).group(0)
        body = " ".join(line.strip() for line in match.group(1).strip().splitlines())
        return f"\n\n{indent}.. math::\n\n{indent}   {body}\n\n{indent}"

    text = _DISPLAY.sub(display, text)
    return _inline(text).split("\n")


def _process_docstring(app, what, name, obj, options, lines):
    lines[:] = math_to_rst(lines)


def cited_equations(docstring: str) -> list[int]:
    """Equation numbers cited as "Eq. 14", "Eqs. 66, 67", "Eq. (70)" or "Eqs. 12 and 52"."""
    numbers = []
    for match in _EQUATION.finditer(docstring or ""):
        numbers.append(int(match.group(1)))
        numbers.extend(int(n) for n in re.findall(r"\d+", match.group(2)))
    return sorted(set(numbers))


def public_objects(module_name: str):
    """``(qualified name, kind, object)`` of the public functions and classes of a module (its ``__all__``,
    the objects defined there) and of their public methods."""
    module = importlib.import_module(module_name)
    for name in getattr(module, "__all__", []):
        obj = getattr(module, name, None)
        if getattr(obj, "__module__", None) != module_name:
            continue
        if inspect.isclass(obj):
            yield f"{module_name}.{name}", "class", obj
            for attribute, member in vars(obj).items():
                if not attribute.startswith("_") and (inspect.isfunction(member) or isinstance(member, property)):
                    yield f"{module_name}.{name}.{attribute}", "meth", member
        elif inspect.isfunction(obj):
            yield f"{module_name}.{name}", "func", obj


class EquationIndex(Directive):
    """In a MyST page, ````{equation-index} module [module ...]````: a table, equation number -> what cites it."""

    required_arguments = 1
    final_argument_whitespace = True

    def run(self):
        citing = defaultdict(list)
        for module_name in self.arguments[0].split():
            for name, kind, obj in public_objects(module_name):
                doc = obj.fget.__doc__ if isinstance(obj, property) else obj.__doc__
                for number in cited_equations(doc):
                    role = "attr" if isinstance(obj, property) else kind
                    title = name.removeprefix("kellynotes.") + ("()" if role in ("func", "meth") else "")
                    citing[number].append(f"{{py:{role}}}`{title} <{name}>`")
            for number in cited_equations(importlib.import_module(module_name).__doc__):
                citing[number].append(f"{{py:mod}}`{module_name.removeprefix('kellynotes.')} <{module_name}>` (module)")
        if not citing:
            raise self.error("equation-index found no cited equation in " + self.arguments[0])
        # The page is MyST markdown, so the table is written in MyST (nested_parse parses the page's syntax).
        rows = ["| Equation | Computed or used by |", "| --- | --- |"]
        for number in sorted(citing):
            rows.append(f"| Eq. {number} | " + ", ".join(sorted(set(citing[number]))) + " |")
        container = nodes.container()
        self.state.nested_parse(StringList(rows, source="equation-index"), self.content_offset, container)
        return container.children


def _ignore_external(app, config):
    config.nitpick_ignore_regex = [*config.nitpick_ignore_regex, *EXTERNAL]


def setup(app):
    app.setup_extension("sphinx.ext.autodoc")
    app.connect("config-inited", _ignore_external)
    app.connect("autodoc-process-docstring", _process_docstring)
    app.add_directive("equation-index", EquationIndex)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
