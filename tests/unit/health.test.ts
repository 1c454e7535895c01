/**
 * HEALTHCHECK policy (src/engine/containers/health.ts): moby's merge of the user's check over the image's,
 * its validation messages, the plan the shim gets (defaults, CMD-SHELL's shell, Go's duration text), and
 * Go's Duration.String() used in the timeout message.
 */
import { expect, test } from "bun:test";
import { checkHealthConfig, healthPlan, mergeHealthConfig } from "../../src/engine/containers/health.ts";
import { goDurationString } from "../../src/go/time.ts";
import { decodePlan, encodePlan } from "../../src/engine/runtime/spec.ts";
import { testPlan } from "../helpers/plan.ts";

test("merge: the user's fields over the image's; empty Test and zero values inherit; zeros left out", () => {
  const image = { Test: ["CMD-SHELL", "curl -f localhost"], Interval: 5e9, Retries: 4 };
  expect(mergeHealthConfig(undefined, image)).toEqual(image);
  expect(mergeHealthConfig({ Timeout: 2e9 }, image)).toEqual({ ...image, Timeout: 2e9 });
  expect(mergeHealthConfig({ Test: ["NONE"] }, image)).toEqual({ Test: ["NONE"], Interval: 5e9, Retries: 4 });
  expect(mergeHealthConfig({ Test: ["CMD", "true"], Interval: 0, Timeout: 0 }, undefined)).toEqual({ Test: ["CMD", "true"] });
  expect(mergeHealthConfig(undefined, undefined)).toBeUndefined();
});

test("moby's validateHealthCheck messages", () => {
  const msg = (h: object) => {
    try {
      checkHealthConfig(h);
      return "ok";
    } catch (e) {
      return (e as Error).message;
    }
  };
  expect(msg({ Interval: 999_999 })).toBe("Interval in Healthcheck cannot be less than 1ms");
  expect(msg({ Interval: -5 })).toBe("Interval in Healthcheck cannot be less than 1ms");
  expect(msg({ Timeout: 1 })).toBe("Timeout in Healthcheck cannot be less than 1ms");
  expect(msg({ Retries: -1 })).toBe("Retries in Healthcheck cannot be negative");
  expect(msg({ StartPeriod: 10 })).toBe("StartPeriod in Healthcheck cannot be less than 1ms");
  expect(msg({ StartInterval: 10 })).toBe("StartInterval in Healthcheck cannot be less than 1ms");
  expect(msg({ Interval: 1e6, Timeout: 0, Retries: 0 })).toBe("ok");
});

test("the plan: moby's defaults (30s, 30s, 0, 5s, 3), CMD-SHELL through /bin/sh -c, none for NONE or an unknown type", () => {
  expect(healthPlan({ Test: ["CMD-SHELL", "exit 0"] })).toEqual({ args: ["/bin/sh", "-c", "exit 0"], interval: 30000, timeout: 30000, startPeriod: 0, startInterval: 5000, retries: 3, timeoutText: "30s" });
  expect(healthPlan({ Test: ["CMD", "check", "--fast"], Interval: 1e9, Timeout: 15e8, StartPeriod: 1e6, StartInterval: 2e8, Retries: 7 })).toEqual({ args: ["check", "--fast"], interval: 1000, timeout: 1500, startPeriod: 1, startInterval: 200, retries: 7, timeoutText: "1.5s" });
  for (const t of [["NONE"], ["CMD"], ["BOGUS", "x"], []]) expect(healthPlan({ Test: t })).toBeUndefined();
  expect(healthPlan(undefined)).toBeUndefined();
  const recs = decodePlan(encodePlan({ ...testPlan("c1", "/c", ["/l1"]), health: healthPlan({ Test: ["CMD", "a b", "c"] })! }, { waitAttach: false, logPath: "/l" }));
  expect(recs.filter((r) => r[0] === "health" || r[0] === "hcarg")).toEqual([["health", "30000", "30000", "0", "5000", "3", "30s"], ["hcarg", "a b"], ["hcarg", "c"]]);
});

test("Go's Duration.String()", () => {
  expect([0, 400e6, 1e9, 15e8, 90e9, 3600e9 + 1e9, 1500, 2].map(goDurationString)).toEqual(["0s", "400ms", "1s", "1.5s", "1m30s", "1h0m1s", "1.5µs", "2ns"]);
});
