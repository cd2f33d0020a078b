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
                 Tag.button("×", _class="delete", _title="delete", _onclick=self.delete))

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
    def init(self) -> None:
        self.items: list[TodoItem] = []
        self.filter = "all"
        self.entry = Tag.input(_name="title", _placeholder="What needs to be done?", _autofocus=True,
                               _autocomplete="off", _class="new")
        self.list = Tag.ul(_class="todos")
        self.left = Tag.span("0 items left", _class="left")
        self.filters = {
            name: Tag.button(name, _class="filter" + (" selected" if name == "all" else ""),
                             _data_filter=name, _onclick=self.choose)
            for name in FILTERS
        }
        self <= Tag.h1("todos")
        self <= Tag.form(self.entry, Tag.button("Add", _type="submit"), _class="add", _onsubmit=self.add_item)
        self <= self.list
        self <= Tag.footer(self.left, Tag.span(*self.filters.values(), _class="filters"))

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
