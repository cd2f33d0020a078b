"""A small component library: components with scoped ``styles`` and ``statics``.

- ``Badge`` and ``Card``: CSS in ``styles``, scoped to the component (``.lt-Card h3``).
- ``Ruler``: its ``statics`` bring a global ``@keyframes`` and a script defining a function,
  ``ltRulerMeasure(id)``, which measures an element in the browser and sends the result
  back to Python as a custom event (``livetag.event(id, "measured", {...})``). Rulers are
  only added after a click: their statics reach ``<head>`` then, once per page however
  many rulers there are.

Run: python examples/components.py (127.0.0.1:8000), or livetag run examples/components.py --port 0
"""

from __future__ import annotations

import json

from livetag import Event, Tag, WebApp


class Badge(Tag.span):
    """``Badge("new", tone="ok")``: a small coloured label."""

    styles = """
        :host { display: inline-block; padding: 0 .5em; border-radius: .8em; font-size: .8em;
                background: #ddd }
        :host(.ok) { background: #cfc }
        :host(.warn) { background: #fdb }
    """

    def init(self, text: str, tone: str = "info") -> None:
        self <= text
        self.add_class(tone)


class Card(Tag.div):
    """``Card(title, *body)``: a titled box; ``raised=True`` gives it a shadow."""

    styles = """
        :host { border: 1px solid #ccc; border-radius: 6px; padding: .5em 1em; margin: .5em 0 }
        :host(.raised) { box-shadow: 0 2px 6px rgba(0, 0, 0, .25) }
        h3 { margin: .2em 0; font-size: 1.1em }
        h3 > .lt-Badge { margin-left: .5em }
        @media (max-width: 500px) { :host { padding: .25em } }
    """

    def init(self, title: str, *body: object, badge: Tag | None = None, raised: bool = False) -> None:
        self <= Tag.h3(title, badge)
        self.body = Tag.div(*body, _class="body")
        self <= self.body
        if raised:
            self.add_class("raised")


RULER_SCRIPT = """
function ltRulerMeasure(id) {
  const box = document.getElementById(id).getBoundingClientRect();
  livetag.event(id, "measured", {width: Math.round(box.width), height: Math.round(box.height)});
}
"""


class Ruler(Card):
    """A card that asks the browser for its own size (through a function of its statics)."""

    statics = [
        Tag.style("@keyframes lt-ruler-in { from { opacity: 0 } to { opacity: 1 } }"),
        Tag.script(RULER_SCRIPT),
    ]
    styles = """
        :host { animation: lt-ruler-in .3s }
        .size { font-family: monospace }
    """

    def init(self, number: int) -> None:
        self.size = Tag.span("not measured", _class="size")
        super().init(f"Ruler {number}", Tag.button("measure", _class="measure", _onclick=self.measure), " ",
                     self.size, badge=Badge("lazy", tone="warn"))
        self["onmeasured"] = self.measured  # the custom event sent by ltRulerMeasure

    def measure(self, e: Event) -> None:
        self.call_js(f"ltRulerMeasure({json.dumps(self.id)})")

    def measured(self, e: Event) -> None:
        self.size.text = f"{e.value['width']} x {e.value['height']} px"


class Library(Tag.App):
    statics = [Tag.title("livetag components")]
    # Scoped to the app (livetag.dom.css); system fonts, visible focus, WCAG AA contrast.
    styles = """
        & { max-width: 44rem; margin: 0 auto; padding: 2rem 1rem; background: #f3f4f6; color: #111827;
            font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif }
        h1 { margin: 0 0 1rem; color: #1e3a8a }
        button { font: inherit; padding: .4rem 1rem; border: 1px solid #1d4ed8; border-radius: 8px;
                 background: #1d4ed8; color: #fff; cursor: pointer }
        button:hover { background: #1e40af }
        button:disabled { border-color: #9ca3af; background: #9ca3af; color: #111827; cursor: default }
        input { font: inherit; padding: .4rem .7rem; border: 1px solid #6b7280; border-radius: 8px }
        a { color: #1d4ed8 }
        :focus-visible { outline: 3px solid #2563eb; outline-offset: 2px }
    """

    def init(self) -> None:
        self.count = 0
        self <= Tag.h1("Components")
        self <= Card("A card", "Its styles apply inside it only.", badge=Badge("new", tone="ok"))
        self <= Card("A raised card", Tag.p("Same component, another class."), raised=True)
        self.rulers = Tag.div(_class="rulers")
        self <= Tag.button("add a ruler", _class="add", _onclick=self.add_ruler)
        self <= self.rulers

    def add_ruler(self, e: Event) -> None:
        self.count += 1
        self.rulers <= Ruler(self.count)


webapp = WebApp(Library)
app = webapp.app

if __name__ == "__main__":  # or: livetag run examples/components.py --port 0
    webapp.run()
