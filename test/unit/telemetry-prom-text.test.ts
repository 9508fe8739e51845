import { describe, expect, it } from 'vitest';
import client from 'prom-client';
import { CONFIDENCE_BUCKETS } from '../../core/cascade/buckets.js';
import { PromParseError, histogramSeries, parsePromText, parseValue } from '../../operator/telemetry/prom-text.js';
import { parseRouterMetrics } from '../../operator/telemetry/router-metrics.js';

/** A registry exposing the router's metric contract, filled by prom-client itself (an independent writer). */
function routerRegistry() {
  const registry = new client.Registry();
  const conf = new client.Histogram({ name: 'tinysaver_confidence', help: 'c', buckets: [...CONFIDENCE_BUCKETS], registers: [registry] });
  const esc = new client.Histogram({
    name: 'tinysaver_escalated_confidence',
    help: 'e',
    labelNames: ['agree'],
    buckets: [...CONFIDENCE_BUCKETS],
    registers: [registry],
  });
  const aud = new client.Histogram({
    name: 'tinysaver_audit_confidence',
    help: 'a',
    labelNames: ['agree'],
    buckets: [...CONFIDENCE_BUCKETS],
    registers: [registry],
  });
  const rows = new client.Counter({ name: 'tinysaver_rows_total', help: 'r', labelNames: ['route'], registers: [registry] });
  const thr = new client.Gauge({ name: 'tinysaver_threshold', help: 't', registers: [registry] });
  return { registry, conf, esc, aud, rows, thr };
}

describe('parsePromText', () => {
  it('parses values incl. NaN and infinities, and rejects non-decimal numbers', () => {
    expect(parseValue('1.5e3')).toBe(1500);
    expect(parseValue('NaN')).toBeNaN();
    expect(parseValue('+Inf')).toBe(Infinity);
    expect(parseValue('-Inf')).toBe(-Infinity);
    expect(() => parseValue('0x10')).toThrow(PromParseError);
    expect(() => parseValue('')).toThrow(PromParseError);
    expect(() => parseValue('1,5')).toThrow(PromParseError);
  });

  it('parses label escapes, timestamps, HELP/TYPE and untyped samples', () => {
    const text = [
      '# HELP x_total A counter with a \\n newline',
      '# TYPE x_total counter',
      'x_total{path="/a\\"b\\\\c\\nd",code="200"} 3 1700000000000',
      'x_total{path="",code="500",} 1',
      'loose 7',
      '# a free comment',
      '',
    ].join('\n');
    const f = parsePromText(text);
    const x = f.get('x_total')!;
    expect(x.type).toBe('counter');
    expect(x.help).toBe('A counter with a \n newline');
    expect(x.samples[0].labels).toEqual({ path: '/a"b\\c\nd', code: '200' });
    expect(x.samples[0].timestampMs).toBe(1700000000000);
    expect(x.samples[1].labels.code).toBe('500');
    expect(f.get('loose')!.type).toBe('untyped');
  });

  it.each([
    ['bad metric name', '9abc 1'],
    ['unterminated label', 'a{b="c} 1'],
    ['bad escape', 'a{b="\\x"} 1'],
    ['missing value', 'a{b="c"}'],
    ['extra tokens', 'a 1 2 3'],
    ['bad timestamp', 'a 1 soon'],
    ['duplicate label', 'a{b="1",b="2"} 1'],
    ['unknown type', '# TYPE a widget'],
    ['type after samples', 'a 1\n# TYPE a counter'],
    ['binary garbage', '\u0000\u0001\u0002 \u00ff'],
    ['html', '<html><body>oops</body></html>'],
  ])('rejects %s with a PromParseError naming the line', (_what, text) => {
    expect(() => parsePromText(text)).toThrow(PromParseError);
    try {
      parsePromText(text);
    } catch (e) {
      expect((e as Error).message).toMatch(/line \d+/);
    }
  });

  it('enforces size and sample limits', () => {
    expect(() => parsePromText('a 1\n'.repeat(100), { maxChars: 50 })).toThrow(/exceeds the limit/);
    expect(() => parsePromText('a 1\n'.repeat(100), { maxSamples: 10 })).toThrow(/more than 10 samples/);
  });

  it('reads histograms written by prom-client, per label set', async () => {
    const r = routerRegistry();
    for (const v of [0.05, 0.5, 0.95, 0.999, 1]) r.conf.observe(v);
    r.esc.observe({ agree: 'false' }, 0.3);
    const f = parsePromText(await r.registry.metrics());
    const all = histogramSeries(f.get('tinysaver_confidence')!)!;
    expect(all.le[all.le.length - 1]).toBe(Infinity);
    expect(all.count).toBe(5);
    expect(all.cumulative[0]).toBe(1); // 0.05 <= 0.1
    const esc = histogramSeries(f.get('tinysaver_escalated_confidence')!, { agree: 'false' })!;
    expect(esc.count).toBe(1);
    expect(histogramSeries(f.get('tinysaver_escalated_confidence')!, { agree: 'true' })).toBeUndefined();
  });

  it('rejects non-cumulative histograms and count mismatches', () => {
    const base = ['# TYPE h histogram', 'h_bucket{le="0.5"} 5', 'h_bucket{le="1"} 3', 'h_bucket{le="+Inf"} 5', 'h_count 5'];
    expect(() => histogramSeries(parsePromText(base.join('\n')).get('h')!)).toThrow(/not cumulative/);
    const noInf = ['# TYPE h histogram', 'h_bucket{le="0.5"} 1', 'h_count 1'];
    expect(() => histogramSeries(parsePromText(noInf.join('\n')).get('h')!)).toThrow(/\+Inf/);
    const mismatch = ['# TYPE h histogram', 'h_bucket{le="+Inf"} 2', 'h_count 3'];
    expect(() => histogramSeries(parsePromText(mismatch.join('\n')).get('h')!)).toThrow(/_count/);
    const nan = ['# TYPE h histogram', 'h_bucket{le="+Inf"} NaN'];
    expect(() => histogramSeries(parsePromText(nan.join('\n')).get('h')!)).toThrow(/NaN/);
  });
});

describe('parseRouterMetrics', () => {
  it('extracts per-bucket counts on the shared grid and the route counters', async () => {
    const r = routerRegistry();
    r.conf.observe(0.999);
    r.conf.observe(0.999);
    r.conf.observe(0.42);
    r.esc.observe({ agree: 'true' }, 0.42);
    r.aud.observe({ agree: 'false' }, 0.999);
    r.rows.inc({ route: 'saver' }, 2);
    r.rows.inc({ route: 'base' }, 1);
    r.thr.set(0.9);
    const snap = parseRouterMetrics(await r.registry.metrics());
    const i999 = CONFIDENCE_BUCKETS.indexOf(0.999);
    const i05 = CONFIDENCE_BUCKETS.indexOf(0.5);
    expect(snap.counters.all[i999]).toBe(2);
    expect(snap.counters.all[i05]).toBe(1);
    expect(snap.counters.all.reduce((a, b) => a + b, 0)).toBe(3);
    expect(snap.counters.escalatedAgree[i05]).toBe(1);
    expect(snap.counters.auditDisagree[i999]).toBe(1);
    expect(snap.counters.auditAgree.every((v) => v === 0)).toBe(true);
    expect(snap.counters.rowsSaver).toBe(2);
    expect(snap.counters.rowsBase).toBe(1);
    expect(snap.counters.rowsFallback).toBe(0);
    expect(snap.threshold).toBe(0.9);
    expect(snap.auditRate).toBeNaN();
  });

  it('rejects a router on another bucket grid and a non-router exposition', async () => {
    const registry = new client.Registry();
    const h = new client.Histogram({ name: 'tinysaver_confidence', help: 'c', buckets: [0.5, 0.9], registers: [registry] });
    h.observe(0.7);
    const text = await registry.metrics();
    expect(() => parseRouterMetrics(text)).toThrow(/bucket grid/);
    expect(() => parseRouterMetrics('up 1\n')).toThrow(/not a tinysaver router/);
    const grid = [...CONFIDENCE_BUCKETS.map(String), '+Inf'];
    const huge = ['# TYPE tinysaver_confidence histogram', ...grid.map((le) => `tinysaver_confidence_bucket{le="${le}"} 1e300`)].join('\n');
    expect(() => parseRouterMetrics(huge)).toThrow(/whole number of rows/);
    const fractional = ['# TYPE tinysaver_confidence histogram', ...grid.map((le) => `tinysaver_confidence_bucket{le="${le}"} 2.5`)].join(
      '\n',
    );
    expect(() => parseRouterMetrics(fractional)).toThrow(/whole number of rows/);
  });
});
