import { readFileSync } from 'node:fs';
import { rootCertificates } from 'node:tls';
import { ConfigError } from '../errors.js';
import type { ProviderConfig } from './schema.js';

/** Where the configuration reaches out of the process: Redis URLs checked at load, and a provider's proxy and CAs. */

/** How a provider's calls leave the process (the same shape as ProviderSettings.network in the provider spec). */
export interface ProviderNetwork {
  proxy?: string;
  proxyEnv?: { httpProxy?: string; httpsProxy?: string; noProxy?: string };
  ca?: string[];
}

/**
 * A Redis URL a client can connect with, checked at load so a typo fails at start (exit 2) instead
 * of a server that never becomes ready. Returns the password it holds, if any. The message never
 * quotes the value (it may hold that password).
 */
export function checkRedisUrl(url: string, setting: string): string | undefined {
  const fail = (problem: string): never => {
    throw new ConfigError(
      `${setting}: ${problem}; write it as redis://[user:password@]host:port[/db] (or rediss:// for TLS), literally or as env:NAME / file:/path`,
      {
        details: { setting },
      },
    );
  };
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return fail('not a URL');
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:')
    fail(`the scheme is "${u.protocol.replace(/[^a-z0-9+.-:]/gi, '?').slice(0, 20)}", not redis: or rediss:`);
  if (!u.hostname) fail('no host');
  const db = u.pathname.replace(/^\//, '');
  if (db !== '' && !/^\d{1,5}$/.test(db)) fail('the database after the host must be a number, e.g. /0');
  if (!u.password) return undefined;
  try {
    return decodeURIComponent(u.password);
  } catch {
    return fail('the password is not valid URL encoding (write % as %25)');
  }
}

/**
 * How a provider's calls leave the process. An explicit `proxy` wins; `proxy: false` turns the
 * environment's off; otherwise HTTPS_PROXY / HTTP_PROXY / NO_PROXY (either case) as read now, left
 * to undici's EnvHttpProxyAgent to apply per call. `tls.ca` is added to the usual roots and to
 * NODE_EXTRA_CA_CERTS (Node adds that file only when no CA list is given, so it is read here too).
 */
export function providerNetwork(
  name: string,
  p: ProviderConfig,
  env: NodeJS.ProcessEnv,
  secret: (value: string, setting: string) => string,
  lookup: (value: string, setting: string) => string,
): ProviderNetwork | undefined {
  const network: ProviderNetwork = {};
  const asProxy = (value: string, setting: string): string => {
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      throw new ConfigError(`${setting}: not a URL; write the proxy as http://host:port (or https://)`, { details: { setting } });
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new ConfigError(`${setting}: a proxy URL starts with http:// or https://, not ${url.protocol}//`, { details: { setting } });
    }
    return value;
  };
  if (typeof p.proxy === 'string') {
    const value = secret(p.proxy, `providers.${name}.proxy`);
    if (value) network.proxy = asProxy(value, `providers.${name}.proxy`);
  } else if (p.proxy === undefined) {
    const httpsProxy = env.HTTPS_PROXY || env.https_proxy;
    const httpProxy = env.HTTP_PROXY || env.http_proxy;
    const noProxy = env.NO_PROXY || env.no_proxy;
    if (httpsProxy || httpProxy) {
      network.proxyEnv = {};
      if (httpsProxy) network.proxyEnv.httpsProxy = asProxy(httpsProxy, 'HTTPS_PROXY');
      if (httpProxy) network.proxyEnv.httpProxy = asProxy(httpProxy, 'HTTP_PROXY');
      if (noProxy) network.proxyEnv.noProxy = noProxy;
      // Credentials in a proxy URL are redacted like any secret.
      for (const u of [httpsProxy, httpProxy]) if (u && new URL(u).password) secret(new URL(u).password, 'a proxy password');
    }
  }
  if (p.tls?.ca) {
    const pem = lookup(p.tls.ca, `providers.${name}.tls.ca`);
    if (pem && !pem.includes('-----BEGIN CERTIFICATE-----')) {
      throw new ConfigError(`providers.${name}.tls.ca: not a PEM certificate; point it at a .pem file with file:/path`, {
        details: { setting: `providers.${name}.tls.ca` },
      });
    }
    const ca = [...rootCertificates];
    if (env.NODE_EXTRA_CA_CERTS) {
      try {
        ca.push(readFileSync(env.NODE_EXTRA_CA_CERTS, 'utf8'));
      } catch (err) {
        throw new ConfigError(
          `NODE_EXTRA_CA_CERTS: cannot read ${env.NODE_EXTRA_CA_CERTS} (${(err as NodeJS.ErrnoException).code ?? 'error'})`,
          { details: { setting: 'NODE_EXTRA_CA_CERTS' } },
        );
      }
    }
    if (pem) ca.push(pem);
    network.ca = ca;
  }
  return network.proxy || network.proxyEnv || network.ca ? network : undefined;
}
