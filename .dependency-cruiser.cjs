/** Dependency rules: pure modules stay pure, layers point downwards, no cycles. */
const PURE = '^src/(policy|verify|reference)/';
module.exports = {
  forbidden: [
    { name: 'no-circular', severity: 'error', from: {}, to: { circular: true } },
    {
      name: 'pure-core-has-no-io',
      comment:
        'policy/, verify/ and reference/ take data in and give values out: no I/O, no clock, no environment.',
      severity: 'error',
      from: { path: PURE },
      to: {
        dependencyTypes: ['core'],
        pathNot: '^(node:)?(crypto|buffer|util)$',
      },
    },
    {
      name: 'pure-core-depends-only-on-pure-core',
      severity: 'error',
      from: { path: PURE },
      to: { path: '^src/', pathNot: PURE },
    },
    {
      name: 'nothing-imports-composition-roots',
      severity: 'error',
      from: { pathNot: '^src/(main|cli/)' },
      to: { path: '^src/(main\\.ts|cli/)' },
    },
    {
      name: 'cri-has-no-policy-logic',
      comment: 'cri/ is transport: it may call admission/, but not policy/ or verify/ directly.',
      severity: 'error',
      from: { path: '^src/cri/' },
      to: { path: '^src/(policy|verify)/' },
    },
    {
      name: 'transport-owns-its-contract',
      comment:
        'cri/transport/ holds bytes: it depends on nothing else in criguard (its contract with gates and routing is transport/contract.ts).',
      severity: 'error',
      from: { path: '^src/cri/transport/' },
      to: { path: '^src/', pathNot: '^src/cri/transport/' },
    },
    {
      name: 'domain-does-not-know-transport',
      severity: 'error',
      from: {
        path: '^src/(admission|policy|verify|reference|registry|attestations|cache|breakglass|quarantine|audit|simulate)/',
      },
      to: { path: '^src/cri/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default'],
      extensions: ['.ts', '.js'],
    },
  },
};
