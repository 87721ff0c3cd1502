// The flush hand-off's transport on Lambda: an asynchronous invoke of the flush function.
// Its own module, apart from lib/runtime/lambda/flush-trigger.ts, because the flush function imports that one
// (isFlushRequest): with code splitting, esbuild emits a chunk for every import() in a module
// it bundles, even one in a function it then drops, so the flush bundle would ship the Lambda
// client it never loads.
import type { FlushRequest } from './flush-trigger';

/**
 * An Invoker that sends `InvocationType: Event` to `functionName`. The SDK client is loaded on
 * the first trigger: most API cold starts never need it. Endpoint and region come from the
 * SDK's standard variables (AWS_ENDPOINT_URL_LAMBDA, AWS_REGION).
 */
export function lambdaInvoker<P extends object = FlushRequest>(functionName: string, opts: { requestTimeoutMs?: number } = {}): (payload: P) => Promise<void> {
  let ready: Promise<(payload: P) => Promise<void>> | undefined;
  const load = async () => {
    const { LambdaClient, InvokeCommand } = await import('@aws-sdk/client-lambda');
    // requestTimeout alone only logs a warning in @smithy/node-http-handler 4.x: without
    // throwOnRequestTimeout an endpoint that never answers holds the invoke (and the DELETE or
    // invocation awaiting it) until the function times out. A connection timeout as well.
    const timeout = opts.requestTimeoutMs ?? 2000;
    const client = new LambdaClient({ maxAttempts: 2, requestHandler: { requestTimeout: timeout, connectionTimeout: timeout, throwOnRequestTimeout: true } });
    const encoder = new TextEncoder();
    return async (payload: P) => {
      const out = await client.send(new InvokeCommand({ FunctionName: functionName, InvocationType: 'Event', Payload: encoder.encode(JSON.stringify(payload)) }));
      if (out.StatusCode !== 202) throw new Error(`async invoke of ${functionName} answered ${out.StatusCode}`);
    };
  };
  return async (payload) => {
    ready ??= load().catch((err: unknown) => {
      ready = undefined;
      throw err;
    });
    await (await ready)(payload);
  };
}
