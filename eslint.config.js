import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/**', 'build/**', 'native/build/**', 'bench/results.json'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
      globals: {
        process: 'readonly',
        Buffer: 'readonly',
        console: 'readonly',
        setTimeout: 'readonly',
        clearTimeout: 'readonly',
        setInterval: 'readonly',
        clearInterval: 'readonly',
        URL: 'readonly',
      },
    },
    rules: {
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/require-await': 'off',
      '@typescript-eslint/no-floating-promises': [
        'error',
        {
          allowForKnownSafeCalls: [
            {
              from: 'package',
              package: 'node:test',
              name: ['test', 'it', 'describe', 'suite', 'before', 'after', 'beforeEach', 'afterEach'],
            },
          ],
        },
      ],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-restricted-imports': [
        'error',
        { patterns: [{ regex: '^(\\.\\./)+native/build', message: 'only src/native/ loads the addon' }] },
      ],
    },
  },
  {
    files: ['src/receivers/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        { patterns: [{ regex: '/(processors|exporters)/', message: 'components never import each other' }] },
      ],
    },
  },
  {
    files: ['src/processors/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        { patterns: [{ regex: '/(receivers|exporters)/', message: 'components never import each other' }] },
      ],
    },
  },
  {
    files: ['src/exporters/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        { patterns: [{ regex: '/(receivers|processors)/', message: 'components never import each other' }] },
      ],
    },
  },
  { files: ['**/*.js'], ...tseslint.configs.disableTypeChecked },
);
