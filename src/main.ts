/** bunker's entry point: the CLI, with only the command that runs loaded. */
const { main } = await import("./commands/index.ts");
process.exitCode = await main(process.argv.slice(2));
export {};
