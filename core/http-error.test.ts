import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import Fastify, { type FastifyInstance } from 'fastify';
import { GridwatchError, handleHttpErrors, sendHttpError } from './index.ts';

describe('the one HTTP error body', () => {
  let app: FastifyInstance;
  beforeAll(async () => {
    app = Fastify({ logger: false });
    handleHttpErrors(app);
    app.get('/refused', async () => { throw new GridwatchError('X_REFUSED', 'case C1 is closed: reopen it first', { httpStatus: 409 }); });
    app.get('/down', async () => { throw new GridwatchError('X_DOWN', 'the store is not open'); });
    app.get('/bug', async () => { throw new TypeError('secret detail'); });
    app.get('/sent', async (_req, reply) => sendHttpError(reply, 403, 'X_FORBIDDEN', 'role clerk may not do this'));
    app.post('/typed', { schema: { body: { type: 'object', required: ['n'], properties: { n: { type: 'integer' } } } } }, async () => ({ ok: true }));
    // A plugin inherits the server's handlers.
    await app.register(async (scope) => { scope.get('/inner', async () => { throw new GridwatchError('X_GONE', 'no such thing', { httpStatus: 404 }); }); }, { prefix: '/p' });
    await app.ready();
  });
  afterAll(() => app.close());

  const call = async (method: 'GET' | 'POST', url: string, payload?: string, type = 'application/json') => {
    const res = await app.inject({ method, url, ...(payload === undefined ? {} : { payload, headers: { 'content-type': type } }) });
    return [res.statusCode, res.json()];
  };

  it('answers a GridwatchError by its status, code and message, and 500 when it has no status', async () => {
    expect(await call('GET', '/refused')).toEqual([409, { error: { code: 'X_REFUSED', message: 'case C1 is closed: reopen it first' } }]);
    expect(await call('GET', '/p/inner')).toEqual([404, { error: { code: 'X_GONE', message: 'no such thing' } }]);
    expect(await call('GET', '/down')).toEqual([500, { error: { code: 'X_DOWN', message: 'the store is not open' } }]);
    expect(await call('GET', '/sent')).toEqual([403, { error: { code: 'X_FORBIDDEN', message: 'role clerk may not do this' } }]);
  });

  it('hides an unexpected error, and answers fastify\'s own errors and unknown routes in the same body', async () => {
    expect(await call('GET', '/bug')).toEqual([500, { error: { code: 'INTERNAL', message: 'internal error; see the engine log' } }]);
    expect(await call('POST', '/typed', '{"n":"x"}')).toEqual([400, { error: { code: 'BAD_REQUEST', message: 'body/n must be integer' } }]);
    const [status, body] = await call('POST', '/typed', '{"n":', 'application/json');
    expect([status, (body as { error: { code: string } }).error.code]).toEqual([400, 'BAD_REQUEST']);
    expect((await call('POST', '/typed', 'n=1', 'text/x-unknown'))[0]).toBe(415);
    expect((await call('POST', '/typed', 'n=1', 'text/x-unknown'))[1]).toMatchObject({ error: { code: 'UNSUPPORTED_MEDIA_TYPE' } });
    expect(await call('GET', '/nowhere?x=1')).toEqual([404, { error: { code: 'NOT_FOUND', message: 'no route GET /nowhere: check the method and the path' } }]);
  });
});
