import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';

/** Reads an S3 object's text (the Map Run's result files hold task params: never logged). */
export async function readObject(client: S3Client, bucket: string, key: string): Promise<string> {
  const out = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  if (!out.Body) throw new Error(`s3://${bucket}/${key} has no body`);
  return out.Body.transformToString('utf-8');
}
