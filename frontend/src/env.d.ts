declare module "*?inline" {
  const content: string;
  export default content;
}
