/**
 * The remote transport (src/api/remote.ts): the Engine API requests a Backend operation becomes, as the docker
 * CLI makes them, and how answers become results or EngineErrors. JSON calls go to an in-process handler
 * (ApiClient's `fetch`) that records each request and answers as a daemon would; attach/exec's hijacked
 * connection goes to a raw TCP server on 127.0.0.1 that speaks the upgrade and stdcopy frames. No root.
 */
import { afterAll, expect, test } from "bun:test";
import { ApiClient } from "../../src/api/client.ts";
import { remoteBackend } from "../../src/api/remote.ts";
import { createBody } from "../../src/api/wire.ts";
import { EngineError } from "../../src/engine/errors.ts";
import { frame } from "../../src/engine/runtime/frames.ts";

interface Seen {
  method: string;
  path: string;
  query: Record<string, string>;
  headers: Headers;
  body: unknown;
}
const seen: Seen[] = [];
/** Answers by "METHOD /path" (without the version prefix); unknown routes are moby's 404 page. */
const routes = new Map<string, (req: Request) => Response | Promise<Response>>();
async function handler(req: Request): Promise<Response> {
  const url = new URL(req.url);
  const path = url.pathname.replace(/^\/v1\.\d+/, "");
  const text = await req.text();
  seen.push({ method: req.method, path, query: Object.fromEntries(url.searchParams), headers: req.headers, body: text ? JSON.parse(text) : undefined });
  const route = routes.get(`${req.method} ${path}`);
  return route ? route(req) : Response.json({ message: "page not found" }, { status: 404 });
}

/** The hijack side: a raw HTTP/1.1 server whose connections run `session` after the request head. */
let session: (sock: { write(b: Uint8Array | string): void; end(): void }, head: string, stdin: Uint8Array[]) => void = () => {};
const heads: string[] = [];
const hijack = Bun.listen<{ buf: string; stdin: Uint8Array[]; started: boolean }>({
  hostname: "127.0.0.1",
  port: 0,
  socket: {
    open(s) {
      s.data = { buf: "", stdin: [], started: false };
    },
    data(s, chunk) {
      if (s.data.started) return void s.data.stdin.push(new Uint8Array(chunk));
      s.data.buf += new TextDecoder("latin1").decode(chunk);
      const end = s.data.buf.indexOf("\r\n\r\n");
      if (end < 0) return;
      const head = s.data.buf.slice(0, end);
      const len = Number(/content-length: (\d+)/i.exec(head)?.[1] ?? 0);
      if (s.data.buf.length < end + 4 + len) return;
      s.data.started = true;
      heads.push(s.data.buf.slice(0, end + 4 + len));
      session({ write: (b) => void s.write(b), end: () => s.end() }, s.data.buf, s.data.stdin);
    },
  },
});
afterAll(() => hijack.stop(true));

const client = new ApiClient({ fetch: handler, host: `tcp://127.0.0.1:${hijack.port}`, version: "1.50" });
const backend = remoteBackend(client);
const last = () => seen.at(-1)!;
/** An error answer as moby's daemon writes it (Content-Type exactly application/json, as the client checks). */
const apiError = (status: number, message: string) => new Response(JSON.stringify({ message }), { status, headers: { "content-type": "application/json" } });
const enc = new TextEncoder();
const dec = new TextDecoder();

test("create sends the docker CLI's body: entrypoint \"\" as [\"\"], ports exposed, endpoint config on the network", async () => {
  routes.set("POST /containers/create", () => Response.json({ Id: "c1", Warnings: [] }, { status: 201 }));
  const opts = { image: "busybox", name: "web", cmd: ["sh"], entrypoint: "", env: ["A=1"], networkMode: "net1", networkAliases: ["db"], ipv4Address: "10.0.0.9", portBindings: { "80/tcp": [{ HostIp: "", HostPort: "8080" }] }, resources: { Memory: 8 << 20, PidsLimit: 5 }, autoRemove: true };
  expect((await backend.createContainer(opts)).Id).toBe("c1");
  expect(last().query).toEqual({ name: "web" });
  const body = last().body as any;
  expect(body).toEqual(JSON.parse(JSON.stringify(createBody(opts))));
  expect(body.Entrypoint).toEqual([""]);
  expect(body.Cmd).toEqual(["sh"]);
  expect(body.ExposedPorts).toEqual({ "80/tcp": {} });
  expect(body.HostConfig).toMatchObject({ NetworkMode: "net1", AutoRemove: true, Memory: 8 << 20, PidsLimit: 5, PortBindings: { "80/tcp": [{ HostIp: "", HostPort: "8080" }] }, RestartPolicy: { Name: "no", MaximumRetryCount: 0 } });
  expect(body.NetworkingConfig).toEqual({ EndpointsConfig: { net1: { Aliases: ["db"], IPAMConfig: { IPv4Address: "10.0.0.9" } } } });
  const plain = createBody({ image: "x" }) as any;
  expect(plain.HostConfig.NetworkMode).toBe("default");
  expect("PidsLimit" in plain.HostConfig).toBe(false);
  expect("NetworkingConfig" in plain).toBe(false);
  expect(plain.Entrypoint).toBeNull();
});

test("the daemon's errors come back as EngineErrors of its kind and message", async () => {
  routes.set("POST /containers/x/stop", () => apiError(404, "No such container: x"));
  routes.set("DELETE /containers/y", () => apiError(409, 'cannot remove container "/y": container is running'));
  routes.set("POST /containers/z/rename", () => apiError(400, "bad name"));
  const err = async (p: Promise<unknown>) => p.then(() => undefined, (e: EngineError) => [e instanceof EngineError, e.kind, e.message]);
  expect(await err(backend.stopContainer("x", {}))).toEqual([true, "notFound", "No such container: x"]);
  expect(await err(backend.removeContainer("y", { force: false }))).toEqual([true, "conflict", 'cannot remove container "/y": container is running']);
  expect(await err(backend.renameContainer("z", "-"))).toEqual([true, "invalidParameter", "bad name"]);
  expect(last().query).toEqual({ name: "-" });
});

test("pull splits the reference as the CLI does and passes each message on; an error message fails it", async () => {
  let answer = [{ status: "Pulling from x" }, { status: "Digest: sha256:1" }];
  routes.set("POST /images/create", () => new Response(answer.map((m) => JSON.stringify(m)).join("\r\n") + "\r\n"));
  const cases: [string, Record<string, string>][] = [
    ["busybox", { fromImage: "busybox", tag: "latest" }],
    ["localhost:5000/a/b", { fromImage: "localhost:5000/a/b", tag: "latest" }],
    ["localhost:5000/a/b:v1", { fromImage: "localhost:5000/a/b", tag: "v1" }],
    [`r@sha256:${"a".repeat(64)}`, { fromImage: `r@sha256:${"a".repeat(64)}` }],
  ];
  for (const [ref, query] of cases) {
    const got: unknown[] = [];
    await backend.pull(ref, {}, (m) => got.push(m));
    expect(last().query).toEqual(query);
    expect(got).toEqual(answer);
  }
  await backend.pull("x", { platform: "linux/arm64" }, () => {});
  expect(last().query.platform).toBe("linux/arm64");
  expect(last().headers.get("x-registry-auth")).toBe("e30=");
  answer = [{ status: "Pulling from x" }, { errorDetail: { message: "manifest unknown" }, error: "manifest unknown" } as any];
  const got: unknown[] = [];
  await expect(backend.pull("x:nope", {}, (m) => got.push(m))).rejects.toThrow("manifest unknown");
  expect(got).toEqual([{ status: "Pulling from x" }]);
});

test("tag splits repo and tag after the last slash (a registry port is not a tag)", async () => {
  routes.set("POST /images/abc/tag", () => new Response(null, { status: 201 }));
  await backend.tagImage("abc", "localhost:5000/x");
  expect(last().query).toEqual({ repo: "localhost:5000/x", tag: "latest" });
  await backend.tagImage("abc", "localhost:5000/x:v2");
  expect(last().query).toEqual({ repo: "localhost:5000/x", tag: "v2" });
});

test("list, wait, changes and prune: the CLI's query encoding and the answers' shapes", async () => {
  routes.set("GET /containers/json", () => Response.json([{ Id: "a" }]));
  expect((await backend.listContainers({ all: true, limit: -1, filters: { label: ["k=v"] } })).map((c) => c.Id)).toEqual(["a"]);
  expect(last().query).toEqual({ all: "1", filters: '{"label":["k=v"]}' });
  await backend.listContainers({ all: false, limit: 3, filters: {} });
  expect(last().query).toEqual({ all: "0", limit: "3" });
  routes.set("POST /containers/c%2Fd/wait", () => Response.json({ StatusCode: 3 }));
  expect(await backend.waitContainer("c/d", "removed")).toBe(3);
  expect(last().path).toBe("/containers/c%2Fd/wait");
  expect(last().query).toEqual({ condition: "removed" });
  routes.set("GET /containers/c/changes", () => Response.json(null));
  expect(await backend.changes("c")).toEqual([]);
  routes.set("POST /images/prune", () => Response.json({ ImagesDeleted: null, SpaceReclaimed: 0 }));
  await backend.pruneImages({ all: true, filters: { until: ["1h"] } });
  expect(JSON.parse(last().query.filters!)).toEqual({ until: ["1h"], dangling: ["false"] });
});

test("logs: stdcopy frames are split into stdout and stderr; times go as seconds.nanoseconds", async () => {
  routes.set("GET /containers/c/json", () => Response.json({ Config: { Tty: false } }));
  const body = [frame(1, enc.encode("out1\n")), frame(2, enc.encode("err1\n")), frame(1, enc.encode("out2\n"))];
  const joined = new Uint8Array(body.reduce((n, b) => n + b.length, 0));
  body.reduce((at, b) => (joined.set(b, at), at + b.length), 0);
  routes.set("GET /containers/c/logs", () => new Response(new ReadableStream({ start(c) {
    // split across a frame header, as a socket may deliver it
    c.enqueue(joined.subarray(0, 3));
    c.enqueue(joined.subarray(3));
    c.close();
  } })));
  const out: [string, string][] = [];
  for await (const batch of backend.logs("c", { follow: false, tail: -1, since: 1_700_000_000_000_000_005n, timestamps: true })) for (const b of batch) out.push([b.stream, dec.decode(b.data)]);
  expect(out).toEqual([["stdout", "out1\n"], ["stderr", "err1\n"], ["stdout", "out2\n"]]);
  expect(last().query).toEqual({ stdout: "1", stderr: "1", follow: "0", tail: "all", since: "1700000000.000000005", timestamps: "1" });
});

test("exec: create body, then a hijacked start relaying stdin and demultiplexing output; the exit code from inspect", async () => {
  routes.set("POST /containers/c/exec", () => Response.json({ Id: "e1" }, { status: 201 }));
  routes.set("GET /exec/e1/json", () => Response.json({ ExitCode: 5 }));
  session = (sock, _head, stdin) => {
    sock.write("HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.raw-stream\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n");
    sock.write(frame(1, enc.encode("hello ")));
    sock.write(frame(2, enc.encode("warn")));
    // echo stdin back on stdout, then end
    const t = setInterval(() => {
      const got = stdin.splice(0);
      if (!got.length) return;
      clearInterval(t);
      sock.write(frame(1, got[0]!));
      sock.end();
    }, 5);
  };
  const stdout: string[] = [];
  const stderr: string[] = [];
  const { attach } = await backend.exec("c", { args: ["sh", "-c", "cat"], stdin: true, env: ["E=1"], user: "u", cwd: "/w" }, { onStdout: (b) => stdout.push(dec.decode(b)), onStderr: (b) => stderr.push(dec.decode(b)) });
  expect(last().body).toEqual({ AttachStdin: true, AttachStdout: true, AttachStderr: true, Tty: false, Cmd: ["sh", "-c", "cat"], Env: ["E=1"], WorkingDir: "/w", User: "u", Privileged: false });
  attach!.write(enc.encode("typed"));
  expect(await attach!.exited).toBe(5);
  expect(stdout.join("")).toBe("hello typed");
  expect(stderr).toEqual(["warn"]);
  const head = heads.at(-1)!;
  expect(head).toStartWith("POST /v1.50/exec/e1/start HTTP/1.1\r\n");
  expect(head).toContain("Upgrade: tcp\r\n");
  expect(head.slice(head.indexOf("\r\n\r\n") + 4)).toBe('{"Detach":false,"Tty":false}');
});

test("a hijack the daemon refuses is an EngineError of the status's kind", async () => {
  routes.set("POST /containers/c/exec", () => Response.json({ Id: "e2" }, { status: 201 }));
  session = (sock) => {
    const body = JSON.stringify({ message: "No such exec instance: e2" });
    sock.write(`HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
  };
  const e = (await backend.exec("c", { args: ["true"] }, {}).catch((x) => x)) as EngineError;
  expect(e).toBeInstanceOf(EngineError);
  expect([e.kind, e.message]).toEqual(["notFound", "No such exec instance: e2"]);
});
