// ESLint (flat config) with typescript-eslint's type-aware rules. The rules that matter most here:
// floating and misused promises (a server that drops a rejection hangs or crashes) and unused code.
// Formatting is Prettier's job (.prettierrc.json); eslint-config-prettier is not needed because only
// non-stylistic rule sets are enabled.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'coverage/', 'bench/out/', 'charts/', 'docs/', 'models/train/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: {
      parserOptions: {
        projectService: { allowDefaultProject: ['vitest.config.ts', 'vitest.cluster.config.ts'] },
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      // A `let` read by closures before its one assignment (the operator's work queue) stays a `let`.
      'prefer-const': ['error', { ignoreReadBeforeAssign: true }],
      // Casts at the network edge are deliberate (values are validated right after).
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-non-null-assertion': 'off',
    },
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    languageOptions: { globals: { console: 'readonly', process: 'readonly', URL: 'readonly' } },
  },
);
