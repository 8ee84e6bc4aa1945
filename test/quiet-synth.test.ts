import { muteBundlingProgress } from '../bin/quiet-synth';

/** `cdk synth --quiet` prints nothing on success: CDK's per-bundle progress lines are dropped, nothing else. */
function fakeStream(): { stream: NodeJS.WriteStream; written: string[] } {
  const written: string[] = [];
  const stream = { write: (chunk: unknown) => (written.push(String(chunk)), true) } as unknown as NodeJS.WriteStream;
  return { stream, written };
}

test("drops aws-cdk-lib's 'Bundling asset <path>...' lines and keeps every other line (errors, warnings, findings)", () => {
  const { stream, written } = fakeStream();
  muteBundlingProgress(stream, {});
  stream.write('Bundling asset ScheduledJobs-dev/Sweeper/Function/Code/Stage...\n');
  stream.write('[Error at /ScheduledJobs-dev/Queue] AwsSolutions-SQS3: ...\n');
  stream.write('✘ [ERROR] Could not resolve "./missing"\n');
  expect(written).toEqual(['[Error at /ScheduledJobs-dev/Queue] AwsSolutions-SQS3: ...\n', '✘ [ERROR] Could not resolve "./missing"\n']);
});

test('SCHEDULED_JOBS_SYNTH_VERBOSE=1 keeps the progress lines', () => {
  const { stream, written } = fakeStream();
  muteBundlingProgress(stream, { SCHEDULED_JOBS_SYNTH_VERBOSE: '1' });
  stream.write('Bundling asset ScheduledJobs-dev/Sweeper/Function/Code/Stage...\n');
  expect(written).toHaveLength(1);
});
