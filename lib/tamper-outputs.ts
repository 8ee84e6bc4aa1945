/** Stack output keys `scheduled-jobs guardrails` reads (fixed keys, like lib/operator-outputs.ts; no CDK import, the CLI loads it). */
export const GUARDRAIL_OUTPUTS = {
  deployRoleArn: 'GuardrailDeployRoleArn',
  reprocessFunctionArn: 'GuardrailReprocessFunctionArn',
} as const;
