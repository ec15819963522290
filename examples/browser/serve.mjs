// Static file server for the browser example and test: serves the repo root, cross-origin isolated (wasm threads need it).
//
// `node examples/browser/serve.mjs [port]` prints the example's URL; tests import startServer() instead.
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createServer } from 'node:http';
import { extname, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

const MIME = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.wasm': 'application/wasm',
  '.wgsl': 'text/plain; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.ts': 'text/plain; charset=utf-8',
};

// SharedArrayBuffer (shared wasm memory for the worker pool) exists only in cross-origin isolated pages.
const ISOLATION = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
  'Cross-Origin-Resource-Policy': 'same-origin',
};

/**
 * Starts the server on 127.0.0.1 (port 0: an ephemeral one).
 * @param {{ root?: string, port?: number, log?: boolean }} [opts]
 * @returns {Promise<{ url: string, port: number, close: () => Promise<void> }>}
 */
export async function startServer(opts = {}) {
  const root = resolve(opts.root ?? REPO_ROOT);
  const server = createServer(async (req, res) => {
    const send = (code, text) => {
      res.writeHead(code, { ...ISOLATION, 'Content-Type': 'text/plain; charset=utf-8' });
      res.end(text);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, 'method not allowed');
    let path;
    try {
      path = decodeURIComponent(new URL(req.url ?? '/', 'http://localhost').pathname);
    } catch {
      return send(400, 'bad path');
    }
    let file = resolve(root, `.${path}`);
    // Never serve anything outside the root (../ and encoded variants are resolved away above).
    if (file !== root && !file.startsWith(root + sep)) return send(403, 'forbidden');
    try {
      let st = await stat(file);
      if (st.isDirectory()) { file = resolve(file, 'index.html'); st = await stat(file); }
      res.writeHead(200, {
        ...ISOLATION,
        'Content-Type': MIME[extname(file)] ?? 'application/octet-stream',
        'Content-Length': st.size,
        'Cache-Control': 'no-store',
      });
      if (req.method === 'HEAD') return res.end();
      createReadStream(file).on('error', () => res.destroy()).pipe(res);
    } catch {
      send(404, `not found: ${path}`);
    }
    if (opts.log) console.log(`${req.method} ${path}`);
  });
  await new Promise((ok, fail) => {
    server.once('error', fail);
    server.listen(opts.port ?? 0, '127.0.0.1', () => ok(undefined));
  });
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  return {
    url: `http://127.0.0.1:${port}/`,
    port,
    close: () => new Promise((ok) => { server.closeAllConnections(); server.close(() => ok(undefined)); }),
  };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const port = Number(process.argv[2] ?? 0);
  const s = await startServer({ port, log: true });
  console.log(`vggrt browser example: ${s.url}examples/browser/  (serving ${REPO_ROOT}, cross-origin isolated)`);
}
