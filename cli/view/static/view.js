/* global document, window, fetch, setTimeout */
// TinySaver live view: polls /api/live (schema tinysaver.live/v1) once a second and draws hand-written
// SVG charts. No build step, no dependencies. Survives the server going away (shows "no data", keeps
// polling, starts over when a new `up` answers) and blanks the numbers when telemetry stops.

import { niceDomain, niceStep, niceTicks, stepDecimals } from './ticks.js';

const POLL_MS = 1000;
const HEIGHT = 190;
const M = { left: 62, right: 12, top: 20, bottom: 22 };
const NS = 'http://www.w3.org/2000/svg';
const COLORS = {
  threshold: '#1f5fbf',
  bound: '#c0392b',
  budget: '#7b241c',
  audit: '#d35400',
  share: '#1e8449',
  escalation: '#8e44ad',
  saver: '#1e8449',
  base: '#8e44ad',
  total: '#1f5fbf',
  limit: '#98a2b3',
  rec: '#5d6d7e',
};

const st = {
  instance: null,
  config: null,
  samples: [],
  decisions: new Map(),
  lastT: undefined,
  serverNow: 0,
  fetchedAt: 0,
  connected: false,
  error: '',
};

// ---- numbers
const pct = (v, d = 1) => `${(v * 100).toFixed(d)}%`;
const isNum = (v) => typeof v === 'number' && Number.isFinite(v);
const clock = (t) => new Date(t).toLocaleTimeString([], { hour12: false });

/** Domain widened to round values and the round ticks inside it (core/plot/ticks.ts, served as /ticks.js). */
function axis(lo, hi, count = 4) {
  if (!(hi > lo)) hi = lo + (lo === 0 ? 1 : Math.abs(lo) * 0.1);
  const [a, b] = niceDomain(lo, hi, count);
  return { lo: a, hi: b, ticks: niceTicks(a, b, count), decimals: stepDecimals(niceStep(b - a, count)) };
}
const TIME_STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600].map((s) => s * 1000);
function timeTicks(lo, hi, width) {
  const want = Math.max(2, Math.floor(width / 90));
  const step = TIME_STEPS.find((s) => (hi - lo) / s <= want) ?? TIME_STEPS[TIME_STEPS.length - 1];
  const out = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi; t += step) out.push(t);
  return { ticks: out, step };
}

// ---- SVG
function el(name, attrs = {}, text) {
  const e = document.createElementNS(NS, name);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}

/**
 * series: [{ label, color, dash, step, points: [[t, v|null], ...] }]; refs: [{ value, label, color, dash }]
 * y: { lo, hi } data range before rounding; fmt: tick label format
 */
function drawChart(svg, { series, refs = [], y, fmt, x, noData, gapMs, ticks = 4 }) {
  const width = Math.max(200, svg.clientWidth || 400);
  svg.setAttribute('viewBox', `0 0 ${width} ${HEIGHT}`);
  svg.replaceChildren();
  const W = width - M.left - M.right;
  const H = HEIGHT - M.top - M.bottom;
  const dom = axis(y.lo, y.hi, ticks);
  const sx = (t) => M.left + ((t - x.lo) / (x.hi - x.lo)) * W;
  const sy = (v) => M.top + H - ((v - dom.lo) / (dom.hi - dom.lo)) * H;
  for (const v of dom.ticks) {
    svg.append(el('line', { class: 'grid', x1: M.left, x2: M.left + W, y1: sy(v), y2: sy(v) }));
    svg.append(el('text', { x: M.left - 6, y: sy(v) + 4, 'text-anchor': 'end' }, fmt(v, dom.decimals)));
  }
  const tt = timeTicks(x.lo, x.hi, W);
  for (const t of tt.ticks) {
    if (sx(t) > width - 26 || sx(t) < M.left - 10) continue; // a label that would be cut off
    svg.append(el('line', { class: 'axis', x1: sx(t), x2: sx(t), y1: M.top + H, y2: M.top + H + 4 }));
    const label = tt.step >= 60_000 ? clock(t).slice(0, 5) : clock(t);
    svg.append(el('text', { x: sx(t), y: M.top + H + 16, 'text-anchor': 'middle' }, label));
  }
  svg.append(el('line', { class: 'axis', x1: M.left, x2: M.left + W, y1: M.top + H, y2: M.top + H }));
  const clip = `clip-${svg.parentElement.id}`;
  const defs = el('defs');
  const cp = el('clipPath', { id: clip });
  cp.append(el('rect', { x: M.left, y: M.top - 2, width: W, height: H + 4 }));
  defs.append(cp);
  svg.append(defs);
  for (const r of refs) {
    if (!isNum(r.value)) continue;
    svg.append(
      el('line', {
        x1: M.left,
        x2: M.left + W,
        y1: sy(r.value),
        y2: sy(r.value),
        stroke: r.color,
        'stroke-width': 1.5,
        'stroke-dasharray': r.dash ?? '6 4',
      }),
    );
  }
  for (const s of series) {
    // segments of consecutive points; a missing value or a gap in time starts a new one
    const segs = [];
    let seg = null;
    for (const [t, v] of s.points) {
      if (!isNum(v)) {
        seg = null;
        continue;
      }
      if (!seg || t - seg[seg.length - 1][0] > gapMs) segs.push((seg = []));
      seg.push([t, v]);
    }
    let d = '';
    for (const g of segs) {
      g.forEach(([t, v], i) => {
        if (i === 0) d += `M${sx(t).toFixed(1)},${sy(v).toFixed(1)}`;
        else if (s.step) d += `H${sx(t).toFixed(1)}V${sy(v).toFixed(1)}`;
        else d += `L${sx(t).toFixed(1)},${sy(v).toFixed(1)}`;
      });
      if (g.length === 1)
        svg.append(el('circle', { cx: sx(g[0][0]), cy: sy(g[0][1]), r: 2.5, fill: s.color, 'clip-path': `url(#${clip})` }));
    }
    if (d)
      svg.append(
        el('path', {
          d,
          fill: 'none',
          stroke: s.color,
          'stroke-width': s.width ?? 2,
          'stroke-dasharray': s.dash ?? 'none',
          'clip-path': `url(#${clip})`,
          'data-series': s.label,
        }),
      );
  }
  // legend, right-aligned on the top margin
  let lx = M.left + W;
  for (const item of [...series.filter((s) => s.legend !== false), ...refs.filter((r) => r.label)].reverse()) {
    const label = item.label;
    const w = 7 * label.length + 26;
    lx -= w;
    svg.append(
      el('line', { x1: lx, x2: lx + 16, y1: 10, y2: 10, stroke: item.color, 'stroke-width': 2, 'stroke-dasharray': item.dash ?? 'none' }),
    );
    svg.append(el('text', { class: 'legend', x: lx + 20, y: 14 }, label));
  }
  if (noData) svg.append(el('text', { class: 'nodata', x: M.left + W / 2, y: M.top + H / 2, 'text-anchor': 'middle' }, noData));
}

// ---- state
function reset(instance) {
  st.instance = instance;
  st.samples = [];
  st.decisions = new Map();
  st.lastT = undefined;
}

async function poll() {
  try {
    const q = st.lastT !== undefined ? `?since=${st.lastT}` : '';
    const res = await fetch(`api/live${q}`, { cache: 'no-store' });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    const data = await res.json();
    if (data.instance !== st.instance) {
      reset(data.instance);
      if (q) {
        // a new `up` answered: start over with its full history
        st.connected = true;
        return;
      }
    }
    st.config = data.config;
    for (const s of data.samples) if (st.lastT === undefined || s.t > st.lastT) st.samples.push(s);
    if (st.samples.length > 0) st.lastT = st.samples[st.samples.length - 1].t;
    if (st.samples.length > 2000) st.samples.splice(0, st.samples.length - 2000);
    for (const d of data.decisions) st.decisions.set(d.first, d);
    st.serverNow = data.now;
    st.fetchedAt = Date.now();
    st.connected = true;
    st.error = '';
  } catch (e) {
    st.connected = false;
    st.error = e instanceof Error ? e.message : String(e);
  } finally {
    render();
    setTimeout(poll, POLL_MS);
  }
}

function nowEstimate() {
  return st.fetchedAt ? st.serverNow + (Date.now() - st.fetchedAt) : Date.now();
}

function setText(id, text, cls = '') {
  const e = document.getElementById(id);
  e.textContent = text;
  e.className = cls;
}

function render() {
  const cfg = st.config;
  const now = nowEstimate();
  const last = st.samples[st.samples.length - 1];
  const intervalMs = cfg?.intervalMs ?? 5000;
  const staleAfter = Math.max(3 * intervalMs, 5000);
  const fresh = st.connected && last !== undefined && now - last.t <= staleAfter;
  const traffic = fresh && last.rows > 0;
  const conn = document.getElementById('conn');
  if (!st.connected) {
    conn.textContent = st.fetchedAt ? `disconnected (${st.error}): no data, retrying` : `connecting… (${st.error || 'waiting'})`;
    conn.className = 'conn down';
  } else if (!last) {
    conn.textContent = 'waiting for the first control interval';
    conn.className = 'conn wait';
  } else if (!fresh) {
    conn.textContent = `no data: telemetry stopped ${Math.round((now - last.t) / 1000)} s ago`;
    conn.className = 'conn down';
  } else if (!traffic) {
    conn.textContent = 'live: no traffic in the last interval';
    conn.className = 'conn wait';
  } else {
    conn.textContent = `live · every ${intervalMs / 1000} s`;
    conn.className = 'conn live';
  }
  if (cfg)
    document.getElementById('cascade').textContent =
      `${cfg.saver} → ${cfg.base} · budget ${pct(cfg.epsilon, 2)} at ${pct(cfg.confidence, 0)} confidence`;
  const nd = (id) => setText(id, 'no data', 'nodata');
  if (cfg && st.connected) setText('v-mode', cfg.mode);
  else nd('v-mode');
  if (fresh) {
    setText('v-threshold', last.threshold.toFixed(4).replace(/0+$/, '').replace(/\.$/, ''));
    if (isNum(last.bound)) setText('v-bound', `${pct(last.bound, 2)} / ${pct(last.budget, 2)}`, last.bound > last.budget ? 'over' : '');
    else nd('v-bound');
    setText('v-audit', last.auditRate.toFixed(3));
  } else ['v-threshold', 'v-bound', 'v-audit'].forEach(nd);
  if (traffic) {
    setText('v-share', pct(last.share));
    setText('v-rate', (last.rows / (intervalMs / 1000)).toFixed(0));
  } else ['v-share', 'v-rate'].forEach(nd);

  // ---- charts
  const first = st.samples[0];
  const span = Math.min(15 * 60_000, Math.max(60_000, first ? now - first.t : 60_000));
  const x = { lo: now - span, hi: now };
  const gapMs = 2.5 * intervalMs;
  const pts = (f) => st.samples.map((s) => [s.t, f(s)]);
  const noData = !last ? 'no data yet' : !fresh ? 'no data' : undefined;
  const chart = (id) => document.querySelector(`#${id} svg`);
  const min = cfg?.min ?? 0;
  const max = cfg?.max ?? 1;
  const ths = st.samples.map((s) => s.threshold);
  drawChart(chart('c-threshold'), {
    x,
    gapMs,
    noData,
    y: { lo: Math.min(min, ...ths), hi: Math.max(max, ...ths) },
    ticks: 5,
    fmt: (v, d) => v.toFixed(Math.max(1, d)),
    refs: [
      { value: min, label: 'min', color: COLORS.limit, dash: '6 4' },
      { value: max, label: 'max', color: COLORS.limit, dash: '6 4' },
    ],
    series: [
      { label: 'recommended', color: COLORS.rec, dash: '2 3', width: 1.5, step: true, points: pts((s) => s.recommended) },
      { label: 'threshold', color: COLORS.threshold, step: true, points: pts((s) => s.threshold) },
    ],
  });
  const pctFmt = (v, d) => `${(v * 100).toFixed(Math.max(0, d - 2))}%`;
  drawChart(chart('c-share'), {
    x,
    gapMs,
    noData: noData ?? (traffic ? undefined : 'no traffic'),
    y: { lo: 0, hi: 1 },
    fmt: pctFmt,
    series: [{ label: 'saver share', color: COLORS.share, points: pts((s) => s.share) }],
  });
  const bounds = st.samples.map((s) => s.bound).filter(isNum);
  const budget = cfg?.epsilon ?? 0.01;
  drawChart(chart('c-bound'), {
    x,
    gapMs,
    noData,
    y: { lo: 0, hi: Math.max(2 * budget, ...bounds.map((b) => Math.min(b, 10 * budget))) },
    fmt: pctFmt,
    refs: [{ value: budget, label: 'budget', color: COLORS.budget, dash: '6 4' }],
    series: [{ label: 'loss bound', color: COLORS.bound, points: pts((s) => s.bound) }],
  });
  const audits = st.samples.map((s) => s.auditRate);
  drawChart(chart('c-audit'), {
    x,
    gapMs,
    noData,
    y: { lo: 0, hi: Math.max(0.05, ...audits) },
    fmt: (v, d) => v.toFixed(Math.max(2, d)),
    series: [{ label: 'audit rate', color: COLORS.audit, step: true, points: pts((s) => s.auditRate) }],
  });
  drawChart(chart('c-escalation'), {
    x,
    gapMs,
    noData: noData ?? (traffic ? undefined : 'no traffic'),
    y: { lo: 0, hi: 1 },
    fmt: pctFmt,
    series: [{ label: 'escalation rate', color: COLORS.escalation, points: pts((s) => s.escalation) }],
  });
  const lat = st.samples
    .flatMap((s) => [s.latencyP50Ms.saver, s.latencyP50Ms.base, s.latencyP50Ms.total, s.latencyP95Ms.total])
    .filter(isNum);
  drawChart(chart('c-latency'), {
    x,
    gapMs,
    noData: noData ?? (traffic ? undefined : 'no traffic'),
    y: { lo: 0, hi: Math.max(1, ...lat) },
    fmt: (v, d) => `${v.toFixed(d)} ms`,
    series: [
      { label: 'saver', color: COLORS.saver, points: pts((s) => s.latencyP50Ms.saver) },
      { label: 'base', color: COLORS.base, points: pts((s) => s.latencyP50Ms.base) },
      { label: 'total', color: COLORS.total, points: pts((s) => s.latencyP50Ms.total) },
      { label: 'total p95', color: COLORS.total, dash: '4 3', width: 1.5, points: pts((s) => s.latencyP95Ms.total) },
    ],
  });
  renderDecisions();
}

function renderDecisions() {
  const list = document.getElementById('decisions');
  const ds = [...st.decisions.values()].sort((a, b) => b.t - a.t);
  const changes = ds.filter((d) => d.changed).length;
  document.getElementById('d-count').textContent = ds.length ? `(${changes} change${changes === 1 ? '' : 's'}, newest first)` : '';
  if (ds.length === 0) {
    list.innerHTML = '<li class="empty">no decisions yet</li>';
    return;
  }
  list.replaceChildren(
    ...ds.slice(0, 100).map((d) => {
      const li = document.createElement('li');
      li.className = `decision ${d.changed ? d.direction : 'hold'}`;
      const head = document.createElement('div');
      head.className = 'head';
      const when = document.createElement('span');
      when.textContent = d.count > 1 ? `${clock(d.first)}–${clock(d.t)} ×${d.count}` : clock(d.t);
      const move = document.createElement('span');
      move.textContent = d.changed ? `${d.from} → ${d.to}` : `${d.to}`;
      const reason = document.createElement('span');
      reason.className = 'reason';
      reason.textContent = d.reason;
      head.append(when, move, reason);
      const nums = document.createElement('div');
      const after = d.changed && isNum(d.boundAfter) ? `, ${pct(d.boundAfter, 2)} at ${d.to}` : '';
      nums.textContent = `bound ${isNum(d.bound) ? pct(d.bound, 2) : 'n/a'} at ${d.from}${after} · budget ${pct(d.budget, 2)} · audit ${d.auditRate.toFixed(3)}`;
      const msg = document.createElement('div');
      msg.className = 'msg';
      msg.textContent = d.message;
      li.append(head, nums, msg);
      return li;
    }),
  );
}

window.addEventListener('resize', render);
poll();
