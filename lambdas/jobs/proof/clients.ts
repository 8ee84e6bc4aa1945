import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { requireEnv } from '../../shared/env';
import { tracer } from '../../shared/powertools';
import { PROOF_TABLE_ENV } from './ledger';

/** The proof functions' DynamoDB client and table, built once per container. */
export const ddb = tracer.captureAWSv3Client(new DynamoDBClient({}));
/** The coordination table (the proof job writes only `proof#` keys in it). */
export const proofTable = (): string => requireEnv(PROOF_TABLE_ENV);
