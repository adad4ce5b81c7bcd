// Vite turns `import url from './file?url'` into the file's served URL.
declare module '*?url' {
  const url: string;
  export default url;
}
