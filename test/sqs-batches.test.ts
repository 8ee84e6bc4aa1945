import { sqsSendBatches } from '../lambdas/shared/sqs-batches';

test('groups of at most 10 entries, and no more bytes together than one SQS message', () => {
  const sizes = [100, 200, 300, 400, 500, 600, 700, 800, 900, 1000, 1100];
  expect(sqsSendBatches(sizes, (n) => n, 1_000_000).map((g) => g.length)).toEqual([10, 1]);
  expect(sqsSendBatches(sizes, (n) => n, 1500).map((g) => g.reduce((a, b) => a + b, 0))).toEqual([1500, 1300, 800, 900, 1000, 1100]);
  // An entry larger than the limit goes alone (SQS refuses that entry only), and nothing is dropped.
  expect(sqsSendBatches([10, 5000, 10], (n) => n, 1000)).toEqual([[10], [5000], [10]]);
  expect(sqsSendBatches([], (n: number) => n)).toEqual([]);
});
