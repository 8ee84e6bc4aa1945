/**
 * A CloudFormation stand-in for the operator CLI's tests: DescribeStacks and ListStackResources over
 * the AWS query protocol, for the real `@aws-sdk/client-cloudformation` pointed at it
 * (AWS_ENDPOINT_URL_CLOUDFORMATION). Stacks live in one region, as in AWS: asking another region (or
 * for a name that does not exist) answers `ValidationError` "Stack with id <name> does not exist",
 * which is what DescribeStacks answers for an unknown stack (AWS CloudFormation API reference,
 * DescribeStacks). ListStackResources pages by 100 (NextToken), as the API does. Tests fill it from a
 * synthesized template (outputs and resources resolved to local physical ids). Never bundled.
 */
import { sendQueryError, StandinServer, startStandinServer, xmlEscape } from './standin-http';

const XMLNS = 'http://cloudformation.amazonaws.com/doc/2010-05-15/';
const PAGE = 100;

export interface StandinStackOutput {
  readonly OutputKey: string;
  readonly OutputValue: string;
  readonly Description?: string;
}

export interface StandinStackResource {
  readonly LogicalResourceId: string;
  readonly PhysicalResourceId: string;
  readonly ResourceType: string;
}

export interface StandinStack {
  readonly StackName: string;
  readonly region: string;
  readonly outputs: ReadonlyArray<StandinStackOutput>;
  readonly resources: ReadonlyArray<StandinStackResource>;
  /** @default 'CREATE_COMPLETE' */
  readonly status?: string;
}

export interface CloudFormationStandin extends StandinServer {
  /** Stacks by name. */
  readonly stacks: Map<string, StandinStack>;
  /** Requests per action. */
  readonly calls: Record<string, number>;
}

const tag = (name: string, value: string | undefined): string => (value === undefined ? '' : `<${name}>${xmlEscape(value)}</${name}>`);

/** Starts the stand-in with `stacks`. */
export async function startCloudFormationStandin(stacks: ReadonlyArray<StandinStack> = []): Promise<CloudFormationStandin> {
  const byName = new Map(stacks.map((s) => [s.StackName, s]));
  const calls: Record<string, number> = {};
  const server = await startStandinServer(async ({ body, scope }, res) => {
    const p = new URLSearchParams(body);
    const action = p.get('Action') ?? '';
    calls[action] = (calls[action] ?? 0) + 1;
    if (!scope) return sendQueryError(res, 403, XMLNS, 'MissingAuthenticationToken', 'Request is missing Authentication Token');
    const name = p.get('StackName') ?? '';
    const stack = byName.get(name);
    const found = stack && stack.region === scope.region ? stack : null;
    const notFound = () => sendQueryError(res, 400, XMLNS, 'ValidationError', `Stack with id ${name} does not exist`);
    const ok = (inner: string) =>
      res.writeHead(200, { 'content-type': 'text/xml' }).end(`<${action}Response xmlns="${XMLNS}"><${action}Result>${inner}</${action}Result><ResponseMetadata><RequestId>standin</RequestId></ResponseMetadata></${action}Response>`);
    if (action === 'DescribeStacks') {
      if (!found) return notFound();
      const outputs = found.outputs
        .map((o) => `<member>${tag('OutputKey', o.OutputKey)}${tag('OutputValue', o.OutputValue)}${tag('Description', o.Description)}</member>`)
        .join('');
      const stackId = `arn:aws:cloudformation:${found.region}:000000000000:stack/${found.StackName}/standin`;
      return ok(
        `<Stacks><member>${tag('StackName', found.StackName)}${tag('StackId', stackId)}${tag('StackStatus', found.status ?? 'CREATE_COMPLETE')}<CreationTime>2026-01-01T00:00:00.000Z</CreationTime><Outputs>${outputs}</Outputs></member></Stacks>`,
      );
    }
    if (action === 'ListStackResources') {
      if (!found) return notFound();
      const start = Number(p.get('NextToken') ?? '0');
      const page = found.resources.slice(start, start + PAGE);
      const members = page
        .map(
          (r) =>
            `<member>${tag('LogicalResourceId', r.LogicalResourceId)}${tag('PhysicalResourceId', r.PhysicalResourceId)}${tag('ResourceType', r.ResourceType)}<LastUpdatedTimestamp>2026-01-01T00:00:00.000Z</LastUpdatedTimestamp><ResourceStatus>CREATE_COMPLETE</ResourceStatus></member>`,
        )
        .join('');
      const next = start + PAGE < found.resources.length ? tag('NextToken', String(start + PAGE)) : '';
      return ok(`<StackResourceSummaries>${members}</StackResourceSummaries>${next}`);
    }
    return sendQueryError(res, 400, XMLNS, 'InvalidAction', `not served by the stand-in: ${action}`);
  });
  return { ...server, stacks: byName, calls };
}
