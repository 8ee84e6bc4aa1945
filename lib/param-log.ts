import { Duration, RemovalPolicy, Size, Stack, TimeZone, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as firehose from 'aws-cdk-lib/aws-kinesisfirehose';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';

/** Props of {@link ParamLog}. */
export interface ParamLogProps {
  /** IANA time zone of the `year=/month=/day=` partitions (the app's time zone). */
  readonly timeZone: string;
  /** Firehose buffering interval, seconds (0-900). */
  readonly bufferSeconds: number;
  /** Firehose buffering size, MiB (1-128). */
  readonly bufferMiB: number;
}

/**
 * The parameter log: an S3 bucket of gzip JSON lines, written by two Firehose streams, one per
 * record type, under `client/` and `worker/` partitioned by day in the app's time zone.
 * The bucket holds task params (possibly personal data): it is KMS-encrypted with a rotating CMK,
 * TLS-only, versioned and retained when the stack is deleted. The deny-everyone-else read policy
 * is added by the investigation construct, which exempts {@link writerRoles}.
 */
export class ParamLog extends Construct {
  /** The log bucket. */
  public readonly bucket: s3.Bucket;
  /** The customer-managed key of the bucket (readers need kms:Decrypt on it). */
  public readonly key: kms.Key;
  /** Delivery stream of client records (written by producers). */
  public readonly clientStream: firehose.DeliveryStream;
  /** Delivery stream of worker records (written by the record-outcome Lambda). */
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

  constructor(scope: Construct, id: string, props: ParamLogProps) {
    super(scope, id);
    this.key = new kms.Key(this, 'Key', {
      description: 'Parameter log bucket: task params and outcomes (may hold personal data)',
      enableKeyRotation: true,
      // The data outlives the stack, so the key that decrypts it must too.
      removalPolicy: RemovalPolicy.RETAIN,
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
        // Firehose never overwrites objects, so old versions only come from deletes or manual edits:
        // keep them a month for recovery, then let them go.
        { id: 'expire-noncurrent-versions', noncurrentVersionExpiration: Duration.days(30) },
        { id: 'abort-incomplete-uploads', abortIncompleteMultipartUploadAfter: Duration.days(7) },
      ],
    });

    const stream = (name: 'Client' | 'Worker', prefix: string): { stream: firehose.DeliveryStream; role: iam.Role } => {
      const role = new iam.Role(this, `${name}DeliveryRole`, {
        assumedBy: new iam.ServicePrincipal('firehose.amazonaws.com'),
        description: `Firehose delivery of ${name.toLowerCase()} parameter-log records to S3`,
      });
      const destination = new firehose.S3Bucket(this.bucket, {
        role,
        compression: firehose.Compression.GZIP,
        dataOutputPrefix: `${prefix}year=!{timestamp:yyyy}/month=!{timestamp:MM}/day=!{timestamp:dd}/`,
        // Records Firehose could not deliver are kept, with the reason in the path, never dropped.
        errorOutputPrefix: `errors/${prefix}!{firehose:error-output-type}/year=!{timestamp:yyyy}/month=!{timestamp:MM}/day=!{timestamp:dd}/`,
        timeZone: TimeZone.of(props.timeZone),
        bufferingInterval: Duration.seconds(props.bufferSeconds),
        bufferingSize: Size.mebibytes(props.bufferMiB),
        encryptionKey: this.key,
      });
      const s = new firehose.DeliveryStream(this, `${name}Stream`, {
        destination,
        encryption: firehose.StreamEncryption.awsOwnedKey(),
      });
      return { stream: s, role };
    };
    const client = stream('Client', this.clientPrefix);
    const worker = stream('Worker', this.workerPrefix);
    this.clientStream = client.stream;
    this.workerStream = worker.stream;
    this.writerRoles = [client.role, worker.role];

    Validations.of(this.bucket).acknowledge({
      id: 'AwsSolutions-S1',
      reason: 'Writers are only the two Firehose roles; reads are limited to the reader roles and audited by CloudTrail. A server-access-log bucket would itself need the same protection.',
    });
    for (const role of this.writerRoles) {
      Validations.of(role).acknowledge(
        ...['Action::s3:Abort*', 'Action::s3:DeleteObject*', 'Action::s3:GetBucket*', 'Action::s3:GetObject*', 'Action::s3:List*', 'Action::kms:GenerateDataKey*', 'Action::kms:ReEncrypt*'].map((what) => ({
          id: `AwsSolutions-IAM5[${what}]`,
          reason: 'The Firehose S3 destination grant (multipart delivery, error output) on this one bucket and its key, as the aws-kinesisfirehose L2 writes it.',
        })),
        { id: `AwsSolutions-IAM5[Resource::<${Stack.of(this).resolve((this.bucket.node.defaultChild as s3.CfnBucket).logicalId)}.Arn>/*]`, reason: 'Firehose writes objects anywhere under its own prefixes of this bucket.' },
      );
    }
  }

  /** Lets `grantee` put client records (PutRecord/PutRecordBatch on the client stream only). */
  public grantWriteClient(grantee: iam.IGrantable): iam.Grant {
    return this.clientStream.grantPutRecords(grantee);
  }

  /** Lets `grantee` put worker records (PutRecord/PutRecordBatch on the worker stream only). */
  public grantWriteWorker(grantee: iam.IGrantable): iam.Grant {
    return this.workerStream.grantPutRecords(grantee);
  }
}
