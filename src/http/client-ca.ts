import { X509Certificate } from 'node:crypto';

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;

/**
 * Why a client CA bundle cannot verify any client, or undefined when it
 * can. Node takes a bundle without one certificate in it without a word,
 * and then refuses every client at its handshake.
 */
export function clientCaProblem(pem: string): string | undefined {
  const blocks = pem.match(PEM_CERTIFICATE) ?? [];
  if (blocks.length === 0) return 'holds no PEM certificate (-----BEGIN CERTIFICATE-----)';
  for (const [i, block] of blocks.entries()) {
    try {
      new X509Certificate(block);
    } catch (error) {
      return `certificate ${i + 1} cannot be read: ${(error as Error).message}`;
    }
  }
  return undefined;
}
