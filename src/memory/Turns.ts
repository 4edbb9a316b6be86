/**
 * Whole-turn arithmetic shared by every history layer: a turn is a run of adjacent entries with
 * the same turn id, and windows and bounds are counted in such runs, never in loose messages.
 */

/** Turn ids, oldest first, that must go so at most `max` messages remain (whole turns only). */
export const turnsToDrop = (turnSizes: ReadonlyArray<readonly [string, number]>, max: number): Array<string> => {
  let total = turnSizes.reduce((n, [, size]) => n + size, 0)
  const drop: Array<string> = []
  // Never drop the newest turn, even if it alone is larger than the bound.
  for (const [turnId, size] of turnSizes.slice(0, -1)) {
    if (total <= max) break
    drop.push(turnId)
    total -= size
  }
  return drop
}

/** The entries of the newest `turns` turns, oldest first. */
export const lastTurns = <A extends { readonly turnId: string }>(
  entries: ReadonlyArray<A>,
  turns: number
): ReadonlyArray<A> => {
  if (turns <= 0) return []
  let seen = 0
  let start = entries.length
  for (let i = entries.length - 1; i >= 0; i--) {
    if (i === entries.length - 1 || entries[i]!.turnId !== entries[i + 1]!.turnId) {
      if (seen === turns) break
      seen++
    }
    start = i
  }
  return entries.slice(start)
}

/** A turn's id and its messages, oldest first. */
export interface Turn<M> {
  readonly turnId: string
  readonly messages: ReadonlyArray<M>
}

/** Adjacent entries with the same turn id, as turns, oldest first. */
export const groupTurns = <M>(
  entries: ReadonlyArray<{ readonly turnId: string; readonly message: M }>
): Array<Turn<M>> => {
  const turns: Array<{ turnId: string; messages: Array<M> }> = []
  for (const e of entries) {
    const last = turns.at(-1)
    if (last && last.turnId === e.turnId) last.messages.push(e.message)
    else turns.push({ turnId: e.turnId, messages: [e.message] })
  }
  return turns
}

/** Each turn's id and number of messages, oldest first. */
export const turnSizes = (entries: ReadonlyArray<{ readonly turnId: string }>): Array<[string, number]> => {
  const sizes: Array<[string, number]> = []
  for (const e of entries) {
    const last = sizes.at(-1)
    if (last && last[0] === e.turnId) last[1]++
    else sizes.push([e.turnId, 1])
  }
  return sizes
}
