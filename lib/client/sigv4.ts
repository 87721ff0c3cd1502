// Optional SigV4 signing for the deployed API (IAM-authorised Lambda Function URL or API
// Gateway). Built on the SDK's own SignatureV4 with node:crypto for SHA-256, so there is no
// second hashing library; credentials default to the Node provider chain (env, profile, SSO,
// container/instance roles), loaded lazily so clients that never sign never load it.
import { createHash, createHmac, type Hash, type Hmac } from 'node:crypto';
import { SignatureV4 } from '@smithy/signature-v4';
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider, Checksum, SourceData } from '@smithy/types';
import type { SignableRequest, Signer } from './http';

export interface SigV4Options {
  region: string;
  /** `lambda` for a Function URL, `execute-api` for API Gateway (default lambda). */
  service?: string;
  /** Static credentials or a provider; default: the Node credential provider chain. */
  credentials?: AwsCredentialIdentity | AwsCredentialIdentityProvider;
  /** Fixed clock (tests). */
  now?: () => Date;
}

/** SHA-256 (HMAC-SHA-256 with a secret) in the shape SignatureV4 expects. */
export class NodeSha256 implements Checksum {
  private h: Hash | Hmac;
  constructor(private readonly secret?: SourceData) {
    this.h = this.make();
  }
  private make(): Hash | Hmac {
    return this.secret !== undefined ? createHmac('sha256', toBuffer(this.secret)) : createHash('sha256');
  }
  update(data: Uint8Array): void {
    this.h.update(data);
  }
  async digest(): Promise<Uint8Array> {
    return new Uint8Array(this.h.digest());
  }
  reset(): void {
    this.h = this.make();
  }
}

function toBuffer(d: SourceData): Buffer {
  if (typeof d === 'string') return Buffer.from(d, 'utf8');
  if (ArrayBuffer.isView(d)) return Buffer.from(d.buffer, d.byteOffset, d.byteLength);
  return Buffer.from(d as ArrayBuffer);
}

export function sigv4Signer(opts: SigV4Options): Signer {
  let credentials: AwsCredentialIdentity | AwsCredentialIdentityProvider | undefined = opts.credentials;
  const provider: AwsCredentialIdentityProvider = async () => {
    if (!credentials) {
      const { defaultProvider } = await import('@aws-sdk/credential-provider-node');
      credentials = defaultProvider();
    }
    const c = credentials;
    return typeof c === 'function' ? c() : c;
  };
  const signer = new SignatureV4({ service: opts.service ?? 'lambda', region: opts.region, credentials: provider, sha256: NodeSha256, uriEscapePath: true, applyChecksum: false });
  return async (req: SignableRequest) => {
    const query: Record<string, string | string[]> = {};
    for (const [k, v] of req.url.searchParams) {
      const prev = query[k];
      query[k] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [prev, v];
    }
    const headers: Record<string, string> = { ...req.headers, host: req.url.host };
    // Function URLs behind CloudFront OAC need the payload hash as a header; bodiless requests
    // sign exactly as AWS's test suite expects (no extra header).
    if (req.body !== undefined) headers['x-amz-content-sha256'] = createHash('sha256').update(req.body).digest('hex');
    const signed = await signer.sign(
      {
        method: req.method,
        protocol: req.url.protocol,
        hostname: req.url.hostname,
        ...(req.url.port ? { port: Number(req.url.port) } : {}),
        path: req.url.pathname,
        query,
        headers,
        ...(req.body !== undefined ? { body: req.body } : {}),
      },
      opts.now ? { signingDate: opts.now() } : {},
    );
    // fetch sets Host itself; return everything the signature added.
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(signed.headers)) if (k.toLowerCase() !== 'host' && req.headers[k] !== v) out[k] = v;
    return out;
  };
}
