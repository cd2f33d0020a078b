import assert from "node:assert/strict";
import { test } from "node:test";
import { b64, codec } from "../../livetag/client/src/codec.js";

test("clear text: JSON out, one message or a batch in", async () => {
  const c = codec(null);
  assert.equal(await c.encode({ t: "ev", s: 1, d: { value: "é" } }), '{"t":"ev","s":1,"d":{"value":"é"}}');
  assert.deepEqual(await c.decode('{"t":"ack","ack":1}'), [{ t: "ack", ack: 1 }]);
  assert.deepEqual(await c.decode('[{"t":"ack","ack":1},{"t":"ack","ack":2}]'), [{ t: "ack", ack: 1 }, { t: "ack", ack: 2 }]);
  await assert.rejects(c.decode("not json"), SyntaxError);
});

test("the JSON is taken when encode is called, not when the payload is ready", async () => {
  const c = codec(b64.encode(new Uint8Array(32)));
  const msg = { v: 1 };
  const sealed = c.encode(msg);
  msg.v = 2;
  assert.deepEqual(await c.decode(await sealed), [{ v: 1 }]);
});

test("base64url without padding, both ways, for every length", () => {
  for (let n = 0; n < 40; n++) {
    const bytes = Uint8Array.from({ length: n }, (_, i) => (i * 37 + 250) % 256);
    const text = b64.encode(bytes);
    assert.match(text, /^[A-Za-z0-9_-]*$/);
    assert.deepEqual(b64.decode(text), bytes);
  }
});

// Sealed by Python (cryptography's AESGCM, as livetag/server/parano.py does) with a
// fixed key and nonce: the browser must open what the server seals.
const KEY = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";
const FROM_PYTHON = "ZGVmZ2hpamtsbW5vE2D8ElvTdP9dCX3E-AQJlmD4NXenF9EGheuOPYuBiWrmjDbidiC3JpyQEx3Hcebta3mivHtoNQrW09T0w6NmI3xPciyLFkZYYIBFY7SxGb6jBUF712lW1A";

test("parano: opens a payload the server sealed", async () => {
  assert.deepEqual(await codec(KEY).decode(FROM_PYTHON),
    [{ t: "ack", ack: 3 }, { t: "up", rev: 2, ack: 3, p: [["t", "x", "été"]] }]);
});

test("parano: seals as nonce[12] || ciphertext || tag[16], a fresh nonce each time", async () => {
  const c = codec(KEY);
  const msg = { t: "ev", s: 1, id: "x", n: "click", d: {}, sync: {} };
  const [one, two] = [await c.encode(msg), await c.encode(msg)];
  assert.notEqual(one, two);
  assert.equal(b64.decode(one).length, 12 + JSON.stringify(msg).length + 16);
  assert.notEqual(b64.decode(one).subarray(0, 12).join(), b64.decode(two).subarray(0, 12).join());
  assert.deepEqual(await c.decode(one), [msg]);
});

test("parano: a tampered payload or another key is refused", async () => {
  const data = b64.decode(FROM_PYTHON);
  data[20] ^= 1;
  await assert.rejects(codec(KEY).decode(b64.encode(data)));
  await assert.rejects(codec(b64.encode(new Uint8Array(32))).decode(FROM_PYTHON));
});
