/**
 * What a terminal would show after the bytes written to it: the cursor movements and erasures
 * Node's readline and `ConsoleTerminal` use (CSI G, A, B, C, D, K, J), `\r`, `\n` as a TTY
 * translates it (to the next line's start), and wrapping at `columns`. Enough to assert what a
 * person sees, not a full emulator.
 */
export const screenOf = (bytes: string, columns = 80): Array<string> => {
  const rows: Array<Array<string>> = [[]]
  let row = 0
  let col = 0
  const line = () => (rows[row] ??= [])
  const down = () => {
    row++
    while (rows.length <= row) rows.push([])
  }
  for (let i = 0; i < bytes.length; i++) {
    const char = bytes[i]!
    if (char === "\x1b" && bytes[i + 1] === "[") {
      const match = /^\x1b\[(\d*)([A-Za-z])/.exec(bytes.slice(i))
      if (match === null) continue
      i += match[0].length - 1
      const n = match[1] === "" ? undefined : Number(match[1])
      switch (match[2]) {
        case "G":
          col = (n ?? 1) - 1
          break
        case "A":
          row = Math.max(0, row - (n ?? 1))
          break
        case "B":
          for (let k = 0; k < (n ?? 1); k++) down()
          break
        case "C":
          col += n ?? 1
          break
        case "D":
          col = Math.max(0, col - (n ?? 1))
          break
        case "K":
          if (n === 2) rows[row] = []
          else if ((n ?? 0) === 0) line().length = Math.min(line().length, col)
          break
        case "J":
          line().length = Math.min(line().length, col)
          rows.length = row + 1
          break
      }
    } else if (char === "\r") {
      col = 0
    } else if (char === "\n") {
      down()
      col = 0
    } else {
      if (col >= columns) {
        down()
        col = 0
      }
      const cells = line()
      while (cells.length < col) cells.push(" ")
      cells[col++] = char
    }
  }
  return rows.map((cells) => cells.join("").trimEnd())
}
