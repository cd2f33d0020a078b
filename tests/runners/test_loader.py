"""Import strings both ways: parsing and loading them, and deriving them from live objects."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from livetag import Tag
from livetag.errors import AmbiguousApp, AppFileNotFound, AppImportFailed, AppNotFound
from livetag.runners.loader import ImportString, import_string_for, servable, webapp_options_of
from livetag.server import WebApp  # the ASGI app servable() returns (livetag.WebApp adds run())


class ModuleLevelApp(Tag.App):
    pass


@pytest.mark.parametrize(("text", "location", "attr", "is_path"), [
    ("app.py", "app.py", None, True),
    ("src/app.py:MyApp", "src/app.py", "MyApp", True),
    ("package.module:webapp", "package.module", "webapp", False),
    ("package.module:holder.app", "package.module", "holder.app", False),
    ("package.module", "package.module", None, False),
    (r"C:\apps\app.py", r"C:\apps\app.py", None, True),
    (r"C:\apps\app.py:Main", r"C:\apps\app.py", "Main", True),
])
def test_parse(text: str, location: str, attr: str | None, is_path: bool) -> None:
    ref = ImportString.parse(text)
    assert (ref.location, ref.attr, ref.is_path) == (location, attr, is_path)
    assert str(ref) == text


@pytest.mark.parametrize("text", ["", "app.py:"])
def test_parse_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="expected"):
        ImportString.parse(text)


def test_load_errors(tmp_path: Path) -> None:
    with pytest.raises(AppFileNotFound, match="no such file"):
        ImportString.parse(str(tmp_path / "missing.py")).load()
    broken = tmp_path / "broken_mod.py"
    broken.write_text("x = 1\nraise KeyError('boom')\n")
    with pytest.raises(AppImportFailed, match=r"KeyError: 'boom' \(broken_mod.py, line 2\)"):
        ImportString.parse(str(broken)).load()
    plain = tmp_path / "plain_mod.py"
    plain.write_text("from livetag import Tag\nclass Card(Tag.div): pass\n")
    with pytest.raises(AppNotFound):
        ImportString.parse(str(plain)).load()
    two = tmp_path / "two_mod.py"
    two.write_text(textwrap.dedent('''
        from livetag import Tag
        from livetag.dom.tag import Tag as Imported
        class B(Tag.App): pass
        class A(Tag.App): pass
    '''))
    with pytest.raises(AmbiguousApp) as info:
        ImportString.parse(str(two)).load()
    assert info.value.candidates == ["B", "A"]  # definition order
    assert ImportString.parse(f"{two}:A").load().__name__ == "A"


def test_import_string_for_live_objects() -> None:
    assert import_string_for(ModuleLevelApp) == f"{__name__}:ModuleLevelApp"

    class Local(Tag.App):
        pass

    with pytest.raises(ValueError, match="defined at module level"):
        import_string_for(Local)
    with pytest.raises(ValueError, match="bound to a module-level name"):
        import_string_for(WebApp(ModuleLevelApp))


def test_a_file_loaded_by_path_is_named_by_its_path(tmp_path: Path) -> None:
    app = tmp_path / "by_path_app.py"
    app.write_text("from livetag import Tag\nclass Main(Tag.App): pass\n")
    cls = ImportString.parse(str(app)).load()
    assert import_string_for(cls) == f"{app.resolve()}:Main"


def test_webapp_options_rebuild_an_equivalent_webapp() -> None:
    original = WebApp(ModuleLevelApp, debug=True, allowed_origins=("https://example.com",))
    options = webapp_options_of(original)
    assert options["debug"] is True and options["allowed_origins"] == ["https://example.com"]
    rebuilt = servable(ModuleLevelApp, options)
    assert isinstance(rebuilt, WebApp) and rebuilt.debug and rebuilt.allowed_origins == original.allowed_origins


def test_servable_shapes() -> None:
    webapp = WebApp(ModuleLevelApp)
    assert servable(webapp) is webapp
    assert servable(webapp.app) is webapp.app  # an ASGI app is served as it is
    assert isinstance(servable(ModuleLevelApp), WebApp)
    assert isinstance(servable(lambda: ModuleLevelApp()), WebApp)  # a factory
    with pytest.raises(AppNotFound, match=r"expected a Tag\.App subclass"):
        servable(42)
