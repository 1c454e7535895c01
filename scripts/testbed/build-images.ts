#!/usr/bin/env bun
/**
 * Builds the test-bed images offline (only Debian's package archive is reached, through the machine's own
 * apt sources, which are read at run time and never written into the repo), pushes them into a registry
 * storage dir, and caches the lot under <cache>/<recipe hash>/. See README.md in this directory.
 *
 *   bun scripts/testbed/build-images.ts          build unless cached; print the test-bed dir on stdout
 *   bun scripts/testbed/build-images.ts --force  rebuild even if cached
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { chmodSync, chownSync, lchownSync, linkSync, symlinkSync, copyFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { Layout, MT, pushRaw, sha256Bytes, sha256File, type Desc } from "./oci.ts";
import { cacheRoot, recipeHash, SOURCE_DATE_EPOCH, type ImageInfo, type ImagesJson, type ManifestInfo } from "./recipe.ts";
import { spawnRegistry, stopRegistry } from "./registry-run.ts";

const CREATED = new Date(SOURCE_DATE_EPOCH * 1000).toISOString().replace(".000Z", "Z");
const LABELS = { "org.opencontainers.image.description": "stand-in built offline by the bunker test bed" };
const PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
const PASSWD = "root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000:user:/home/user:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n";
const GROUP = "root:x:0:\nuser:x:1000:\nnogroup:x:65534:\n";

/** Runs a command, its output on our stderr (stdout stays for the result path); throws on failure. */
async function run(cmd: string[], opts: { stdin?: string; env?: Record<string, string>; cwd?: string } = {}) {
  const proc = Bun.spawn(cmd, {
    stdin: opts.stdin === undefined ? "ignore" : new Blob([opts.stdin]),
    stdout: 2,
    stderr: "inherit",
    cwd: opts.cwd,
    env: { ...process.env, SOURCE_DATE_EPOCH: String(SOURCE_DATE_EPOCH), ...opts.env },
  });
  if ((await proc.exited) !== 0) throw new Error(`failed (${proc.exitCode}): ${cmd.join(" ")}`);
}

/** Runs a command and returns its stdout. */
async function output(cmd: string[], env?: Record<string, string>): Promise<string> {
  const proc = Bun.spawn(cmd, { stdout: "pipe", stderr: "inherit", env: { ...process.env, ...env } });
  const text = await new Response(proc.stdout).text();
  if ((await proc.exited) !== 0) throw new Error(`failed: ${cmd.join(" ")}`);
  return text;
}

/**
 * The machine's apt sources, read now so that no mirror name is ever written into this repo. deb822 files
 * win over one-line lists because the two formats cannot be concatenated into one stdin stream.
 */
function hostSources(): { text: string; fileName: string } {
  const dir = "/etc/apt/sources.list.d";
  const files = existsSync(dir) ? readdirSync(dir).sort() : [];
  const deb822 = files.filter((f) => f.endsWith(".sources"));
  if (deb822.length) {
    return { text: deb822.map((f) => readFileSync(join(dir, f), "utf8").trim()).join("\n\n") + "\n", fileName: "testbed.sources" };
  }
  const lists = ["/etc/apt/sources.list", ...files.filter((f) => f.endsWith(".list")).map((f) => join(dir, f))];
  const text = lists.filter(existsSync).map((f) => readFileSync(f, "utf8")).join("\n");
  return { text, fileName: "testbed.list" };
}

/** Creates a pax tar of `dir`'s contents with fixed mtimes and no "./" prefix; owners are kept as staged. */
async function tarDir(dir: string, out: string): Promise<void> {
  const entries = readdirSync(dir).sort();
  await run([
    "tar", "--create", "--file", out, "--format=pax", "--sort=name", "--numeric-owner",
    `--mtime=@${SOURCE_DATE_EPOCH}`,
    // The default extended-header name embeds the pid, and atime/ctime records would vary per run.
    "--pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime",
    "--directory", dir,
    ...(entries.length ? ["--", ...entries] : ["--files-from=/dev/null"]),
  ]);
}

/** A layer blob plus its diff ID. */
interface Layer {
  desc: Desc;
  diffId: string;
}

/** Gzips a tar reproducibly (gzip -n: no name, no timestamp) into the layout. */
async function addLayer(layout: Layout, tarPath: string): Promise<Layer> {
  const diffId = await sha256File(tarPath);
  await run(["gzip", "-n", "-6", "-f", tarPath]);
  return { desc: await layout.putFile(`${tarPath}.gz`, MT.ociLayerGzip), diffId };
}

/** History entry; `layer: false` marks an instruction that made no layer. */
interface Step {
  createdBy: string;
  layer?: boolean;
}

/** What writeImage needs. */
interface ImageSpec {
  layers: Layer[];
  history: Step[];
  config: Record<string, unknown>;
  arch?: string;
  variant?: string;
  /** Omit the manifest's mediaType field, as umoci and some older tools do. */
  noMediaType?: boolean;
  docker?: boolean;
}

/** Writes config + manifest blobs; returns the manifest descriptor (with platform). */
function writeImage(layout: Layout, spec: ImageSpec): Desc {
  const arch = spec.arch ?? "amd64";
  const config = {
    created: CREATED,
    architecture: arch,
    ...(spec.variant ? { variant: spec.variant } : {}),
    os: "linux",
    config: { Env: [PATH_ENV], ...spec.config, Labels: LABELS },
    rootfs: { type: "layers", diff_ids: spec.layers.map((l) => l.diffId) },
    history: spec.history.map((h) => ({
      created: CREATED,
      created_by: h.createdBy,
      ...(h.layer === false ? { empty_layer: true } : {}),
    })),
  };
  const configDesc = layout.putJson(config, spec.docker ? MT.dockerConfig : MT.ociConfig);
  const manifest = {
    schemaVersion: 2,
    ...(spec.noMediaType ? {} : { mediaType: spec.docker ? MT.dockerManifest : MT.ociManifest }),
    config: configDesc,
    layers: spec.layers.map((l) => (spec.docker ? { ...l.desc, mediaType: MT.dockerLayerGzip } : l.desc)),
  };
  const desc = layout.putJson(manifest, spec.docker ? MT.dockerManifest : MT.ociManifest);
  return { ...desc, platform: { architecture: arch, os: "linux", ...(spec.variant ? { variant: spec.variant } : {}) } };
}

/** Writes a file with exact mode and owner (chown first: chown clears setuid bits). */
function put(root: string, path: string, content: string | Uint8Array, mode = 0o644, uid = 0, gid = 0) {
  const p = join(root, path);
  mkdirSync(dirname(p), { recursive: true });
  writeFileSync(p, content);
  chownSync(p, uid, gid);
  chmodSync(p, mode);
}

/** Creates a directory with exact mode and owner. */
function dir(root: string, path: string, mode = 0o755, uid = 0, gid = 0) {
  const p = join(root, path);
  mkdirSync(p, { recursive: true });
  chownSync(p, uid, gid);
  chmodSync(p, mode);
}

/** Creates a symlink `path` -> `target` (target is stored verbatim, never resolved). */
function link(root: string, path: string, target: string, uid = 0, gid = 0) {
  const p = join(root, path);
  mkdirSync(dirname(p), { recursive: true });
  symlinkSync(target, p);
  lchownSync(p, uid, gid);
}

/** Downloads .debs into a private apt state (the host's dpkg architecture list is left alone). */
async function downloadDebs(work: string, sources: { text: string; fileName: string }, pkgs: string[]): Promise<string> {
  const d = join(work, "apt");
  for (const sub of ["etc/sources.list.d", "state/lists/partial", "cache/archives/partial", "debs"]) {
    mkdirSync(join(d, sub), { recursive: true });
  }
  writeFileSync(join(d, "etc/sources.list.d", sources.fileName), sources.text);
  writeFileSync(join(d, "etc/sources.list"), "");
  writeFileSync(join(d, "status"), "");
  const conf = [
    `Dir::Etc::SourceList "${d}/etc/sources.list";`,
    `Dir::Etc::SourceParts "${d}/etc/sources.list.d";`,
    `Dir::State "${d}/state";`,
    `Dir::State::status "${d}/status";`,
    `Dir::Cache "${d}/cache";`,
    `APT::Architecture "amd64";`,
    `APT::Architectures { "amd64"; "arm64"; };`,
    `APT::Sandbox::User "root";`,
  ].join("\n");
  writeFileSync(join(d, "apt.conf"), conf + "\n");
  const env = { APT_CONFIG: join(d, "apt.conf") };
  await run(["apt-get", "-qq", "update"], { env });
  await run(["apt-get", "-qq", "download", ...pkgs], { env, cwd: join(d, "debs") });
  return join(d, "debs");
}

/** Extracts the busybox binary of one architecture from the downloaded .debs. */
async function busyboxBinary(debs: string, arch: string, work: string): Promise<string> {
  const deb = readdirSync(debs).find((f) => f.startsWith("busybox-static_") && f.endsWith(`_${arch}.deb`));
  if (!deb) throw new Error(`no busybox-static ${arch} .deb`);
  const out = join(work, `busybox-${arch}`);
  await run(["dpkg-deb", "-x", join(debs, deb), out]);
  return join(out, "bin/busybox");
}

/** Stages a busybox root: the binary, one symlink per applet, passwd/group, /tmp 1777. */
function stageBusybox(root: string, binary: string, applets: string[]) {
  dir(root, "bin");
  copyFileSync(binary, join(root, "bin/busybox"));
  chmodSync(join(root, "bin/busybox"), 0o755);
  for (const applet of applets) {
    if (applet === "bin/busybox" || existsSync(join(root, applet))) continue;
    link(root, applet, "/bin/busybox");
  }
  put(root, "etc/passwd", PASSWD);
  put(root, "etc/group", GROUP);
  dir(root, "tmp", 0o1777);
  dir(root, "root", 0o700);
  dir(root, "home/user", 0o755, 1000, 1000);
}

/** Makes one layer from a staging function. */
async function layerFrom(layout: Layout, work: string, name: string, stage: (root: string) => void | Promise<void>) {
  const root = join(work, `stage-${name}`);
  mkdirSync(root);
  await stage(root);
  const tar = join(work, `${name}.tar`);
  await tarDir(root, tar);
  return addLayer(layout, tar);
}

const LONG_DIR = `long/${"d".repeat(60)}/${"e".repeat(60)}`; // 126 chars: fits ustar's prefix+name split
const LONG_NAME = `long/${"n".repeat(150)}`; // one 150-char component: needs a pax path record

/** The torture image: every layer-application corner case we know of, one per path. */
async function buildTorture(layout: Layout, work: string, busybox: string): Promise<Desc> {
  const l1 = await layerFrom(layout, work, "torture1", (r) => {
    dir(r, "bin");
    copyFileSync(busybox, join(r, "bin/busybox"));
    chmodSync(join(r, "bin/busybox"), 0o755);
    link(r, "bin/sh", "busybox");
    link(r, "bin/ls", "busybox");
    put(r, "etc/passwd", PASSWD);
    put(r, "etc/group", GROUP);
    dir(r, "tmp", 0o1777);
    put(r, "a/keep", "keep\n");
    put(r, "a/whiteme", "whiteme\n");
    put(r, "dir-wh/x", "x\n");
    put(r, "dir-wh/sub/y", "y\n");
    put(r, "opq/lower1", "lower1\n");
    put(r, "opq/lower2", "lower2\n");
    put(r, "opq/sub/z", "z\n");
    put(r, "readd", "original\n");
    put(r, "f2d", "file\n");
    put(r, "d2f/child", "child\n");
    put(r, "f2s", "file\n");
    link(r, "s2d", "a");
    put(r, "hard/orig", "hardlinked\n");
    linkSync(join(r, "hard/orig"), join(r, "hard/link"));
    linkSync(join(r, "hard/orig"), join(r, "hard/third"));
    link(r, "links/abs", "/etc/passwd");
    link(r, "links/abs-dir", "/etc");
    link(r, "links/escape", "../../../../etc");
    link(r, "links/dangling", "/does/not/exist");
    link(r, "links/rel", "../a/keep");
    link(r, "links/long-target", `/${LONG_DIR}/file.txt`);
    link(r, "links/by-user", "../home/user/file", 1000, 1000);
    put(r, "bits/setuid", "#!/bin/sh\n", 0o4755);
    put(r, "bits/setgid", "#!/bin/sh\n", 0o2755);
    put(r, "bits/private", "secret\n", 0o600);
    put(r, "bits/none", "none\n", 0o000);
    dir(r, "bits/sticky", 0o1777);
    dir(r, "home/user", 0o750, 1000, 1000);
    put(r, "home/user/file", "mine\n", 0o640, 1000, 1000);
    put(r, "home/user/group-only", "gid\n", 0o644, 0, 1000);
    put(r, `${LONG_DIR}/file.txt`, "long path\n");
    put(r, LONG_NAME, "long name\n");
  });
  const l2 = await layerFrom(layout, work, "torture2", async (r) => {
    put(r, "a/.wh.whiteme", "");
    put(r, ".wh.dir-wh", "");
    put(r, "opq/.wh..wh..opq", "");
    put(r, "opq/new", "new\n");
    put(r, ".wh.readd", "");
    put(r, "f2d/inner", "inner\n");
    put(r, "d2f", "now a file\n");
    link(r, "f2s", "a/keep");
    put(r, "s2d/file", "s2d\n");
    dir(r, "misc");
    // node:fs has no mkfifo.
    await run(["mkfifo", "-m", "0644", join(r, "misc/fifo")]);
  });
  const l3 = await layerFrom(layout, work, "torture3", (r) => {
    put(r, "readd", "re-added\n");
    put(r, "dir-wh/again", "again\n");
  });
  const l4 = await layerFrom(layout, work, "torture4", () => {});
  const l5 = await layerFrom(layout, work, "torture5", (r) => {
    put(r, "hard/orig", "changed\n");
    put(r, "a/keep", "keep\n", 0o600);
    // The staged parent is a layer entry too: restate its mode or it would reset the sticky bit.
    dir(r, "bits");
    dir(r, "bits/sticky", 0o1777);
    put(r, "bits/sticky/by-user", "user\n", 0o644, 1000, 1000);
  });
  return writeImage(layout, {
    layers: [l1, l2, l3, l4, l5],
    history: [
      { createdBy: "torture: base tree (hardlinks, symlinks, setuid/sticky, uid 1000, long paths)" },
      { createdBy: "torture: whiteouts (file, dir, opaque) and type replacements, a fifo" },
      { createdBy: "torture: re-add whited-out file and dir" },
      { createdBy: 'ENV TORTURE=1', layer: false },
      { createdBy: "torture: empty layer" },
      { createdBy: "torture: break a hardlink, chmod a file, sticky dir content" },
    ],
    config: { Cmd: ["sh"], Env: [PATH_ENV, "TORTURE=1"] },
  });
}

/**
 * volumes:latest: busybox plus content under two VOLUME paths, for Docker's copy of an image's content into
 * a new volume: /data (owned by uid 1000, mode 0750, a file, a subdirectory, a symlink pointing out of the
 * root) and /empty (nothing to copy).
 */
async function buildVolumes(layout: Layout, work: string, bbLayer: Layer, bbHistory: Step[]): Promise<Desc> {
  const layer = await layerFrom(layout, work, "volumes", (r) => {
    dir(r, "data", 0o750, 1000, 1000);
    put(r, "data/hello", "hello from the image\n", 0o640, 1000, 1000);
    put(r, "data/sub/deep", "deep\n");
    link(r, "data/escape", "../../../../../etc");
    dir(r, "empty");
  });
  return writeImage(layout, {
    layers: [bbLayer, layer],
    history: [...bbHistory, { createdBy: "volumes: /data (uid 1000, a file, a subdir, an escaping symlink), /empty" }, { createdBy: 'VOLUME ["/data", "/empty"]', layer: false }],
    config: { Cmd: ["sh"], Volumes: { "/data": {}, "/empty": {} } },
  });
}

/**
 * testcontainers/ryuk:0.11.0: the test bed's reaper (ryuk.c, static, the real one's protocol), as
 * testcontainers starts it for a session; RYUK_RECONNECTION_TIMEOUT=2s so tests see it prune soon.
 */
async function buildRyuk(layout: Layout, work: string): Promise<Desc> {
  const bin = join(work, "ryuk");
  await run(["gcc", "-static", "-Os", "-o", bin, join(import.meta.dir, "ryuk.c")]);
  await run(["strip", bin]);
  const layer = await layerFrom(layout, work, "ryuk", (r) => {
    copyFileSync(bin, join(r, "ryuk"));
    chmodSync(join(r, "ryuk"), 0o755);
    dir(r, "tmp", 0o1777);
  });
  return writeImage(layout, {
    layers: [layer],
    history: [{ createdBy: "ryuk.c: gcc -static -Os (the test bed's stand-in for testcontainers/ryuk)" }],
    config: { Entrypoint: ["/ryuk"], Env: [PATH_ENV, "RYUK_RECONNECTION_TIMEOUT=2s"], ExposedPorts: { "8080/tcp": {} } },
  });
}

/** debian:bookworm from mmdebstrap, without the host's resolv.conf or apt sources. */
async function buildDebian(layout: Layout, work: string, sources: { text: string }): Promise<{ desc: Desc; layer: Layer }> {
  const tar = join(work, "debian.tar");
  await run(
    [
      "mmdebstrap", "--quiet", "--variant=minbase", "--format=tar",
      "--hook-dir=/usr/share/mmdebstrap/hooks/merged-usr",
      // The sources came from this machine: keep mirror names out of the image.
      `--customize-hook=rm -f "$1/etc/apt/sources.list" "$1"/etc/apt/sources.list.d/* "$1/etc/resolv.conf"`,
      "bookworm", tar, "-",
    ],
    { stdin: sources.text },
  );
  const layer = await addLayer(layout, tar);
  const desc = writeImage(layout, {
    layers: [layer],
    history: [
      { createdBy: "mmdebstrap --variant=minbase --format=tar --hook-dir=.../merged-usr bookworm" },
      { createdBy: 'CMD ["bash"]', layer: false },
    ],
    config: { Cmd: ["bash"] },
  });
  return { desc, layer };
}

/** Installs packages into an unpacked rootfs in a private mount namespace, so no mount outlives the step. */
const CHROOT_INSTALL = String.raw`
R=$1; SRC=$2; shift 2
mount --rbind /dev "$R/dev"
mount -t proc proc "$R/proc"
cat > "$R/etc/apt/sources.list.d/$SRC"
cp /etc/resolv.conf "$R/etc/resolv.conf"
printf '#!/bin/sh\nexit 101\n' > "$R/usr/sbin/policy-rc.d"
chmod 755 "$R/usr/sbin/policy-rc.d"
chroot "$R" apt-get -qq update
chroot "$R" env DEBIAN_FRONTEND=noninteractive apt-get -qq -y install --no-install-recommends "$@"
chroot "$R" apt-get clean
if [ -n "$EXTRA" ]; then chroot "$R" sh -c "$EXTRA"; fi
rm -rf "$R"/var/lib/apt/lists/* "$R/etc/apt/sources.list.d/$SRC" "$R/etc/resolv.conf" "$R/usr/sbin/policy-rc.d"
# Logs and ldconfig's cache carry the build time; none of them exist in the debian layer.
rm -rf "$R/var/log/dpkg.log" "$R"/var/log/apt/* "$R/var/cache/ldconfig/aux-cache"
`;

/** debian + one umoci-diffed layer with `pkg` installed, then the image config. */
async function buildPackageImage(
  layout: Layout, work: string, sources: { text: string; fileName: string },
  ref: string, pkg: string, extra: string, cmd: string[], cfg: string[], createdBy: string,
): Promise<Desc> {
  const bundle = join(work, `bundle-${ref}`);
  const image = `${layout.dir}:debian`;
  await run(["umoci", "unpack", "--image", image, bundle]);
  const rootfs = join(bundle, "rootfs");
  await run(["unshare", "--mount", "--fork", "bash", "-euo", "pipefail", "-c", CHROOT_INSTALL, "bash", rootfs, sources.fileName, pkg], {
    stdin: sources.text,
    env: { EXTRA: extra },
  });
  // Clamp what the install touched so the repacked layer does not carry today's date.
  await run(["find", rootfs, "-newermt", `@${SOURCE_DATE_EPOCH}`, "-exec", "touch", "-h", "-d", `@${SOURCE_DATE_EPOCH}`, "{}", "+"]);
  await run(["umoci", "repack", "--image", `${layout.dir}:${ref}`, "--history.created", CREATED, "--history.created_by", createdBy, bundle]);
  await run(["umoci", "config", "--image", `${layout.dir}:${ref}`, "--created", CREATED, "--history.created", CREATED,
    "--history.created_by", `/bin/sh -c #(nop)  CMD ${JSON.stringify(cmd)}`,
    "--clear=config.cmd", ...cmd.flatMap((arg) => ["--config.cmd", arg]), ...cfg,
    "--config.label", `org.opencontainers.image.description=${LABELS["org.opencontainers.image.description"]}`]);
  rmSync(bundle, { recursive: true, force: true });
  // umoci omits the manifest mediaType; only the nomediatype image is meant to look like that.
  const desc = layout.getRef(ref);
  const manifest = layout.readJson(desc.digest);
  const fixed = layout.putJson({ schemaVersion: 2, mediaType: MT.ociManifest, config: manifest.config, layers: manifest.layers }, MT.ociManifest);
  layout.setRef(ref, fixed);
  return fixed;
}

/** A Docker Hub-style attestation manifest for one platform image (an in-toto layer, platform unknown). */
function attestation(layout: Layout, subject: Desc): Desc {
  const statement = {
    _type: "https://in-toto.io/Statement/v0.1",
    predicateType: "https://slsa.dev/provenance/v0.2",
    subject: [{ name: "bunker-testbed", digest: { sha256: subject.digest.slice(7) } }],
    predicate: { builder: { id: "bunker-testbed" } },
  };
  const blob = layout.putJson(statement, MT.inToto);
  const config = layout.putJson(
    { architecture: "unknown", os: "unknown", config: {}, rootfs: { type: "layers", diff_ids: [blob.digest] } },
    MT.ociConfig,
  );
  const manifest = layout.putJson(
    {
      schemaVersion: 2,
      mediaType: MT.ociManifest,
      config,
      layers: [{ ...blob, annotations: { "in-toto.io/predicate-type": statement.predicateType } }],
    },
    MT.ociManifest,
  );
  return {
    ...manifest,
    platform: { architecture: "unknown", os: "unknown" },
    annotations: { "vnd.docker.reference.digest": subject.digest, "vnd.docker.reference.type": "attestation-manifest" },
  };
}

/** Reads what the registry now serves for name:tag, for images.json. */
async function describe(base: string, name: string, tag: string, layout: string, layoutRef: string): Promise<ImageInfo> {
  const accept = [MT.ociIndex, MT.dockerList, MT.ociManifest, MT.dockerManifest].join(", ");
  const get = async (ref: string) => {
    const res = await fetch(`${base}/v2/${name}/manifests/${ref}`, { headers: { accept } });
    if (!res.ok) throw new Error(`GET ${name}:${ref}: ${res.status}`);
    const body = new Uint8Array(await res.arrayBuffer());
    return { mediaType: res.headers.get("content-type")!, digest: sha256Bytes(body), size: body.length, doc: JSON.parse(new TextDecoder().decode(body)) };
  };
  const manifestInfo = async (m: { doc: any }) => {
    const cfg = (await (await fetch(`${base}/v2/${name}/blobs/${m.doc.config.digest}`)).json()) as any;
    return {
      configDigest: m.doc.config.digest as string,
      layers: (m.doc.layers as Desc[]).map((l, i) => ({ mediaType: l.mediaType, digest: l.digest, size: l.size, diffId: cfg.rootfs.diff_ids[i] })),
    };
  };
  const top = await get(tag);
  const info: ImageInfo = { name, tag, mediaType: top.mediaType, digest: top.digest, layout, layoutRef };
  if (Array.isArray(top.doc.manifests)) {
    info.manifests = [];
    for (const d of top.doc.manifests as Desc[]) {
      const m = await get(d.digest);
      const entry: ManifestInfo & { annotations?: Record<string, string> } = {
        mediaType: m.mediaType, digest: m.digest, size: m.size, platform: d.platform, ...(await manifestInfo(m)),
      };
      if (d.annotations) entry.annotations = d.annotations;
      info.manifests.push(entry);
    }
  } else {
    Object.assign(info, await manifestInfo(top));
  }
  return info;
}

/** name, tag, layout ref, and how to push: as is with skopeo, converted to Docker schema 2, or raw bytes. */
const PUSHES: [string, string, string, "oci" | "v2s2" | "raw"][] = [
  ["busybox", "latest", "busybox", "oci"],
  ["busybox", "v2s2", "busybox", "v2s2"],
  ["debian", "bookworm", "debian", "oci"],
  ["redis", "latest", "redis", "oci"],
  ["nginx", "latest", "nginx", "oci"],
  ["torture", "latest", "torture", "oci"],
  ["multi", "list", "multi-list", "raw"],
  ["multi", "index", "multi-index", "raw"],
  ["nomediatype", "latest", "nomediatype", "raw"],
  ["volumes", "latest", "volumes", "oci"],
  ["testcontainers/ryuk", "0.11.0", "ryuk", "oci"],
  ["library/ubuntu", "latest", "debian", "v2s2"],
  ["library/alpine", "latest", "busybox", "v2s2"],
  ["library/nginx", "latest", "nginx", "v2s2"],
  ["library/redis", "latest", "redis", "v2s2"],
  ["library/busybox", "latest", "busybox", "v2s2"],
  ["library/debian", "bookworm", "debian", "v2s2"],
];

/** Builds everything into `out` (a fresh directory that becomes the cache entry). */
async function build(out: string, finalDir: string) {
  const work = join(out, "work");
  mkdirSync(work, { recursive: true });
  const layout = new Layout(join(out, "oci"));
  layout.init();
  const sources = hostSources();
  const t0 = performance.now();
  const lap = (what: string) => console.error(`[testbed] ${what} (${((performance.now() - t0) / 1000).toFixed(1)} s)`);

  const debs = await downloadDebs(work, sources, ["busybox-static:amd64", "busybox-static:arm64"]);
  const bbAmd64 = await busyboxBinary(debs, "amd64", work);
  const bbArm64 = await busyboxBinary(debs, "arm64", work);
  // The arm64 binary cannot run here; both come from one source version, so they share an applet list.
  const applets = (await output([bbAmd64, "--list-full"])).split("\n").filter(Boolean);
  lap("busybox .debs fetched");

  const bbLayer = await layerFrom(layout, work, "busybox", (r) => stageBusybox(r, bbAmd64, applets));
  const bbHistory = [{ createdBy: "busybox-static: /bin/busybox, applet symlinks, passwd, group" }, { createdBy: 'CMD ["sh"]', layer: false }];
  const busybox = writeImage(layout, { layers: [bbLayer], history: bbHistory, config: { Cmd: ["sh"] } });
  layout.setRef("busybox", { ...busybox, platform: undefined });
  const bbArmLayer = await layerFrom(layout, work, "busybox-arm64", (r) => stageBusybox(r, bbArm64, applets));
  const armSpec = { layers: [bbArmLayer], history: bbHistory, config: { Cmd: ["sh"] }, arch: "arm64", variant: "v8" };
  const busyboxArm = writeImage(layout, armSpec);
  lap("busybox");

  const index = layout.putJson(
    { schemaVersion: 2, mediaType: MT.ociIndex, manifests: [busybox, busyboxArm, attestation(layout, busybox), attestation(layout, busyboxArm)] },
    MT.ociIndex,
  );
  layout.setRef("multi-index", index);
  const dockerAmd = writeImage(layout, { layers: [bbLayer], history: bbHistory, config: { Cmd: ["sh"] }, docker: true });
  const dockerArm = writeImage(layout, { ...armSpec, docker: true });
  layout.setRef("multi-list", layout.putJson({ schemaVersion: 2, mediaType: MT.dockerList, manifests: [dockerAmd, dockerArm] }, MT.dockerList));
  const nomt = writeImage(layout, { layers: [bbLayer], history: bbHistory, config: { Cmd: ["sh"] }, noMediaType: true });
  layout.setRef("nomediatype", { ...nomt, platform: undefined });

  layout.setRef("torture", { ...(await buildTorture(layout, work, bbAmd64)), platform: undefined });
  lap("torture");
  layout.setRef("volumes", { ...(await buildVolumes(layout, work, bbLayer, bbHistory)), platform: undefined });
  layout.setRef("ryuk", { ...(await buildRyuk(layout, work)), platform: undefined });
  lap("volumes, ryuk");

  const debian = await buildDebian(layout, work, sources);
  layout.setRef("debian", { ...debian.desc, platform: undefined });
  lap("debian");

  await buildPackageImage(layout, work, sources, "redis", "redis-server", "",
    ["redis-server", "--protected-mode", "no"], ["--config.exposedports", "6379/tcp"],
    "/bin/sh -c apt-get update && apt-get install -y --no-install-recommends redis-server && rm -rf /var/lib/apt/lists/*");
  lap("redis");
  await buildPackageImage(layout, work, sources, "nginx", "nginx-light",
    "ln -sf /dev/stdout /var/log/nginx/access.log && ln -sf /dev/stderr /var/log/nginx/error.log",
    ["nginx", "-g", "daemon off;"], ["--config.exposedports", "80/tcp", "--config.stopsignal", "SIGQUIT"],
    "/bin/sh -c apt-get update && apt-get install -y --no-install-recommends nginx-light && ln -sf /dev/stdout /var/log/nginx/access.log && ln -sf /dev/stderr /var/log/nginx/error.log && rm -rf /var/lib/apt/lists/*");
  lap("nginx");
  rmSync(work, { recursive: true, force: true });

  const storage = join(out, "registry");
  mkdirSync(storage);
  const regWork = join(out, "registry-run");
  mkdirSync(regWork);
  const reg = await spawnRegistry({ storageDir: storage, workDir: regWork });
  const images: ImageInfo[] = [];
  try {
    for (const [name, tag, ref, how] of PUSHES) {
      if (how === "raw") {
        await pushRaw(reg.url, name, tag, layout, layout.getRef(ref));
      } else {
        await run([
          "skopeo", "--insecure-policy", "copy", "--quiet", "--dest-tls-verify=false", "--dest-no-creds",
          ...(how === "v2s2" ? ["--format", "v2s2"] : ["--preserve-digests"]),
          `oci:${layout.dir}:${ref}`, `docker://${reg.host}/${name}:${tag}`,
        ]);
      }
      images.push(await describe(reg.url, name, tag, join(finalDir, "oci"), ref));
    }
  } finally {
    await stopRegistry(reg.proc);
  }
  rmSync(regWork, { recursive: true, force: true });
  const doc: ImagesJson = { recipe: recipeHash(), builtAt: new Date().toISOString(), images };
  writeFileSync(join(out, "images.json"), JSON.stringify(doc, null, 2) + "\n");
  lap("pushed");
}

/** Removes build dirs left by killed builds (their pid, in the name, is gone). */
function removeStale(root: string) {
  for (const name of readdirSync(root)) {
    const m = /^\.build-[0-9a-f]+-(\d+)$/.exec(name);
    if (!m) continue;
    try {
      process.kill(Number(m[1]), 0);
    } catch {
      rmSync(join(root, name), { recursive: true, force: true });
    }
  }
}

async function main() {
  process.umask(0o022);
  const root = cacheRoot();
  mkdirSync(root, { recursive: true });
  // Serialise builders (tests in parallel, CI and a developer) with flock(1) around a re-exec of ourselves.
  if (process.env.BUNKER_TESTBED_LOCKED !== "1") {
    const proc = Bun.spawn(["flock", join(root, ".lock"), process.execPath, import.meta.path, ...process.argv.slice(2)], {
      stdio: ["ignore", "inherit", "inherit"],
      env: { ...process.env, BUNKER_TESTBED_LOCKED: "1" },
    });
    process.exit(await proc.exited);
  }
  const finalDir = join(root, recipeHash());
  const force = process.argv.includes("--force");
  if (existsSync(join(finalDir, "images.json")) && !force) {
    console.log(finalDir);
    return;
  }
  removeStale(root);
  const tmp = join(root, `.build-${recipeHash()}-${process.pid}`);
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp);
  try {
    await build(tmp, finalDir);
    if (force) rmSync(finalDir, { recursive: true, force: true });
    // rename(2) is atomic: readers see either no entry or a complete one.
    renameSync(tmp, finalDir);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  console.log(finalDir);
}

await main();
