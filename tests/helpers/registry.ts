/**
 * Real registries for tests: /usr/bin/docker-registry (CNCF distribution 2.8) on a free 127.0.0.1 port, open,
 * behind htpasswd basic auth, or behind Docker Hub-style bearer tokens issued by a Bun.serve server in this
 * process. Every process and temp dir is tracked and removed on stop() and on process exit.
 */
import { cpSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { sign, randomBytes, X509Certificate } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Server, Subprocess } from "bun";
import { spawnRegistry, stopRegistry, type RegistryAuthConfig } from "../../scripts/testbed/registry-run.ts";
import { ensureTestbed } from "./images.ts";

export { ensureTestbed, type Testbed } from "./images.ts";

/** A running registry. */
export interface Registry {
  /** http://127.0.0.1:PORT */
  url: string;
  /** 127.0.0.1:PORT, as used in image references. */
  host: string;
  /** Set for auth "basic" and "token". */
  username?: string;
  password?: string;
  /** Token endpoint (auth "token" only), as announced in WWW-Authenticate. */
  realm?: string;
  /** The storage root this registry serves. */
  storageDir: string;
  stop(): Promise<void>;
}

/** Options for startRegistry. */
export interface RegistryOptions {
  /** Default "none". */
  auth?: "none" | "basic" | "token";
  /**
   * "shared": the cached test-bed storage, served read-only (default); "copy": a private copy of it that the
   * test may corrupt or push to; "empty": a new empty storage.
   */
  storage?: "shared" | "copy" | "empty";
  /** Auth "token": issue pull tokens to anonymous clients, as Docker Hub does for public repos. Default true. */
  anonymous?: boolean;
}

/** Service and issuer names the registry and the token server agree on. */
const SERVICE = "bunker-testbed-registry";
const ISSUER = "bunker-testbed-issuer";

const procs = new Set<Subprocess>();
const servers = new Set<Server<undefined>>();
const dirs = new Set<string>();

// Last resort for a test that forgot stop() or threw: synchronous kill + rm, as "exit" handlers must be.
process.on("exit", () => {
  for (const p of procs) p.kill("SIGKILL");
  for (const s of servers) s.stop(true);
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** Starts a real registry; see RegistryOptions. */
export async function startRegistry(opts: RegistryOptions = {}): Promise<Registry> {
  const work = mkdtempSync(join(tmpdir(), "bunker-registry-"));
  dirs.add(work);
  let server: Server<undefined> | undefined;
  let proc: Subprocess | undefined;
  const cleanup = async () => {
    if (proc) await stopRegistry(proc);
    if (proc) procs.delete(proc);
    server?.stop(true);
    if (server) servers.delete(server);
    rmSync(work, { recursive: true, force: true });
    dirs.delete(work);
  };
  try {
    const storage = opts.storage ?? "shared";
    let storageDir = join(work, "storage");
    if (storage === "shared") storageDir = (await ensureTestbed()).storageDir;
    else if (storage === "copy") cpSync((await ensureTestbed()).storageDir, storageDir, { recursive: true });

    const auth = opts.auth ?? "none";
    const username = auth === "none" ? undefined : "bunker";
    const password = auth === "none" ? undefined : randomBytes(12).toString("hex");
    let authConfig: RegistryAuthConfig | undefined;
    let realm: string | undefined;
    if (auth === "basic") {
      const path = join(work, "htpasswd");
      await run(["htpasswd", "-B", "-b", "-c", path, username!, password!]);
      authConfig = { htpasswd: { realm: "bunker-testbed", path } };
    } else if (auth === "token") {
      const issuer = await startTokenIssuer(work, username!, password!, opts.anonymous ?? true);
      server = issuer.server;
      servers.add(server);
      realm = issuer.realm;
      authConfig = { token: { realm, service: SERVICE, issuer: ISSUER, rootcertbundle: issuer.certPath } };
    }
    const running = await spawnRegistry({ storageDir, workDir: work, readOnly: storage === "shared", auth: authConfig });
    proc = running.proc;
    procs.add(proc);
    return { url: running.url, host: running.host, username, password, realm, storageDir, stop: cleanup };
  } catch (e) {
    await cleanup();
    throw e;
  }
}

async function run(cmd: string[]): Promise<void> {
  const p = Bun.spawn(cmd, { stdio: ["ignore", "ignore", "pipe"] });
  const err = await new Response(p.stderr).text();
  if ((await p.exited) !== 0) throw new Error(`${cmd[0]} failed: ${err}`);
}

const b64url = (data: string | Buffer) => Buffer.from(data).toString("base64url");

/**
 * A Docker Hub-style token server. distribution 2.8 accepts a JWT whose header carries the signing
 * certificate as `x5c` (it verifies that chain against auth.token.rootcertbundle), with iss/aud matching its
 * config and an `access` claim listing the granted repository actions.
 */
async function startTokenIssuer(work: string, username: string, password: string, anonymous: boolean) {
  const keyPath = join(work, "token.key");
  const certPath = join(work, "token.crt");
  await run([
    "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
    "-keyout", keyPath, "-out", certPath, "-days", "2", "-subj", "/CN=bunker-testbed-token-issuer",
  ]);
  const key = readFileSync(keyPath, "utf8");
  const certDer = new X509Certificate(readFileSync(certPath)).raw.toString("base64");
  const header = b64url(JSON.stringify({ typ: "JWT", alg: "ES256", x5c: [certDer] }));
  const expected = `Basic ${Buffer.from(`${username}:${password}`).toString("base64")}`;

  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch(req) {
      const url = new URL(req.url);
      if (url.pathname !== "/token") return new Response("not found", { status: 404 });
      const authz = req.headers.get("authorization");
      if (authz && authz !== expected) {
        return Response.json({ details: "incorrect username or password" }, { status: 401 });
      }
      const user = authz ? username : "";
      const access = url.searchParams.getAll("scope").flatMap((scope) => {
        // "repository:library/busybox:pull,push": the name sits between the first and the last colon.
        const first = scope.indexOf(":");
        const last = scope.lastIndexOf(":");
        if (first < 0 || last <= first) return [];
        const type = scope.slice(0, first);
        const name = scope.slice(first + 1, last);
        const wanted = scope.slice(last + 1).split(",").filter(Boolean);
        // Like Docker Hub: anonymous callers get pull on repositories only, or nothing when anonymous is off.
        const actions = user ? wanted : anonymous && type === "repository" ? wanted.filter((a) => a === "pull") : [];
        return actions.length ? [{ type, name, actions }] : [];
      });
      const now = Math.floor(Date.now() / 1000);
      const claims = {
        iss: ISSUER, sub: user, aud: url.searchParams.get("service") ?? SERVICE,
        exp: now + 300, nbf: now - 10, iat: now, jti: randomBytes(8).toString("hex"), access,
      };
      const input = `${header}.${b64url(JSON.stringify(claims))}`;
      // JWS ES256 wants the raw r||s signature, not DER.
      const sig = sign("sha256", Buffer.from(input), { key, dsaEncoding: "ieee-p1363" });
      const token = `${input}.${b64url(sig)}`;
      return Response.json({ token, access_token: token, expires_in: 300, issued_at: new Date(now * 1000).toISOString() });
    },
  });
  return { server, certPath, realm: `http://127.0.0.1:${server.port}/token` };
}
