"""What type checkers are told of ``Tag.<name>`` (the ``TYPE_CHECKING`` block of
``livetag/dom/tag.py``, which never runs) agrees with what ``_TagFactory`` builds."""

import ast
import inspect

from livetag.dom import tag as tag_module
from livetag.dom.tag import TAG_API, Tag


def declared_elements() -> list[str]:
    tree = ast.parse(inspect.getsource(tag_module))
    body = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Tag").body
    block = next(n for n in body if isinstance(n, ast.If) and ast.unparse(n.test) == "TYPE_CHECKING")
    return [s.target.id for s in block.body
            if isinstance(s, ast.AnnAssign) and isinstance(s.target, ast.Name) and s.target.id != "App"]


def test_each_declared_element_is_an_element_at_run_time() -> None:
    names = declared_elements()
    assert {"div", "span", "body", "section", "form", "button", "input"} <= set(names)
    assert not set(names) & TAG_API
    for name in names:
        cls = getattr(Tag, name)
        assert issubclass(cls, Tag) and cls.tag_name == name


def test_tag_app_is_the_app_class() -> None:
    assert Tag.App is tag_module.App and issubclass(Tag.App, Tag.body)
