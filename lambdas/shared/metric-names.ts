/** CloudWatch namespace of the app's own metrics (producers, starters, reprocess, sweeper, capture, lock). */
export const APP_METRIC_NAMESPACE = 'ScheduledJobs';
