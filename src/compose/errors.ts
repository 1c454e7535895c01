/** A project compose refuses, in compose's own words (the CLI prints the message, exit 1). */
export class ComposeError extends Error {
  override name = "ComposeError";
}
