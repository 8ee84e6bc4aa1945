/**
 * An STS stand-in for the operator CLI's tests: GetCallerIdentity over the AWS query protocol, for
 * the real `@aws-sdk/client-sts` pointed at it (AWS_ENDPOINT_URL_STS). The identity is chosen by the
 * request's SigV4 access key, so a test sees which credentials the CLI's default chain picked (an
 * environment key, a profile's key). As STS does, an unknown key is `InvalidClientTokenId` and an
 * unsigned request `MissingAuthenticationToken` (AWS STS API reference, GetCallerIdentity, "Errors"
 * and common errors). Never bundled into Lambda code.
 */
import { sendQueryError, StandinServer, startStandinServer, xmlEscape } from './standin-http';

const XMLNS = 'https://sts.amazonaws.com/doc/2011-06-15/';

/** One caller identity, as GetCallerIdentity returns it. */
export interface StandinIdentity {
  readonly Arn: string;
  readonly Account: string;
  readonly UserId: string;
}

export interface StsStandin extends StandinServer {
  /** Identities by access key id. */
  readonly identities: Map<string, StandinIdentity>;
  /** Regions of the signed requests, in order (the region the CLI resolved). */
  readonly regions: string[];
}

/** Starts the stand-in; `identities` maps access key ids to who they are. */
export async function startStsStandin(identities: Record<string, StandinIdentity>): Promise<StsStandin> {
  const known = new Map(Object.entries(identities));
  const regions: string[] = [];
  const server = await startStandinServer(async ({ body, scope }, res) => {
    const action = new URLSearchParams(body).get('Action');
    if (action !== 'GetCallerIdentity') return sendQueryError(res, 400, XMLNS, 'InvalidAction', `not served by the stand-in: ${action}`);
    if (!scope) return sendQueryError(res, 403, XMLNS, 'MissingAuthenticationToken', 'Request is missing Authentication Token');
    regions.push(scope.region);
    const id = known.get(scope.accessKeyId);
    if (!id) return sendQueryError(res, 403, XMLNS, 'InvalidClientTokenId', 'The security token included in the request is invalid.');
    res
      .writeHead(200, { 'content-type': 'text/xml' })
      .end(
        `<GetCallerIdentityResponse xmlns="${XMLNS}"><GetCallerIdentityResult><Arn>${xmlEscape(id.Arn)}</Arn><UserId>${xmlEscape(id.UserId)}</UserId><Account>${id.Account}</Account></GetCallerIdentityResult><ResponseMetadata><RequestId>standin</RequestId></ResponseMetadata></GetCallerIdentityResponse>`,
      );
  });
  return { ...server, identities: known, regions };
}
