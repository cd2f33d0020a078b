import assert from "node:assert/strict";
import { test } from "node:test";
import { controlValue, DirtyControls, formValue } from "../../livetag/client/src/forms.js";
import { $, page } from "./dom.mjs";

const FORM = `<form id="f">
  <input id="text" name="text" value="a">
  <input id="box" name="box" type="checkbox" checked>
  <input id="r1" name="r" type="radio" value="one"><input id="r2" name="r" type="radio" value="two">
  <input id="n1" name="none" type="radio" value="x">
  <select id="multi" name="multi" multiple><option value="a" selected>A</option><option value="b">B</option><option value="c" selected>C</option></select>
  <select id="single" name="single"><option value="a">A</option><option value="b" selected>B</option></select>
  <textarea id="area" name="area">txt</textarea>
  <input name="off" value="x" disabled><input name="file" type="file"><input value="nameless">
  <button name="button" value="b">b</button><input name="submit" type="submit" value="s"><input name="plain" type="button" value="p">
</form><input id="outside" name="r" type="radio" value="out">`;

test("a control's live value: text, checkbox, radio, select multiple", () => {
  page(FORM);
  $("#text").value = "typed";
  $("#box").checked = false;
  $("#r2").checked = true;
  $("#multi").options[1].selected = true;
  assert.equal(controlValue($("#text")), "typed");
  assert.equal(controlValue($("#box")), false);
  assert.equal(controlValue($("#r2")), true);
  assert.equal(controlValue($("#r1")), false);
  assert.deepEqual(controlValue($("#multi")), ["a", "b", "c"]);
  assert.equal(controlValue($("#single")), "b");
  assert.equal(controlValue($("#area")), "txt");
});

test("a form's submit values, as the server reads them", () => {
  page(FORM);
  $("#r2").checked = true;
  $("#text").value = "typed";
  assert.deepEqual(formValue($("#f")), {
    text: "typed", box: true, r: "two", none: null, multi: ["a", "c"], single: "b", area: "txt",
  });
});

test("sync: the controls changed since the last event, then none", () => {
  page(FORM);
  const dirty = new DirtyControls();
  const change = (el) => dirty.mark({ target: el });
  $("#text").value = "x";
  change($("#text"));
  change($("#box"));
  change($("#multi"));
  change(document.body); // not a control: ignored
  assert.deepEqual(dirty.take(), { text: "x", box: true, multi: ["a", "c"] });
  assert.deepEqual(dirty.take(), {});
});

test("sync: checking a radio reports its whole group (in its form), which got no event", () => {
  page(FORM);
  const dirty = new DirtyControls();
  $("#r1").checked = true;
  dirty.mark({ target: $("#r1") });
  $("#r2").checked = true; // the browser unchecks r1 without an event
  dirty.mark({ target: $("#r2") });
  assert.deepEqual(dirty.take(), { r1: false, r2: true });
});

test("sync: a control removed from the page or without an id is left out", () => {
  page('<input id="a"><input class="b"><input id="c">');
  const dirty = new DirtyControls();
  for (const el of document.querySelectorAll("input")) dirty.mark({ target: el });
  $("#c").remove();
  assert.deepEqual(dirty.take(), { a: "" });
});
