import { describe, expect, test } from "bun:test";
import { plainProgress, ttyProgress } from "../../src/compose/progress.ts";

const strip = (s: string) => s.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, "");
const settle = () => new Promise((r) => setTimeout(r, 0));

describe("compose progress", () => {
  test("plain: one line per event, as compose's plain writer", async () => {
    let out = "";
    const p = plainProgress((d) => (out += d));
    p.event("Network shop_default", "Creating");
    p.event("Network shop_default", "Created");
    await settle();
    expect(out).toBe(" Network shop_default  Creating\n Network shop_default  Created\n");
  });

  test("tty: a header and a line per resource, redrawn in place with marks, statuses and times", async () => {
    let t = 0;
    const writes: string[] = [];
    const p = ttyProgress((d) => void writes.push(String(d)), { columns: 60, now: () => t });
    p.event("Network shop_default", "Creating");
    p.event("Container shop-redis-1", "Creating");
    await settle();
    // One draw per turn of the event loop, however many events came in it.
    expect(writes).toHaveLength(1);
    const first = strip(writes[0]!).split("\n");
    expect(first[0]).toBe("[+] Running 0/2");
    expect(first[1]).toMatch(/^ ⠋ Network shop_default {3} Creating +0\.0s$/);
    expect(first[2]).toMatch(/^ ⠋ Container shop-redis-1 {2}Creating +0\.0s$/);
    // Each line fills the terminal's width (Go's byte count: the spinner counts 3), the timer at its end.
    expect(Buffer.byteLength(first[1]!)).toBe(60 - 1);

    t = 1240;
    p.event("Network shop_default", "Created");
    p.event("Container shop-redis-1", "Created");
    p.event("Container shop-redis-1", "Starting");
    await settle();
    const second = writes[1]!;
    // The second draw goes back up over the 2 lines and the header before writing them again.
    expect(second.startsWith("\x1b[3A")).toBe(true);
    const lines = strip(second).split("\n");
    expect(lines[0]).toBe("[+] Running 1/2");
    expect(lines[1]).toMatch(/^ ✔ Network shop_default +Created +1\.2s$/);
    // A resource's time runs from its first event; a working one turns its spinner (100 ms a frame).
    expect(lines[2]).toMatch(/^ ⠹ Container shop-redis-1 +Starting +1\.2s$/);
    expect(second).toContain("\x1b[34m"); // done lines in blue

    t = 1500;
    p.event("Container shop-redis-1", "Started");
    await settle();
    const last = writes.at(-1)!;
    expect(last).toContain("\x1b[34m[+] Running 2/2\x1b[0m"); // the header turns blue when all are done
    expect(strip(last).split("\n")[2]).toMatch(/^ ✔ Container shop-redis-1 +Started +1\.5s$/);
  });

  test("tty: a warning freezes the view above it and the next events start a new one; an error is marked ✘", async () => {
    let t = 0;
    let out = "";
    const p = ttyProgress((d) => (out += d), { columns: 50, now: () => t });
    p.event("Container p-a-1", "Creating");
    p.warn("Found orphan containers");
    t = 300;
    p.event("Container p-b-1", "Error");
    await settle();
    const text = strip(out);
    expect(text.indexOf("[+] Running 0/1")).toBeLessThan(text.indexOf("WARN[0000] Found orphan containers"));
    // The view after the warning is new: it does not move the cursor up over the warning.
    const after = out.slice(out.indexOf("WARN[0000]"));
    expect(after).not.toMatch(/\x1b\[\d+A/);
    expect(strip(after)).toMatch(/\[\+\] Running 0\/1\n ✘ Container p-b-1 +Error +0\.0s\n/);
    expect(after).toContain("\x1b[31m");
  });
});
