// SASL/PLAIN over the listener (KIP-43 handshake, KIP-152 SaslAuthenticate framing): the user
// name is the HTTP API key's principal (`alice` or `User:alice`) and the password its secret, so
// one key serves both protocols and the same ACLs decide. Handshake v1 is followed by framed
// SaslAuthenticate requests; v0 (which librdkafka needs advertised to enable SASL at all, though
// it then uses v1) by one bare token frame, handled in server.ts.
import { type Api, CloseConnection, type Context, type Session } from './context';
import { ErrorCode, Writer } from './protocol';

// --- SaslHandshake (17) -------------------------------------------------------------------
// Request v0-1: mechanism STRING
// Response: error_code INT16, mechanisms [STRING]
const saslHandshake: Api = {
  name: 'SaslHandshake',
  min: 0,
  max: 1,
  preAuth: true,
  async handle(ctx, s, h, r) {
    const mechanism = r.string();
    const offered = ctx.authenticatePlain ? ['PLAIN'] : [];
    let code: number = ErrorCode.NONE;
    const answer = (c: number): Writer => new Writer().int16(c).array(offered, (w, m) => void w.string(m));
    // Kafka answers with the mechanisms it offers, then closes the connection.
    if (!offered.includes(mechanism)) throw new CloseConnection(`SASL: mechanism ${JSON.stringify(mechanism)} is not offered`, answer(ErrorCode.UNSUPPORTED_SASL_MECHANISM));
    if (s.authenticated && s.principal !== undefined && s.saslMechanism === undefined && s.principal !== 'User:ANONYMOUS') code = ErrorCode.ILLEGAL_SASL_STATE;
    else if (h.apiVersion === 0) s.saslRawNext = true;
    else s.saslMechanism = mechanism;
    return answer(code);
  },
};

// --- SaslAuthenticate (36) ----------------------------------------------------------------
// Request v0-1: auth_bytes BYTES
// Response: error_code INT16, error_message NULLABLE_STRING, auth_bytes BYTES, session_lifetime_ms INT64 (v1+)
// PLAIN's token (RFC 4616): [authzid] NUL authcid NUL passwd. An authzid other than the
// authcid is refused: nobody may act as someone else.
const saslAuthenticate: Api = {
  name: 'SaslAuthenticate',
  min: 0,
  max: 1,
  preAuth: true,
  async handle(ctx, s, h, r) {
    const token = r.bytes();
    const answer = (code: number, message: string | null): Writer => {
      const w = new Writer().int16(code).string(message).bytes(new Uint8Array(0));
      if (h.apiVersion >= 1) w.int64(0);
      return w;
    };
    if (s.saslMechanism !== 'PLAIN' || !ctx.authenticatePlain) {
      const why = 'SaslAuthenticate must follow a SaslHandshake for PLAIN';
      // On a SASL listener before a login (a loopback connection acts as ANONYMOUS until it
      // logs in) Kafka fails the handshake and closes; once logged in, or with SASL off, it
      // answers and keeps the connection.
      const loggedIn = s.authenticated && s.principal !== undefined && s.principal !== 'User:ANONYMOUS';
      if (ctx.authenticatePlain && !loggedIn) throw new CloseConnection(`SASL: ${why}`, answer(ErrorCode.ILLEGAL_SASL_STATE, why));
      return answer(ErrorCode.ILLEGAL_SASL_STATE, why);
    }
    s.saslMechanism = undefined;
    const failure = plainLogin(ctx, s, token);
    // Kafka answers a failed authentication, then closes the connection.
    if (failure !== null) throw new CloseConnection(`SASL/PLAIN: ${failure}`, answer(ErrorCode.SASL_AUTHENTICATION_FAILED, failure));
    return answer(ErrorCode.NONE, null);
  },
};

export const saslApis: Array<[number, Api]> = [
  [17, saslHandshake],
  [36, saslAuthenticate],
];

/**
 * Checks a PLAIN token (RFC 4616): [authzid] NUL authcid NUL passwd. On success the session is
 * the key's principal; otherwise the reason (never the secret). An authzid other than the
 * authcid is refused: nobody may act as someone else.
 */
export function plainLogin(ctx: Context, s: Session, token: Uint8Array): string | null {
  if (!ctx.authenticatePlain) return 'SASL/PLAIN is not enabled (SAMSA_AUTH=keys)';
  const parts = Buffer.from(token).toString('utf8').split('\u0000');
  if (parts.length !== 3) return 'a PLAIN token is authzid NUL user NUL password';
  const [authzid, user, password] = parts as [string, string, string];
  const principal = ctx.authenticatePlain(user, password);
  if (principal === undefined || (authzid !== '' && authzid !== user)) return 'Authentication failed: invalid username or password';
  s.principal = principal;
  s.authenticated = true;
  return null;
}
