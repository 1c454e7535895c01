/**
 * The image store and Docker's image operations on it (src/engine/images.ts over store/images.ts): how a
 * name or ID resolves, tags and repo digests, and rmi's rules (untag vs delete, conflicts with containers,
 * layers freed), on an engine with images pulled from an in-process registry. No root needed.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import type { Engine } from "../../src/engine/engine.ts";
import { inspectImage, listImages, removeImage, tagImage } from "../../src/engine/images.ts";
import { createContainer } from "../../src/engine/containers/manager.ts";
import { UnitBed } from "../helpers/unit-engine.ts";

const bed = new UnitBed();
afterAll(() => bed.stop());
const host = bed.registry.host;

let e: Engine;
let app: string; // image ID of <host>/lib/app:1
let other: string;
beforeAll(async () => {
  e = bed.engine();
  app = await bed.image(e, "lib/app", "1", [{ "a": "1" }, { "b": "2" }], { Cmd: ["/a"] });
  other = await bed.image(e, "lib/other", "latest", [{ "c": "3" }], { Cmd: ["/c"] });
});

test("an image resolves by name, default tag, full ID, ID without sha256:, unique prefix and name@digest", () => {
  const digest = e.images.digests(app)[0]!.digest;
  for (const ref of [`${host}/lib/app:1`, app, app.slice(7), app.slice(7, 19), `sha256:${app.slice(7, 15)}`, `${host}/lib/app@${digest}`]) {
    expect(e.images.resolve(ref).id).toBe(app);
  }
  expect(e.images.resolve(`${host}/lib/other`).id).toBe(other);
});

test("unknown names are 'No such image' in the familiar form, with the default tag", () => {
  expect(() => e.images.resolve(`${host}/lib/app`)).toThrow(`No such image: ${host}/lib/app:latest`);
  expect(() => e.images.resolve("busybox")).toThrow("No such image: busybox:latest");
  expect(e.images.lookup("0123456789ab")).toBeUndefined();
});

test("tag adds a name in canonical form; moving a tag leaves the old image untagged but stored", () => {
  tagImage(e, app, "mine");
  tagImage(e, app, "docker.io/someone/thing:v2");
  expect(e.images.tags(app)).toEqual([
    { repository: `${host}/lib/app`, tag: "1" },
    { repository: "docker.io/library/mine", tag: "latest" },
    { repository: "docker.io/someone/thing", tag: "v2" },
  ]);
  expect(inspectImage(e, "mine").RepoTags).toEqual([`${host}/lib/app:1`, "mine:latest", "someone/thing:v2"]);
  expect(() => tagImage(e, app, `x@sha256:${"0".repeat(64)}`)).toThrow("refusing to create a tag with a digest reference");
  tagImage(e, other, "mine");
  expect(e.images.resolve("mine").id).toBe(other);
  expect(e.images.tags(app).map((t) => t.repository)).not.toContain("docker.io/library/mine");
  // clean up the extra names for the tests below
  removeImage(e, "mine");
  removeImage(e, "someone/thing:v2");
  expect(e.images.tags(app)).toEqual([{ repository: `${host}/lib/app`, tag: "1" }]);
  expect(e.images.tags(other)).toEqual([{ repository: `${host}/lib/other`, tag: "latest" }]);
});

test("listing shows RepoTags and RepoDigests in familiar form", () => {
  const s = listImages(e).find((i) => i.Id === app)!;
  expect(s.RepoTags).toEqual([`${host}/lib/app:1`]);
  expect(s.RepoDigests).toEqual([`${host}/lib/app@${e.images.digests(app)[0]!.digest}`]);
});

test("rmi of one of two names only untags; of the last name untags, drops the repo digest and deletes the image and its layers", async () => {
  const f = bed.engine();
  const id = await bed.image(f, "lib/rm", "1", [{ "x": "1" }, { "y": "2" }]);
  const digest = f.images.digests(id)[0]!.digest;
  tagImage(f, id, "second");
  expect(removeImage(f, "second")).toEqual([{ Untagged: "second:latest" }]);
  expect(f.images.get(id)).toBeDefined();
  const chains = f.images.chainIds(id);
  const out = removeImage(f, `${host}/lib/rm:1`);
  expect(out).toEqual([{ Untagged: `${host}/lib/rm:1` }, { Untagged: `${host}/lib/rm@${digest}` }, { Deleted: id }, ...chains.reverse().map((c) => ({ Deleted: c }))]);
  expect(f.images.count()).toBe(0);
  expect(chains.map((c) => f.layers.get(c))).toEqual([undefined, undefined]);
});

test("rmi by ID of an image named in two repositories needs force; --no-prune keeps its layers", async () => {
  const f = bed.engine();
  const id = await bed.image(f, "lib/two", "1", [{ "x": "1" }]);
  tagImage(f, id, "elsewhere:1");
  const chain = f.images.chainIds(id);
  expect(() => removeImage(f, id)).toThrow(`conflict: unable to delete ${id.slice(7, 19)} (must be forced) - image is referenced in multiple repositories`);
  expect(f.images.tags(id)).toHaveLength(2);
  const out = removeImage(f, id.slice(7, 19), { force: true, noPrune: true });
  expect(out.filter((o) => "Untagged" in o)).toHaveLength(3); // two tags and the repo digest
  expect(out).toContainEqual({ Deleted: id });
  expect(f.images.get(id)).toBeUndefined();
  // --no-prune: the layer stays
  expect(f.layers.get(chain[0]!)?.chainId).toBe(chain[0]!);
});

test("a stopped container holds its image: rmi of its last name needs force, by ID it is refused without force", async () => {
  const f = bed.engine();
  const id = await bed.image(f, "lib/used", "1", [{ "x": "1" }], { Cmd: ["/x"] });
  const c = await createContainer(f, { image: `${host}/lib/used:1`, networkMode: "none" });
  expect(() => removeImage(f, `${host}/lib/used:1`)).toThrow(`conflict: unable to remove repository reference "${host}/lib/used:1" (must force) - container ${c.id.slice(0, 12)} is using its referenced image ${id.slice(7, 19)}`);
  expect(() => removeImage(f, id)).toThrow(`conflict: unable to delete ${id.slice(7, 19)} (must be forced) - image is being used by stopped container ${c.id.slice(0, 12)}`);
  expect(f.images.get(id)).toBeDefined();
  expect(listImages(f).find((i) => i.Id === id)!.RepoTags).toEqual([`${host}/lib/used:1`]);
  // Forced: the image row goes, the layer the container's overlay uses stays.
  removeImage(f, id, { force: true });
  expect(f.images.get(id)).toBeUndefined();
  expect(f.layers.get(c.topLayer!)).toBeDefined();
});
