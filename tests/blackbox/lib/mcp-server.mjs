// An MCP server for the agent's tests, written with the official SDK (@modelcontextprotocol/sdk):
// the low-level Server (so each tool's JSON Schema is exactly as written here) behind the
// Streamable HTTP transport, stateful (Mcp-Session-Id; a request naming no known session is
// refused), answering with an SSE stream or, with `json: true`, with application/json.
// `apiKey`: requests without `x-api-key: <apiKey>` are 401. `tools`: what it lists, read at each
// tools/list (the test may change the array); `port`: a given one (0: any free one).
import { randomUUID } from 'node:crypto';
import http from 'node:http';

import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { CallToolRequestSchema, ListToolsRequestSchema } from '@modelcontextprotocol/sdk/types.js';

const object = (properties, required = []) => ({ type: 'object', properties, required, additionalProperties: false });

// What every test server lists: `add` and `echo` answer, `fail` answers with isError,
// `admin_reset` is never on an allowlist, `fancy`'s schema is outside the service's subset.
export const TOOLS = [
  { name: 'add', description: 'Adds two numbers.', inputSchema: { $schema: 'http://json-schema.org/draft-07/schema#', ...object({ a: { type: 'number' }, b: { type: 'number' } }, ['a', 'b']) } },
  { name: 'echo', description: 'Says the text back.', inputSchema: object({ text: { type: 'string' } }, ['text']) },
  { name: 'fail', description: 'Always fails.', inputSchema: object({}) },
  { name: 'admin_reset', description: 'Not for models.', inputSchema: object({}) },
  { name: 'fancy', description: 'A schema with oneOf.', inputSchema: { type: 'object', properties: { v: { oneOf: [{ type: 'string' }, { type: 'number' }] } } } },
];

function newServer(calls, tools) {
  const server = new Server({ name: 'test-mcp', version: '1.0.0' }, { capabilities: { tools: {} } });
  server.setRequestHandler(ListToolsRequestSchema, async () => ({ tools }));
  server.setRequestHandler(CallToolRequestSchema, async (req) => {
    const { name, arguments: args = {} } = req.params;
    calls.push({ name, args });
    if (name === 'add') return { content: [{ type: 'text', text: String(args.a + args.b) }] };
    if (name === 'echo') return { content: [{ type: 'text', text: `echo: ${args.text}` }] };
    if (name === 'fail') return { content: [{ type: 'text', text: 'disk full' }], isError: true };
    if (name === 'admin_reset') return { content: [{ type: 'text', text: 'everything was reset' }] };
    throw new Error(`unknown tool ${name}`);
  });
  return server;
}

export async function startMcpServer({ json = false, apiKey, tools = TOOLS, port = 0 } = {}) {
  const sessions = new Map();  // Mcp-Session-Id -> transport
  const calls = [];            // every tools/call, in order
  const seen = { sessionHeaders: 0, initializes: 0 };
  const httpServer = http.createServer(async (req, res) => {
    try {
      if (apiKey && req.headers['x-api-key'] !== apiKey) {
        res.writeHead(401, { 'content-type': 'application/json' });
        return res.end('{"error":"unauthorized"}');
      }
      const chunks = [];
      for await (const c of req) chunks.push(c);
      const body = chunks.length ? JSON.parse(Buffer.concat(chunks).toString('utf8')) : undefined;
      const sid = req.headers['mcp-session-id'];
      let transport = sid ? sessions.get(sid) : undefined;
      if (sid) seen.sessionHeaders += 1;
      if (!transport && !sid && body?.method === 'initialize') {
        seen.initializes += 1;
        transport = new StreamableHTTPServerTransport({
          sessionIdGenerator: () => randomUUID(),
          enableJsonResponse: json,
          onsessioninitialized: (id) => sessions.set(id, transport),
        });
        await newServer(calls, tools).connect(transport);
      }
      if (!transport) {
        res.writeHead(sid ? 404 : 400, { 'content-type': 'application/json' });
        return res.end(JSON.stringify({ jsonrpc: '2.0', error: { code: -32000, message: 'no such session' }, id: null }));
      }
      await transport.handleRequest(req, res, body);
    } catch (e) {
      if (!res.headersSent) res.writeHead(500);
      res.end(String(e));
    }
  });
  await new Promise((resolve, reject) => httpServer.once('error', reject).listen(port, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${httpServer.address().port}/mcp`;
  return {
    url,
    tools,
    calls,
    seen,
    // Forgets every session (as a restarted server would): the next request with one gets 404.
    forgetSessions() { sessions.clear(); },
    async stop() {
      httpServer.closeAllConnections();
      await new Promise((resolve) => httpServer.close(resolve));
    },
  };
}
