import { synthApp } from './support/synth-app';
import { withHighVolumeJob, HIGH_VOLUME_JOB } from './support/fixture-config';

test('synth', () => {
  const { stack } = synthApp(withHighVolumeJob);
  expect(stack.highVolume.has(HIGH_VOLUME_JOB)).toBe(true);
});
