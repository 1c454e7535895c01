/** bunker's entry point: the CLI, with only the command that runs loaded (src/commands/index.ts loads it lazily). */
import { main } from "./commands/index.ts";

process.exitCode = await main(process.argv.slice(2));
