import { Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { assertExact } from './principals';

/** Props of {@link ParamLogAccess}. */
export interface ParamLogAccessProps {
  /** The parameter-log bucket. */
  readonly bucket: s3.IBucket;
  /** The KMS key of the log bucket (and of the Athena results). */
  readonly key: kms.IKey;
  /** The Athena query-results bucket (results hold params too). */
  readonly resultsBucket: s3.IBucket;
  /**
   * Reader role ARNs (config `paramLog.readerRoleArnPatterns`), exact: compared with StringEquals,
   * so no role created later can match. Only roles of this account are granted; every other
   * principal is denied.
   */
  readonly readerRoleArnPatterns: ReadonlyArray<string>;
  /** The Firehose delivery roles (they write the log; exempt from the deny). */
  readonly writerRoles: ReadonlyArray<iam.IRole>;
  /** The app's own reading roles, e.g. the lost-task monitor (exempt; granted by identity policy). */
  readonly serviceReaderRoles: ReadonlyArray<iam.IRole>;
}

/** Object reads that reveal logged params. Only these are denied, so administration (bucket policy, lifecycle, CloudFormation) is untouched. */
export const OBJECT_READ_ACTIONS = ['s3:GetObject', 's3:GetObjectVersion', 's3:GetObjectAttributes', 's3:GetObjectVersionAttributes', 's3:RestoreObject'];
/** Key uses that reveal plaintext (ReEncryptFrom would let a caller move data under a key they control). Key administration is not denied, so the account root and CloudFormation keep managing the key. */
export const KEY_DECRYPT_ACTIONS = ['kms:Decrypt', 'kms:ReEncryptFrom'];

/**
 * Locks reading of parameter logs (they may hold personal data) to named roles: the reader roles
 * from config, the Firehose writers and the app's own monitor. For the log bucket, the results
 * bucket and the key it adds a Deny for every other principal (`aws:PrincipalArn` StringNotEquals)
 * on the read/decrypt actions only, and an Allow for this account's reader roles, because those
 * roles live outside the stack and no identity policy can be attached to them here.
 * Readers still need Athena and Glue permissions in their own policy (docs/investigation.md).
 */
export class ParamLogAccess extends Construct {
  /** Every ARN pattern exempt from the deny: readers, writers, service readers. */
  public readonly allowedPrincipalArns: ReadonlyArray<string>;

  constructor(scope: Construct, id: string, props: ParamLogAccessProps) {
    super(scope, id);
    const problems: string[] = [];
    if (props.readerRoleArnPatterns.length === 0) problems.push('readerRoleArnPatterns is empty: name at least one reader role pattern, or nobody can investigate');
    if (props.writerRoles.length === 0) problems.push('writerRoles is empty: pass the Firehose delivery roles, or the deny would block delivery');
    if (problems.length > 0) throw new Error(`ParamLogAccess: ${problems.join('; ')}`);

    const account = Stack.of(this).account;
    const readers = assertExact('ParamLogAccess: readerRoleArnPatterns', props.readerRoleArnPatterns);
    const allowed = [...readers, ...props.writerRoles.map((r) => r.roleArn), ...props.serviceReaderRoles.map((r) => r.roleArn)];
    this.allowedPrincipalArns = allowed;
    const notAllowed = { StringNotEquals: { 'aws:PrincipalArn': allowed } };
    // Same-account reader roles only, by their exact ARNs.
    const isReader = { StringEquals: { 'aws:PrincipalArn': readers, 'aws:PrincipalAccount': account } };

    for (const [bucket, label] of [
      [props.bucket, 'ParamLog'],
      [props.resultsBucket, 'Results'],
    ] as const) {
      bucket.addToResourcePolicy(
        new iam.PolicyStatement({
          sid: `DenyRead${label}ExceptNamedRoles`,
          effect: iam.Effect.DENY,
          principals: [new iam.AnyPrincipal()],
          actions: OBJECT_READ_ACTIONS,
          resources: [bucket.arnForObjects('*')],
          conditions: notAllowed,
        }),
      );
    }
    props.bucket.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'AllowReaderRolesRead',
        principals: [new iam.AnyPrincipal()],
        actions: ['s3:GetObject', 's3:ListBucket', 's3:GetBucketLocation'],
        // errors/ holds the records Firehose could not deliver as is (params included): readers
        // investigate those too (docs/security.md, data map).
        resources: [props.bucket.bucketArn, props.bucket.arnForObjects('client/*'), props.bucket.arnForObjects('worker/*'), props.bucket.arnForObjects('errors/*')],
        conditions: isReader,
      }),
    );
    // Athena writes a reader's results with the reader's own credentials.
    props.resultsBucket.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'AllowReaderRolesQueryResults',
        principals: [new iam.AnyPrincipal()],
        actions: ['s3:GetObject', 's3:PutObject', 's3:ListBucket', 's3:GetBucketLocation', 's3:AbortMultipartUpload', 's3:ListMultipartUploadParts'],
        resources: [props.resultsBucket.bucketArn, props.resultsBucket.arnForObjects('*')],
        conditions: isReader,
      }),
    );

    props.key.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'DenyDecryptExceptNamedRoles',
        effect: iam.Effect.DENY,
        principals: [new iam.AnyPrincipal()],
        actions: KEY_DECRYPT_ACTIONS,
        resources: ['*'],
        conditions: notAllowed,
      }),
    );
    props.key.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'AllowReaderRolesDecryptThroughS3',
        principals: [new iam.AnyPrincipal()],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey', 'kms:DescribeKey'],
        resources: ['*'],
        // Readers use the key only through S3 (reading logs, Athena writing their results).
        conditions: { StringEquals: { ...isReader.StringEquals, 'kms:ViaService': `s3.${Stack.of(this).region}.amazonaws.com` } },
      }),
    );
  }
}
