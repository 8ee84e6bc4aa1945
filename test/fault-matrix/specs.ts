/**
 * Task specs of the two example jobs, as their producers make them, for the matrix's cases (params
 * hold a person's name and email on purpose: the cases check they reach no log).
 */

/**
 * A canary in every case's params (the customer's and the account holder's name): each case file
 * ends by searching every line the functions wrote for it (World.canary, local/offline-day/canary.ts).
 */
export const FM_CANARY = 'FMCANARY-j4n3d0e';

/** An order of the example-api job (its producer's shape; the key is the order id). */
export const order = (key: string, extra: Record<string, unknown> = {}) => ({ key, params: { orderId: key, customer: { name: `Jane Doe ${FM_CANARY}`, email: 'jane@example.com' }, amount: 1200, ...extra } });

/** An account of the example-fanout job (its exclusive key is `account`; `key` may differ to put two tasks on one account). */
export const account = (acct: string, parts = 4, key = acct) => ({ key, params: { account: acct, parts, holder: `Holder ${FM_CANARY}` } });
