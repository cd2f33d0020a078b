"""A todo list: add with a form, check, edit, delete, filter, count what is left.

Run: python examples/todo.py (127.0.0.1:8000), or livetag run examples/todo.py --port 0
"""

from __future__ import annotations

from livetag import Tag, WebApp, prevent

FILTERS = ("all", "active", "done")


class TodoItem(Tag.li):
    """One todo: a checkbox, its text (double-click to edit) and a delete button.

    The editor stays in the tree, hidden while not editing: the ``blur`` that follows a
    ``change`` (or the removal of a focused field) then reaches a live tag instead of
    one the server already removed.
    """

    def init(self, text: str, app: TodoApp) -> None:
        self.app = app
        self.done = False
        self.editing = False
        self.check = Tag.input(_type="checkbox", _class="toggle", _onchange=self.toggle)
        self.label = Tag.span(text, _class="label", _ondblclick=self.edit)
        self.editor = Tag.input(_class="edit", _hidden=True, _autocomplete="off", _onchange=self.save,
                                _onblur=self.save)
        self.add(self.check, self.label, self.editor,
                 Tag.button("×", _class="delete", _title="delete", _aria_label=f"delete {text}",
                            _onclick=self.delete))

    @property
    def title(self) -> str:
        return self.label.text

    def toggle(self, e) -> None:
        self.done = bool(self.check["checked"])
        self.toggle_class("done", self.done)
        self.app.refresh()

    def edit(self, e) -> None:
        if self.editing:
            return
        self.editing = True
        self.editor["value"] = self.title
        self.editor["hidden"] = False
        self.label["hidden"] = True
        self.editor.call_js(f"const el = document.getElementById('{self.editor.id}'); el.focus(); "
                            "el.setSelectionRange(el.value.length, el.value.length)")

    def save(self, e) -> None:
        if not self.editing:  # Enter sends "change", leaving the field then sends "blur"
            return
        self.editing = False
        text = str(self.editor["value"] or "").strip()
        if not text:
            self.delete(e)
            return
        self.label.text = text
        self.label["hidden"] = False
        self.editor["hidden"] = True

    def delete(self, e) -> None:
        if self in self.app.items:
            self.app.items.remove(self)
        self.remove()
        self.app.refresh()


class TodoApp(Tag.App):
    statics = [Tag.title("livetag todos")]
    # Scoped to the app (livetag.dom.css): system fonts, no CDN. Colours keep a contrast of
    # at least 4.5:1 on their background (WCAG 2.2 AA); every control shows where the
    # keyboard focus is; done items, the chosen filter and the count read differently.
    styles = """
        & { margin: 0; min-height: 100vh; background: #f3f4f6; color: #111827;
            font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif }
        [hidden] { display: none !important }
        main { max-width: 34rem; margin: 0 auto; padding: 3rem 1rem }
        h1 { margin: 0 0 1rem; font-size: 2.5rem; font-weight: 700; letter-spacing: -.02em; color: #1e3a8a }
        .card { background: #fff; border: 1px solid #d1d5db; border-radius: 12px;
                box-shadow: 0 1px 2px rgba(0, 0, 0, .05), 0 8px 24px rgba(17, 24, 39, .06); overflow: hidden }
        form.add { display: flex; gap: .5rem; padding: 1rem; border-bottom: 1px solid #e5e7eb }
        input.new { flex: 1; min-width: 0; padding: .6rem .8rem; font: inherit; color: inherit;
                    border: 1px solid #6b7280; border-radius: 8px; background: #fff }
        input.new::placeholder { color: #6b7280 }
        button { font: inherit; cursor: pointer }
        form.add button { padding: .6rem 1.1rem; border: 0; border-radius: 8px; background: #1d4ed8; color: #fff;
                          font-weight: 600 }
        form.add button:hover { background: #1e40af }
        ul.todos { list-style: none; margin: 0; padding: 0 }
        ul.todos li { display: flex; align-items: center; gap: .75rem; padding: .65rem 1rem;
                      border-bottom: 1px solid #e5e7eb }
        input.toggle { width: 1.25rem; height: 1.25rem; margin: 0; accent-color: #15803d; flex: none }
        .label { flex: 1; overflow-wrap: anywhere }
        li.done .label { color: #4b5563; text-decoration: line-through; text-decoration-color: #15803d;
                         text-decoration-thickness: 2px }
        li.done { background: #f0fdf4 }
        input.edit { flex: 1; padding: .3rem .5rem; font: inherit; border: 1px solid #1d4ed8; border-radius: 6px }
        button.delete { flex: none; width: 2rem; height: 2rem; border: 1px solid transparent; border-radius: 6px;
                        background: none; color: #b91c1c; font-size: 1.25rem; line-height: 1 }
        button.delete:hover { background: #fef2f2; border-color: #fecaca }
        footer { display: flex; flex-wrap: wrap; align-items: center; justify-content: space-between; gap: .5rem;
                 padding: .75rem 1rem; background: #f9fafb; font-size: .95rem }
        .left { font-weight: 600; color: #111827 }
        .filters { display: flex; gap: .25rem }
        button.filter { padding: .3rem .8rem; border: 1px solid #d1d5db; border-radius: 999px; background: #fff;
                        color: #374151; text-transform: capitalize }
        button.filter:hover { border-color: #6b7280 }
        button.filter.selected { border-color: #1d4ed8; background: #1d4ed8; color: #fff; font-weight: 600 }
        :focus-visible { outline: 3px solid #2563eb; outline-offset: 2px }
        input.new:focus-visible, input.edit:focus-visible { outline-offset: 0 }
        .hint { margin: 1rem 0 0; color: #4b5563; font-size: .9rem; text-align: center }
    """

    def init(self) -> None:
        self.items: list[TodoItem] = []
        self.filter = "all"
        self.entry = Tag.input(_name="title", _placeholder="What needs to be done?", _autofocus=True,
                               _autocomplete="off", _class="new", _aria_label="New todo")
        self.list = Tag.ul(_class="todos")
        self.left = Tag.span("0 items left", _class="left")
        self.filters = {
            name: Tag.button(name, _class="filter" + (" selected" if name == "all" else ""),
                             _data_filter=name, _aria_pressed="true" if name == "all" else "false",
                             _onclick=self.choose)
            for name in FILTERS
        }
        self <= Tag.main(
            Tag.h1("todos"),
            Tag.div(
                Tag.form(self.entry, Tag.button("Add", _type="submit"), _class="add", _onsubmit=self.add_item),
                self.list,
                Tag.footer(self.left, Tag.span(*self.filters.values(), _class="filters", _role="group",
                                               _aria_label="Show")),
                _class="card",
            ),
            Tag.p("Double-click a todo to edit it.", _class="hint"),
        )

    @prevent
    def add_item(self, e) -> None:
        text = str(e["title"]).strip()
        if text:
            item = TodoItem(text, app=self)
            self.items.append(item)
            self.list <= item
        self.entry["value"] = ""
        self.refresh()

    def choose(self, e) -> None:
        self.filter = e.target["data-filter"]
        for name, button in self.filters.items():
            button.toggle_class("selected", name == self.filter)
            button["aria-pressed"] = "true" if name == self.filter else "false"
        self.refresh()

    def refresh(self) -> None:
        left = sum(not item.done for item in self.items)
        self.left.text = f"{left} item{'' if left == 1 else 's'} left"
        for item in self.items:
            visible = self.filter == "all" or (self.filter == "done") == item.done
            item["hidden"] = not visible


webapp = WebApp(TodoApp)
app = webapp.app

if __name__ == "__main__":  # or: livetag run examples/todo.py --port 0
    webapp.run()
