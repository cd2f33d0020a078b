"""``FileDrop``: a drop zone for files, which is also a button that opens the file
chooser. Its handler gets the files as a file input's would (``event.files``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .tag import Tag


class FileDrop(Tag.div):
    """A drop zone: drop files on it, or click it to choose them.

    ``onfiles(event)`` runs once the files are on the server (``event.files``: a list of
    ``UploadedFile``; ``event.upload_error``: why they were refused; ``event.target``:
    the zone's ``<input type="file">``, also ``.file_input``). ``label``: the text shown
    (``.label_text``);
    ``multiple``: several files at once; ``accept``: the chooser's filter (``"image/*"``,
    ``".csv"``: a hint to the browser, not a check).

    Restyle it with CSS: the zone has class ``lt-drop`` (``lt-dragover`` while files
    are dragged over it, the attribute ``data-lt-uploading`` and the variable
    ``--lt-upload`` (0 to 1) during an upload); its ``<progress>`` (``.bar``) is shown
    during an upload."""

    styles = """
        :host { display: block; border: 2px dashed #888; border-radius: 8px; padding: 1.5em;
                text-align: center; cursor: pointer }
        :host.lt-dragover { background: #eef5ff; border-color: #36c }
        :host > label { cursor: pointer; display: block }
        :host input[type=file] { position: absolute; width: 1px; height: 1px; opacity: 0 }
        :host progress { width: 100%; margin-top: .5em }
    """

    def init(self, onfiles: Callable[..., Any] | None = None, label: str = "Drop files here, or click to choose",
             multiple: bool = True, accept: str | None = None) -> None:
        self["data-lt-drop"] = ""
        self.add_class("lt-drop")
        self.file_input = Tag.input(_type="file", _multiple=multiple, _accept=accept)
        if onfiles is not None:
            self.file_input["onchange"] = onfiles
        self.label_text = Tag.span(label)
        self.bar = Tag.progress(_value=0, _max=100, _hidden=True)
        self <= Tag.label(self.file_input, self.label_text)
        self <= self.bar
