import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sqs from 'aws-cdk-lib/aws-sqs';

/**
 * Secure defaults shared by the app's constructs, merged as: these defaults, then the caller's
 * props, then what the construct itself requires.
 */

/** Queues: encrypted at rest (SSE-SQS), TLS-only (enforceSSL adds the deny policy), 14-day retention. */
export function secureQueueProps(overrides: sqs.QueueProps = {}): sqs.QueueProps {
  return {
    encryption: sqs.QueueEncryption.SQS_MANAGED,
    enforceSSL: true,
    retentionPeriod: Duration.days(14),
    removalPolicy: RemovalPolicy.RETAIN,
    ...overrides,
  };
}

/** Log retention of every function and state machine log group. */
export const LOG_RETENTION = logs.RetentionDays.ONE_MONTH;
