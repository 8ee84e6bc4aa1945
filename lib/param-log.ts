import { ArnFormat, Duration, RemovalPolicy, Size, Stack, TimeZone } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as firehose from 'aws-cdk-lib/aws-kinesisfirehose';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { RECORD_MAC_KEY_ENV } from '../lambdas/shared/mac-env';
import { DEFAULTS } from './config/validate';
import { HmacKey } from './hmac-key';
import { LOG_RETENTION } from './defaults';
import { acknowledgeOn, nagResource } from './nag';
import { assertExact } from './principals';
import { firehoseDeliveryRole } from './service-roles';

/** Props of {@link ParamLog}. */
export interface ParamLogProps {
  /** IANA time zone of the `year=/month=/day=` partitions (the app's time zone). */
  readonly timeZone: string;
  /** Firehose buffering interval, seconds (0-900). */
  readonly bufferSeconds: number;
  /** Firehose buffering size, MiB (1-128). */
  readonly bufferMiB: number;
  /**
   * Days a record is kept (config `paramLog.retentionDays`): personal data is not kept forever.
   * An expired record stays recoverable as a noncurrent version for {@link NONCURRENT_VERSION_DAYS}.
   * @default 400 (a year and a month: a yearly audit can still look a year back)
   */
  readonly retentionDays?: number;
  /**
   * Exact role ARNs that may delete records and record versions (config
   * `paramLog.breakGlassRoleArnPatterns`, e.g. a data-protection officer's erasure role).
   * @default none: nobody can delete a record before it expires
   */
  readonly breakGlassRoleArnPatterns?: ReadonlyArray<string>;
}

/** Days a noncurrent version (an expired or deleted record) is kept before it is gone for good. */
export const NONCURRENT_VERSION_DAYS = 30;

/** Deletes of records: a plain delete leaves a delete marker, and the record then expires as a noncurrent version. */
export const RECORD_DELETE_ACTIONS = ['s3:DeleteObject', 's3:DeleteObjectVersion'];

/**
 * The parameter log: an S3 bucket of gzip JSON lines, written by two Firehose streams, one per
 * record type, under `client/` and `worker/` partitioned by day in the app's time zone.
 * The bucket holds task params (possibly personal data): it is KMS-encrypted with a rotating CMK,
 * TLS-only, versioned and retained when the stack is deleted. The deny-everyone-else read policy
 * is added by the investigation construct, which exempts {@link writerRoles}.
 *
 * Integrity and retention, by the bucket policy and lifecycle:
 * - only the two delivery roles may put objects (no overwrite or forgery by anyone else);
 * - only the break-glass role patterns may delete objects or versions (a writer never deletes);
 * - records expire after `retentionDays`, expired versions `NONCURRENT_VERSION_DAYS` later.
 * Bucket administration (policy, lifecycle, versioning) is not denied, so CloudFormation keeps
 * managing the bucket; changing it is an audited administrator action (docs/security.md).
 *
 * Each delivery role may do exactly what delivery to its own prefix needs (AWS Firehose developer
 * guide, "Grant Firehose access to an Amazon S3 destination"), on its own prefix and error prefix,
 * with the key usable only through S3 for this bucket.
 */
export class ParamLog extends Construct {
  /** The log bucket. */
  public readonly bucket: s3.Bucket;
  /** The customer-managed key of the bucket (readers need kms:Decrypt on it). */
  public readonly key: kms.Key;
  /** Delivery stream of client records (written by the tick starter, and by producers for rejected specs). */
  public readonly clientStream: firehose.DeliveryStream;
  /** Delivery stream of worker records (written by the record-outcome Lambda and the status-change capture). */
  public readonly workerStream: firehose.DeliveryStream;
  /** S3 prefix of client records, with trailing slash: `client/`. */
  public readonly clientPrefix = 'client/';
  /** S3 prefix of worker records, with trailing slash: `worker/`. */
  public readonly workerPrefix = 'worker/';
  /**
   * The Firehose delivery roles that write to the bucket: a bucket policy that denies everyone
   * else must exempt them.
   */
  public readonly writerRoles: ReadonlyArray<iam.IRole>;
  /** Days a record is kept. */
  public readonly retentionDays: number;
  /**
   * The records' HMAC key: writers (granted through {@link grantWriteClient} / {@link grantWriteWorker})
   * may GenerateMac, the lost-task monitor VerifyMac (lambdas/shared/record-mac.ts).
   */
  public readonly macKey: HmacKey;

  constructor(scope: Construct, id: string, props: ParamLogProps) {
    super(scope, id);
    const stack = Stack.of(this);
    this.retentionDays = props.retentionDays ?? DEFAULTS.paramLogRetentionDays;
    if (!Number.isInteger(this.retentionDays) || this.retentionDays < 1) throw new Error(`ParamLog: retentionDays must be a positive integer, got ${this.retentionDays}`);
    this.key = new kms.Key(this, 'Key', {
      description: 'Parameter log bucket: task params and outcomes (may hold personal data)',
      enableKeyRotation: true,
      // The data outlives the stack, so the key that decrypts it must too.
      removalPolicy: RemovalPolicy.RETAIN,
    });
    // Retained with the log: records must still verify after a stack deletion.
    this.macKey = new HmacKey(this, 'RecordMac', {
      description: 'MACs of parameter-log records: only the record writers may make one (GenerateMac), the lost-task monitor checks them (VerifyMac)',
      verifiable: true,
      removalPolicy: RemovalPolicy.RETAIN,
      environmentVariable: RECORD_MAC_KEY_ENV,
    });
    this.bucket = new s3.Bucket(this, 'Bucket', {
      encryption: s3.BucketEncryption.KMS,
      encryptionKey: this.key,
      // S3 Bucket Keys cut KMS requests (and cost) for the many small Firehose objects.
      bucketKeyEnabled: true,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      versioned: true,
      removalPolicy: RemovalPolicy.RETAIN,
      lifecycleRules: [
        // Personal data is not kept forever: a record expires (becomes a noncurrent version) after
        // the retention, and is gone for good NONCURRENT_VERSION_DAYS later. Noncurrent versions
        // only come from that expiry and break-glass deletes (nobody else may overwrite or delete):
        // the grace lets a mistaken erasure be undone.
        { id: 'expire-records', expiration: Duration.days(this.retentionDays) },
        { id: 'expire-noncurrent-versions', noncurrentVersionExpiration: Duration.days(NONCURRENT_VERSION_DAYS) },
        { id: 'remove-expired-delete-markers', expiredObjectDeleteMarker: true },
        { id: 'abort-incomplete-uploads', abortIncompleteMultipartUploadAfter: Duration.days(7) },
      ],
    });

    const stream = (name: 'Client' | 'Worker', prefix: string): { stream: firehose.DeliveryStream; role: iam.Role } => {
      const role = firehoseDeliveryRole(this, `${name}DeliveryRole`, `Firehose delivery of ${name.toLowerCase()} parameter-log records to S3`);
      const errorPrefix = `errors/${prefix}`;
      const logGroup = new logs.LogGroup(this, `${name}DeliveryLogs`, { retention: LOG_RETENTION, removalPolicy: RemovalPolicy.DESTROY });
      const destination = new firehose.S3Bucket(this.bucket, {
        // The L2 would grant the role read, write and delete on the whole bucket and every use of
        // the key: it gets an immutable view, and the exact policy below instead.
        role: role.withoutPolicyUpdates(),
        compression: firehose.Compression.GZIP,
        dataOutputPrefix: `${prefix}year=!{timestamp:yyyy}/month=!{timestamp:MM}/day=!{timestamp:dd}/`,
        // Records Firehose could not deliver are kept, with the reason in the path, never dropped.
        errorOutputPrefix: `${errorPrefix}!{firehose:error-output-type}/year=!{timestamp:yyyy}/month=!{timestamp:MM}/day=!{timestamp:dd}/`,
        timeZone: TimeZone.of(props.timeZone),
        bufferingInterval: Duration.seconds(props.bufferSeconds),
        bufferingSize: Size.mebibytes(props.bufferMiB),
        encryptionKey: this.key,
        loggingConfig: new firehose.EnableLogging(logGroup),
      });
      const s = new firehose.DeliveryStream(this, `${name}Stream`, {
        destination,
        encryption: firehose.StreamEncryption.awsOwnedKey(),
      });
      // The L2 made this stream for its delivery errors (no record data in them).
      const logStream = logGroup.node.findChild('S3Destination') as logs.LogStream;
      const objects = [this.bucket.arnForObjects(`${prefix}*`), this.bucket.arnForObjects(`${errorPrefix}*`)];
      const policy = new iam.Policy(this, `${name}DeliveryPolicy`, {
        roles: [role],
        statements: [
          // Firehose writes objects (multipart for large ones) under its own prefix and error prefix only.
          // s3:GetObject is in AWS's documented policy without a stated use; kept, on these prefixes only.
          new iam.PolicyStatement({ actions: ['s3:PutObject', 's3:AbortMultipartUpload', 's3:GetObject'], resources: objects }),
          // Bucket-level reads of the documented policy: object keys hold dates, never params.
          new iam.PolicyStatement({ actions: ['s3:GetBucketLocation', 's3:ListBucket', 's3:ListBucketMultipartUploads'], resources: [this.bucket.bucketArn] }),
          // The key, only through S3 and only for this bucket. With S3 Bucket Keys the encryption
          // context is the bucket ARN (Amazon S3 user guide, "Reducing the cost of SSE-KMS with
          // Amazon S3 Bucket Keys"); the object ARNs of its own prefixes are allowed too, should an
          // object ever be written without the bucket key.
          new iam.PolicyStatement({
            actions: ['kms:GenerateDataKey', 'kms:Decrypt'],
            resources: [this.key.keyArn],
            conditions: {
              StringEquals: { 'kms:ViaService': `s3.${stack.region}.amazonaws.com` },
              StringLike: { 'kms:EncryptionContext:aws:s3:arn': [this.bucket.bucketArn, ...objects] },
            },
          }),
          new iam.PolicyStatement({
            actions: ['logs:PutLogEvents'],
            resources: [
              stack.formatArn({ service: 'logs', resource: 'log-group', resourceName: `${logGroup.logGroupName}:log-stream:${logStream.logStreamName}`, arnFormat: ArnFormat.COLON_RESOURCE_NAME }),
            ],
          }),
        ],
      });
      // The stream must not start delivering before its role may write.
      s.node.addDependency(policy);
      acknowledgeOn(policy, {
        id: `AwsSolutions-IAM5[Resource::${nagResource(this, objects[0])}]`,
        reason: `Firehose names each object it writes (partition path, stream name, time, random part): only a wildcard under its own ${prefix} prefix can name them.`,
      }, {
        id: `AwsSolutions-IAM5[Resource::${nagResource(this, objects[1])}]`,
        reason: `Records Firehose could not deliver go under ${errorPrefix} with generated names: a wildcard under its own error prefix.`,
      });
      return { stream: s, role };
    };
    const client = stream('Client', this.clientPrefix);
    const worker = stream('Worker', this.workerPrefix);
    this.clientStream = client.stream;
    this.workerStream = worker.stream;
    this.writerRoles = [client.role, worker.role];

    // Integrity: nobody but the delivery roles writes a record; nobody but break glass deletes one.
    const writers = this.writerRoles.map((r) => r.roleArn);
    this.bucket.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'DenyWriteExceptDeliveryRoles',
        effect: iam.Effect.DENY,
        principals: [new iam.AnyPrincipal()],
        actions: ['s3:PutObject'],
        resources: [this.bucket.arnForObjects('*')],
        conditions: { StringNotEquals: { 'aws:PrincipalArn': writers } },
      }),
    );
    const breakGlass = assertExact('ParamLog: breakGlassRoleArnPatterns', props.breakGlassRoleArnPatterns ?? []);
    this.bucket.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'DenyDeleteExceptBreakGlass',
        effect: iam.Effect.DENY,
        principals: [new iam.AnyPrincipal()],
        actions: RECORD_DELETE_ACTIONS,
        resources: [this.bucket.arnForObjects('*')],
        ...(breakGlass.length > 0 ? { conditions: { StringNotEquals: { 'aws:PrincipalArn': breakGlass } } } : {}),
      }),
    );

    acknowledgeOn(this.bucket, {
      id: 'AwsSolutions-S1',
      reason: 'The bucket policy limits writes to the two Firehose roles and reads to the reader roles, the monitor and the writers; reads are audited with CloudTrail S3 data events (docs/security.md); server access logs are delivered best effort and would need a second bucket under the same lock.',
    });
  }

  /**
   * Lets `fn` put client records (PutRecord/PutRecordBatch on the client stream only) and MAC them
   * (GenerateMac on {@link macKey}, whose ARN goes into its environment as RECORD_MAC_KEY_ID).
   */
  public grantWriteClient(fn: lambda.Function): iam.Grant {
    this.macKey.grantGenerateTo(fn);
    return this.clientStream.grantPutRecords(fn);
  }

  /** Lets `fn` put worker records and MAC them (as {@link grantWriteClient}, on the worker stream). */
  public grantWriteWorker(fn: lambda.Function): iam.Grant {
    this.macKey.grantGenerateTo(fn);
    return this.workerStream.grantPutRecords(fn);
  }
}
