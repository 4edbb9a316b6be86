/**
 * `calculator`: evaluates a math expression with mathjs, restricted so that evaluation stays a
 * quick, pure computation. mathjs runs synchronously (a timeout cannot stop it), so instead of
 * trusting a blocklist, the parsed expression is checked against an allowlist of node types,
 * operators, functions and symbols; everything allowed costs time and memory in proportion to
 * the (bounded) expression length. Exponents and combinatorics arguments are bounded at run time.
 * mathjs is large: it is loaded on the first calculation, not at start-up.
 */
import { Effect, Schema } from "effect"
import type { MathJsInstance, MathNode } from "mathjs"
import * as Tool from "../Tool.ts"
import type { ToolGroup } from "../ToolRegistry.ts"

export const maxExpressionLength = 500
/** Larger exponents only overflow to Infinity on numbers, and are a cost on anything else. */
export const maxExponent = 10_000
/** `combinations`/`permutations` loop over their arguments. */
const maxCombinatoricsArgument = 10_000
const maxArrayItems = 200
const maxNodes = 400

/** A restricted mathjs instance: overflowing and reflective functions replaced. */
interface Calculator {
  readonly math: MathJsInstance
  /** The parser, kept from before `parse` was disabled inside expressions. */
  readonly parse: MathJsInstance["parse"]
}

const restrict = (mathjs: typeof import("mathjs")): Calculator => {
  const math = mathjs.create(mathjs.all, { number: "number" })
  // Kept before the namespace is locked below.
  const parse = math.parse
  const pow = math.pow
  const dotPow = math.dotPow
  const combinations = math.combinations
  const permutations = math.permutations

  const checkExponent = (exponent: unknown) => {
    if (typeof exponent === "number" && Math.abs(exponent) > maxExponent) {
      throw new Error(`exponent ${exponent} is too large (the limit is ${maxExponent})`)
    }
  }
  const checkCombinatorics = (name: string, n: unknown) => {
    if (typeof n === "number" && n > maxCombinatoricsArgument) {
      throw new Error(`${name} of more than ${maxCombinatoricsArgument} items is not supported`)
    }
  }
  const disabled = (name: string) => () => {
    throw new Error(`${name} is disabled`)
  }

  math.import(
    {
      pow: math.typed("pow", {
        "any, any": (x: unknown, y: unknown) => {
          checkExponent(y)
          return pow(x as number, y as number)
        }
      }),
      dotPow: math.typed("dotPow", {
        "any, any": (x: unknown, y: unknown) => {
          checkExponent(y)
          return dotPow(x as number, y as number)
        }
      }),
      combinations: math.typed("combinations", {
        "any, any": (n: unknown, k: unknown) => {
          checkCombinatorics("combinations", n)
          return combinations(n as number, k as number)
        }
      }),
      permutations: math.typed("permutations", {
        "any": (n: unknown) => {
          checkCombinatorics("permutations", n)
          return permutations(n as number)
        },
        "any, any": (n: unknown, k: unknown) => {
          checkCombinatorics("permutations", n)
          return permutations(n as number, k as number)
        }
      }),
      // Defence in depth: the allowlist below already keeps these out of expressions.
      import: disabled("import"),
      createUnit: disabled("createUnit"),
      evaluate: disabled("evaluate"),
      parse: disabled("parse"),
      compile: disabled("compile"),
      simplify: disabled("simplify"),
      derivative: disabled("derivative"),
      resolve: disabled("resolve"),
      parser: disabled("parser"),
      reviver: disabled("reviver")
    },
    { override: true }
  )
  return { math, parse }
}

let loaded: Promise<Calculator> | undefined
/** The shared instance, created on first use (mathjs costs ~100 ms and ~60 MB to load). */
const loadMath = () => (loaded ??= import("mathjs").then(restrict))

const allowedFunctions = new Set([
  // arithmetic
  "abs",
  "add",
  "subtract",
  "multiply",
  "divide",
  "mod",
  "pow",
  "sqrt",
  "cbrt",
  "nthRoot",
  "square",
  "cube",
  "exp",
  "expm1",
  "log",
  "log10",
  "log2",
  "log1p",
  "round",
  "floor",
  "ceil",
  "fix",
  "sign",
  "gcd",
  "lcm",
  "hypot",
  "unaryMinus",
  "unaryPlus",
  "dotMultiply",
  "dotDivide",
  "dotPow",
  // statistics
  "min",
  "max",
  "sum",
  "prod",
  "mean",
  "median",
  "mode",
  "std",
  "variance",
  // trigonometry
  "sin",
  "cos",
  "tan",
  "sec",
  "csc",
  "cot",
  "asin",
  "acos",
  "atan",
  "atan2",
  "sinh",
  "cosh",
  "tanh",
  "asinh",
  "acosh",
  "atanh",
  // probability
  "factorial",
  "gamma",
  "combinations",
  "permutations",
  // complex numbers
  "re",
  "im",
  "conj",
  "arg",
  // small matrices (their size is bounded by the expression length)
  "det",
  "inv",
  "transpose",
  "dot",
  "cross",
  "norm",
  // units
  "to",
  "number",
  // comparison, logic, bits
  "equal",
  "unequal",
  "smaller",
  "larger",
  "smallerEq",
  "largerEq",
  "compare",
  "and",
  "or",
  "xor",
  "not",
  "bitAnd",
  "bitOr",
  "bitXor",
  "bitNot",
  "leftShift",
  "rightArithShift",
  "rightLogShift"
])

const allowedConstants = new Set([
  "pi",
  "PI",
  "e",
  "E",
  "tau",
  "phi",
  "i",
  "Infinity",
  "NaN",
  "true",
  "false",
  "LN2",
  "LN10",
  "LOG2E",
  "LOG10E",
  "SQRT1_2",
  "SQRT2"
])

class Rejected extends Error {}

/** Throws `Rejected` with a message for the model if the expression uses anything not allowed. */
const check = (math: MathJsInstance, root: MathNode): void => {
  let count = 0
  const visit = (node: MathNode): void => {
    if (++count > maxNodes) throw new Rejected("the expression is too complex")
    switch (node.type) {
      case "ConstantNode":
        return
      case "ParenthesisNode":
        return visit((node as unknown as { content: MathNode }).content)
      case "SymbolNode": {
        const name = (node as unknown as { name: string }).name
        if (allowedConstants.has(name) || math.Unit.isValuelessUnit(name)) return
        if (allowedFunctions.has(name)) throw new Rejected(`"${name}" is a function: call it like ${name}(x)`)
        throw new Rejected(`unknown symbol "${name}" (variables are not supported)`)
      }
      case "OperatorNode": {
        const op = node as unknown as { fn: string; op: string; args: ReadonlyArray<MathNode> }
        if (!allowedFunctions.has(op.fn)) throw new Rejected(`the operator "${op.op}" is not supported`)
        return op.args.forEach(visit)
      }
      case "RelationalNode":
        return (node as unknown as { params: ReadonlyArray<MathNode> }).params.forEach(visit)
      case "ConditionalNode": {
        const c = node as unknown as { condition: MathNode; trueExpr: MathNode; falseExpr: MathNode }
        return [c.condition, c.trueExpr, c.falseExpr].forEach(visit)
      }
      case "ArrayNode": {
        const items = (node as unknown as { items: ReadonlyArray<MathNode> }).items
        if (items.length > maxArrayItems) throw new Rejected(`arrays are limited to ${maxArrayItems} items`)
        return items.forEach(visit)
      }
      case "FunctionNode": {
        const fn = node as unknown as { fn: MathNode & { name?: string }; args: ReadonlyArray<MathNode> }
        const name = fn.fn.type === "SymbolNode" ? fn.fn.name : undefined
        if (name === undefined || !allowedFunctions.has(name)) {
          throw new Rejected(`the function "${name ?? fn.fn.toString()}" is not available`)
        }
        return fn.args.forEach(visit)
      }
      case "AssignmentNode":
      case "FunctionAssignmentNode":
        throw new Rejected("assignments and function definitions are not supported")
      case "BlockNode":
        throw new Rejected("give one expression at a time (no \";\" or line breaks)")
      case "RangeNode":
        throw new Rejected("ranges (a:b) are not supported")
      case "AccessorNode":
      case "IndexNode":
      case "ObjectNode":
        throw new Rejected("indexing, properties and objects are not supported")
      default:
        throw new Rejected(`"${node.type}" is not supported`)
    }
  }
  visit(root)
}

export interface Evaluation {
  readonly expression: string
  /** The result as text (numbers to 14 significant digits, units and matrices in mathjs notation). */
  readonly result: string
  /** Set when the result is a plain finite number. */
  readonly value?: number
}

/** 14 significant digits hide binary noise (0.1 + 0.2 = 0.3); plain notation up to 10^15. */
const resultFormat = { precision: 14, lowerExp: -9, upperExp: 15 } as const

/** Evaluates one expression; the error message is meant for the model. */
export const evaluate = (expression: string): Effect.Effect<Evaluation, Tool.ToolError> =>
  Effect.flatMap(Effect.promise(loadMath), ({ math, parse }) => {
    const text = expression.trim()
    if (text.length === 0) return Tool.fail("the expression is empty", "expression")
    if (text.length > maxExpressionLength) {
      return Tool.fail(`the expression is longer than ${maxExpressionLength} characters`, "expression")
    }
    try {
      const node = parse(text)
      check(math, node)
      const value: unknown = node.compile().evaluate({})
      const result = math.format(value as number, resultFormat)
      return Effect.succeed(
        typeof value === "number" && Number.isFinite(value)
          ? { expression: text, result, value: Number(result) }
          : { expression: text, result }
      )
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error)
      return Tool.fail(`Cannot evaluate "${text}": ${reason}`, "expression")
    }
  })

const Parameters = Schema.Struct({
  expression: Tool.param(
    Schema.String,
    `A math expression, e.g. "(3 + 4) * 2", "sqrt(2) / 3", "15% * 80", "sin(30 deg)", "5 km to mile", "combinations(49, 6)". ` +
      `At most ${maxExpressionLength} characters; no variables or assignments.`
  )
})

export const make = (): Tool.Tool =>
  Tool.make({
    name: "calculator",
    description:
      "Evaluate a math expression exactly instead of computing it in your head: arithmetic, powers, roots, " +
      "logarithms, trigonometry, statistics (mean, median, std), combinatorics, complex numbers, small matrices and unit conversions.",
    parameters: Parameters,
    run: (args) => evaluate(args.expression)
  })

export const group: ToolGroup = Effect.sync(() => [make()])
