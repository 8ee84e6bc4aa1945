/** Scheduler expressions: the parser lives with the Lambdas that also evaluate it (hold windows). */
export * from '../../lambdas/shared/schedule';
