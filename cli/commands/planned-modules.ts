import { dirname, resolve } from 'node:path';
import type { ModuleLoader } from '../../lib/config/job-contracts';

/** A module that does not exist on disk yet: its path relative to the project root, and its TypeScript source. */
export interface PlannedSource {
  readonly path: string;
  readonly text: string;
}

/**
 * A {@link ModuleLoader} for the config's contract checks (lib/config/job-contracts.ts) that sees
 * files new-job has planned but not written: a planned module is transpiled and evaluated in memory,
 * its relative imports resolved against its planned place (a planned neighbour again from memory,
 * anything else from disk); every other path, and every package, is required from `projectRoot`.
 * So the new job's errors and params modules are checked exactly as synth will load them, before
 * the first file is written (and for `--dry-run`, which writes nothing).
 */
export function plannedModuleLoader(projectRoot: string, planned: ReadonlyArray<PlannedSource>): ModuleLoader {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const ts = require('typescript') as typeof import('typescript');
  const sources = new Map(planned.map((f) => [resolve(projectRoot, f.path), f.text]));
  const cache = new Map<string, unknown>();
  const plannedPath = (abs: string): string | undefined => [abs, `${abs}.ts`, resolve(abs, 'index.ts')].find((p) => sources.has(p));

  const load = (abs: string): unknown => {
    const file = plannedPath(abs);
    // Not planned: the real file, through the running require (tsx for the CLI, jest's in tests), which knows .ts.
    if (file === undefined) return require(abs);
    if (cache.has(file)) return (cache.get(file) as { exports: unknown }).exports;
    const js = ts.transpileModule(sources.get(file)!, { fileName: file, compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true } }).outputText;
    const module = { exports: {} as unknown };
    cache.set(file, module); // before evaluating: a cycle between planned files sees the partial exports, as require does
    const localRequire = (spec: string): unknown =>
      spec.startsWith('.') ? load(resolve(dirname(file), spec)) : require(require.resolve(spec, { paths: [projectRoot] }));
    new Function('module', 'exports', 'require', '__filename', '__dirname', js)(module, module.exports, localRequire, file, dirname(file));
    return module.exports;
  };
  return (relativePath) => load(resolve(projectRoot, relativePath));
}
