/**
 * A small static file server for the e2e specs that need their own origin (csp.spec.ts,
 * widget.spec.ts): a folder, generated pages, extra routes, on a free port.
 */
import { readFileSync, statSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join } from 'node:path';

export const MIME: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.wasm': 'application/wasm',
  '.json': 'application/json',
  '.bin': 'application/octet-stream',
  '.css': 'text/css',
  '.svg': 'image/svg+xml',
};

export interface StaticServer {
  origin: string;
  /** Paths requested so far (decoded). */
  requests: string[];
  close(): Promise<void>;
}

export interface ServeOptions {
  /** Where to listen, and the host of `origin` (default 127.0.0.1). */
  host?: string;
  /** Headers for every response the server writes itself, or per status code. */
  headers?: Record<string, string> | ((status: number) => Record<string, string>);
  /** Generated responses by path (Content-Type from the path's extension), given the query. */
  pages?: Record<string, (query: URLSearchParams) => string>;
  /** Extra routes, tried before anything else: true when it has answered. */
  route?: (req: IncomingMessage, res: ServerResponse, url: URL) => boolean;
  /** A directory serves its index.html. */
  index?: boolean;
  /** A path outside the root is answered 403 (otherwise like a missing file). */
  forbidOutside?: boolean;
  /** Answers a missing file instead of the default 404 (body `not found`, with the headers). */
  notFound?: (url: URL, res: ServerResponse) => void;
}

const typeOf = (file: string) => MIME[extname(file)] ?? 'application/octet-stream';

/** Serves `root` (and `opts.pages`) on a free port; the favicon is an empty 204. */
export async function serve(root: string, opts: ServeOptions = {}): Promise<StaticServer> {
  const host = opts.host ?? '127.0.0.1';
  const headers = (status: number): Record<string, string> =>
    typeof opts.headers === 'function' ? opts.headers(status) : { ...opts.headers };
  const requests: string[] = [];
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const path = decodeURIComponent(url.pathname);
    requests.push(path);
    if (opts.route?.(req, res, url)) return;
    const notFound = () => {
      if (opts.notFound) return opts.notFound(url, res);
      res.writeHead(404, headers(404));
      res.end('not found');
    };
    // Browsers ask for an icon on their own; the pages have none.
    if (path === '/favicon.ico') {
      res.writeHead(204, headers(204));
      res.end();
      return;
    }
    const page = opts.pages?.[path];
    if (page) {
      res.writeHead(200, { ...headers(200), 'Content-Type': typeOf(path) });
      res.end(page(url.searchParams));
      return;
    }
    let file = join(root, path);
    if (!file.startsWith(root)) {
      if (!opts.forbidOutside) return notFound();
      res.writeHead(403, headers(403));
      res.end();
      return;
    }
    if (opts.index && statSync(file, { throwIfNoEntry: false })?.isDirectory())
      file = join(file, 'index.html');
    let body: Buffer;
    try {
      body = readFileSync(file);
    } catch {
      return notFound();
    }
    res.writeHead(200, { ...headers(200), 'Content-Type': typeOf(file) });
    res.end(body);
  });
  await new Promise<void>((ok) => server.listen(0, host, ok));
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://${host}:${port}`,
    requests,
    close: () => new Promise((ok) => server.close(() => ok())),
  };
}
