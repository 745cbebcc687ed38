/**
 * One-way dependencies (STYLE R5), checked in `npm run lint`:
 * src/ is shared by every process and imports none of connectors/, jobmanager/, taskmanager/ — except
 * src/cli/, which starts the processes through their main.ts; connectors/ imports only src/;
 * jobmanager/ and taskmanager/ never import each other (they share only src/cluster-api/);
 * nothing imports test/; no runtime import of a devDependency; no cycles.
 */
module.exports = {
  forbidden: [
    {
      name: 'src-is-shared',
      severity: 'error',
      from: { path: '^src/', pathNot: '^src/cli/' },
      to: { path: '^(connectors|jobmanager|taskmanager)/' },
    },
    {
      name: 'cli-starts-processes-only-through-main',
      severity: 'error',
      from: { path: '^src/cli/' },
      to: { path: '^(jobmanager|taskmanager)/', pathNot: '^(jobmanager|taskmanager)/main\\.ts$' },
    },
    {
      name: 'connectors-import-only-src',
      severity: 'error',
      from: { path: '^connectors/' },
      to: { path: '^(jobmanager|taskmanager)/' },
    },
    {
      name: 'jobmanager-not-taskmanager',
      severity: 'error',
      from: { path: '^jobmanager/' },
      to: { path: '^taskmanager/' },
    },
    {
      name: 'taskmanager-not-jobmanager',
      severity: 'error',
      from: { path: '^taskmanager/' },
      to: { path: '^jobmanager/' },
    },
    {
      name: 'nothing-imports-test',
      severity: 'error',
      from: { pathNot: '^test/' },
      to: { path: '^test/' },
    },
    {
      name: 'no-dev-dependency-at-runtime',
      severity: 'error',
      from: { path: '^(src|connectors|jobmanager|taskmanager)/' },
      to: { dependencyTypes: ['npm-dev'], dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'no-circular',
      severity: 'error',
      from: {},
      to: { circular: true, viaOnly: { dependencyTypesNot: ['type-only'] } },
    },
    {
      // The dashboard's browser modules import uPlot by the URL the JobManager serves it at
      // (jobmanager/rest/dashboard.ts), not by a path on disk.
      name: 'no-unresolvable',
      severity: 'error',
      from: { pathNot: '^jobmanager/dashboard/' },
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '(^dist/|^node_modules/|\\.d\\.ts$)' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default'] },
  },
};
