import test from 'ava';
import { DEFAULT_MAX_WINDOW_MS } from '../../src/breakglass/defaults.js';
import { parseBreakglassDocument } from '../../src/breakglass/document.js';
import type { BreakglassProblemCode } from '../../src/breakglass/problems.js';
import { evaluateBreakglass, grantBreakglass, type LoadedBreakglass } from '../../src/breakglass/status.js';
import { HOUR, NOW, iso, yamlDoc } from './helpers.js';

const SHA = `sha256:${'a'.repeat(64)}`;
const REQUEST = { namespace: 'default', imageName: 'docker.io/library/nginx', digest: undefined };

function loaded(expiresAt: string, writtenAtMs = NOW): LoadedBreakglass {
  const parsed = parseBreakglassDocument(Buffer.from(yamlDoc({ expiresAt }, ['ticket: INC-9'])));
  if (!parsed.ok) throw new Error(parsed.problem.message);
  return { kind: 'parsed', document: parsed.document, fileSha256: SHA, writtenAtMs };
}

test('far_future_expiry_later_fail: a file written with a 48 h expiry never becomes valid', (t) => {
  const file = loaded(iso(NOW + 48 * HOUR), NOW);
  t.is(evaluateBreakglass(file, NOW, DEFAULT_MAX_WINDOW_MS).state, 'invalid');
  const later = evaluateBreakglass(file, NOW + 25 * HOUR, DEFAULT_MAX_WINDOW_MS);
  t.is(later.state, 'invalid');
  t.is(later.problem?.code, 'CG_ERR_BREAKGLASS_TOO_LONG');
  t.is(grantBreakglass(file, REQUEST, NOW + 25 * HOUR, DEFAULT_MAX_WINDOW_MS), undefined);
});

interface ExpiryCase {
  readonly name: string;
  readonly expiresAt: number;
  readonly now: number;
  readonly maxWindowMs?: number;
  readonly state: 'active' | 'expired' | 'invalid';
  readonly code?: BreakglassProblemCode;
}

const cases: ExpiryCase[] = [
  { name: 'two hours ahead', expiresAt: NOW + 2 * HOUR, now: NOW, state: 'active' },
  { name: 'one millisecond before expiry', expiresAt: NOW + 1, now: NOW, state: 'active' },
  {
    name: 'exactly_at_expiry_fail',
    expiresAt: NOW,
    now: NOW,
    state: 'expired',
    code: 'CG_ERR_BREAKGLASS_EXPIRED',
  },
  { name: 'past_fail', expiresAt: NOW - HOUR, now: NOW, state: 'expired', code: 'CG_ERR_BREAKGLASS_EXPIRED' },
  { name: 'exactly the maximum window', expiresAt: NOW + DEFAULT_MAX_WINDOW_MS, now: NOW, state: 'active' },
  {
    name: 'beyond_window_by_one_ms_fail',
    expiresAt: NOW + DEFAULT_MAX_WINDOW_MS + 1,
    now: NOW,
    state: 'invalid',
    code: 'CG_ERR_BREAKGLASS_TOO_LONG',
  },
  {
    name: 'far_future_fail',
    expiresAt: Date.UTC(2099, 0, 1),
    now: NOW,
    state: 'invalid',
    code: 'CG_ERR_BREAKGLASS_TOO_LONG',
  },
  {
    name: 'beyond_configured_window_fail',
    expiresAt: NOW + 2 * HOUR,
    now: NOW,
    maxWindowMs: HOUR,
    state: 'invalid',
    code: 'CG_ERR_BREAKGLASS_TOO_LONG',
  },
  { name: 'within configured window', expiresAt: NOW + HOUR, now: NOW, maxWindowMs: HOUR, state: 'active' },
  {
    name: 'clock_not_a_number_fail',
    expiresAt: NOW + HOUR,
    now: Number.NaN,
    state: 'expired',
    code: 'CG_ERR_BREAKGLASS_EXPIRED',
  },
];

for (const c of cases) {
  test(`expiry: ${c.name}`, (t) => {
    const file = loaded(iso(c.expiresAt));
    const max = c.maxWindowMs ?? DEFAULT_MAX_WINDOW_MS;
    const status = evaluateBreakglass(file, c.now, max);
    t.is(status.state, c.state);
    t.is(status.problem?.code, c.code);
    t.is(status.fileSha256, SHA);
    const grant = grantBreakglass(file, REQUEST, c.now, max);
    t.is(grant !== undefined, c.state === 'active');
  });
}

test('a grant carries what the audit record needs', (t) => {
  const grant = grantBreakglass(loaded(iso(NOW + HOUR)), REQUEST, NOW, DEFAULT_MAX_WINDOW_MS);
  t.deepEqual(grant, {
    reason: 'INC-1234 registry outage',
    ticket: 'INC-9',
    createdBy: undefined,
    expiresAt: iso(NOW + HOUR),
    fileSha256: SHA,
    scope: { all: true },
    matched: ['all'],
  });
});

test('expiry is checked at decision time: valid at t, nothing at t+expiry', (t) => {
  const file = loaded(iso(NOW + HOUR));
  t.truthy(grantBreakglass(file, REQUEST, NOW, DEFAULT_MAX_WINDOW_MS));
  t.truthy(grantBreakglass(file, REQUEST, NOW + HOUR - 1, DEFAULT_MAX_WINDOW_MS));
  t.is(grantBreakglass(file, REQUEST, NOW + HOUR, DEFAULT_MAX_WINDOW_MS), undefined);
});

test('absent and invalid files grant nothing', (t) => {
  t.deepEqual(evaluateBreakglass({ kind: 'absent' }, NOW, HOUR), { state: 'absent' });
  const invalid: LoadedBreakglass = {
    kind: 'invalid',
    problem: { code: 'CG_ERR_BREAKGLASS_PARSE', message: 'x' },
    fileSha256: SHA,
  };
  t.is(evaluateBreakglass(invalid, NOW, HOUR).state, 'invalid');
  t.is(evaluateBreakglass(invalid, NOW, HOUR).fileSha256, SHA);
  t.is(grantBreakglass(invalid, REQUEST, NOW, HOUR), undefined);
});
