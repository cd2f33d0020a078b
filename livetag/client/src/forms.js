// Live values of form controls, as the server reads them (livetag/dom/forms.py reads the
// same shapes): an event carries the controls changed since the previous event
// (`sync`), and a form's submit event carries all its values.

// A control's live value: bool for a checkbox or radio, the selected values for a
// multiple select, else its value string.
export function controlValue(el) {
  if (el.type === "checkbox" || el.type === "radio") return el.checked;
  if (el.tagName === "SELECT" && el.multiple) return Array.from(el.selectedOptions, (o) => o.value);
  return el.value;
}

// {name: value} of a form's controls, as a submission would read them: disabled,
// nameless, file and button controls left out; a radio group's checked value or null.
export function formValue(form) {
  const out = {};
  for (const el of form.elements) {
    if (!el.name || el.disabled || el.type === "file") continue;
    if (el.type === "checkbox") out[el.name] = el.checked;
    else if (el.type === "radio") { if (el.checked || !(el.name in out)) out[el.name] = el.checked ? el.value : null; }
    else if (el.tagName === "SELECT" && el.multiple) out[el.name] = Array.from(el.selectedOptions, (o) => o.value);
    else if (el.tagName !== "BUTTON" && el.type !== "submit" && el.type !== "button") out[el.name] = el.value;
  }
  return out;
}

// Form controls whose live value the server has not seen yet.
export class DirtyControls {
  constructor() { this.controls = new Set(); }

  // The listener of "input" and "change" (capture phase, on the document).
  mark(e) {
    const el = e.target;
    if (!(el instanceof HTMLInputElement || el instanceof HTMLTextAreaElement || el instanceof HTMLSelectElement)) return;
    if (el.type === "file") return; // its files travel as an upload (files.js), not as a value
    this.controls.add(el);
    if (el.type === "radio" && el.name) {
      // Checking one radio unchecks its group without an event on the others.
      const scope = el.form || document;
      for (const r of scope.querySelectorAll(`input[type=radio][name="${CSS.escape(el.name)}"]`)) this.controls.add(r);
    }
  }

  // {id: live value} of the dirty controls still in the page; they are clean again.
  take() {
    const sync = {};
    for (const el of this.controls) if (el.id && el.isConnected) sync[el.id] = controlValue(el);
    this.controls.clear();
    return sync;
  }
}
