// tuban review app: the lead list, the map (the imagery's own CRS, tiles from the server),
// the verdict form. Everything the page shows comes from /api/*, which checks the session and
// the reviewer's county on the server.
'use strict';

const $ = (id) => document.getElementById(id);
const state = {
  scene: null, user: null, leads: [], index: -1, lead: null,
  map: null, before: null, after: null, mode: 'swipe',
  outlines: null, leadLayer: null, photoLayer: null, overlays: {},
  tilesLoaded: 0, tilesFailed: 0,
};
window.tuban = state; // for the browser test and for curious users

async function api(path, opts = {}) {
  const r = await fetch(path, Object.assign({ credentials: 'same-origin' }, opts));
  if (r.status === 401) { showLogin(); throw new Error('signed out'); }
  return r;
}

function esc(s) {
  return String(s ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));
}

function showLogin() {
  $('app').hidden = true;
  $('login').hidden = false;
  $('login-name').focus();
}

$('login').addEventListener('submit', async (e) => {
  e.preventDefault();
  $('login-error').textContent = '';
  const r = await fetch('/api/login', {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, credentials: 'same-origin',
    body: JSON.stringify({ name: $('login-name').value, password: $('login-password').value }),
  });
  if (!r.ok) { $('login-error').textContent = await r.text(); return; }
  $('login-password').value = '';
  start();
});

$('logout').addEventListener('click', async () => {
  await fetch('/api/logout', { method: 'POST', credentials: 'same-origin' });
  location.reload();
});

async function start() {
  const r = await fetch('/api/scene', { credentials: 'same-origin' });
  if (r.status === 401) { showLogin(); return; }
  state.scene = await r.json();
  state.user = state.scene.user;
  $('login').hidden = true;
  $('app').hidden = false;
  $('who').textContent = `${state.user.name} · ${state.user.role} ${state.user.county || 'all'}`;
  for (const [code, name] of state.scene.types) {
    for (const sel of [$('f-type'), $('v-type')]) sel.add(new Option(`${code} ${name}`, code));
  }
  for (const [code, zh] of state.scene.steps) $('v-step').add(new Option(`${code} ${zh}`, code));
  setupMap();
  await loadLeads();
  const want = decodeURIComponent(location.hash.replace(/^#/, ''));
  const i = state.leads.findIndex((l) => l.jcbh === want);
  if (i >= 0) openLead(i);
}

// ---- the map ---------------------------------------------------------------------------

function setupMap() {
  const g = state.scene.grid;
  if (state.map) return;
  if (!g) { $('map-note').textContent = 'No imagery: start tuban serve with --run DIR.'; return; }
  const crs = L.extend({}, L.CRS.Simple, {
    transformation: new L.Transformation(1 / g.res, -g.x0 / g.res, -1 / g.res_y, g.y0 / g.res_y),
    scale: (z) => Math.pow(2, z - g.max_zoom),
    zoom: (s) => Math.log(s) / Math.LN2 + g.max_zoom,
    infinite: true,
  });
  const bounds = L.latLngBounds([g.y0 - g.height * g.res_y, g.x0], [g.y0, g.x0 + g.width * g.res]);
  state.map = L.map('map', { crs, minZoom: 0, maxZoom: g.max_zoom + 3, zoomSnap: 1, attributionControl: false });
  const tiles = (date) => {
    const t = L.tileLayer(`/tiles/${date}/{z}/{x}/{y}.png`, {
      maxNativeZoom: g.max_zoom, maxZoom: g.max_zoom + 3, minZoom: 0, bounds, noWrap: true,
    });
    t.on('tileload', () => { state.tilesLoaded += 1; });
    t.on('tileerror', () => { state.tilesFailed += 1; });
    return t;
  };
  state.before = tiles('before').addTo(state.map);
  state.after = tiles('after').addTo(state.map);
  state.map.on('move zoom resize', clip);
  for (const b of document.querySelectorAll('#controls .dates button')) {
    b.addEventListener('click', () => setMode(b.dataset.mode));
  }
  $('swipe').addEventListener('input', () => setMode('swipe'));
  const dates = state.scene.dates || [];
  $('show-before').textContent = `before ${dates[0]?.date || ''}`;
  $('show-after').textContent = `after ${dates[1]?.date || ''}`;
  const names = {
    leads: 'leads', counties: 'county boundary', dltb: 'DLTB land classes', basic_farmland: 'permanent basic farmland',
    red_line: 'ecological red line', urban_boundary: 'urban boundary', approvals: 'approvals',
  };
  for (const name of ['leads', ...state.scene.layers]) {
    const label = document.createElement('label');
    const box = document.createElement('input');
    box.type = 'checkbox'; box.id = `ov-${name}`;
    box.checked = name === 'leads' || name === 'counties';
    box.addEventListener('change', refreshOverlays);
    label.append(box, ` ${names[name] || name}`);
    $('overlays').append(label);
  }
  setMode('swipe');
  state.map.on('moveend', refreshOverlays);
  state.map.fitBounds(bounds);
}

function setMode(mode) {
  state.mode = mode;
  for (const b of document.querySelectorAll('#controls .dates button')) b.classList.toggle('on', b.dataset.mode === mode);
  if (!state.map) return;
  state.after.setOpacity(mode === 'before' ? 0 : 1);
  clip();
}

// Swipe: the before image left of the line, the after image right of it.
function clip() {
  if (!state.after) return;
  const c = state.after.getContainer();
  if (!c) return;
  if (state.mode !== 'swipe') { c.style.clip = ''; return; }
  const m = state.map;
  const nw = m.containerPointToLayerPoint([0, 0]);
  const se = m.containerPointToLayerPoint(m.getSize());
  const x = nw.x + m.getSize().x * (Number($('swipe').value) / 100);
  c.style.clip = `rect(${nw.y}px, ${se.x}px, ${se.y}px, ${x}px)`;
}

const statusColour = { open: '#ff3b30', real: '#ffcc00', not_real: '#9e9e9e', duplicate: '#8e7cc3', excluded: '#6fa8dc', escalated: '#ff9500' };
const layerStyle = {
  counties: { color: '#ffffff', weight: 2, dashArray: '6 4', fill: false },
  basic_farmland: { color: '#f6b26b', weight: 1, fillOpacity: 0.15 },
  red_line: { color: '#e06666', weight: 2, fillOpacity: 0.1 },
  urban_boundary: { color: '#a4c2f4', weight: 1, fill: false },
  approvals: { color: '#93c47d', weight: 1, fillOpacity: 0.15 },
};
// DLTB classes by their first two digits (三调 primary classes).
const dltbColour = { '01': '#ffd966', '02': '#c27ba0', '03': '#38761d', '04': '#93c47d', '05': '#e06666', '06': '#cc0000', '07': '#e69138', '08': '#b45f06', '09': '#999999', '10': '#666666', '11': '#3d85c6', '12': '#d9d2e9' };

async function refreshOverlays() {
  if (!state.map) return;
  await drawOutlines();
  const b = state.map.getBounds();
  const bbox = [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()].join(',');
  const notes = [];
  for (const name of state.scene.layers) {
    const on = $(`ov-${name}`)?.checked;
    if (state.overlays[name]) { state.map.removeLayer(state.overlays[name]); delete state.overlays[name]; }
    if (!on) continue;
    const r = await api(`/api/layers/${name}?bbox=${bbox}`);
    if (!r.ok) { notes.push(`${name}: ${await r.text()}`); continue; }
    const fc = await r.json();
    if (fc.truncated) notes.push(`${name}: ${fc.features.length} of ${fc.total} shown, zoom in`);
    state.overlays[name] = L.geoJSON(fc, {
      interactive: false,
      style: (f) => name === 'dltb'
        ? { color: dltbColour[String(f.properties.class || '').slice(0, 2)] || '#cccccc', weight: 1, fillOpacity: 0.25 }
        : layerStyle[name] || { weight: 1 },
    }).addTo(state.map);
  }
  $('map-note').textContent = notes.join('; ');
  if (state.leadLayer) state.leadLayer.bringToFront();
}

async function drawOutlines() {
  const on = $('ov-leads')?.checked;
  if (state.outlines) { state.map.removeLayer(state.outlines); state.outlines = null; }
  if (!on) return;
  if (!state.outlineData) {
    const r = await api('/api/outlines');
    state.outlineData = await r.json();
  }
  state.outlines = L.geoJSON(state.outlineData, {
    style: (f) => ({ color: statusColour[f.properties.status] || '#ff3b30', weight: 2, fill: false }),
    onEachFeature: (f, layer) => layer.on('click', () => {
      const i = state.leads.findIndex((l) => l.jcbh === f.properties.jcbh);
      if (i >= 0) openLead(i);
    }),
  }).addTo(state.map);
}

// ---- the list --------------------------------------------------------------------------

function filterQuery() {
  const q = new URLSearchParams();
  const put = (k, v) => { if (v !== '' && v != null) q.set(k, v); };
  put('county', $('f-county').value);
  put('type', $('f-type').value);
  put('status', $('f-status').value);
  put('min_confidence', $('f-conf').value);
  put('min_mu', $('f-mu').value);
  return q.toString();
}

async function loadLeads() {
  const r = await api(`/api/leads?${filterQuery()}`);
  const leads = await r.json();
  const key = $('f-sort').value;
  const order = {
    jcbh: (a, b) => a.jcbh.localeCompare(b.jcbh),
    mu: (a, b) => b.mu - a.mu,
    confidence: (a, b) => (b.confidence ?? -1) - (a.confidence ?? -1),
    status: (a, b) => a.status.localeCompare(b.status) || a.jcbh.localeCompare(b.jcbh),
  }[key];
  leads.sort(order);
  const current = state.lead?.summary.jcbh;
  state.leads = leads;
  state.index = leads.findIndex((l) => l.jcbh === current);
  const counties = [...new Set(leads.map((l) => l.xzqdm))].sort();
  const sel = $('f-county');
  if (sel.options.length === 1) for (const c of counties) sel.add(new Option(c, c));
  $('count').textContent = `${leads.length} leads`;
  const body = $('list').tBodies[0];
  body.replaceChildren(...leads.map((l, i) => {
    const tr = document.createElement('tr');
    tr.id = `row-${l.jcbh}`;
    tr.innerHTML = `<td>${esc(l.jcbh)}</td><td>${esc(l.tblx)}</td><td>${l.mu.toFixed(1)}</td>`
      + `<td>${l.confidence == null ? '' : l.confidence.toFixed(2)}</td><td class="st-${esc(l.status)}">${esc(l.status)}</td>`;
    tr.classList.toggle('sel', i === state.index);
    tr.addEventListener('click', () => openLead(i));
    return tr;
  }));
}

for (const id of ['f-county', 'f-type', 'f-status', 'f-conf', 'f-mu', 'f-sort']) {
  $(id).addEventListener('change', loadLeads);
}

// ---- one lead --------------------------------------------------------------------------

async function openLead(i) {
  const l = state.leads[i];
  if (!l) return;
  state.index = i;
  for (const tr of $('list').tBodies[0].rows) tr.classList.toggle('sel', tr.id === `row-${l.jcbh}`);
  $(`row-${l.jcbh}`)?.scrollIntoView({ block: 'nearest' });
  const r = await api(`/api/leads/${encodeURIComponent(l.jcbh)}`);
  if (!r.ok) { $('verdict-result').textContent = await r.text(); return; }
  showLead(await r.json(), true);
  history.replaceState(null, '', `#${encodeURIComponent(l.jcbh)}`);
}

function showLead(d, zoom) {
  state.lead = d;
  const s = d.summary;
  $('lead').hidden = false;
  $('lead-title').textContent = `${s.jcbh} · ${s.tblx || ''} ${state.scene.type_names[s.tblx] || ''}`;
  $('lead-reasons').innerHTML = [
    d.attrs.LXYJ ? `<b>LXYJ</b> ${esc(d.attrs.LXYJ)}` : '',
    d.fields.PDYJ ? `<b>PDYJ</b> ${esc(d.fields.PDYJ)}` : '',
  ].filter(Boolean).join('<br>');
  const rows = [
    ['county', s.xzqdm], ['quarter', s.quarter], ['area', `${s.mu.toFixed(2)} mu`],
    ['confidence', s.confidence == null ? '-' : s.confidence.toFixed(2)], ['status', s.status],
    ['judged', d.fields.judged], ['queue', d.fields.queue], ['case', d.fields.case_no],
    ['previous lead', d.fields.QQJCBH], ['dates', `${d.fields.QSX || '?'} → ${d.fields.HSX || '?'}`],
    ['farmland m²', d.fields.GDMJ], ['basic farmland m²', d.fields.YJJBNTMJ], ['red line m²', d.fields.STHXMJ],
    ['deadline', d.fields.deadline], ['verified', d.fields.verified ? `${d.fields.verified} by ${d.fields.verified_by}` : '-'],
    ['real', d.fields.real == null ? '-' : (d.fields.real ? 'yes' : 'no')], ['legal', d.fields.legal],
    ['type found', d.fields.found_type], ['notes', d.fields.notes], ['version', s.version],
  ];
  $('lead-fields').innerHTML = rows.filter(([, v]) => v != null && v !== '')
    .map(([k, v]) => `<tr><td>${esc(k)}</td><td>${esc(v)}</td></tr>`).join('');
  $('lead-photos').innerHTML = d.photos.map((p) => p.url
    ? `<a href="${p.url}" target="_blank"><img src="${p.url}" alt="${esc(p.name)}" title="${esc(p.name)}${p.lonlat ? ` (${p.lonlat[1].toFixed(5)}, ${p.lonlat[0].toFixed(5)})` : ''}"></a>`
    : `<span class="muted">${esc(p.name)}</span>`).join('');
  $('lead-history').innerHTML = d.history.map((e) => `<li class="ev-${esc(e.kind)}">${esc(e.at)} · ${esc(e.actor)} · <b>${esc(e.kind)}</b> ${esc(e.detail)}</li>`).join('');
  // The form shows the lead as recorded; its version is what this reviewer saw.
  $('v-version').value = s.version;
  $('v-real').checked = d.fields.real === 1;
  $('v-false').checked = d.fields.real === 0;
  $('v-type').value = d.fields.found_type || '';
  $('v-legal').value = d.fields.legal || '';
  $('v-notes').value = d.fields.notes || '';
  $('v-step').value = '';
  $('v-photos').value = '';
  if (!state.map) return;
  if (state.leadLayer) state.map.removeLayer(state.leadLayer);
  if (state.photoLayer) state.map.removeLayer(state.photoLayer);
  if (d.geometry) {
    state.leadLayer = L.geoJSON(d.geometry, { style: { color: '#00e5ff', weight: 3, fill: false } }).addTo(state.map);
    if (zoom) state.map.fitBounds(state.leadLayer.getBounds().pad(1.5), { maxZoom: state.scene.grid.max_zoom + 1 });
  }
  state.photoLayer = L.layerGroup(d.photos.filter((p) => p.xy).map((p) => L.circleMarker([p.xy[1], p.xy[0]], {
    radius: 7, color: '#fff', weight: 2, fillColor: '#00a2ff', fillOpacity: 1, className: 'photo-mark',
  }).bindTooltip(`photo ${p.name}`))).addTo(state.map);
}

async function submitVerdict(overrides = {}) {
  if (!state.lead) return;
  const form = new FormData($('verdict'));
  for (const [k, v] of Object.entries(overrides)) form.set(k, v);
  const jcbh = state.lead.summary.jcbh;
  const res = $('verdict-result');
  if (!form.get('real')) { res.className = 'refused'; res.textContent = 'Say whether the change is real first.'; return; }
  $('v-submit').disabled = true;
  try {
    const r = await api(`/api/leads/${encodeURIComponent(jcbh)}/verdict`, { method: 'POST', body: form });
    const ct = r.headers.get('content-type') || '';
    const body = ct.includes('json') ? await r.json() : { text: await r.text() };
    if (r.status === 200) {
      showLead(body.lead, false);
      res.className = 'ok';
      res.textContent = `Recorded (version ${body.result.version}).`;
      state.outlineData = null;
      await loadLeads();
      drawOutlines();
    } else if (r.status === 409) {
      // Another reviewer wrote first: show what is there now, keep this reviewer's entries.
      const mine = { real: form.get('real'), type: form.get('type'), legal: form.get('legal'), notes: form.get('notes') };
      showLead(body.lead, false);
      if (mine.real === 'yes') $('v-real').checked = true;
      if (mine.real === 'no') $('v-false').checked = true;
      $('v-type').value = mine.type || ''; $('v-legal').value = mine.legal || ''; $('v-notes').value = mine.notes || '';
      const f = body.lead.fields;
      res.className = 'conflict';
      res.textContent = `Conflict: ${f.verified_by || 'another reviewer'} changed this lead after you opened it `
        + `(version ${body.result.seen} → ${body.result.version}; now: real ${f.real === 1 ? 'yes' : f.real === 0 ? 'no' : '-'}, `
        + `legal ${f.legal || '-'}). Your verdict was not applied; it is kept in the history. Check and record again.`;
    } else {
      res.className = 'refused';
      res.textContent = body.result?.problem || body.text || `refused (${r.status})`;
      if (body.lead) showLead(body.lead, false);
    }
  } finally {
    $('v-submit').disabled = false;
  }
}

$('verdict').addEventListener('submit', (e) => { e.preventDefault(); submitVerdict(); });

document.addEventListener('keydown', (e) => {
  if (e.target.closest('input, textarea, select') || e.ctrlKey || e.metaKey || e.altKey) return;
  const go = (d) => { if (state.leads.length) openLead(Math.min(state.leads.length - 1, Math.max(0, state.index + d))); };
  switch (e.key) {
    case 'j': case 'ArrowDown': go(1); break;
    case 'k': case 'ArrowUp': go(-1); break;
    case 'a': submitVerdict({ real: 'yes' }); break;
    case 'r': submitVerdict({ real: 'no' }); break;
    case 't': setMode(state.mode === 'after' ? 'before' : 'after'); break;
    default: return;
  }
  e.preventDefault();
});

start();
