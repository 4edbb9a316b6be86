/** The release, as in package.json (a test keeps them equal): for the start-up line, `--version` and `/metrics`. */
export const version = "0.1.0"
