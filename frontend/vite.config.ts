// Builds ONE ES module, ../tb_batch_plugin/static/index.js, exporting render() (TensorBoard's
// dynamic plugin entry imports it and calls render()). CSS is inlined into the module and
// injected as a <style> element: no extra requests, no inline <script>, no worker, no CDN.
import { resolve } from "node:path";
import { defineConfig } from "vitest/config";

export default defineConfig({
  build: {
    outDir: resolve(__dirname, "../tb_batch_plugin/static"),
    emptyOutDir: true,
    target: "es2020",
    sourcemap: false,
    minify: true,
    lib: {
      entry: resolve(__dirname, "src/index.ts"),
      formats: ["es"],
      fileName: () => "index.js",
    },
    rollupOptions: {
      output: { inlineDynamicImports: true },
    },
  },
  test: {
    include: ["test/**/*.test.ts"],
    environment: "node",
  },
});
