/** What the command line prints of text it did not write. */

/** Terminal escape sequences: CSI (`ESC [ ... final`), OSC/DCS/APC/PM/SOS strings up to BEL or ST, and two-byte escapes. */
const escapeSequences =
  /\x1b\[[0-?]*[ -/]*[@-~]|[\x1b\x9d\x90\x9e\x9f\x98][\]P^_X][\s\S]*?(?:\x07|\x1b\\|\x9c|$)|\x1b[\s\S]?/g
/** Control characters (C0, DEL, C1), bidi overrides and line separators: they rewrite what a terminal shows. */
const controls = /[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g
/**
 * Text someone else chose (a stranger's Telegram name, a job's prompt), safe to print on the
 * operator's terminal: no escape sequences (colours, cursor moves, clipboard writes), no control
 * or format characters (a newline would forge a row of `minibot pairing list`), at most `max`
 * characters (Telegram names are at most 64).
 */
export const printable = (text: string, max = 64): string => {
  const clean = text.replace(escapeSequences, "").replace(controls, "").replace(/\p{Cf}/gu, "").trim()
  return clean.length > max ? `${clean.slice(0, max)}…` : clean
}
