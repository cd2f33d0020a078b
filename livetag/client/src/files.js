// Files: uploads (livetag/server/uploads.py) and downloads (livetag/server/downloads.py).
//
// An upload is the `change` of an <input type=file> that has a change handler, or a drop
// on a drop zone ([data-lt-drop], livetag.FileDrop) holding one: the files go first, by
// XHR (upload progress events) as multipart/form-data to PATH.UPLOAD with the CSRF
// token, never through the WebSocket; then the event is sent as any other, with
// {files: <upload id>} (or {upload_error: <why>}), so that the handler runs in order.
//
// Progress: the <progress> elements of the drop zone, or those naming the input
// (data-lt-upload-for="<input id>"), else one made for the time of the upload just after
// the input (class "lt-upload-progress"); the zone (or input) carries
// data-lt-uploading and the CSS variable --lt-upload (0 to 1) meanwhile, and the input
// gets "livetag:upload-progress" events ({loaded, total}).
import { PATH } from "./protocol.js";

// An <input type=file>.
export function isFileInput(el) {
  return el instanceof HTMLInputElement && el.type === "file";
}

// Where the progress of an upload from `input` shows: [zone, progress elements, made].
function progressOf(input) {
  const zone = input.closest("[data-lt-drop]") || input;
  let bars = Array.from(zone.querySelectorAll("progress"));
  if (input.id) bars = bars.concat(Array.from(document.querySelectorAll(`progress[data-lt-upload-for="${CSS.escape(input.id)}"]`)));
  let made = null;
  if (!bars.length) {
    made = document.createElement("progress");
    made.className = "lt-upload-progress";
    input.after(made);
    bars = [made];
  }
  return { zone, bars, made };
}

function showProgress(view, input, loaded, total) {
  const ratio = total > 0 ? Math.min(1, loaded / total) : 0;
  view.zone.setAttribute("data-lt-uploading", "");
  view.zone.style.setProperty("--lt-upload", String(ratio));
  for (const bar of view.bars) { bar.max = 100; bar.value = Math.round(ratio * 100); bar.hidden = false; }
  input.dispatchEvent(new CustomEvent("livetag:upload-progress", { bubbles: true, detail: { loaded, total } }));
}

function endProgress(view) {
  view.zone.removeAttribute("data-lt-uploading");
  view.zone.style.removeProperty("--lt-upload");
  if (view.made) view.made.remove();
  else for (const bar of view.bars) bar.hidden = true;
}

// The server's reason from an error response body (a JSON array of one "err"), or a default.
function reason(xhr) {
  try {
    const body = JSON.parse(xhr.responseText);
    if (Array.isArray(body) && body[0] && typeof body[0].msg === "string") return body[0].msg;
  } catch (err) { /* not JSON: a proxy's page */ }
  return `the upload failed (HTTP ${xhr.status})`;
}

// `send(id, name, data)` sends an event (session.js); `base`/`token`: the page's.
export class Uploads {
  constructor({ base, token, send }) {
    Object.assign(this, { base, token, send });
    this.running = new Set();
  }

  // Upload the files of `input` for its event `type`; true: the event is taken care of.
  start(input, type, files = input.files) {
    if (!isFileInput(input) || !input.id) return false;
    if (!files || !files.length) { this.send(input.id, type, {}); return true; }
    const form = new FormData();
    for (const file of files) form.append("file", file, file.name);
    const xhr = new XMLHttpRequest();
    const view = progressOf(input);
    showProgress(view, input, 0, 1);
    xhr.upload.onprogress = (e) => showProgress(view, input, e.loaded, e.lengthComputable ? e.total : 0);
    const done = (data) => {
      this.running.delete(xhr);
      endProgress(view);
      if (data.upload_error) console.warn("livetag: upload refused:", data.upload_error);
      this.send(input.id, type, data);
    };
    xhr.onload = () => {
      if (xhr.status === 200) {
        let id = null;
        try { id = JSON.parse(xhr.responseText).id; } catch (err) { /* handled below */ }
        done(typeof id === "string" ? { files: id } : { upload_error: "the server's answer to the upload was not understood" });
      } else {
        done({ upload_error: reason(xhr) });
      }
    };
    xhr.onerror = () => done({ upload_error: "the upload failed: the connection was lost" });
    xhr.onabort = () => done({ upload_error: "the upload was cancelled" });
    xhr.open("POST", `${this.base}${PATH.UPLOAD}?id=${encodeURIComponent(input.id)}`);
    xhr.setRequestHeader("X-Livetag-Token", this.token);
    this.running.add(xhr);
    xhr.send(form);
    return true;
  }

  // Drop zones: a drop on [data-lt-drop] uploads through its file input.
  listen() {
    const zoneOf = (e) => (e.target instanceof Element ? e.target.closest("[data-lt-drop]") : null);
    document.addEventListener("dragover", (e) => {
      const zone = zoneOf(e);
      if (!zone) return;
      e.preventDefault(); // allows the drop
      zone.classList.add("lt-dragover");
    });
    document.addEventListener("dragleave", (e) => {
      const zone = zoneOf(e);
      if (zone && !zone.contains(e.relatedTarget)) zone.classList.remove("lt-dragover");
    });
    document.addEventListener("drop", (e) => {
      const zone = zoneOf(e);
      if (!zone) return;
      e.preventDefault(); // else the browser opens the file
      zone.classList.remove("lt-dragover");
      const input = zone.querySelector("input[type=file]");
      const files = e.dataTransfer && e.dataTransfer.files;
      if (!input || input.disabled || !files || !files.length) return;
      this.start(input, "change", input.multiple ? files : [files[0]]);
    });
  }
}

// Save the file at `url` (a one-time download link of this session) through a hidden <a download>.
export function download(url) {
  const a = document.createElement("a");
  a.href = url;
  a.download = ""; // the name comes from the response's Content-Disposition
  a.style.display = "none";
  document.body.appendChild(a);
  a.click();
  a.remove();
}
