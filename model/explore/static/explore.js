'use strict';
// The latent explorer's page: model/explore/app.py serves it, model/explore/explorer.py does the work.
const $ = (id) => document.getElementById(id);
const post = (body) => ({method: 'POST', headers: {'Content-Type': 'application/json'},
  body: JSON.stringify(body)});
const put = (body) => ({...post(body), method: 'PUT'});
// a refusal's one line (ours are strings; pydantic's are lists of {msg})
const detail = (body) => typeof body.detail === 'string' ? body.detail
  : (body.detail || []).map(d => d.msg).join('; ');
let D = 0, L = 3, z = [], start = [], nudges = 0, batch = 0, pending = null;
let dirs = [], base = [], t = [];  // z = base + sum of t[k] * dirs[k] while a direction moves
let stepsMin = 2, stepsMax = 32;
const sliders = [], dsliders = [];
let tones = [], noTone = 'none', listing = 0;
const kindSubgroup = new Map();  // known kind -> its subgroup, filled in when one is picked
// What the new seed's label fields ask the pictures to be drawn as ({} when empty): a
// conditional generator then keeps that kind and tone while the sliders move.
let drawAs = () => ({});
const clampZ = (x) => Math.max(-L, Math.min(L, x));

function sliderRow(box, id, valueId, name, title, onInput) {
  const row = document.createElement('div'); row.className = 'sl'; row.title = title;
  row.innerHTML = '<span class="name"></span>' +
    `<input type="range" id="${id}" min="-${L}" max="${L}" step="0.01" value="0">` +
    `<span class="value" id="${valueId}">0.00</span>`;
  row.querySelector('.name').textContent = name;
  box.appendChild(row);
  const s = row.querySelector('input');
  s.addEventListener('input', () => onInput(parseFloat(s.value)));
  return s;
}
function showZ(v) {  // the raw sliders and the picture follow v; the directions are untouched
  z = v.map(clampZ);
  sliders.forEach((s, i) => { s.value = z[i]; $('v' + i).textContent = z[i].toFixed(2); });
  render();
}
function rebase() {  // directions start again from the latent as it is now
  base = z.slice(); t = dirs.map(() => 0);
  dsliders.forEach((s, k) => { s.value = 0; $('dv' + k).textContent = '0.00'; });
}
function setZ(v) { showZ(v); rebase(); }
function moveAlong(k, value) {
  t[k] = value; $('dv' + k).textContent = value.toFixed(2);
  showZ(base.map((b, j) => dirs.reduce((acc, d, m) => acc + t[m] * d[j], b)));
}
async function render() {
  if (pending) { pending.again = true; return; }
  pending = {again: false};
  const r = await fetch('/api/render', post({z, ...drawAs()}));
  const url = URL.createObjectURL(await r.blob());
  const img = $('current'); const old = img.src; img.src = url;
  img.dataset.renders = (parseInt(img.dataset.renders || '0') + 1).toString();
  if (old.startsWith('blob:')) URL.revokeObjectURL(old);
  const again = pending.again; pending = null; if (again) render();
}
async function candidates() {
  const q = new URLSearchParams({n: 16, seed: batch++, ...drawAs()});
  const r = await (await fetch(`/api/random?${q}`)).json();
  $('grid').innerHTML = '';
  r.images.forEach((src, i) => { const im = new Image(); im.src = src; im.title = 'load';
    im.onclick = () => { start = r.z[i].slice(); setZ(r.z[i]); }; $('grid').appendChild(im); });
}
async function deleteSeed(s) {
  const what = s.note ? `seed #${s.id} ("${s.note}")` : `seed #${s.id}`;
  if (!confirm(`Delete ${what} from the seeds file? The bot will no longer draw near it ` +
      '(the file as it was before is kept as .bak).')) return;
  await fetch('/api/seeds/' + s.id, {method: 'DELETE'}); seeds();
}
function option(sel, value, text) {
  const o = document.createElement('option'); o.value = value; o.textContent = text;
  sel.appendChild(o);
}
const toneName = (t) => t === noTone ? 'none (yellow)' : t;
function labelText(label) {  // what the list says of a seed's label
  if (!label) return 'unlabelled';
  return [label.kind || '(no kind)', label.subgroup, toneName(label.tone || noTone)]
    .filter(Boolean).join(' \u00b7 ');
}
function labelFields(box, label) {  // fill a kind / subgroup / tone trio; returns its reader
  const kind = box.querySelector('.kind'), sub = box.querySelector('.subgroup');
  const tone = box.querySelector('.tone');
  tone.innerHTML = ''; [noTone, ...tones].forEach(t => option(tone, t, toneName(t)));
  kind.value = label ? label.kind : ''; sub.value = label ? label.subgroup : '';
  tone.value = label && label.tone ? label.tone : noTone;
  kind.onchange = () => {  // not addEventListener: the new seed's fields are filled again
    if (kindSubgroup.has(kind.value)) sub.value = kindSubgroup.get(kind.value); };
  return () => ({kind: kind.value, subgroup: sub.value, tone: tone.value});
}
function filterOptions(counts) {  // the filter's choices with their counts, the choice kept
  const fk = $('fkind'), ft = $('ftone'), kind = fk.value, tone = ft.value;
  fk.innerHTML = ''; ft.innerHTML = '';
  option(fk, '', `any kind (${counts.all})`);
  option(fk, 'u', `unlabelled (${counts.unlabelled})`);
  for (const [k, n] of Object.entries(counts.kinds)) {
    option(fk, 'k:' + k, `${k || '(no kind)'} (${n})`); }
  if (kind && ![...fk.options].some(o => o.value === kind)) {  // none left: still the choice
    option(fk, kind, `${kind.slice(2)} (0)`); }
  option(ft, '', 'any tone');
  [noTone, ...tones].forEach(t => option(ft, t, `${toneName(t)} (${counts.tones[t] || 0})`));
  fk.value = kind; ft.value = tone;
}
function filterQuery() {  // kind options are "k:" + the kind, so no kind can pose as "u"
  const q = new URLSearchParams(), kind = $('fkind').value, tone = $('ftone').value;
  if (kind === 'u') q.set('unlabelled', 'true'); else if (kind) q.set('kind', kind.slice(2));
  if (tone) q.set('tone', tone);
  return q.toString();
}
function labelEditor(row, s) {
  const box = row.querySelector('.labelbox'), text = box.querySelector('.label');
  text.textContent = labelText(s.label); text.classList.toggle('none', !s.label);
  if (s.label) text.title = 'set by ' + (s.label.source || 'hand');
  const read = labelFields(box.querySelector('.edit'), s.label);
  box.querySelector('.savelabel').onclick = async () => {
    const r = await fetch(`/api/seeds/${s.id}/label`, put(read()));
    if (r.ok) return seeds();
    box.querySelector('.error').textContent = detail(await r.json());
  };
}
async function seeds() {
  const mine = ++listing;  // a later listing (the filter changed again) wins
  const r = await (await fetch('/api/seeds?' + filterQuery())).json();
  if (mine !== listing) return;
  if (r.counts) filterOptions(r.counts);
  $('fcount').textContent = r.counts ? `${r.seeds.length} of ${r.counts.all}` : '';
  $('seeds').innerHTML = ''; $('ia').innerHTML = ''; $('ib').innerHTML = '';
  for (const s of r.seeds || []) {
    const row = document.createElement('div'); row.className = 'seed'; row.id = 'seed-' + s.id;
    row.innerHTML = '<img alt="a good seed" title="load"><b></b> <div class="labelbox">' +
      '<span class="seednote"></span><span class="label"></span><details class="edit">' +
      '<summary>edit label</summary><span class="labelfields"><input class="kind" ' +
      'list="kindnames" placeholder="kind"> <input class="subgroup" placeholder="subgroup"> ' +
      '<select class="tone"></select> <button class="savelabel">save label</button></span>' +
      '<div class="error"></div></details></div>' +
      ' <span class="thumb"></span><button class="delete">delete</button>';
    row.querySelector('img').src = s.image;
    row.querySelector('b').textContent = '#' + s.id;
    row.querySelector('.seednote').textContent = s.note;
    labelEditor(row, s);
    // loaded with its label in the new seed's fields: drawn in its classes, as the bot does
    row.querySelector('img').onclick = () => { labelFields($('newlabel'), s.label);
      start = s.z.slice(); setZ(s.z); };
    row.querySelector('.delete').onclick = () => deleteSeed(s);
    $('seeds').appendChild(row);
    fetch(`/api/seeds/${s.id}/neighbours?n=4&sigma=0.5`).then(x => x.json()).then(n =>
      (n.images || []).forEach(src => { const im = new Image(); im.src = src;
        row.querySelector('.thumb').appendChild(im); }));
    for (const sel of [$('ia'), $('ib')]) { const o = document.createElement('option');
      o.value = s.id; o.textContent = '#' + s.id; sel.appendChild(o); }
  }
  if (r.seeds.length > 1) $('ib').selectedIndex = 1;
}
async function popular() {
  const box = $('popular'), hint = (text) => { box.innerHTML = '';
    const p = document.createElement('div'); p.className = 'hint'; p.textContent = text;
    box.appendChild(p); };
  const r = await fetch('/api/popular?n=12'), body = await r.json();
  if (!r.ok) return hint(body.detail);
  if (!body.enabled) return hint("Start the explorer with --state PATH (the bot's state " +
    'file, BOT_STATE_PATH, default state/bot.sqlite3) to see its most favourited pictures.');
  if (!body.pictures.length) return hint('No favourites or boosts yet.');
  box.innerHTML = '';
  body.pictures.forEach((p, i) => {
    const row = document.createElement('div'); row.className = 'pop'; row.id = 'pop-' + i;
    row.title = `${p.kind} ${p.post_id}, ${new Date(p.created_at * 1000).toLocaleString()}`;
    row.innerHTML = '<img alt="a popular picture" title="load"><span class="counts"></span>' +
      '<span class="where"></span><button class="load">load</button>' +
      '<button class="keep">save as seed</button>';
    row.querySelector('img').src = p.image;
    row.querySelector('.counts').textContent = `\u2605 ${p.favourites} \u00b7 \u27f3 ${p.boosts}`;
    if (/^https?:[/][/]/i.test(p.url)) { const a = document.createElement('a'); a.href = p.url;
      a.target = '_blank'; a.rel = 'noopener noreferrer'; a.textContent = 'post';
      row.querySelector('.where').appendChild(a); }
    const load = () => { labelFields($('newlabel'), p.label); start = p.z.slice(); setZ(p.z); };
    row.querySelector('img').onclick = load; row.querySelector('.load').onclick = load;
    const keep = row.querySelector('.keep');
    keep.onclick = async () => { keep.disabled = true;
      const s = await fetch('/api/seeds', post({z: p.z, note: p.note, label: p.label}));
      if (s.ok) { keep.textContent = `saved as #${(await s.json()).id}`; seeds(); }
      else { keep.disabled = false; keep.textContent = 'save failed: retry'; } };
    box.appendChild(row);
  });
}
function steps() {  // the steps asked for, within the server's limits, written back if changed
  const field = $('steps'), n = Math.round(Number(field.value));
  const ok = Number.isFinite(n) ? Math.max(stepsMin, Math.min(stepsMax, n)) : 8;
  field.value = ok; return ok;
}
async function interpolate() {
  const a = $('ia').value, b = $('ib').value, n = steps(), gif = $('gif');
  const r = await fetch(`/api/interpolate?a=${a}&b=${b}&steps=${n}`), body = await r.json();
  $('strip').innerHTML = ''; gif.hidden = true;
  if (!r.ok) { $('strip').textContent = body.detail; return; }
  body.images.forEach(src => { const im = new Image(); im.src = src; $('strip').appendChild(im); });
  // the GIF is this strip, frame for frame
  gif.href = `/api/interpolate?a=${a}&b=${b}&steps=${n}&format=gif`;
  gif.textContent = `download GIF (${body.images.length} frames)`;
  gif.dataset.frames = body.images.length; gif.hidden = false;
}

async function kinds() {  // the kind fields' suggestions, when model/data/kinds.py is there
  const r = await (await fetch('/api/kinds')).json();
  for (const k of r.kinds) { kindSubgroup.set(k.name, k.subgroup);
    option($('kindnames'), k.name, [k.emoji, k.subgroup].filter(Boolean).join(' ')); }
}

async function init() {
  const info = await (await fetch('/api/info')).json();
  D = info.z_dim; L = info.z_limit; stepsMin = info.steps_min; stepsMax = info.steps_max;
  tones = info.tones || []; noTone = info.no_tone || noTone;
  const newLabel = labelFields($('newlabel'), null);
  drawAs = () => { const l = newLabel(), kind = l.kind.trim();
    return kind || l.tone !== noTone ? {kind, tone: l.tone === noTone ? '' : l.tone} : {}; };
  $('newlabel').addEventListener('change', () => { render(); candidates(); });
  $('steps').min = stepsMin; $('steps').max = stepsMax;
  $('zdim').textContent = D;
  z = new Array(D).fill(0); start = z.slice();
  for (let i = 0; i < D; i++) {
    sliders.push(sliderRow($('sliders'), 'z' + i, 'v' + i, 'z' + i, '', (value) => {
      z[i] = value; $('v' + i).textContent = value.toFixed(2); rebase(); render(); }));
  }
  const found = await (await fetch(`/api/directions?k=${info.directions}`)).json();
  dirs = found.directions;
  dirs.forEach((_, k) => dsliders.push(sliderRow($('directions'), 'd' + k, 'dv' + k,
    `direction ${k + 1}` + (k === 0 ? ' (strongest)' : ''),
    `${(100 * found.share[k]).toFixed(1)} % of the first layer's response to z (SeFa)`,
    (value) => moveAlong(k, value))));
  rebase();
  $('popmore').onclick = popular;
  $('random').onclick = async () => { const r = await (await fetch(
    `/api/random?n=1&seed=${Date.now() % 1000000}`)).json(); start = r.z[0].slice(); setZ(r.z[0]); };
  $('nudge').onclick = async () => { const r = await (await fetch('/api/nudge', post({z,
    sigma: parseFloat($('sigma').value), seed: nudges++}))).json(); setZ(r.z); };
  $('reset').onclick = () => setZ(start);
  $('more').onclick = candidates;
  $('save').onclick = async () => { const r = await fetch('/api/seeds', post({z,
    note: $('note').value, label: newLabel()}));
    if (!r.ok) { $('saveerror').textContent = detail(await r.json()); return; }
    $('note').value = ''; $('saveerror').textContent = '';
    labelFields($('newlabel'), null); seeds(); };
  $('fkind').onchange = seeds; $('ftone').onchange = seeds;
  $('interp').onclick = interpolate;
  $('random').onclick(); candidates(); seeds(); popular(); kinds();
}
init();
