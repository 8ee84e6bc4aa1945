/** Environment variables the Sweeper construct (lib/sweeper.ts) sets and the handler reads. */
export const SWEEPER_ENV = {
  /** JSON list of {name, url, retentionSeconds}. */
  queues: 'SWEEP_QUEUES',
  /** Seconds before a message's expiry from which it is re-sent. */
  marginSeconds: 'SWEEP_MARGIN_SECONDS',
} as const;
