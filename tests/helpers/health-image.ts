/**
 * An image with a HEALTHCHECK, made offline from the test bed's busybox: its config given the check and
 * pushed, with busybox's layers, to an empty registry of its own (the test bed's storage is read-only).
 */
import { startRegistry, type Registry } from "./registry.ts";

/** Pushes `<from>/busybox:latest` as `busybox:hc` with `healthcheck` in its config to a new registry; returns it. */
export async function pushWithHealthcheck(from: Registry, healthcheck: Record<string, unknown>): Promise<Registry> {
  const own = await startRegistry({ auth: "none", storage: "empty" });
  const get = async (path: string, accept = "") => new Uint8Array(await (await fetch(`${from.url}/v2/busybox/${path}`, { headers: { accept } })).arrayBuffer());
  const manifest = JSON.parse(new TextDecoder().decode(await get("manifests/latest", "application/vnd.oci.image.manifest.v1+json"))) as { config: { digest: string; size: number }; layers: { digest: string }[] };
  const config = JSON.parse(new TextDecoder().decode(await get(`blobs/${manifest.config.digest}`)));
  config.config.Healthcheck = healthcheck;
  const put = async (data: Uint8Array) => {
    const digest = `sha256:${new Bun.CryptoHasher("sha256").update(data).digest("hex")}`;
    const start = await fetch(`${own.url}/v2/busybox/blobs/uploads/`, { method: "POST" });
    const loc = new URL(start.headers.get("location")!, own.url);
    loc.searchParams.set("digest", digest);
    const r = await fetch(loc, { method: "PUT", body: data, headers: { "content-type": "application/octet-stream" } });
    if (r.status !== 201) throw new Error(`blob upload: ${r.status}`);
    return { digest, size: data.length };
  };
  for (const l of manifest.layers) await put(await get(`blobs/${l.digest}`));
  manifest.config = { ...manifest.config, ...(await put(new TextEncoder().encode(JSON.stringify(config)))) };
  const r = await fetch(`${own.url}/v2/busybox/manifests/hc`, { method: "PUT", body: JSON.stringify(manifest), headers: { "content-type": "application/vnd.oci.image.manifest.v1+json" } });
  if (r.status !== 201) throw new Error(`manifest push: ${r.status}`);
  return own;
}
