"""A Runner serving a path-routed app (``examples/paths.py``'s pages), for
``test_runner_paths.py``; and one serving a hash-routed app, whose other paths stay 404."""

from __future__ import annotations

import os
from typing import Any

from starlette.requests import Request
from starlette.responses import PlainTextResponse

from livetag import Link, PathRouter, Runner, Tag


class Home(Tag.section):
    def init(self) -> None:
        self <= Tag.h2("Home")
        self <= Link("user 7", "/users/7", _class="seven")


class User(Tag.section):
    def init(self, id: str, query: Any) -> None:
        self <= Tag.h2(f"user {id}", _class="user")
        self <= Tag.p(f"tab: {query.get('tab', '-')}", _class="tab")


class PathsApp(Tag.App):
    def init(self) -> None:
        self.router = PathRouter()
        self.router.add_route("/", Home)
        self.router.add_route("/users/:id", User)
        self <= Link("home", "/", _class="home")
        self <= Tag.span(str(os.getpid()), _class="pid")
        self <= self.router


async def health(request: Request) -> PlainTextResponse:
    return PlainTextResponse("ok")


app = Runner(PathsApp, spare_processes=0)
app.add_route("/health", health)
