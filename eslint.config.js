// Lint rules, including the layer rule of DESIGN.md §2: imports only point down.
import js from "@eslint/js";
import tseslint from "typescript-eslint";

const forbid = (groups, why) => ({
  "no-restricted-imports": ["error", { patterns: [{ group: groups, message: why }] }],
});

export default tseslint.config(
  { ignores: ["dist/**", "node_modules/**", "charts/**", ".cluster/**"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "@typescript-eslint/consistent-type-imports": "error",
    },
  },
  {
    // The mocha reporter is CommonJS because mocha loads reporters with require().
    files: ["**/*.cjs"],
    languageOptions: {
      sourceType: "commonjs",
      globals: { require: "readonly", module: "writable", process: "readonly" },
    },
    rules: { "@typescript-eslint/no-require-imports": "off" },
  },
  {
    files: ["api/**/*.ts"],
    rules: forbid(
      [
        "**/adapters/**",
        "**/certs/**",
        "**/webhook/**",
        "**/reconciler/**",
        "**/cli/**",
        "@kubernetes/client-node",
        "express",
        "pino",
        "@slack/*",
        "consul",
        "node:*",
      ],
      "api/ is pure: schema, labels and decisions only (DESIGN.md §2).",
    ),
  },
  {
    files: ["adapters/**/*.ts", "certs/**/*.ts"],
    rules: forbid(
      ["**/webhook/**", "**/reconciler/**", "**/cli/**"],
      "I/O layers may import only api/ (DESIGN.md §2).",
    ),
  },
  {
    files: ["webhook/**/*.ts"],
    rules: forbid(["**/reconciler/**", "**/cli/**"], "webhook/ and reconciler/ meet only in api/ and adapters/."),
  },
  {
    files: ["reconciler/**/*.ts"],
    rules: forbid(["**/webhook/**", "**/cli/**"], "webhook/ and reconciler/ meet only in api/ and adapters/."),
  },
  {
    files: ["cli/**/*.ts"],
    rules: forbid(
      ["**/webhook/**", "**/reconciler/**"],
      "cli/ is an entry point; share code through api/ or adapters/.",
    ),
  },
);
