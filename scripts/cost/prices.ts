/**
 * List prices used by the cost model (scripts/cost-model.ts): us-east-1, on-demand, free tiers
 * ignored (they are per account and shared with everything else in it).
 *
 * Each figure names its pricing page (`source`): only the Step Functions transition price and the
 * KMS key-month charge were read on an AWS pricing page; the stored pricing pages render their
 * tables with JavaScript, so every other figure is a well-known list price or a third-party guide's
 * value, marked `verify`. Figures marked `not-in-notes` were found in no source at all while this
 * was written (from memory). Check them all in the AWS Pricing Calculator before quoting a number.
 */

/** How far a price can be trusted. */
export type PriceConfidence = 'documented' | 'verify' | 'not-in-notes';

/** One list price. */
export interface Price {
  /** US dollars per `per` units of `unit`. */
  readonly usd: number;
  readonly per: number;
  readonly unit: string;
  readonly source: string;
  readonly confidence: PriceConfidence;
}

/** Dollars for `quantity` units at `price`. */
export function cost(price: Price, quantity: number): number {
  return (price.usd * quantity) / price.per;
}

export const PRICES = {
  /** Standard workflows bill every state transition; retries and redrives count as transitions. */
  sfnTransition: { usd: 0.025, per: 1_000, unit: 'state transitions', source: 'https://aws.amazon.com/step-functions/pricing/', confidence: 'documented' },
  lambdaRequest: { usd: 0.2, per: 1_000_000, unit: 'requests', source: 'https://aws.amazon.com/lambda/pricing/', confidence: 'verify' },
  /** First tier (7.5 billion GB-s a month); the app's functions are arm64 unless a step says otherwise. */
  lambdaGbSecondArm: { usd: 0.0000133334, per: 1, unit: 'GB-seconds (arm64)', source: 'https://aws.amazon.com/lambda/pricing/', confidence: 'verify' },
  lambdaGbSecondX86: { usd: 0.0000166667, per: 1, unit: 'GB-seconds (x86_64)', source: 'https://aws.amazon.com/lambda/pricing/', confidence: 'verify' },
  /** Standard queue; every 64 KB chunk of a request's payload is billed as one request. */
  sqsRequest: { usd: 0.4, per: 1_000_000, unit: 'requests (64 KB chunks)', source: 'https://aws.amazon.com/sqs/pricing/', confidence: 'verify' },
  /** Direct PUT, first tier; each record is rounded up to the next 5 KB. */
  firehoseGb: { usd: 0.029, per: 1, unit: 'GB ingested (records rounded up to 5 KB)', source: 'https://aws.amazon.com/firehose/pricing/', confidence: 'verify' },
  s3StorageGbMonth: { usd: 0.023, per: 1, unit: 'GB-months (Standard)', source: 'https://aws.amazon.com/s3/pricing/', confidence: 'verify' },
  s3Put: { usd: 0.005, per: 1_000, unit: 'PUT requests', source: 'https://aws.amazon.com/s3/pricing/', confidence: 'verify' },
  s3Get: { usd: 0.0004, per: 1_000, unit: 'GET requests', source: 'https://aws.amazon.com/s3/pricing/', confidence: 'verify' },
  /** Per TB scanned, at least 10 MB per query. */
  athenaTb: { usd: 5, per: 1, unit: 'TB scanned (10 MB minimum per query)', source: 'https://aws.amazon.com/athena/pricing/', confidence: 'verify' },
  /** Customer managed key, prorated hourly (rotation adds backing-key charges: see docs/cost.md). */
  kmsKeyMonth: { usd: 1, per: 1, unit: 'key-months', source: 'https://aws.amazon.com/kms/pricing/', confidence: 'documented' },
  kmsRequest: { usd: 0.03, per: 10_000, unit: 'symmetric requests', source: 'https://aws.amazon.com/kms/pricing/', confidence: 'verify' },
  dynamoWrite: { usd: 0.625, per: 1_000_000, unit: 'write request units (on-demand)', source: 'https://aws.amazon.com/dynamodb/pricing/on-demand/', confidence: 'verify' },
  dynamoRead: { usd: 0.125, per: 1_000_000, unit: 'read request units (on-demand)', source: 'https://aws.amazon.com/dynamodb/pricing/on-demand/', confidence: 'verify' },
  schedulerInvocation: { usd: 1, per: 1_000_000, unit: 'invocations (after 14M free a month)', source: 'https://aws.amazon.com/eventbridge/pricing/', confidence: 'verify' },
  alarmMetric: { usd: 0.1, per: 1, unit: 'standard-resolution alarm metrics per month', source: 'https://aws.amazon.com/cloudwatch/pricing/', confidence: 'verify' },
  compositeAlarm: { usd: 0.5, per: 1, unit: 'composite alarms per month', source: 'https://aws.amazon.com/cloudwatch/pricing/', confidence: 'verify' },
  // Not in the research notes: included because they grow with volume, and a budget that leaves
  // them out would be wrong in the other direction. From memory; verify.
  logsIngestGb: { usd: 0.5, per: 1, unit: 'GB of CloudWatch Logs ingested', source: 'https://aws.amazon.com/cloudwatch/pricing/', confidence: 'not-in-notes' },
  dashboardMonth: { usd: 3, per: 1, unit: 'dashboards per month (3 free per account)', source: 'https://aws.amazon.com/cloudwatch/pricing/', confidence: 'not-in-notes' },
  xrayTrace: { usd: 5, per: 1_000_000, unit: 'traces recorded', source: 'https://aws.amazon.com/xray/pricing/', confidence: 'not-in-notes' },
  // AWS PrivateLink pricing (https://aws.amazon.com/privatelink/pricing/), interface endpoints:
  // billed per endpoint per Availability Zone per hour, plus per GB processed (first tier, the first
  // PB a month); the DynamoDB gateway endpoint is free. us-east-1 list prices; verify for your region.
  vpcInterfaceEndpointHour: { usd: 0.01, per: 1, unit: 'interface endpoint-hours per AZ', source: 'https://aws.amazon.com/privatelink/pricing/', confidence: 'verify' },
  vpcEndpointDataGb: { usd: 0.01, per: 1, unit: 'GB processed by interface endpoints', source: 'https://aws.amazon.com/privatelink/pricing/', confidence: 'verify' },
  // Express workflows (the high-volume mode's children, scripts/cost/high-volume.ts): per request
  // and per GB-second (64 MB chunks, 100 ms increments); the workshop's example agrees: $0.0000001042
  // per 100 ms at 64 MB. The GB-second figure is the first 1,000 GB-hours a month ($0.06 per
  // GB-hour); later tiers are cheaper, so past it this is an upper bound.
  expressRequest: { usd: 1, per: 1_000_000, unit: 'Express requests (executions started)', source: 'https://aws.amazon.com/step-functions/pricing/', confidence: 'verify' },
  expressGbSecond: { usd: 0.00001667, per: 1, unit: 'Express GB-seconds (64 MB chunks, 100 ms increments)', source: 'https://aws.amazon.com/step-functions/pricing/', confidence: 'verify' },
} as const satisfies Record<string, Price>;

export type PriceName = keyof typeof PRICES;

/** Bytes in a GB as AWS bills data (2^30). */
export const GB = 1024 ** 3;
/** Bytes in a TB as Athena bills scans (2^40). */
export const TB = 1024 ** 4;
/** SQS bills each 64 KB chunk of a request's payload as one request. */
export const SQS_CHUNK_BYTES = 64 * 1024;
/** Firehose rounds each record up to the next 5 KB. */
export const FIREHOSE_RECORD_BYTES = 5 * 1024;
/** Athena bills at least 10 MB per query. */
export const ATHENA_MIN_BYTES = 10 * 1024 * 1024;
/** Days in a billing month of this model. */
export const DAYS_PER_MONTH = 30;
