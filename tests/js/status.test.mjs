import assert from "node:assert/strict";
import { afterEach, beforeEach, mock, test } from "node:test";
import {
  BUSY_DELAY_MS, BUSY_ID, ERROR_ID, EXPIRED, OFFLINE_DELAY_MS, STATUS_ID, setBusy, setStatus, showError,
} from "../../livetag/client/src/status.js";
import { $, page } from "./dom.mjs";

beforeEach(() => {
  page('<p id="x">0</p>');
  mock.timers.enable({ apis: ["setTimeout"] });
});
afterEach(() => {
  setBusy(false);
  setStatus(null);
  mock.timers.reset();
  mock.restoreAll();
});

test("the busy bar and aria-busy appear only when an event takes longer than the delay", () => {
  setBusy(true, 1);
  assert.equal(document.body.classList.contains("lt-busy"), true);
  mock.timers.tick(BUSY_DELAY_MS - 1);
  assert.equal($(`#${BUSY_ID}`), null);
  setBusy(false, 0); // a fast event: no bar at all
  mock.timers.tick(BUSY_DELAY_MS);
  assert.equal($(`#${BUSY_ID}`), null);
  assert.equal(document.body.hasAttribute("aria-busy"), false);

  setBusy(true, 1);
  mock.timers.tick(BUSY_DELAY_MS);
  assert.ok($(`#${BUSY_ID}`));
  assert.equal(document.body.getAttribute("aria-busy"), "true");
  setBusy(true, 2); // another event meanwhile: still one bar
  mock.timers.tick(BUSY_DELAY_MS);
  assert.equal(document.querySelectorAll(`#${BUSY_ID}`).length, 1);
  setBusy(false, 0);
  assert.equal($(`#${BUSY_ID}`), null);
  assert.equal(document.body.hasAttribute("aria-busy"), false);
});

test("the offline banner waits out a blip, is a status region, and counts the queued actions", () => {
  setStatus("Connection lost.");
  setStatus(null); // back within the delay: nothing shown
  mock.timers.tick(OFFLINE_DELAY_MS);
  assert.equal($(`#${STATUS_ID}`), null);

  setStatus("Connection lost.");
  mock.timers.tick(OFFLINE_DELAY_MS);
  const banner = $(`#${STATUS_ID}`);
  assert.equal(banner.getAttribute("role"), "status");
  assert.equal(banner.textContent, "Connection lost.");
  setBusy(true, 1);
  assert.equal(banner.textContent, "Connection lost. 1 action will be sent when it is back.");
  setBusy(true, 3);
  assert.equal(banner.textContent, "Connection lost. 3 actions will be sent when it is back.");
  setStatus(null);
  assert.equal($(`#${STATUS_ID}`), null);
});

test("the expired notice shows at once and says what could not be applied", () => {
  setBusy(true, 2);
  setStatus("Starting afresh…", EXPIRED);
  const banner = $(`#${STATUS_ID}`);
  assert.equal(banner.dataset.kind, "expired");
  assert.equal(banner.textContent, "Starting afresh… 2 actions made meanwhile could not be applied.");
});

test("the error overlay shows text only, newest first, at most five, and is dismissed by its button", () => {
  mock.method(console, "error", () => {});
  for (let i = 1; i <= 7; i++) showError({ msg: `<i>error ${i}</i>`, eid: `e${i}`, trace: i === 7 ? "<script>x</script>" : "" });
  const entries = document.querySelectorAll(`#${ERROR_ID} .lt-error-entry`);
  assert.equal(entries.length, 5);
  assert.equal(entries[0].querySelector(".lt-error-msg").textContent, "<i>error 7</i> (error id e7)");
  assert.equal(entries[0].querySelector(".lt-error-trace").textContent, "<script>x</script>");
  assert.equal(document.querySelector(`#${ERROR_ID} i, #${ERROR_ID} script`), null);
  assert.equal($(`#${ERROR_ID}`).getAttribute("role"), "alert");
  $(`#${ERROR_ID} .lt-error-close`).click();
  assert.equal($(`#${ERROR_ID}`), null);
});
