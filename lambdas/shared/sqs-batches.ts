import { MAX_SQS_MESSAGE_BYTES } from './spool-message';

/** SQS batch calls take at most 10 entries (AWS SQS developer guide, "Amazon SQS batch actions"). */
export const SQS_BATCH_ENTRIES = 10;

/**
 * Groups items for SendMessageBatch calls: at most 10 entries a call, and together no more than an
 * SQS message may hold (the batch's messages count together against it: AWS SQS developer guide,
 * "Amazon SQS batch actions"). `bytesOf` is an item's size as sent (body and attributes); an item
 * larger than the limit still gets a call of its own (SQS then refuses that entry, not the others).
 */
export function sqsSendBatches<T>(items: ReadonlyArray<T>, bytesOf: (item: T) => number, maxBytes = MAX_SQS_MESSAGE_BYTES): T[][] {
  const groups: T[][] = [];
  let current: T[] = [];
  let bytes = 0;
  for (const item of items) {
    const size = bytesOf(item);
    if (current.length === SQS_BATCH_ENTRIES || (current.length > 0 && bytes + size > maxBytes)) {
      groups.push(current);
      current = [];
      bytes = 0;
    }
    current.push(item);
    bytes += size;
  }
  if (current.length > 0) groups.push(current);
  return groups;
}
