// functions/api.ts's prepareEvent through Hono's real aws-lambda adapter: behind API Gateway
// (rawPath arrives decoded) each path segment reaches the route as the client sent it, the query
// is untouched; a Function URL event (rawPath as sent) is passed on unchanged.
import { Hono } from 'hono';
import { handle, type LambdaContext, type LambdaEvent } from 'hono/aws-lambda';
import { expect, it } from 'vitest';
import { prepareEvent } from '../../../lib/runtime/lambda/event';
import { lambdaContext, v2Event } from '../../helpers/lambda';

const app = new Hono();
app.all('/v1/topics/:topic/*', (c) => c.json({ topic: c.req.param('topic'), path: c.req.path, query: c.req.queries() }));
app.all('*', (c) => c.json({ path: c.req.path, query: c.req.queries() }, 404));
const serve = handle(app);

const run = async (event: Record<string, unknown>, pathDecoded: boolean) => {
  const res = (await serve(prepareEvent(event as unknown as LambdaEvent, { pathDecoded }), lambdaContext() as unknown as LambdaContext)) as { statusCode: number; body: string };
  return { status: res.statusCode, ...(JSON.parse(res.body) as { topic?: string; path: string; query: Record<string, string[]> }) };
};

it('API Gateway: a decoded rawPath is encoded again, segment by segment; the query is left as sent', async () => {
  // What the client sent, and the rawPath API Gateway's HTTP API hands the function for it.
  const cases: Array<[sent: string, decoded: string]> = [
    ['a%23b', 'a#b'],
    ['a%3Fb', 'a?b'],
    ['a+b', 'a+b'],
    ['a%2Bb', 'a+b'],
    ['g%C3%A9', 'gé'],
    ['%25zz', '%zz'],
    ['a%2541', 'a%41'],
    ['a%20b', 'a b'],
  ];
  for (const [sent, decoded] of cases) {
    const r = await run(v2Event('GET', `/v1/topics/${decoded}/partitions/0/records`, { apiGateway: true, query: 'offset=1&key=a%2Bb+c&x=%2F' }), true);
    expect({ sent, status: r.status, topic: r.topic, query: r.query }).toEqual({ sent, status: 200, topic: decodeURIComponent(sent), query: { offset: ['1'], key: ['a+b c'], x: ['/'] } });
  }
  // Empty segments and a trailing slash stay where they were.
  expect((await run(v2Event('GET', '/v1/topics/t//x/', { apiGateway: true }), true)).path).toBe('/v1/topics/t//x/');
});

it('a Function URL event is passed on as it came (rawPath already encoded), and its path reaches the route the same', async () => {
  const event = v2Event('GET', '/v1/topics/a%23b/partitions/0/records', { query: 'offset=1' });
  expect(prepareEvent(event, { pathDecoded: false })).toBe(event);
  expect(await run(event, false)).toMatchObject({ status: 200, topic: 'a#b' });
  // A body on a GET is the one thing dropped (a fetch Request cannot carry it), in both fronts.
  const withBody = v2Event('GET', '/v1/topics/t/partitions/0/records', { body: '{}' });
  const prepared = prepareEvent(withBody, { pathDecoded: false }) as Record<string, unknown>;
  expect(prepared.body).toBeUndefined();
  expect(prepared.isBase64Encoded).toBeUndefined();
  expect({ ...prepared, body: withBody.body, isBase64Encoded: withBody.isBase64Encoded }).toEqual(withBody);
  expect(prepareEvent(v2Event('POST', '/x', { body: '{}' }), { pathDecoded: false }).body).toBe('{}');
});
