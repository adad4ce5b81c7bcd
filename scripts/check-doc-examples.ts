// Lists every symbol the package exports (attnstream, attnstream/rx, attnstream/testing, attnstream/threads) that has
// no doc comment or no @example, and every @example of theirs, and every ```ts block of the README and
// docs/, that does not type-check as written (strict, importing the package by name, as a reader
// would), and exits 1 if there is any: the API reference (`npm run docs`) promises a summary and a
// working example for each, and a page's example is copied as it stands. A page marks a block that
// is part of a longer program ```ts excerpt, and a sketch of a structure ```ts schematic: those are
// not compiled.
//
//   npm run docs:check
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import ts from 'typescript';

const ENTRY_POINTS = ['src/index.ts', 'src/rx/index.ts', 'src/testing/index.ts', 'src/threads/index.ts'];
/** The package's names for its entry points, as an example imports them. */
const PACKAGE_PATHS = { attnstream: ['src/index.ts'], 'attnstream/rx': ['src/rx/index.ts'], 'attnstream/testing': ['src/testing/index.ts'], 'attnstream/threads': ['src/threads/index.ts'] };
const FENCED = /```ts\n([\s\S]*?)```/g;

const program = ts.createProgram(ENTRY_POINTS, {
  module: ts.ModuleKind.NodeNext,
  moduleResolution: ts.ModuleResolutionKind.NodeNext,
  target: ts.ScriptTarget.ES2022,
  strict: true,
  skipLibCheck: true,
});
const checker = program.getTypeChecker();
let missing = 0;
/** Each example's code, by the file name it is checked under, and the symbol it documents. */
const examples = new Map<string, { code: string; where: string }>();
for (const entry of ENTRY_POINTS) {
  const module = checker.getSymbolAtLocation(program.getSourceFile(entry)!)!;
  for (const exported of checker.getExportsOfModule(module)) {
    const symbol = exported.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(exported) : exported;
    const documented = ts.displayPartsToString(symbol.getDocumentationComment(checker)).trim() !== '';
    const tags = symbol.getJsDocTags(checker).filter((tag) => tag.name === 'example');
    tags.forEach((tag, k) => {
      for (const [, code] of ts.displayPartsToString(tag.text).matchAll(FENCED)) {
        examples.set(resolve(`.doc-examples/${entry.replace(/\W/g, '_')}/${exported.name}-${k}-${examples.size}.ts`), { code: `${code}\nexport {};\n`, where: `${entry}: ${exported.name}` });
      }
    });
    if (documented && tags.length > 0) continue;
    missing++;
    const file = symbol.declarations?.[0]?.getSourceFile().fileName.replace(`${process.cwd()}/`, '') ?? '?';
    console.log(`${entry}: ${exported.name} (${file}) has ${documented ? 'no @example' : 'no doc comment'}`);
  }
}

// The pages' examples too.
for (const page of ['README.md', ...readdirSync('docs', { recursive: true, encoding: 'utf8' }).map((name) => join('docs', name))]) {
  if (!page.endsWith('.md')) continue;
  const text = readFileSync(page, 'utf8');
  for (const match of text.matchAll(FENCED)) {
    const line = text.slice(0, match.index).split('\n').length;
    examples.set(resolve(`.doc-examples/${page.replace(/\W/g, '_')}-${line}.ts`), { code: `${match[1]}\nexport {};\n`, where: `${page}:${line}` });
  }
}

// The examples as files of their own, in memory, compiled against the sources under the package's names.
const options: ts.CompilerOptions = {
  module: ts.ModuleKind.ESNext,
  moduleResolution: ts.ModuleResolutionKind.Bundler,
  target: ts.ScriptTarget.ES2022,
  strict: true,
  skipLibCheck: true,
  noEmit: true,
  baseUrl: process.cwd(),
  paths: PACKAGE_PATHS,
  types: ['node'],
};
const host = ts.createCompilerHost(options);
const { getSourceFile, fileExists, readFile } = host;
host.getSourceFile = (name, version, ...rest) => {
  const example = examples.get(resolve(name));
  return example === undefined ? getSourceFile(name, version, ...rest) : ts.createSourceFile(name, example.code, version);
};
host.fileExists = (name) => examples.has(resolve(name)) || fileExists(name);
host.readFile = (name) => examples.get(resolve(name))?.code ?? readFile(name);
const compiled = ts.createProgram([...examples.keys()], options, host);
let failing = 0;
for (const [name, { where }] of examples) {
  const file = compiled.getSourceFile(name)!;
  for (const diagnostic of ts.getPreEmitDiagnostics(compiled, file)) {
    if (diagnostic.file !== file) continue;
    failing++;
    const { line } = file.getLineAndCharacterOfPosition(diagnostic.start ?? 0);
    console.log(`${where}: @example line ${line + 1}: ${ts.flattenDiagnosticMessageText(diagnostic.messageText, ' ')}`);
  }
}

const ok = missing === 0 && failing === 0;
console.log(
  ok
    ? `every exported symbol has a doc comment and an @example, and its ${examples.size} examples type-check`
    : `${missing} exported symbols lack a doc comment or an @example; ${failing} errors in their examples`,
);
process.exitCode = ok ? 0 : 1;
