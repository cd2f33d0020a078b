"""A counter: the smallest livetag app. Run: python examples/counter.py"""

from livetag import Tag, WebApp


class Counter(Tag.App):
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
