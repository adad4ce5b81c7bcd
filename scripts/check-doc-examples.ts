// Lists every symbol the package exports (attnstream, attnstream/rx, attnstream/testing, attnstream/threads) that has
// no doc comment or no @example, and exits 1 if there is any: the API reference (`npm run docs`)
// promises a summary and an example for each.
//
//   npm run docs:check
import ts from 'typescript';

const ENTRY_POINTS = ['src/index.ts', 'src/rx/index.ts', 'src/testing/index.ts', 'src/threads/index.ts'];

const program = ts.createProgram(ENTRY_POINTS, {
  module: ts.ModuleKind.NodeNext,
  moduleResolution: ts.ModuleResolutionKind.NodeNext,
  target: ts.ScriptTarget.ES2022,
  strict: true,
  skipLibCheck: true,
});
const checker = program.getTypeChecker();
let missing = 0;
for (const entry of ENTRY_POINTS) {
  const module = checker.getSymbolAtLocation(program.getSourceFile(entry)!)!;
  for (const exported of checker.getExportsOfModule(module)) {
    const symbol = exported.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(exported) : exported;
    const documented = ts.displayPartsToString(symbol.getDocumentationComment(checker)).trim() !== '';
    const example = symbol.getJsDocTags(checker).some((tag) => tag.name === 'example');
    if (documented && example) continue;
    missing++;
    const file = symbol.declarations?.[0]?.getSourceFile().fileName.replace(`${process.cwd()}/`, '') ?? '?';
    console.log(`${entry}: ${exported.name} (${file}) has ${documented ? 'no @example' : 'no doc comment'}`);
  }
}
console.log(missing === 0 ? 'every exported symbol has a doc comment and an @example' : `${missing} exported symbols lack a doc comment or an @example`);
process.exitCode = missing === 0 ? 0 : 1;
