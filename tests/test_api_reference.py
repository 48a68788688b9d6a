"""The book's API reference: its Sphinx extension (book/_ext/api_reference.py) and its coverage."""

import pkgutil
import re
import sys

import pytest
from helpers import ROOT

import kellynotes

sys.path.insert(0, str(ROOT / "book" / "_ext"))
import api_reference  # noqa: E402

PAGE = (ROOT / "book" / "api.md").read_text()


def test_inline_and_display_math_become_rst():
    lines = ["The rate $\\beta(s)/2$ in nats, with ``$OUT`` untouched:", "", "$$I = \\int_0^T",
             "\\mathbb E\\|\\Delta\\|^2\\,ds$$", "and $x$'s end."]
    out = "\n".join(api_reference.math_to_rst(lines))
    assert "\\ :math:`\\beta(s)/2`\\ " in out and "``$OUT``" in out
    assert ".. math::\n\n   I = \\int_0^T \\mathbb E\\|\\Delta\\|^2\\,ds" in out
    assert "\\ :math:`x`\\ 's end." in out
    # a formula broken over two lines of a paragraph stays one formula; a blank line ends a paragraph
    assert api_reference.math_to_rst(["a $x +", "y$ b"]) == ["a \\ :math:`x +", "y`\\  b"]
    assert api_reference.math_to_rst(["costs $5", "", "and $6"]) == ["costs $5", "", "and $6"]


@pytest.mark.parametrize("text, numbers", [("MINDE (Eq. 14)", [14]), ("Eqs. 66, 67 and 70", [66, 67, 70]),
                                           ("Eq. (70) and Eq. 52", [52, 70]), ("no equation, Fig. 9", [])])
def test_cited_equations(text, numbers):
    assert api_reference.cited_equations(text) == numbers


def test_every_public_module_is_in_the_reference():
    documented = set(re.findall(r"^\.\. automodule:: kellynotes\.(\w+)$", PAGE, re.M))
    modules = {m.name for m in pkgutil.iter_modules(kellynotes.__path__)
               if not m.name.startswith("_") and m.name not in ("figures", "version")}
    assert documented == modules
    cited = re.search(r"```\{equation-index\} (.+)", PAGE).group(1).split()
    assert {name.removeprefix("kellynotes.") for name in cited} == modules


def test_the_readme_package_table_names_every_module():
    readme = (ROOT / "README.md").read_text()
    table = readme[readme.index("## The package"):readme.index("## Experiments and stored results")]
    modules = {m.name for m in pkgutil.iter_modules(kellynotes.__path__) if not m.name.startswith("_")}
    missing = sorted(name for name in modules if f"`kellynotes.{name}`" not in table)
    assert not missing, f"README's package table lacks {missing}"
