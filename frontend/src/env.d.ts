// Types of Vite's `?inline` imports: index.ts takes the CSS as text and injects it.
declare module "*?inline" {
  const content: string;
  export default content;
}
