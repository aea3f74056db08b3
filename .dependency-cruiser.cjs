/**
 * The module graph's rules, checked by `depcruise` in test/structure.test.ts:
 * no cycles; a module is imported only through its `index.ts`; dependencies point down the
 * layers below; production code never imports simulators, test support or vitest.
 */
const LAYERS = [
  ['core'],
  ['config'],
  ['domain'],
  ['bus', 'ingest', 'detectors', 'telemetry', 'cluster'],
  ['router', 'beacons', 'console'],
  ['engine'],
  ['sim'],
  ['cli'],
];
const SUPPORT = ['test', 'benchmarks', 'scripts'];
const level = new Map(LAYERS.flatMap((mods, i) => mods.map((m) => [m, i])));
const MODULES = [...level.keys()];
const PRODUCTION = MODULES.filter((m) => m !== 'sim' && m !== 'cli');

const upward = [...level].flatMap(([from, l]) => {
  const higher = [...level].filter(([, k]) => k > l).map(([m]) => m);
  return higher.length ? [{
    name: `layer-${from}`,
    comment: `${from} sits below ${higher.join(', ')}: it may not import them`,
    severity: 'error',
    from: { path: `^${from}/`, pathNot: '\\.test\\.ts$' },
    to: { path: `^(${higher.join('|')})/` },
  }] : [];
});

module.exports = {
  forbidden: [
    { name: 'no-cycle', severity: 'error', comment: 'modules and files import each other in a circle', from: {}, to: { circular: true } },
    {
      name: 'through-index',
      severity: 'error',
      comment: 'another module is imported only through its index.ts (domain/case-state.ts is the browser-safe entry the console web app shares)',
      from: { path: '^([a-z-]+)/' },
      to: {
        path: `^(${[...MODULES, ...SUPPORT].join('|')})/.+`,
        pathNot: ['^$1/', '^[a-z-]+/index\\.ts$', '^domain/case-state\\.ts$', '^test/', '^benchmarks/'],
      },
    },
    {
      name: 'no-support-in-production',
      severity: 'error',
      comment: 'production code does not import simulators, test support or vitest',
      from: { path: `^(${PRODUCTION.join('|')})/`, pathNot: '\\.test\\.ts$' },
      to: { path: ['^(sim|test|benchmarks)/', 'node_modules/vitest/'] },
    },
    ...upward,
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: ['node_modules', '^console/web/', '^data/', '^test-output/'] },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.js', '.mjs'] },
  },
};
