"""A counter: the smallest livetag app. Run: python examples/counter.py"""

from livetag import Tag, WebApp


class Counter(Tag.App):
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
        .value { display: inline-block; min-width: 3ch; margin: 0 .75rem; text-align: center; font-size: 1.5rem;
                 font-variant-numeric: tabular-nums; vertical-align: middle }
    """

    def init(self) -> None:
        self.count = 0
        self.value = Tag.span(self.count, _class="value")
        self <= Tag.h1("Counter")
        self <= Tag.button("-", _class="dec", _onclick=self.decrement)
        self <= self.value
        self <= Tag.button("+", _class="inc", _onclick=self.increment)

    def increment(self, e) -> None:
        self.count += 1
        self.value.text = self.count

    def decrement(self, e) -> None:
        self.count -= 1
        self.value.text = self.count


webapp = WebApp(Counter)
app = webapp.app

if __name__ == "__main__":
    webapp.run(port=8000)
