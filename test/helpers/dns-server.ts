/**
 * A real DNS server on loopback (UDP and TCP, via the dns2 library) for tests and benchmarks.
 * Every A query is answered with 127.0.0.1 unless a test sets another address; TXT and CNAME
 * records are set by the test. The CA's validator is pointed at it with --dns-resolvers.
 */
import dns2 from 'dns2';

const { Packet } = dns2;

export interface TestDnsServer {
  /** UDP and TCP port, the same number for both. */
  readonly port: number;
  /** `127.0.0.1:<port>`, the value for --dns-resolvers. */
  readonly resolver: string;
  setA(name: string, addresses: string[]): void;
  setAAAA(name: string, addresses: string[]): void;
  setTxt(name: string, values: string[]): void;
  clearTxt(name: string): void;
  setCname(name: string, target: string): void;
  close(): Promise<void>;
}

export interface DnsServerOptions {
  /** Answer A queries for names without an explicit record (default 127.0.0.1; null for NXDOMAIN). */
  defaultA?: string | null;
  port?: number;
}

const normalize = (name: string): string => name.toLowerCase().replace(/\.$/, '');

export async function startDnsServer(options: DnsServerOptions = {}): Promise<TestDnsServer> {
  const defaultA = options.defaultA === undefined ? '127.0.0.1' : options.defaultA;
  const a = new Map<string, string[]>();
  const aaaa = new Map<string, string[]>();
  const txt = new Map<string, string[]>();
  const cname = new Map<string, string>();

  const handle: Handler = (request, send) => {
    const response = Packet.createResponseFromRequest(request);
    const question = request.questions[0];
    if (!question) {
      send(response);
      return;
    }
    const name = normalize(question.name);
    const target = cname.get(name);
    if (target !== undefined) {
      response.answers.push({ name: question.name, type: Packet.TYPE.CNAME, class: Packet.CLASS.IN, ttl: 1, domain: target } as never);
      send(response);
      return;
    }
    switch (question.type) {
      case Packet.TYPE.A: {
        const list = a.get(name) ?? (defaultA ? [defaultA] : []);
        for (const address of list) {
          response.answers.push({ name: question.name, type: Packet.TYPE.A, class: Packet.CLASS.IN, ttl: 1, address } as never);
        }
        break;
      }
      case Packet.TYPE.AAAA:
        for (const address of aaaa.get(name) ?? []) {
          response.answers.push({ name: question.name, type: Packet.TYPE.AAAA, class: Packet.CLASS.IN, ttl: 1, address } as never);
        }
        break;
      case Packet.TYPE.TXT:
        for (const data of txt.get(name) ?? []) {
          response.answers.push({ name: question.name, type: Packet.TYPE.TXT, class: Packet.CLASS.IN, ttl: 1, data } as never);
        }
        break;
      default:
        break;
    }
    send(response);
  };

  const server = await listenOnOnePort(handle, options.port);
  const udpPort = (server.addresses() as { udp: { port: number } }).udp.port;

  return {
    port: udpPort,
    resolver: `127.0.0.1:${udpPort}`,
    setA: (name, list) => void a.set(normalize(name), list),
    setAAAA: (name, list) => void aaaa.set(normalize(name), list),
    setTxt: (name, values) => void txt.set(normalize(name), values),
    clearTxt: (name) => void txt.delete(normalize(name)),
    setCname: (name, targetName) => void cname.set(normalize(name), targetName),
    close: async () => {
      await server.close();
    },
  };
}

type Handler = Parameters<typeof dns2.createServer>[0]['handle'];

/**
 * dns2 reports a failed bind only as an 'error' event (its listen promise never settles), so the
 * error is raced against it. Without a fixed port, UDP and TCP must share one number: take the
 * kernel's UDP port and rebind both on it, starting over when TCP cannot have it.
 */
async function listenOnOnePort(handle: Handler, fixedPort: number | undefined): Promise<ReturnType<typeof dns2.createServer>> {
  const listen = async (port: number): Promise<ReturnType<typeof dns2.createServer>> => {
    const server = dns2.createServer({ udp: true, tcp: true, handle });
    const failed = new Promise<never>((_, reject) => server.once('error', (e: Error) => reject(e)));
    try {
      await Promise.race([server.listen({ udp: { port, address: '127.0.0.1', type: 'udp4' }, tcp: { port, address: '127.0.0.1' } } as never), failed]);
      failed.catch(() => undefined);
      return server;
    } catch (e) {
      await server.close().catch(() => undefined);
      throw e;
    }
  };
  if (fixedPort) return listen(fixedPort);
  for (let attempt = 0; attempt < 20; attempt++) {
    const probe = await listen(0);
    const { udp, tcp } = probe.addresses() as { udp: { port: number }; tcp: { port: number } };
    if (udp.port === tcp.port) return probe;
    await probe.close();
    try {
      return await listen(udp.port);
    } catch {
      // The port was taken for TCP meanwhile; try another.
    }
  }
  throw new Error('no port on 127.0.0.1 was free for both UDP and TCP in 20 attempts');
}
