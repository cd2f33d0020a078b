import assert from "node:assert/strict";
import { test } from "node:test";
import { DomEvents } from "../../livetag/client/src/events.js";
import { isFileInput, Uploads } from "../../livetag/client/src/files.js";
import { DirtyControls } from "../../livetag/client/src/forms.js";
import { $, page } from "./dom.mjs";

test("a file input's change goes to the uploads, not out as a plain event", () => {
  page('<input id="f" type="file" data-lt="change"><input id="t" data-lt="change">');
  const sent = [];
  const taken = [];
  const events = new DomEvents((id, name, data) => sent.push([id, name, data]),
    (el, name) => name === "change" && isFileInput(el) && taken.push([el.id, name]) > 0);
  events.scan(document.body);
  $("#f").dispatchEvent(new Event("change", { bubbles: true }));
  $("#t").dispatchEvent(new Event("change", { bubbles: true }));
  assert.deepEqual(taken, [["f", "change"]]);
  assert.deepEqual(sent.map(([id]) => id), ["t"]);
});

test("choosing no file sends the event without an upload", () => {
  page('<input id="f" type="file" data-lt="change">');
  const sent = [];
  const uploads = new Uploads({ base: "", token: "t", send: (id, name, data) => sent.push([id, name, data]) });
  assert.equal(uploads.start($("#f"), "change", []), true);
  assert.deepEqual(sent, [["f", "change", {}]]);
  assert.equal(uploads.start(document.body, "change", []), false); // not a file input
});

test("a file input's value is not synced as a form value", () => {
  page('<input id="f" type="file"><input id="t">');
  const forms = new DirtyControls();
  forms.mark({ target: $("#f") });
  forms.mark({ target: $("#t") });
  assert.deepEqual(Object.keys(forms.take()), ["t"]);
});
