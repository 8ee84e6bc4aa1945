import { cost, PRICES } from '../../scripts/cost/prices';

/**
 * The cost of one proof run, from the cost model's price list (scripts/cost/prices.ts): a dozen
 * executions of the proof job, their Lambda calls (two of them hang up to 110 s at 256 MiB), the
 * spool and table requests, one Athena query at its 10 MB minimum. A generous upper bound.
 */
export function proofRunCostUsd(): { usd: number; lines: Array<[string, number]> } {
  const executions = 12;
  const lines: Array<[string, number]> = [
    ['Step Functions transitions (12 executions x ~30)', cost(PRICES.sfnTransition, executions * 30)],
    ['Lambda requests (~150)', cost(PRICES.lambdaRequest, 150)],
    ['Lambda duration (2 hangs x 120 s + 150 x 1 s, 0.25 GB)', cost(PRICES.lambdaGbSecondArm, (2 * 120 + 150) * 0.25)],
    ['SQS requests (~500)', cost(PRICES.sqsRequest, 500)],
    ['DynamoDB requests (~200 writes, ~300 reads)', cost(PRICES.dynamoWrite, 200) + cost(PRICES.dynamoRead, 300)],
    ['KMS requests (~500)', cost(PRICES.kmsRequest, 500)],
    ['Athena (1 query, 10 MB minimum)', cost(PRICES.athenaTb, 10 / 1_000_000)],
  ];
  return { usd: lines.reduce((n, [, v]) => n + v, 0), lines };
}
