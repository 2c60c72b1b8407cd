/**
 * deploy/monitoring: the Prometheus alert rules pass `promtool check rules` and their own `promtool test
 * rules` unit tests (which fail when a rule is broken), every dashboard query is valid PromQL, and every
 * metric the dashboard and the rules use is one criguard registers (read from src/metrics/, not a list).
 */
import test from 'ava';
import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parse } from 'yaml';
import { createMetrics } from '../../src/metrics/metrics.js';

const run = promisify(execFile);
const RULES = 'deploy/monitoring/criguard-alerts.yaml';
const RULE_TESTS = 'deploy/monitoring/tests/criguard-alerts.test.yaml';
const DASHBOARD = 'deploy/monitoring/criguard-dashboard.json';

interface Panel {
  id: number;
  type: string;
  title: string;
  targets?: { expr: string }[];
}

const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as { panels: Panel[]; uid: string };
const rules = parse(readFileSync(RULES, 'utf8')) as {
  groups: { name: string; rules: { alert: string; expr: string }[] }[];
};
const dashboardExprs = dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr));
const ruleExprs = rules.groups.flatMap((g) => g.rules.map((r) => r.expr));

/** Every series name criguard exposes: each registered metric, histograms with their `_bucket/_sum/_count`. */
async function exportedNames(): Promise<Set<string>> {
  const zero = () => 0;
  const metrics = createMetrics({
    cacheEntries: zero,
    cacheHits: zero,
    cacheMisses: zero,
    verifications: zero,
    connections: zero,
    breakglass: () => ({ active: false, invalid: false }),
  });
  const names = new Set<string>();
  for (const m of await metrics.registry.getMetricsAsJSON()) {
    const type = String(m.type);
    if (type === 'histogram' || type === 'summary') {
      for (const suffix of ['_bucket', '_sum', '_count']) names.add(`${m.name}${suffix}`);
      if (type === 'summary') names.add(m.name);
    } else names.add(m.name);
  }
  return names;
}

/** The metric names an expression uses (criguard's are all `criguard_`-prefixed). */
function metricsIn(expr: string): string[] {
  return [...expr.matchAll(/\bcriguard_[a-zA-Z0-9_:]+/g)].map((m) => m[0]);
}

/** Grafana's variables, replaced by what Prometheus would be sent. */
function asPromql(expr: string): string {
  return expr.replaceAll('$__rate_interval', '5m').replaceAll('$instance', '.*');
}

test('promtool check rules: the alert rules are valid', async (t) => {
  const { stdout } = await run('promtool', ['check', 'rules', RULES]);
  t.regex(stdout, /SUCCESS: \d+ rules found/);
});

test('promtool test rules: each alert fires on its input and stays silent otherwise', async (t) => {
  const { stdout } = await run('promtool', ['test', 'rules', RULE_TESTS]);
  t.regex(stdout, /SUCCESS/);
});

test('the rule tests bite: a broken rule makes promtool test rules fail', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'criguard-rules-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(join(dir, 'tests'));
  copyFileSync(RULE_TESTS, join(dir, 'tests', 'criguard-alerts.test.yaml'));
  for (const [from, to] of [
    [
      'max by (instance) (criguard_breakglass_active) == 1',
      'max by (instance) (criguard_breakglass_active) == 2',
    ],
    ['for: 10m', 'for: 1m'],
    ['[10m])) > 0', '[10m])) > 1'],
  ] as const) {
    const text = readFileSync(RULES, 'utf8');
    t.true(text.includes(from), from);
    writeFileSync(join(dir, 'criguard-alerts.yaml'), text.replace(from, to));
    const failed = await run('promtool', [
      'test',
      'rules',
      join(dir, 'tests', 'criguard-alerts.test.yaml'),
    ]).then(
      () => false,
      (err: { stdout?: string; stderr?: string }) => /FAILED/.test(`${err.stdout ?? ''}${err.stderr ?? ''}`),
    );
    t.true(failed, `mutation "${to}" went unnoticed`);
  }
});

test('the alerts the runbook names exist', (t) => {
  const alerts = new Set(rules.groups.flatMap((g) => g.rules.map((r) => r.alert)));
  for (const name of [
    'CriguardBreakglassOpen',
    'CriguardQuarantineHit',
    'CriguardRunningViolation',
    'CriguardPolicyReloadFailing',
    'CriguardUpstreamDown',
    'CriguardAuditWriteFailures',
  ])
    t.true(alerts.has(name), name);
});

test('every dashboard query is valid PromQL (checked by promtool as recording rules)', async (t) => {
  const panels = dashboard.panels.filter((p) => p.type !== 'row');
  t.true(panels.length >= 12);
  for (const p of panels) t.true((p.targets ?? []).length > 0, `panel "${p.title}" has a query`);
  const dir = mkdtempSync(join(tmpdir(), 'criguard-dashboard-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'dashboard-queries.yaml');
  const records = dashboardExprs.map((expr, i) => ({ record: `dashboard:query_${i}`, expr: asPromql(expr) }));
  writeFileSync(file, JSON.stringify({ groups: [{ name: 'dashboard', rules: records }] }));
  const { stdout } = await run('promtool', ['check', 'rules', file]);
  t.regex(stdout, new RegExp(`SUCCESS: ${records.length} rules found`));
  // The check is not a rubber stamp.
  writeFileSync(
    file,
    JSON.stringify({ groups: [{ name: 'd', rules: [{ record: 'x:y', expr: 'sum(rate(a[5m])' }] }] }),
  );
  await t.throwsAsync(run('promtool', ['check', 'rules', file]));
});

test('the dashboard shows what operators asked for', (t) => {
  const used = new Set(dashboardExprs.flatMap(metricsIn));
  for (const name of [
    'criguard_decisions_total', // by outcome and reason
    'criguard_denials_total', // by namespace
    'criguard_breakglass_active',
    'criguard_quarantine_entries',
    'criguard_verdict_cache_hits',
    'criguard_decision_duration_seconds_bucket',
    'criguard_running_violations',
    'criguard_policy_last_reload_success',
  ])
    t.true(used.has(name), name);
  t.true(dashboardExprs.some((e) => /by \(namespace\)/.test(e) && e.includes('criguard_denials_total')));
  t.true(dashboardExprs.some((e) => /by \(outcome, reason\)/.test(e)));
});

test('every metric the dashboard and the alert rules use is one criguard exports', async (t) => {
  const exported = await exportedNames();
  t.true(
    exported.has('criguard_decisions_total') && exported.has('criguard_decision_duration_seconds_bucket'),
  );
  const allowed = exported;
  const exprs = [...dashboardExprs, ...ruleExprs];
  for (const expr of exprs) {
    for (const name of metricsIn(expr)) t.true(allowed.has(name), `${name} (in ${expr}) is not exported`);
    // No metric from elsewhere either: every selector names a criguard metric.
    for (const m of expr.matchAll(/([a-zA-Z_:][a-zA-Z0-9_:]*)\s*\{/g))
      t.regex(m[1] ?? '', /^criguard_/, expr);
  }
  t.true(exprs.flatMap(metricsIn).length > 30);
  // A name criguard does not export is caught.
  t.false(allowed.has('criguard_decisions_totals'));
});
