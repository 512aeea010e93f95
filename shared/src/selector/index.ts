/** Kubernetes-style label selectors: AST, parser/formatter and matcher. */
export * from "./ast.ts";
export * from "./parse.ts";
export * from "./match.ts";
