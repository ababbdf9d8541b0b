/** jest: unit tests of the labextension's model (labextension/src/__tests__), in node. */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/labextension/src'],
  testMatch: ['**/__tests__/**/*.spec.ts'],
  transform: {
    '^.+\\.tsx?$': [
      'ts-jest',
      {
        tsconfig: {
          module: 'commonjs',
          target: 'ES2019',
          lib: ['ES2019', 'DOM'],
          esModuleInterop: true,
          strict: true,
          jsx: 'react',
          skipLibCheck: true,
          resolveJsonModule: true,
          types: ['jest']
        }
      }
    ]
  }
};
