import assert from "node:assert/strict";
import { after, test } from "node:test";
import { OP } from "../../livetag/client/src/protocol.js";
import { addStatics, applyPatch } from "../../livetag/client/src/patch.js";
import { $, page } from "./dom.mjs";

const covered = new Set();
function apply(ops, added) {
  for (const op of ops) covered.add(op[0]);
  return applyPatch(ops, added);
}

after(() => assert.deepEqual([...covered].sort(), Object.values(OP).sort(), "expected a test for every op code"));

test("remove: the element goes; removing a missing one is no loss", () => {
  page('<p id="a">x</p>');
  assert.equal(apply([[OP.REMOVE, "a"], [OP.REMOVE, "gone"]]), false);
  assert.equal($("#a"), null);
});

test("set attributes: null removes; value, checked and data-lt move live state", () => {
  page('<input id="i" value="old" title="t"><input id="c" type="checkbox"><div id="d"></div>');
  $("#i").value = "typed";
  const added = [];
  assert.equal(apply([[OP.SET_ATTRS, "i", { value: "new", title: null }], [OP.SET_ATTRS, "c", { checked: "" }],
    [OP.SET_ATTRS, "d", { "data-lt": "click" }]], (el) => added.push(el.id)), false);
  assert.equal($("#i").value, "new");
  assert.equal($("#i").getAttribute("value"), "new");
  assert.equal($("#i").hasAttribute("title"), false);
  assert.equal($("#c").checked, true);
  apply([[OP.SET_ATTRS, "c", { checked: null }]]);
  assert.equal($("#c").checked, false);
  assert.deepEqual(added, ["d"]);
});

test("set text: one text node; a textarea's value and default", () => {
  page('<p id="p">old</p><div id="d"><b>x</b>y</div><textarea id="t">a</textarea>');
  const node = $("#p").firstChild;
  apply([[OP.SET_TEXT, "p", "new"], [OP.SET_TEXT, "d", "<b>plain</b>"], [OP.SET_TEXT, "t", "text"]]);
  assert.equal($("#p").firstChild, node, "expected the text node kept");
  assert.equal($("#p").textContent, "new");
  assert.equal($("#d").innerHTML, "&lt;b&gt;plain&lt;/b&gt;");
  assert.equal($("#t").value, "text");
  assert.equal($("#t").defaultValue, "text");
});

test("set html: children morphed, those with a kept id stay the same nodes", () => {
  page('<ul id="u"><li id="a">A</li><li id="b">B</li><li id="c">C</li></ul>');
  const b = $("#b");
  const added = [];
  apply([[OP.SET_HTML, "u", '<li id="b">B2</li><li id="n" data-lt="click">N</li>']], (el) => added.push(el.id));
  assert.equal($("#u").innerHTML, '<li id="b">B2</li><li id="n" data-lt="click">N</li>');
  assert.equal($("#b"), b);
  assert.deepEqual(added, ["u"]);
});

test("set html: the focused input keeps its node, live value and caret", () => {
  page('<div id="f"><span id="s">1</span><input id="i" value="server"></div>');
  const input = $("#i");
  input.focus();
  input.value = "typing";
  input.setSelectionRange(2, 4);
  apply([[OP.SET_HTML, "f", '<input id="i" value="server2"><span id="t">2</span>']]);
  assert.equal($("#i"), input);
  assert.equal(document.activeElement, input);
  assert.equal(input.value, "typing");
  assert.deepEqual([input.selectionStart, input.selectionEnd], [2, 4]);
  assert.equal($("#s"), null);
  assert.equal($("#f").lastElementChild.id, "t");
});

test("morph: an input that is not focused takes the server's value and checked state", () => {
  page('<form id="f"><input id="i" value="a"><input id="c" type="checkbox" checked></form>');
  $("#i").value = "typed";
  apply([[OP.MORPH, "f", '<form id="f" class="x"><input id="i" value="b"><input id="c" type="checkbox"></form>']]);
  assert.equal($("#i").value, "b");
  assert.equal($("#c").checked, false);
  assert.equal($("#f").className, "x");
});

test("morph: a focused textarea keeps its value; <body> keeps its class attribute", () => {
  page('<div id="d"><textarea id="t">server</textarea></div>');
  document.body.id = "app";
  document.body.className = "lt-busy";
  $("#t").focus();
  $("#t").value = "typing";
  apply([[OP.MORPH, "d", '<div id="d" title="x"><textarea id="t">new</textarea></div>'],
    [OP.MORPH, "app", '<body id="app" data-x="1"><div id="d"><textarea id="t">newer</textarea></div></body>']]);
  assert.equal($("#t").value, "typing");
  assert.equal(document.body.className, "lt-busy");
  assert.equal(document.body.dataset.x, "1");
});

test("append adds at the very end; an insert at the end of <body> stays before the overlays", () => {
  page('<div id="lt-status">reconnecting</div>');
  document.body.id = "app";
  const added = [];
  apply([[OP.INSERT, "app", null, '<p id="q">y</p>'], [OP.APPEND, "app", '<p id="p">x</p>']], (el) => added.push(el.id));
  assert.deepEqual(Array.from(document.body.children, (el) => el.id), ["q", "lt-status", "p"]);
  assert.deepEqual(added, ["app", "app"]);
});

test("insert: before an element or at the end, parsed in the parent's context", () => {
  page('<table><tbody id="tb"><tr id="r1"><td>1</td></tr></tbody></table>');
  assert.equal(apply([[OP.INSERT, "tb", "r1", '<tr id="r0"><td>0</td></tr>'], [OP.INSERT, "tb", null, '<tr id="r2"><td>2</td></tr>']]), false);
  assert.deepEqual(Array.from($("#tb").children, (el) => el.id), ["r0", "r1", "r2"]);
  assert.equal(apply([[OP.INSERT, "tb", "nowhere", "<tr><td>x</td></tr>"]]), true, "expected a missing sibling to be a loss");
  assert.equal($("#tb").children.length, 3);
});

test("move: before an element, to the end; a missing parent or sibling is a loss", () => {
  page('<ul id="u"><li id="a"></li><li id="b"></li><li id="c"></li></ul><ol id="o"></ol>');
  const a = $("#a");
  assert.equal(apply([[OP.MOVE, "a", "u", null], [OP.MOVE, "c", "u", "b"]]), false);
  assert.deepEqual(Array.from($("#u").children, (el) => el.id), ["c", "b", "a"]);
  assert.equal($("#a"), a);
  assert.equal(apply([[OP.MOVE, "b", "o", null]]), false);
  assert.equal($("#o").firstElementChild.id, "b");
  assert.equal(apply([[OP.MOVE, "a", "nope", null]]), true);
  assert.equal(apply([[OP.MOVE, "a", "u", "nope"]]), true);
});

test("an op on a missing element, or an unknown op, is a loss; the others still apply", () => {
  page('<p id="p">x</p>');
  assert.equal(applyPatch([[OP.SET_TEXT, "missing", "y"], [OP.SET_TEXT, "p", "z"]]), true);
  assert.equal($("#p").textContent, "z");
  assert.equal(applyPatch([["?", "p"]]), true);
});

test("statics go to <head> once; a script is created, not parsed, so that it runs", () => {
  page();
  addStatics(["<style>p{}</style>", '<script data-x="1">window.ran = 1</script>']);
  addStatics(["<style>p{}</style>"]);
  assert.equal(document.head.querySelectorAll("style").length, 1);
  const script = document.head.querySelector("script");
  assert.equal(script.dataset.x, "1");
  assert.equal(script.textContent, "window.ran = 1");
});
