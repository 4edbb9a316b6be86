import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as CalculatorTool from "../../src/tools/builtin/CalculatorTool.ts"
import { ToolRegistry } from "../../src/tools/ToolRegistry.ts"
import { callOf, contextFor, parse } from "./helpers.ts"

const registry = ToolRegistry.make([CalculatorTool.make()])
const calc = (expression: unknown) =>
  Effect.map(registry.execute(callOf("calculator", { expression }), contextFor("u")), parse)

describe("calculator", () => {
  it.effect("evaluates arithmetic, functions, percentages, units and complex numbers", () =>
    Effect.gen(function*() {
      const cases: Array<[string, string]> = [
        ["(3 + 4) * 2", "14"],
        ["2^10", "1024"],
        ["0.1 + 0.2", "0.3"],
        ["sqrt(2)", "1.4142135623731"],
        ["15% * 80", "12"],
        ["10 mod 3", "1"],
        ["5!", "120"],
        ["combinations(49, 6)", "13983816"],
        ["mean(1, 2, 3, 4)", "2.5"],
        ["sin(30 deg)", "0.5"],
        ["5 km to mile", "3.1068559611867 mile"],
        ["sqrt(-4)", "2i"],
        ["det([[1, 2], [3, 4]])", "-2"],
        ["1 < 2", "true"]
      ]
      for (const [expression, expected] of cases) {
        const out = yield* calc(expression)
        expect(out, expression).toMatchObject({ ok: true, result: { expression, result: expected } })
      }
      expect((yield* calc("2^10")).result.value).toBe(1024)
    }))

  it.effect("refuses what could escape the sandbox or change it", () =>
    Effect.gen(function*() {
      const cases: Array<[string, RegExp]> = [
        ["import({ foo: 1 })", /"import" is not available/],
        ["createUnit(\"foo\")", /"createUnit" is not available/],
        ["evaluate(\"1 + 1\")", /"evaluate" is not available/],
        ["parse(\"1\")", /"parse" is not available/],
        ["simplify(\"x + x\")", /"simplify" is not available/],
        ["derivative(\"x^2\", \"x\")", /"derivative" is not available/],
        ["x = 3", /assignments and function definitions are not supported/],
        ["f(x) = x^2", /assignments and function definitions are not supported/],
        ["1:100000000", /ranges/],
        ["[1, 2][1]", /indexing/],
        ["cos.constructor", /indexing, properties/],
        ["1; 2", /one expression at a time/],
        ["foo + 1", /unknown symbol "foo"/]
      ]
      for (const [expression, message] of cases) {
        const out = yield* calc(expression)
        expect(out, expression).toMatchObject({ ok: false, field: "expression" })
        expect(out.error, expression).toMatch(message)
      }
    }))

  it.effect("bounds exponents, combinatorics and the expression length", () =>
    Effect.gen(function*() {
      for (const expression of ["2^99999999", "pow(10, 20000)", "2^(1000 * 1000)", "[1, 2] .^ 50000"]) {
        const out = yield* calc(expression)
        expect(out, expression).toMatchObject({ ok: false, field: "expression" })
        expect(out.error, expression).toMatch(/exponent .* is too large/)
      }
      const combinatorics = yield* calc("combinations(100000000, 50000000)")
      expect(combinatorics.error).toMatch(/more than 10000 items/)

      const long = yield* calc(`1${" + 1".repeat(150)}`)
      expect(long).toMatchObject({ ok: false, field: "expression" })
      expect(long.error).toContain("longer than 500 characters")
    }))

  it.effect("explains bad input", () =>
    Effect.gen(function*() {
      expect(yield* calc("2 +")).toMatchObject({
        ok: false,
        field: "expression",
        error: expect.stringContaining("Unexpected end")
      })
      expect(yield* calc("   ")).toMatchObject({ ok: false, field: "expression", error: "the expression is empty" })
      expect(yield* calc(42)).toMatchObject({
        ok: false,
        field: "expression",
        error: expect.stringContaining("Expected string")
      })
    }))
})
