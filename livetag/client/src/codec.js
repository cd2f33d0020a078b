// Messages <-> payloads: JSON text, sealed with AES-GCM in parano mode exactly as
// livetag/server/parano.py does: base64url(nonce[12] || ciphertext || tag[16]).

export const b64 = {
  decode(s) {
    const bin = atob(s.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((s.length + 3) % 4));
    return Uint8Array.from(bin, (c) => c.charCodeAt(0));
  },
  encode(bytes) {
    let bin = "";
    for (let i = 0; i < bytes.length; i += 0x8000) bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
    return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  },
};

// `key`: the session's base64url AES key (the page's data-lt-key), or null for clear text.
// WebCrypto exists in secure contexts only (https, localhost): the caller checks first.
export function codec(key) {
  const aes = key && crypto.subtle.importKey("raw", b64.decode(key), "AES-GCM", false, ["encrypt", "decrypt"]);
  return {
    // A message (or a batch) -> the payload to send. The JSON is taken now: the payload
    // carries the value of the moment even when the key is still being imported.
    async encode(msg) {
      const text = JSON.stringify(msg);
      if (!aes) return text;
      const iv = crypto.getRandomValues(new Uint8Array(12));
      const sealed = new Uint8Array(await crypto.subtle.encrypt({ name: "AES-GCM", iv }, await aes, new TextEncoder().encode(text)));
      const out = new Uint8Array(12 + sealed.length);
      out.set(iv);
      out.set(sealed, 12);
      return b64.encode(out);
    },
    // A payload from the server -> its messages (one, or a batch from an HTTP response).
    async decode(payload) {
      let text = payload;
      if (aes) {
        const data = b64.decode(payload);
        text = new TextDecoder().decode(await crypto.subtle.decrypt({ name: "AES-GCM", iv: data.subarray(0, 12) }, await aes, data.subarray(12)));
      }
      const data = JSON.parse(text);
      return Array.isArray(data) ? data : [data];
    },
  };
}
