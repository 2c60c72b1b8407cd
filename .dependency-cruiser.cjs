/** Dependency rules: pure modules stay pure, layers point downwards, no cycles. */
const PURE = [
  '^src/(policy|verify|reference|errors)/',
  // breakglass: the document, its scope, status and problems are pure; reading, writing and watching the file are not.
  '^src/breakglass/(document|duration|problems|scope|status)\\.ts$',
  // documents: the end-marked file parser shared by the breakglass and quarantine documents.
  '^src/documents/',
];
/** npm packages the pure core may use: parsers, schemas and offline cryptography, in-memory caches; no I/O. */
const PURE_PACKAGES =
  'node_modules/(@sigstore/(bundle|core|protobuf-specs|verify)|openpgp|yaml|zod|tweetnacl|lru-cache)/';
module.exports = {
  forbidden: [
    { name: 'no-circular', severity: 'error', from: {}, to: { circular: true } },
    {
      name: 'pure-core-has-no-io',
      comment:
        'policy/, verify/, reference/, errors/, documents/ and the pure breakglass files take data in and give values out: no I/O, no clock, no environment.',
      severity: 'error',
      from: { path: PURE },
      to: {
        dependencyTypes: ['core'],
        pathNot: '^(node:)?(crypto|buffer|util)$',
      },
    },
    {
      name: 'pure-core-uses-only-pure-packages',
      comment:
        'The pure core may use parsers, schemas and offline cryptography from npm, never a package that does I/O (undici, grpc, pino, prom-client, …).',
      severity: 'error',
      from: { path: PURE },
      to: {
        dependencyTypes: ['npm', 'npm-dev', 'npm-optional', 'npm-peer', 'npm-no-pkg', 'npm-unknown'],
        pathNot: PURE_PACKAGES,
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
      from: { pathNot: '^src/(main\\.ts|cli/|daemon/)' },
      to: { path: '^src/(main\\.ts|cli/|daemon/)' },
    },
    {
      name: 'daemon-does-not-know-the-cli',
      comment:
        'daemon/ builds and runs `criguard serve`; it reports how it ended (DaemonOutcome) and the CLI maps that to an exit code.',
      severity: 'error',
      from: { path: '^src/daemon/' },
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
        'cri/transport/ holds bytes: it depends on nothing else in criguard but the error base (its contract with gates and routing is transport/contract.ts).',
      severity: 'error',
      from: { path: '^src/cri/transport/' },
      to: { path: '^src/', pathNot: '^src/(cri/transport|errors)/' },
    },
    {
      name: 'errors-is-a-leaf',
      comment:
        'errors/ (the error base and the code catalog) is imported by every layer, so it imports nothing.',
      severity: 'error',
      from: { path: '^src/errors/' },
      to: { path: '^src/', pathNot: '^src/errors/' },
    },
    {
      name: 'reachable-from-main',
      comment:
        'Every module in src/ is part of the daemon or the CLI: reachable from src/main.ts. Test-only code lives in test/helpers/.',
      severity: 'error',
      from: { path: '^src/main\\.ts$' },
      to: { path: '^src/.+\\.ts$', pathNot: ['^src/main\\.ts$', '\\.d\\.ts$'], reachable: false },
    },
    {
      name: 'no-index-barrels',
      comment: 'Modules import the module that declares what they use, never an index.ts that re-exports it.',
      severity: 'error',
      from: {},
      to: { path: '(^|/)index\\.ts$', pathNot: 'node_modules' },
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
