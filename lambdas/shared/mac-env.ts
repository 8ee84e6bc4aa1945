/**
 * Environment variables naming the app's KMS HMAC keys, set by the stack (lib/hmac-key.ts) on the
 * functions granted them. Kept apart from the KMS client so constructs can import the names.
 */
/** ARN of the record-MAC key: GenerateMac for record writers, VerifyMac for the lost-task monitor. */
export const RECORD_MAC_KEY_ENV = 'RECORD_MAC_KEY_ID';
/** ARN of the lock-key key: GenerateMac for the functions that name exclusive-key locks. */
export const LOCK_MAC_KEY_ENV = 'LOCK_MAC_KEY_ID';
