// @ts-check
// HTML from templates that escape by default: every value put into an `html` template is text
// unless it is itself the result of an `html` template. Nothing else reaches innerHTML or a
// library that takes markup (Leaflet's tooltips and icons).

/** Markup made by `html`: the only thing `render` and `markup` accept. */
export class Html {
  /** @param {string} source */
  constructor(source) {
    /** @readonly */
    this.source = source;
  }
  toString() {
    return this.source;
  }
}

/** @param {unknown} value */
export function esc(value) {
  return String(value ?? "").replace(/[&<>"']/g, (c) => ESCAPES[/** @type {keyof typeof ESCAPES} */ (c)]);
}
const ESCAPES = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

/** What a template takes: text, numbers, markup, or lists of them. @typedef {import("../types").HtmlValue} Value */

/** @param {Value} value @returns {string} */
function part(value) {
  if (value instanceof Html) return value.source;
  if (Array.isArray(value)) return value.map(part).join("");
  if (value === null || value === undefined || value === false) return "";
  return esc(value);
}

/**
 * A template whose values are escaped: html`<b>${name}</b>`. Arrays are joined; null,
 * undefined and false are left out, so `${cond && html`...`}` works. Attribute values must be
 * quoted in the template.
 * @param {TemplateStringsArray} strings
 * @param {Value[]} values
 */
export function html(strings, ...values) {
  let out = strings[0];
  for (let i = 0; i < values.length; i++) out += part(values[i]) + strings[i + 1];
  return new Html(out);
}

/** Puts markup made by `html` into `el`. @param {Element} el @param {Html} content */
export function render(el, content) {
  if (!(content instanceof Html)) throw new TypeError("render takes markup made by html``");
  el.innerHTML = content.source;
}

/** The string a library that takes markup gets. @param {Html} content */
export function markup(content) {
  if (!(content instanceof Html)) throw new TypeError("markup takes markup made by html``");
  return content.source;
}
