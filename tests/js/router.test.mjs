import assert from "node:assert/strict";
import { test } from "node:test";
import { PathLinks, routedLink, underMount } from "../../livetag/client/src/router.js";
import { $, page } from "./dom.mjs";

const LINKS = `<div id="r1" data-lt-router="path"></div>
  <a id="in" href="/users/7?tab=a"><span id="inner">seven</span></a>
  <a id="sub" href="/sub/users/7">sub</a>
  <a id="blank" href="/users/7" target="_blank">blank</a>
  <a id="dl" href="/report.csv" download>download</a>
  <a id="ext" href="https://example.com/users/7">external</a>
  <a id="relext" href="/users/7" rel="noopener external">rel external</a>
  <a id="reload" href="/users/7" data-lt-reload>reload</a>
  <a id="hash" href="#/top">hash</a>
  <a id="lt" href="/_lt/livetag.js">client</a>`;

function click(el, init = {}) {
  return new MouseEvent("click", { bubbles: true, cancelable: true, button: 0, ...init });
}

function linkOf(id, base = "", init = {}) {
  const e = click($(`#${id}`), init);
  Object.defineProperty(e, "target", { value: $(`#${id}`) });
  return routedLink(e, base);
}

test("links under the mount become navigations; the others stay the browser's", () => {
  page(LINKS, { url: "http://127.0.0.1:8000/users/1" });
  assert.equal(linkOf("in").pathname + linkOf("in").search, "/users/7?tab=a");
  for (const id of ["blank", "dl", "ext", "relext", "reload", "hash", "lt"]) assert.equal(linkOf(id), null, id);
  for (const mod of ["ctrlKey", "metaKey", "shiftKey", "altKey"]) assert.equal(linkOf("in", "", { [mod]: true }), null, mod);
  assert.equal(linkOf("in", "", { button: 1 }), null);
});

test("under a sub-path only the mount's links are routed", () => {
  page(LINKS, { url: "http://127.0.0.1:8000/sub/users/1" });
  assert.equal(linkOf("in", "/sub"), null);
  assert.equal(linkOf("sub", "/sub").pathname, "/sub/users/7");
  const url = (p) => new URL(p, "http://127.0.0.1:8000/");
  assert.equal(underMount(url("/sub"), "/sub"), true);
  assert.equal(underMount(url("/subway/x"), "/sub"), false);
  assert.equal(underMount(url("/sub/_lt/ws"), "/sub"), false);
});

test("a click pushes the URL and tells each path router; Back tells them too", () => {
  const window = page(LINKS, { url: "http://127.0.0.1:8000/users/1" });
  const sent = [];
  const links = new PathLinks((id, name, data) => sent.push([id, name, data]), "");
  globalThis.history = window.history;
  links.start();
  const e = click($("#inner"));
  $("#inner").dispatchEvent(e);
  assert.equal(e.defaultPrevented, true);
  assert.equal(window.location.pathname + window.location.search, "/users/7?tab=a");
  assert.deepEqual(sent, [["r1", "navigate", { value: "/users/7?tab=a" }]]);
  const ext = click($("#ext"));
  ext.preventDefault = () => assert.fail("an external link must stay the browser's");
  links.click(Object.defineProperty(ext, "target", { value: $("#ext") }));
  links.onPopState();
  assert.equal(sent.length, 2);
  assert.equal(sent[1][2].value, "/users/7?tab=a");
});

test("without a path router in the page, nothing is intercepted", () => {
  page(`<a id="in" href="/users/7">x</a>`, { url: "http://127.0.0.1:8000/" });
  const sent = [];
  const links = new PathLinks((...a) => sent.push(a), "");
  const e = click($("#in"));
  links.click(Object.defineProperty(e, "target", { value: $("#in") }));
  assert.equal(e.defaultPrevented, false);
  assert.deepEqual(sent, []);
});
