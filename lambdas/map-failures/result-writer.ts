/**
 * The Distributed Map's ResultWriter output, as AWS documents it (AWS Step Functions developer
 * guide, "ResultWriter (Map)",
 * https://docs.aws.amazon.com/step-functions/latest/dg/input-output-resultwriter.html):
 * - the Map state's output is `{MapRunArn, ResultWriterDetails: {Bucket, Key}}`, Key being the
 *   Map Run's `manifest.json` under `<Prefix>/<map run id>/`;
 * - the manifest is `{DestinationBucket, MapRunArn, ResultFiles: {FAILED, PENDING, SUCCEEDED}}`,
 *   each a list of `{Key, Size}` result files (`FAILED_0.json`, ...);
 * - a result file holds the child executions of one status, each `{ExecutionArn, Input,
 *   InputDetails: {Included}, Name, Output?, Status, Error?, Cause?, StartDate, StopDate,
 *   StateMachineArn, ...}`, with `Input` the child's input as a JSON string. A failed child is
 *   written unchanged whatever the `Transformation` (NONE for a failed one); `OutputType` JSON (the
 *   default) is a JSON array, JSONL one execution a line: both are read.
 * Only what this module needs is typed; anything else AWS adds is ignored.
 */

/** The Map state's output when a ResultWriter exports to S3. */
export interface MapRunOutput {
  readonly MapRunArn: string;
  readonly ResultWriterDetails: { readonly Bucket: string; readonly Key: string };
}

/** One result file named in the manifest. */
export interface ResultFileRef {
  readonly Key: string;
  readonly Size?: number;
}

/** The Map Run's manifest.json. */
export interface ResultManifest {
  readonly DestinationBucket: string;
  readonly MapRunArn: string;
  /** Status -> files. AWS lists FAILED, PENDING and SUCCEEDED; any other status key is read too. */
  readonly ResultFiles: Readonly<Record<string, ReadonlyArray<ResultFileRef>>>;
}

/** One child execution in a result file. */
export interface ChildExecutionResult {
  readonly ExecutionArn: string;
  readonly Name?: string;
  /** The child's input as a JSON string (`{"Items": [...]}` with an ItemBatcher). */
  readonly Input?: string;
  readonly InputDetails?: { readonly Included?: boolean };
  readonly Status: string;
  readonly Error?: string;
  readonly Cause?: string;
}

/** The result files are not what AWS documents (the format changed, or the object is not one). */
export class ResultFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ResultFormatError';
  }
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Checks the Map state's output (the post-map step's input) and returns it typed. */
export function parseMapRunOutput(v: unknown): MapRunOutput {
  if (!isObject(v) || typeof v.MapRunArn !== 'string' || !isObject(v.ResultWriterDetails)) {
    throw new ResultFormatError('the Map state output has no MapRunArn / ResultWriterDetails: is the ResultWriter configured on the Distributed Map?');
  }
  const d = v.ResultWriterDetails;
  if (typeof d.Bucket !== 'string' || typeof d.Key !== 'string') throw new ResultFormatError('ResultWriterDetails needs Bucket and Key (strings)');
  return { MapRunArn: v.MapRunArn, ResultWriterDetails: { Bucket: d.Bucket, Key: d.Key } };
}

/** Parses manifest.json. */
export function parseManifest(text: string): ResultManifest {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new ResultFormatError('manifest.json is not JSON');
  }
  if (!isObject(v) || !isObject(v.ResultFiles)) throw new ResultFormatError('manifest.json has no ResultFiles object');
  const files: Record<string, ResultFileRef[]> = {};
  for (const [status, list] of Object.entries(v.ResultFiles)) {
    if (!Array.isArray(list)) throw new ResultFormatError(`manifest.json ResultFiles.${status} is not a list`);
    files[status] = list.map((f, i) => {
      if (!isObject(f) || typeof f.Key !== 'string') throw new ResultFormatError(`manifest.json ResultFiles.${status}[${i}] has no Key`);
      return { Key: f.Key, ...(typeof f.Size === 'number' ? { Size: f.Size } : {}) };
    });
  }
  return { DestinationBucket: typeof v.DestinationBucket === 'string' ? v.DestinationBucket : '', MapRunArn: typeof v.MapRunArn === 'string' ? v.MapRunArn : '', ResultFiles: files };
}

/** Parses one result file: a JSON array, or JSON Lines. */
export function parseResultFile(text: string, key: string): ChildExecutionResult[] {
  const trimmed = text.trim();
  if (trimmed === '') return [];
  let rows: unknown[];
  if (trimmed.startsWith('[')) {
    try {
      rows = JSON.parse(trimmed) as unknown[];
    } catch {
      throw new ResultFormatError(`result file ${key} is not a JSON array`);
    }
  } else {
    rows = trimmed.split('\n').filter((l) => l.trim() !== '').map((l, i) => {
      try {
        return JSON.parse(l) as unknown;
      } catch {
        throw new ResultFormatError(`result file ${key}: line ${i + 1} is not JSON`);
      }
    });
  }
  return rows.map((r, i) => {
    if (!isObject(r) || typeof r.ExecutionArn !== 'string' || typeof r.Status !== 'string') throw new ResultFormatError(`result file ${key}: entry ${i} has no ExecutionArn / Status`);
    return {
      ExecutionArn: r.ExecutionArn,
      Status: r.Status,
      ...(typeof r.Name === 'string' ? { Name: r.Name } : {}),
      ...(typeof r.Input === 'string' ? { Input: r.Input } : {}),
      ...(isObject(r.InputDetails) ? { InputDetails: { Included: r.InputDetails.Included === true } } : {}),
      ...(typeof r.Error === 'string' ? { Error: r.Error } : {}),
      ...(typeof r.Cause === 'string' ? { Cause: r.Cause } : {}),
    };
  });
}
