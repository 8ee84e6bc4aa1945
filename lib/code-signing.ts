import * as lambda from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';

/** Props of {@link CodeSigning}. */
export interface CodeSigningProps {
  /** Config `audit.codeSigningProfileVersionArn`: the AWS Signer profile version whose signatures are trusted. */
  readonly signingProfileVersionArn: string;
  /** Every function of the stack. */
  readonly functions: ReadonlyArray<lambda.IFunction>;
}

/**
 * Lambda code signing for every function of the stage: a code signing configuration that trusts one
 * AWS Signer profile version and refuses (Enforce) any code package it did not sign, so that
 * `lambda:UpdateFunctionCode` with code of one's own fails even for whoever holds the permission
 * (AWS Lambda developer guide, "Configuring code signing"). The deploy must then upload signed
 * code: docs/security.md, "Code signing", says how.
 */
export class CodeSigning extends Construct {
  public readonly config: lambda.CfnCodeSigningConfig;

  constructor(scope: Construct, id: string, props: CodeSigningProps) {
    super(scope, id);
    this.config = new lambda.CfnCodeSigningConfig(this, 'Config', {
      description: 'Only code signed by the app\'s signing profile runs as the app',
      allowedPublishers: { signingProfileVersionArns: [props.signingProfileVersionArn] },
      codeSigningPolicies: { untrustedArtifactOnDeployment: 'Enforce' },
    });
    for (const f of props.functions) {
      const cfn = f.node.defaultChild;
      if (!(cfn instanceof lambda.CfnFunction)) throw new Error(`${f.node.path}: not a function of this stack, cannot require signed code`);
      cfn.codeSigningConfigArn = this.config.attrCodeSigningConfigArn;
    }
  }
}
