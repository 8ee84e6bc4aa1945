/**
 * `cdk synth --quiet` prints nothing on success. aws-cdk-lib's asset staging writes
 * "Bundling asset <path>..." to stderr for every bundle, unconditionally (core/lib/asset-staging),
 * and the app cannot see the CLI's --quiet; esbuild's own output is off in lib/app-function.ts
 * (logLevel error). This drops only those progress lines: errors, warnings and cdk-nag findings
 * still print. SCHEDULED_JOBS_SYNTH_VERBOSE=1 keeps them.
 */
export function muteBundlingProgress(stream: NodeJS.WriteStream = process.stderr, env: NodeJS.ProcessEnv = process.env): void {
  if (env.SCHEDULED_JOBS_SYNTH_VERBOSE === '1') return;
  const write = stream.write.bind(stream) as (...args: unknown[]) => boolean;
  stream.write = ((chunk: unknown, ...rest: unknown[]): boolean =>
    typeof chunk === 'string' && /^Bundling asset \S+\.\.\.\n?$/.test(chunk) ? true : write(chunk, ...rest)) as typeof stream.write;
}
