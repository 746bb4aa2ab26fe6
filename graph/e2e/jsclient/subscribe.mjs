#!/usr/bin/env node
// subscribe.mjs follows Custody's `custodyEvents` subscription with the
// graphql-ws client library, the one most JavaScript HR integrations use,
// so graph/e2e/interop_test.go can prove the server speaks
// graphql-transport-ws the way that library expects, not only the way our
// own Go test client reads the protocol.
//
// Usage:
//   node subscribe.mjs --url http://127.0.0.1:8080 --count 5 [--after 12] [--filter '{"types":["RETURN_RECEIVED"]}']
//
// Every option falls back to the environment: CUSTODY_URL, CUSTODY_TOKEN,
// CUSTODY_AFTER, CUSTODY_COUNT, CUSTODY_FILTER. The token is read from
// CUSTODY_TOKEN (or --token): the environment keeps it out of the process
// list. The URL may be the server's base URL or its /graphql endpoint, over
// http(s) or ws(s).
//
// Each event received is printed as one line of JSON on stdout. The exit
// status is 0 after --count events, 1 when the server refuses the operation
// or the connection fails or closes first (with the reason on stderr), and
// 2 for bad usage.

import { parseArgs } from 'node:util';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';

const query = `subscription($after: Int, $filter: CustodyEventStreamFilter) {
  custodyEvents(after: $after, filter: $filter) {
    seq type recordedAt
    asset { id serial state }
    offboardingCase { id status }
  }
}`;

function usage(message) {
  process.stderr.write(`subscribe.mjs: ${message}\n` +
    'usage: CUSTODY_TOKEN=<token> node subscribe.mjs --url <url> --count <n> [--after <seq>] [--filter <json>]\n');
  process.exit(2);
}

function options() {
  let parsed;
  try {
    parsed = parseArgs({
      options: {
        url: { type: 'string' },
        token: { type: 'string' },
        after: { type: 'string' },
        count: { type: 'string' },
        filter: { type: 'string' },
      },
    });
  } catch (err) {
    usage(err.message);
  }
  const v = parsed.values;
  const env = process.env;
  const raw = {
    url: v.url ?? env.CUSTODY_URL,
    token: v.token ?? env.CUSTODY_TOKEN,
    after: v.after ?? env.CUSTODY_AFTER,
    count: v.count ?? env.CUSTODY_COUNT,
    filter: v.filter ?? env.CUSTODY_FILTER,
  };
  if (!raw.url) usage('--url (or CUSTODY_URL) is required');
  if (!raw.token) usage('CUSTODY_TOKEN (or --token) is required');
  const count = Number(raw.count);
  if (!Number.isSafeInteger(count) || count < 1) usage(`--count must be a positive integer, got ${raw.count}`);
  let after = null;
  if (raw.after !== undefined && raw.after !== '') {
    after = Number(raw.after);
    if (!Number.isSafeInteger(after) || after < 0) usage(`--after must be a sequence number (0 or more), got ${raw.after}`);
  }
  let filter = null;
  if (raw.filter) {
    try {
      filter = JSON.parse(raw.filter);
    } catch (err) {
      usage(`--filter is not JSON: ${err.message}`);
    }
  }
  return { url: wsURL(raw.url), token: raw.token, after, count, filter };
}

// wsURL turns the server's base or endpoint URL into its WebSocket endpoint.
function wsURL(raw) {
  let u;
  try {
    u = new URL(raw);
  } catch {
    usage(`--url is not a URL: ${raw}`);
  }
  if (u.protocol === 'http:') u.protocol = 'ws:';
  if (u.protocol === 'https:') u.protocol = 'wss:';
  if (u.protocol !== 'ws:' && u.protocol !== 'wss:') usage(`--url must be http(s) or ws(s), got ${u.protocol}`);
  if (!u.pathname.endsWith('/graphql')) u.pathname = u.pathname.replace(/\/?$/, '/graphql');
  return u.toString();
}

// describe renders whatever graphql-ws hands an error sink: a CloseEvent, an
// Error, or the GraphQL errors of a refused operation.
function describe(err) {
  if (Array.isArray(err)) return `operation refused: ${JSON.stringify(err)}`;
  if (err && typeof err === 'object' && 'code' in err && 'reason' in err) {
    return `connection closed with code ${err.code}${err.reason ? ` (${err.reason})` : ''}`;
  }
  if (err instanceof Error) return err.message;
  return String(err);
}

// finish writes the last output before exiting, so a piped stdout is not cut.
function finish(status, message) {
  if (message) process.stderr.write(`subscribe.mjs: ${message}\n`);
  process.stdout.write('', () => process.exit(status));
}

const opts = options();
// One attempt, no retries: the test wants every close reported, and decides
// itself whether a real client would have resumed.
const client = createClient({
  url: opts.url,
  webSocketImpl: WebSocket,
  connectionParams: { authorization: `Bearer ${opts.token}` },
  retryAttempts: 0,
  lazy: true,
  // A close during the operation must fail it, not end it quietly.
  shouldRetry: () => false,
});

let received = 0;
let done = false;
const end = (status, message) => {
  if (done) return;
  done = true;
  // dispose closes the socket with 1000; the server's answer is not awaited.
  client.dispose();
  finish(status, message);
};

client.subscribe(
  { query, variables: { after: opts.after, filter: opts.filter } },
  {
    next: (result) => {
      if (done) return;
      if (result.errors?.length) {
        end(1, `event with errors: ${JSON.stringify(result.errors)}`);
        return;
      }
      const event = result.data?.custodyEvents;
      if (!event) {
        end(1, `event without data: ${JSON.stringify(result)}`);
        return;
      }
      process.stdout.write(`${JSON.stringify(event)}\n`);
      received++;
      if (received >= opts.count) end(0);
    },
    error: (err) => end(1, `after ${received} of ${opts.count} events: ${describe(err)}`),
    complete: () => end(1, `the server completed the subscription after ${received} of ${opts.count} events`),
  },
);
