/**
 * The shim binary embedded into the compiled engine. scripts/build-shim.sh must have produced
 * .cache/bunker-shim first; only shim-binary.ts imports this module, lazily.
 */
// @ts-ignore: a build artifact, absent until scripts/build-shim.sh runs
import shim from "../../../.cache/bunker-shim" with { type: "file" };

export default shim as string;
