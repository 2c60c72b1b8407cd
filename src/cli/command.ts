/** What a subcommand needs from the outside world; injected by main.ts so commands stay testable. */
export interface CommandIo {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  readonly env: Readonly<Record<string, string | undefined>>;
}

/** A subcommand: parses its own arguments and resolves to an exit code (it never calls process.exit). */
export interface Command {
  readonly name: string;
  readonly summary: string;
  readonly usage: string;
  run(args: string[], io: CommandIo): Promise<number>;
}
