import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { Tracer } from '@aws-lambda-powertools/tracer';

/**
 * Powertools for every handler, built once per container: a Logger (add the Lambda context with
 * `logger.addContext(context)` at the top of the handler, so every line carries the request id and
 * cold start), a Tracer (wrap each SDK client: `tracer.captureAWSv3Client(new SQSClient({}))`), and
 * Metrics in the app's namespace (counts only; `metrics.publishStoredMetrics()` before returning).
 * Service names come from POWERTOOLS_SERVICE_NAME (set by AppFunction). Locally, tracing and
 * metrics are switched off by POWERTOOLS_TRACE_ENABLED / POWERTOOLS_METRICS_DISABLED.
 */

import { APP_METRIC_NAMESPACE } from './metric-names';

export { APP_METRIC_NAMESPACE };

export const logger = new Logger();
export const tracer = new Tracer();
export const metrics = new Metrics({ namespace: APP_METRIC_NAMESPACE });
