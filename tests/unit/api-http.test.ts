/**
 * The daemon's HTTP/1.1 layer on a real unix socket, driven with raw bytes: keep-alive, pipelining,
 * chunked bodies, HEAD, malformed input, limits, timeouts, streaming and hijack with half-close.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { hijack } from "../../src/server/hijack.ts";
import { createApp, json, Router, stream } from "../../src/server/router.ts";
import { serve, type HttpServer } from "../../src/server/server.ts";
import { ChunkedDecoder, HttpError, parseHead } from "../../src/server/http1.ts";

const dir = mkdtempSync(join(tmpdir(), "bunker-api-http-"));
const sock = join(dir, "api.sock");
let server: HttpServer;
let aborted = 0;
let releaseStream: (() => void) | undefined;

beforeAll(() => {
  const r = new Router();
  r.get("/hello", () => json({ hello: "world" }));
  // Like moby, GET routes do not answer HEAD by themselves; a HEAD route's body is dropped on the wire.
  r.head("/hello", () => json({ hello: "world" }));
  r.post("/echo", async (req) => {
    const body = new Uint8Array(await req.arrayBuffer());
    return json({ length: body.length, text: new TextDecoder().decode(body) });
  });
  r.post("/small", async (req) => json({ length: (await req.arrayBuffer()).byteLength }), { maxBody: 100 });
  r.post("/upload", async (req) => {
    let n = 0;
    for await (const c of req.body!) n += c.length;
    return json({ length: n });
  }, { body: "stream" });
  r.get("/stream", (req) =>
    stream(async (write, signal) => {
      write('{"n":1}\n');
      await new Promise<void>((resolve) => {
        releaseStream = resolve;
        signal.addEventListener("abort", () => resolve());
      });
      write('{"n":2}\n');
    }, { signal: req.signal }),
  );
  r.get("/hang", (req) =>
    new Promise<Response>((resolve) => {
      req.signal.addEventListener("abort", () => {
        aborted++;
        resolve(json({}));
      });
    }),
  );
  r.post("/attach", (req) =>
    hijack(req, "application/vnd.docker.raw-stream", async (conn) => {
      // Echo stdin upper-cased until the client half-closes, then say goodbye and close.
      for await (const c of conn.readable) await conn.write(new TextDecoder().decode(c).toUpperCase());
      await conn.write("BYE");
    }),
  );
  const app = createApp(r);
  server = serve(app, [{ unix: sock }], { limits: { headerTimeoutMs: 300, bodyIdleTimeoutMs: 300, maxHeaderBytes: 4096 } });
});
afterAll(async () => {
  await server.close(100);
  rmSync(dir, { recursive: true, force: true });
});

/** A raw client: send bytes, read what comes back until the server closes or `ms` passed. */
async function raw(chunks: (string | Uint8Array)[], opts: { ms?: number; gapMs?: number; halfClose?: boolean } = {}) {
  let out = "";
  let closed = false;
  let resolveClosed!: () => void;
  const done = new Promise<void>((r) => (resolveClosed = r));
  const s = await Bun.connect({
    unix: sock,
    allowHalfOpen: true,
    socket: {
      data(_s, d) {
        out += new TextDecoder().decode(d);
      },
      close() {
        closed = true;
        resolveClosed();
      },
      end() {
        closed = true;
        resolveClosed();
      },
    },
  });
  for (const c of chunks) {
    s.write(c);
    if (opts.gapMs) await Bun.sleep(opts.gapMs);
  }
  if (opts.halfClose) s.shutdown();
  await Promise.race([done, Bun.sleep(opts.ms ?? 500)]);
  s.end();
  return { out, closed, socket: s };
}

/** Splits a byte stream of responses into [head, body] pairs (bodies by Content-Length or chunked). */
function responses(out: string): { status: number; headers: Record<string, string>; body: string }[] {
  const res = [];
  let rest = out;
  while (rest.length) {
    const end = rest.indexOf("\r\n\r\n");
    if (end < 0) break;
    const [statusLine, ...lines] = rest.slice(0, end).split("\r\n");
    const headers: Record<string, string> = {};
    for (const l of lines) headers[l.slice(0, l.indexOf(":")).toLowerCase()] = l.slice(l.indexOf(":") + 1).trim();
    rest = rest.slice(end + 4);
    let body = "";
    if (headers["content-length"] !== undefined && !/^HTTP\/1\.1 (1|204|304)/.test(statusLine!)) {
      const n = Number(headers["content-length"]);
      body = rest.slice(0, n);
      rest = rest.slice(n);
    } else if (headers["transfer-encoding"] === "chunked") {
      for (;;) {
        const nl = rest.indexOf("\r\n");
        const size = parseInt(rest.slice(0, nl), 16);
        rest = rest.slice(nl + 2);
        if (size === 0) {
          rest = rest.slice(2);
          break;
        }
        body += rest.slice(0, size);
        rest = rest.slice(size + 2);
      }
    }
    res.push({ status: Number(statusLine!.split(" ")[1]), headers, body });
  }
  return res;
}

describe("parser", () => {
  test("request head: methods, targets, framing, keep-alive", () => {
    const h = parseHead(new TextEncoder().encode("POST http://api.moby.localhost/v1.50/images/create?fromImage=alpine HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: Upgrade\r\nUpgrade: tcp"));
    expect(h).toMatchObject({ method: "POST", target: "/v1.50/images/create?fromImage=alpine", chunked: true, contentLength: null, keepAlive: true, upgrade: "tcp" });
    expect(parseHead(new TextEncoder().encode("GET / HTTP/1.0")).keepAlive).toBe(false);
    expect(parseHead(new TextEncoder().encode("GET / HTTP/1.0\r\nConnection: keep-alive")).keepAlive).toBe(true);
    expect(parseHead(new TextEncoder().encode("GET / HTTP/1.1\r\nConnection: close")).keepAlive).toBe(false);
  });
  test("smuggling-prone and malformed heads are refused", () => {
    const bad = (s: string) => {
      try {
        parseHead(new TextEncoder().encode(s));
        return 0;
      } catch (e) {
        return (e as HttpError).status;
      }
    };
    expect(bad("GET /")).toBe(400);
    expect(bad("GET  / HTTP/1.1")).toBe(400);
    expect(bad("G@T / HTTP/1.1")).toBe(400);
    expect(bad("GET / HTTP/2.0")).toBe(505);
    expect(bad("GET / FOO/1.1")).toBe(400);
    expect(bad("GET nothing HTTP/1.1")).toBe(400);
    expect(bad("GET / HTTP/1.1\r\nHost : x")).toBe(400);
    expect(bad("GET / HTTP/1.1\r\nX: a\r\n  folded")).toBe(400);
    expect(bad("GET / HTTP/1.1\r\nNoColon")).toBe(400);
    expect(bad("POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked")).toBe(400);
    expect(bad("POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4")).toBe(400);
    expect(bad("POST / HTTP/1.1\r\nContent-Length: -1")).toBe(400);
    expect(bad("POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked")).toBe(501);
    expect(bad("POST / HTTP/1.1\r\nContent-Length: 3, 3")).toBe(0);
  });
  test("chunked decoder under any split, with extensions and trailers, stops at the end", () => {
    const wire = "5;ext=1\r\nhello\r\n7\r\n, world\r\n0\r\nTrailer: x\r\n\r\nNEXT";
    const bytes = new TextEncoder().encode(wire);
    for (let split = 1; split < bytes.length; split++) {
      let got = "";
      const d = new ChunkedDecoder((c) => (got += new TextDecoder().decode(c)));
      const used = d.push(bytes.subarray(0, split));
      const used2 = used === split ? d.push(bytes.subarray(split)) : 0;
      expect(got).toBe("hello, world");
      expect(d.done).toBe(true);
      expect(new TextDecoder().decode(bytes.subarray(used + used2))).toBe("NEXT");
    }
    expect(() => new ChunkedDecoder(() => {}).push(new TextEncoder().encode("zz\r\n"))).toThrow(HttpError);
    expect(() => new ChunkedDecoder(() => {}).push(new TextEncoder().encode("2\r\nabX\r\n"))).toThrow(HttpError);
  });
});

describe("server", () => {
  test("keep-alive: several requests on one connection, then Connection: close ends it", async () => {
    const r = await raw(["GET /hello HTTP/1.1\r\nHost: x\r\n\r\n", "GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"], { gapMs: 50 });
    const rs = responses(r.out);
    expect(rs.map((x) => x.status)).toEqual([200, 200]);
    expect(rs[0]!.headers["content-type"]).toBe("application/json");
    expect(JSON.parse(rs[0]!.body)).toEqual({ hello: "world" });
    expect(rs[1]!.headers.connection).toBe("close");
    expect(r.closed).toBe(true);
  });

  test("pipelined requests in one write are answered in order", async () => {
    const req = "POST /echo HTTP/1.1\r\nContent-Length: 3\r\n\r\nabcGET /hello HTTP/1.1\r\n\r\nPOST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nxy\r\n0\r\n\r\n";
    const rs = responses((await raw([req])).out);
    expect(rs.map((x) => x.body && JSON.parse(x.body))).toEqual([{ length: 3, text: "abc" }, { hello: "world" }, { length: 2, text: "xy" }]);
  });

  test("chunked request body split over many writes; bare LF heads", async () => {
    const rs = responses((await raw(["POST /echo HTTP/1.1\r\nTransfer-", "Encoding: chunked\r\n\r\n4\r\nab", "cd\r\n3;x=y\r\nefg\r", "\n0\r\n\r\n"], { gapMs: 20 })).out);
    expect(JSON.parse(rs[0]!.body)).toEqual({ length: 7, text: "abcdefg" });
    const lf = responses((await raw(["GET /hello HTTP/1.1\nHost: x\n\n"])).out);
    expect(lf[0]!.status).toBe(200);
  });

  test("HEAD: headers only, also for errors; the connection stays usable", async () => {
    const r = await raw(["HEAD /hello HTTP/1.1\r\n\r\n", "HEAD /nope HTTP/1.1\r\n\r\n", "GET /hello HTTP/1.1\r\n\r\n"], { gapMs: 30 });
    const heads = r.out.split("HTTP/1.1 ").slice(1);
    expect(heads.map((h) => h.slice(0, 3))).toEqual(["200", "404", "200"]);
    expect(heads[0]!.endsWith("\r\n\r\n")).toBe(true);
    expect(heads[0]).toContain("Content-Length: 18\r\n");
    expect(heads[1]!.endsWith("\r\n\r\n")).toBe(true);
    expect(heads[2]).toContain('{"hello":"world"}');
  });

  test("malformed request line or header: 400 JSON, closed; the daemon keeps serving", async () => {
    for (const bad of ["BAD\r\n\r\n", "GET / HTTP/1.1\r\nHost : x\r\n\r\n", "GET / HTTP/1.1\r\nX: \x01\r\n\r\n", "POST /echo HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", "POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"]) {
      const r = await raw([bad]);
      expect(r.out).toStartWith("HTTP/1.1 400 Bad Request\r\n");
      expect(r.out).toContain("Content-Type: application/json\r\n");
      expect(r.closed).toBe(true);
    }
    expect(responses((await raw(["GET /hello HTTP/1.1\r\n\r\n"])).out)[0]!.status).toBe(200);
  });

  test("oversized bodies: 413 by Content-Length at once, and by counting chunked bytes", async () => {
    const r = await raw(["POST /small HTTP/1.1\r\nContent-Length: 101\r\n\r\n"]);
    expect(r.out).toStartWith("HTTP/1.1 413 ");
    expect(r.closed).toBe(true);
    const big = "x".repeat(60);
    const c = await raw([`POST /small HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3c\r\n${big}\r\n3c\r\n${big}\r\n0\r\n\r\n`]);
    expect(c.out).toStartWith("HTTP/1.1 413 ");
    const ok = responses((await raw([`POST /small HTTP/1.1\r\nContent-Length: 100\r\n\r\n${"y".repeat(100)}`])).out);
    expect(JSON.parse(ok[0]!.body)).toEqual({ length: 100 });
  });

  test("streaming request bodies reach the handler as a stream, without the buffered limit", async () => {
    const body = "z".repeat(200_000);
    const rs = responses((await raw([`POST /upload HTTP/1.1\r\nContent-Length: ${body.length}\r\n\r\n`, body.slice(0, 70_000), body.slice(70_000)], { gapMs: 10 })).out);
    expect(JSON.parse(rs[0]!.body)).toEqual({ length: 200_000 });
  });

  test("head too large: 431", async () => {
    const r = await raw([`GET /hello HTTP/1.1\r\nX-Big: ${"a".repeat(5000)}\r\n\r\n`]);
    expect(r.out).toStartWith("HTTP/1.1 431 ");
  });

  test("slowloris: a head that never completes gets 408 and is closed; so does a stalled body", async () => {
    const t0 = Date.now();
    const r = await raw(["GET /hello HTTP/1.1\r\n", "X-A: 1\r\n", "X-B: 2\r\n", "X-C: 3\r\n"], { gapMs: 100, ms: 2000 });
    expect(r.out).toStartWith("HTTP/1.1 408 ");
    expect(r.closed).toBe(true);
    expect(Date.now() - t0).toBeLessThan(1500);
    const b = await raw(["POST /echo HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc"], { ms: 2000 });
    expect(b.out).toStartWith("HTTP/1.1 408 ");
    expect(b.closed).toBe(true);
  });

  test("Expect: 100-continue", async () => {
    const r = await raw(["POST /echo HTTP/1.1\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n", "ok"], { gapMs: 50 });
    expect(r.out).toStartWith("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n");
  });

  test("streaming responses: head and first chunk before the end; terminated with the last chunk", async () => {
    let out = "";
    const s = await Bun.connect({ unix: sock, socket: { data(_s, d) { out += new TextDecoder().decode(d); } } });
    s.write("GET /stream HTTP/1.1\r\n\r\n");
    await Bun.sleep(100);
    expect(out).toContain("Transfer-Encoding: chunked\r\n");
    expect(out).toEndWith('8\r\n{"n":1}\n\r\n');
    releaseStream!();
    await Bun.sleep(100);
    expect(out).toEndWith('8\r\n{"n":2}\n\r\n0\r\n\r\n');
    s.end();
  });

  test("a client that goes away aborts the request's signal", async () => {
    const before = aborted;
    const s = await Bun.connect({ unix: sock, socket: { data() {} } });
    s.write("GET /hang HTTP/1.1\r\n\r\n");
    await Bun.sleep(50);
    s.end();
    await Bun.sleep(100);
    expect(aborted).toBe(before + 1);
  });

  test("hijack with Upgrade: 101 UPGRADED, body consumed, stdin echoed, half-close keeps output flowing", async () => {
    const r = await raw(['POST /attach HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: 9\r\n\r\n{"a":"b"}hello ', "world"], { gapMs: 30, halfClose: true, ms: 1000 });
    expect(r.out).toStartWith("HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.raw-stream\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n");
    expect(r.out.slice(r.out.indexOf("\r\n\r\n") + 4)).toBe("HELLO WORLDBYE");
    expect(r.closed).toBe(true);
  });

  test("hijack without Upgrade: 200 OK raw stream, no framing", async () => {
    const r = await raw(["POST /attach HTTP/1.1\r\n\r\nabc"], { halfClose: true, ms: 1000 });
    expect(r.out).toBe("HTTP/1.1 200 OK\r\nContent-Type: application/vnd.docker.raw-stream\r\n\r\nABCBYE");
  });

  test("server close: idle connections go at once, socket stops accepting", async () => {
    const r = new Router().get("/x", () => json(1));
    const path = join(dir, "other.sock");
    const s2 = serve(createApp(r), [{ unix: path }]);
    let closed = false;
    await Bun.connect({ unix: path, socket: { data() {}, close() { closed = true; } } });
    await Bun.sleep(20);
    expect(s2.connections).toBe(1);
    await s2.close(100);
    await Bun.sleep(20);
    expect(closed).toBe(true);
    expect(Bun.connect({ unix: path, socket: { data() {} } })).rejects.toThrow();
  });
});
