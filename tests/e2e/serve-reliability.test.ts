/**
 * bunker serve under abuse (issue §6): malformed JSON on the container routes (400 with moby's text, the
 * daemon keeps serving), 100 concurrent API clients each on its own connection running create/start/rm
 * loops (no crash, no container lost or duplicated, events balanced), and kill -9 of the daemon (the
 * containers keep running under their shims; the restarted daemon reports what happened meanwhile: exit
 * codes as recorded, --rm containers removed). Bounded in count and time; unix sockets only.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { BUNKER, freshDataRoot, waitForDaemon } from "../helpers/bunker.ts";
import { ensureTestbed, startRegistry, type Registry } from "../helpers/registry.ts";

const root = process.getuid?.() === 0;
const CLIENTS = 100;
const LOOPS = 3;

let reg: Registry;
let dir: string;
let dataRoot: string;
let sock: string;
let daemon: Subprocess<"ignore", "pipe", "pipe"> | undefined;

function startDaemon() {
  daemon = Bun.spawn([BUNKER, "serve", "-H", `unix://${sock}`, "--data-root", dataRoot, "--registry-mirror", reg.url], { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  return waitForDaemon(sock);
}


const api = (path: string, init: RequestInit = {}) => fetch(`http://x${path}`, { unix: sock, ...init } as RequestInit);
const post = (path: string, body?: unknown) => api(path, { method: "POST", headers: { "content-type": "application/json" }, body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body) });

/** One client on its own keep-alive connection: a minimal HTTP/1.1 client (Content-Length bodies). */
async function rawClient() {
  let buf = Buffer.alloc(0);
  let wake: (() => void) | undefined;
  let closed = false;
  const s = await Bun.connect({
    unix: sock,
    socket: {
      data(_s, d) {
        buf = Buffer.concat([buf, Buffer.from(d)]);
        wake?.();
      },
      close() {
        closed = true;
        wake?.();
      },
    },
  });
  return {
    async request(method: string, target: string, body?: unknown): Promise<{ status: number; body: string }> {
      const payload = body === undefined ? "" : JSON.stringify(body);
      s.write(`${method} ${target} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(payload)}\r\n\r\n${payload}`);
      for (;;) {
        const end = buf.indexOf("\r\n\r\n");
        if (end >= 0) {
          const head = buf.subarray(0, end).toString();
          const cl = Number(/content-length: (\d+)/i.exec(head)?.[1] ?? 0);
          if (buf.length >= end + 4 + cl) {
            const res = { status: Number(head.split(" ")[1]), body: buf.subarray(end + 4, end + 4 + cl).toString() };
            buf = buf.subarray(end + 4 + cl);
            return res;
          }
        }
        if (closed) throw new Error("connection closed");
        await new Promise<void>((r) => (wake = r));
      }
    },
    close: () => s.end(),
  };
}

beforeAll(async () => {
  if (!root) return;
  await ensureTestbed();
  reg = await startRegistry({ auth: "none" });
  dir = mkdtempSync(join(tmpdir(), "bunker-serve-rel-"));
  chmodSync(dir, 0o755);
  sock = join(dir, "bunker.sock");
  dataRoot = freshDataRoot();
  await startDaemon();
  const pull = await api("/images/create?fromImage=alpine&tag=latest", { method: "POST" });
  await pull.text();
  expect(pull.status).toBe(200);
}, 900_000);

afterAll(async () => {
  if (!root) return;
  try {
    const list = (await (await api("/containers/json?all=1")).json()) as { Id: string }[];
    for (const c of list) await api(`/containers/${c.Id}?force=1`, { method: "DELETE" });
  } catch {}
  daemon?.kill("SIGTERM");
  await daemon?.exited;
  await reg?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(!root)("bunker serve reliability", () => {
  test("malformed JSON on container and exec routes: 400 with moby's text, and the daemon keeps serving", async () => {
    const cases: [string, string | undefined, RegExp][] = [
      ["/containers/create", "{not json", /^invalid JSON: /],
      ["/containers/create", undefined, /^invalid JSON: got EOF while reading request body$/],
      ["/containers/create", "[1,2]", /^invalid JSON: json: cannot unmarshal array/],
      ["/containers/create", '{"Image":"alpine","Cmd":42}', /^invalid JSON: json: cannot unmarshal number/],
      ["/containers/create", '{"Image":"alpine"} trailing', /^invalid JSON: /],
      ["/containers/create", "{}", /^config cannot be empty in order to create a container$/],
    ];
    for (const [path, body, message] of cases) {
      const r = await post(path, body);
      expect(r.status).toBe(400);
      expect(r.headers.get("content-type")).toBe("application/json");
      expect(((await r.json()) as { message: string }).message).toMatch(message);
    }
    const c = (await (await post("/containers/create", { Image: "alpine", Cmd: ["sleep", "1000"] })).json()) as { Id: string };
    expect((await post(`/containers/${c.Id}/start`)).status).toBe(204);
    const bad = await post(`/containers/${c.Id}/exec`, "{oops");
    expect([bad.status, ((await bad.json()) as { message: string }).message]).toEqual([400, expect.stringMatching(/^invalid JSON: /)]);
    const noCmd = await post(`/containers/${c.Id}/exec`, { Cmd: [] });
    expect([noCmd.status, ((await noCmd.json()) as { message: string }).message]).toEqual([400, "No exec command specified"]);
    const e = (await (await post(`/containers/${c.Id}/exec`, { Cmd: ["true"] })).json()) as { Id: string };
    const badStart = await post(`/exec/${e.Id}/start`, "{Detach:");
    expect([badStart.status, ((await badStart.json()) as { message: string }).message]).toEqual([400, expect.stringMatching(/^invalid JSON: /)]);
    expect((await post(`/exec/${"f".repeat(64)}/start`, { Detach: true })).status).toBe(404);
    expect((await post(`/containers/${c.Id}/wait?condition=bogus`)).status).toBe(400);
    expect((await api(`/containers/${c.Id}/logs`)).status).toBe(400); // no stream chosen
    expect((await post("/containers/nope/start")).status).toBe(404);
    expect((await api(`/containers/${c.Id}?force=1`, { method: "DELETE" })).status).toBe(204);
    expect((await api("/_ping")).status).toBe(200);
    expect(daemon!.exitCode).toBeNull();
  });

  test(`${CLIENTS} concurrent clients, ${LOOPS} create/start/rm loops each: none lost, none duplicated`, async () => {
    const t = Date.now();
    // A live subscriber sees every event (the replay buffer holds only the last 1024).
    const counts = new Map<string, number>();
    const ac = new AbortController();
    const res = await api(`/events?filters=${encodeURIComponent('{"type":["container"],"event":["create","destroy"],"label":["rel=1"]}')}`, { signal: ac.signal });
    let seen = 0;
    const reading = (async () => {
      let pending = "";
      const dec = new TextDecoder();
      try {
        for await (const chunk of res.body!) {
          pending += dec.decode(chunk, { stream: true });
          let nl: number;
          while ((nl = pending.indexOf("\n")) >= 0) {
            const e = JSON.parse(pending.slice(0, nl));
            pending = pending.slice(nl + 1);
            expect(e.id).toMatch(/^[0-9a-f]{64}$/);
            counts.set(`${e.Action} ${e.id}`, (counts.get(`${e.Action} ${e.id}`) ?? 0) + 1);
            seen++;
          }
        }
      } catch {}
    })();
    const ids = new Map<string, string>();
    const failures: string[] = [];
    await Promise.all(
      Array.from({ length: CLIENTS }, async (_, i) => {
        const c = await rawClient();
        try {
          for (let k = 0; k < LOOPS; k++) {
            const name = `rel-${i}-${k}`;
            // Half run until removed (rm -f kills them), half exit at once.
            const cmd = (i + k) % 2 ? ["sleep", "1000"] : ["true"];
            const created = await c.request("POST", `/v1.50/containers/create?name=${name}`, { Image: "alpine", Cmd: cmd, Labels: { rel: "1" } });
            if (created.status !== 201) {
              failures.push(`${name} create ${created.status} ${created.body}`);
              continue;
            }
            const id = JSON.parse(created.body).Id as string;
            if (ids.has(id)) failures.push(`duplicate id ${id}`);
            ids.set(id, name);
            const started = await c.request("POST", `/v1.50/containers/${id}/start`);
            if (started.status !== 204) failures.push(`${name} start ${started.status} ${started.body}`);
            const removed = await c.request("DELETE", `/v1.50/containers/${id}?force=1`);
            if (removed.status !== 204) failures.push(`${name} rm ${removed.status} ${removed.body}`);
          }
        } finally {
          c.close();
        }
      }),
    );
    expect(failures).toEqual([]);
    expect(ids.size).toBe(CLIENTS * LOOPS);
    expect(new Set(ids.values()).size).toBe(CLIENTS * LOOPS);
    const left = (await (await api(`/containers/json?all=1&filters=${encodeURIComponent('{"label":["rel=1"]}')}`)).json()) as unknown[];
    expect(left).toEqual([]);
    // Every container was created once and destroyed once.
    const deadline = Date.now() + 10_000;
    while (seen < 2 * CLIENTS * LOOPS && Date.now() < deadline) await Bun.sleep(50);
    await Bun.sleep(200);
    ac.abort();
    await reading;
    expect(seen).toBe(2 * CLIENTS * LOOPS);
    for (const id of ids.keys()) {
      expect(counts.get(`create ${id}`)).toBe(1);
      expect(counts.get(`destroy ${id}`)).toBe(1);
    }
    expect((await api("/_ping")).status).toBe(200);
    expect(daemon!.exitCode).toBeNull();
    console.log(`${CLIENTS * LOOPS} create/start/rm -f cycles by ${CLIENTS} clients in ${((Date.now() - t) / 1000).toFixed(1)} s`);
  }, 180_000);

  test("kill -9 of the daemon: containers keep running; the restarted daemon shows what happened meanwhile", async () => {
    const create = async (name: string, cmd: string[], hostConfig: object = {}) => {
      const r = await post(`/containers/create?name=${name}`, { Image: "alpine", Cmd: cmd, HostConfig: hostConfig });
      expect(r.status).toBe(201);
      const { Id } = (await r.json()) as { Id: string };
      expect((await post(`/containers/${Id}/start`)).status).toBe(204);
      return Id;
    };
    const inspect = async (ref: string) => (await api(`/containers/${ref}/json`)).json() as Promise<{ State: { Status: string; Running: boolean; ExitCode: number; Pid: number } }>;
    const long = await create("k9-long", ["sleep", "1000"]);
    const exits = await create("k9-exits", ["sh", "-c", "sleep 2; exit 7"]);
    await create("k9-rm", ["sh", "-c", "sleep 2"], { AutoRemove: true });
    const pid = (await inspect(long)).State.Pid;
    expect(pid).toBeGreaterThan(0);
    daemon!.kill("SIGKILL");
    await daemon!.exited;
    expect(existsSync(`/proc/${pid}`)).toBe(true);
    await Bun.sleep(3000); // both short ones exit while no daemon runs
    expect(existsSync(`/proc/${pid}`)).toBe(true);
    await startDaemon(); // the stale socket of the dead daemon is replaced
    const l = await inspect("k9-long");
    expect(l.State).toMatchObject({ Status: "running", Running: true, Pid: pid });
    expect((await inspect(exits)).State).toMatchObject({ Status: "exited", Running: false, ExitCode: 7 });
    expect((await api("/containers/k9-rm/json")).status).toBe(404);
    const running = (await (await api("/containers/json")).json()) as { Names: string[] }[];
    expect(running.map((c) => c.Names[0])).toEqual(["/k9-long"]);
    // The new daemon watches the adopted container: its exit is a die event and ends a wait.
    const wait = post(`/containers/${long}/wait`);
    expect((await post(`/containers/${long}/kill?signal=TERM`)).status).toBe(204);
    expect((await post(`/containers/${long}/kill`)).status).toBe(204);
    expect(await (await wait).json()).toEqual({ StatusCode: 137, Error: null });
    for (const id of [long, exits]) expect((await api(`/containers/${id}`, { method: "DELETE" })).status).toBe(204);
  }, 60_000);
});
