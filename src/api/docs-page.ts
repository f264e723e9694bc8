import { createHash } from 'node:crypto';
import type { FastifyInstance } from 'fastify';

/**
 * The browser side of /docs: reads /openapi.json (with the key typed into the page, kept in this tab's
 * sessionStorage) and shows each endpoint as a row: method, path, summary, role's security, and its
 * request and response schemas. Text goes in through textContent only, never as markup.
 */
const SCRIPT = `
const $ = (tag, text, attrs = {}) => { const e = document.createElement(tag); if (text !== undefined) e.textContent = text; Object.assign(e, attrs); return e; };
const keyInput = document.getElementById('key');
keyInput.value = sessionStorage.getItem('dan-api-key') ?? '';
const status = document.getElementById('status');
const schemaBlock = (label, schema) => {
  const d = $('details'); d.append($('summary', label), $('pre', JSON.stringify(schema, null, 2))); return d;
};
async function load() {
  sessionStorage.setItem('dan-api-key', keyInput.value.trim());
  const headers = keyInput.value.trim() ? { 'X-API-Key': keyInput.value.trim() } : {};
  const answer = await fetch('/openapi.json', { headers });
  const doc = await answer.json();
  const rows = document.getElementById('rows');
  rows.replaceChildren();
  if (!answer.ok) { status.textContent = (doc.error && doc.error.message) || ('HTTP ' + answer.status); return; }
  status.textContent = doc.info.title + ' ' + doc.info.version + ': ' + (doc.info.description || '');
  const schemas = (doc.components && doc.components.schemas) || {};
  const resolve = (s) => (s && s.$ref ? schemas[s.$ref.split('/').pop()] || s : s);
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(item)) {
      const tr = $('tr');
      tr.append($('td', method.toUpperCase()), $('td', path));
      const about = $('td'); about.append($('strong', op.summary || ''), $('p', op.description || ''));
      tr.append(about);
      const shapes = $('td');
      for (const p of op.parameters || []) shapes.append(schemaBlock(p.in + ' ' + p.name + (p.required ? '' : ' (optional)'), p.schema));
      const body = op.requestBody && op.requestBody.content && op.requestBody.content['application/json'];
      if (body) shapes.append(schemaBlock('body', resolve(body.schema)));
      for (const [code, r] of Object.entries(op.responses || {})) {
        const c = r.content && Object.values(r.content)[0];
        shapes.append(c ? schemaBlock(code + ' ' + (r.description || ''), resolve(c.schema)) : $('div', code + ' ' + (r.description || '')));
      }
      tr.append(shapes);
      rows.append(tr);
    }
  }
}
document.getElementById('load').addEventListener('click', () => { load().catch((e) => { status.textContent = String(e); }); });
load().catch((e) => { status.textContent = String(e); });
`;

const PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>dan HTTP API</title>
<style>body{font:14px system-ui,sans-serif;margin:1.5em}table{border-collapse:collapse;width:100%}td,th{border:1px solid #ccc;padding:.4em;vertical-align:top;text-align:left}pre{margin:.3em 0;font-size:12px;white-space:pre-wrap}p{margin:.3em 0;color:#444}</style>
</head><body>
<h1>dan HTTP API</h1>
<p>The endpoints of <a href="/openapi.json">/openapi.json</a>. While keys exist, type one (it stays in this tab):
<input id="key" type="password" size="40" autocomplete="off"> <button id="load">Load</button></p>
<p id="status"></p>
<table><thead><tr><th>method</th><th>path</th><th>what it does</th><th>parameters, body, answers</th></tr></thead><tbody id="rows"></tbody></table>
<script>${SCRIPT}</script>
</body></html>
`;

// The page runs only its own script: no other origin, no inline script but this one.
const CSP = `default-src 'none'; connect-src 'self'; style-src 'unsafe-inline'; script-src 'sha256-${createHash('sha256').update(SCRIPT).digest('base64')}'`;

/** GET /docs: a reference page rendered in the browser from /openapi.json; it holds no data, so it needs no key. */
export function registerDocsPage(app: FastifyInstance): void {
  app.get('/docs', { schema: { hide: true } }, async (_request, reply) =>
    reply.header('content-type', 'text/html; charset=utf-8').header('content-security-policy', CSP).header('x-content-type-options', 'nosniff').send(PAGE));
}
