import assert from "node:assert/strict";
import { test } from "node:test";
import { Html, esc, html, markup } from "../lib/html.js";

const evil = `<img src=//127.0.0.2/x onerror="alert(1)"><script>alert('2')</script>`;

test("a value in a template is text, in element content and in quoted attributes", () => {
  const out = markup(html`<div title="${evil}">${evil}</div>`);
  assert.equal(out, `<div title="${esc(evil)}">${esc(evil)}</div>`);
  assert.ok(!out.includes("<img") && !out.includes("<script") && !out.includes('"alert'));
  assert.equal(esc(`&<>"'`), "&amp;&lt;&gt;&quot;&#39;");
});

test("markup made by html nests as markup; lists join; null, undefined and false vanish", () => {
  const items = ["a<b", "c"].map((x) => html`<li>${x}</li>`);
  assert.equal(markup(html`<ul>${items}</ul>${null}${undefined}${false}${0}`), "<ul><li>a&lt;b</li><li>c</li></ul>0");
});

test("only markup made by html reaches innerHTML or a library", () => {
  assert.throws(() => markup(/** @type {any} */ ("<b>raw</b>")), TypeError);
  assert.ok(html`x` instanceof Html);
});
