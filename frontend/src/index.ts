// Entry point of the Batches tab. TensorBoard's plugin_entry.html imports this module inside the
// plugin iframe and calls its exported render().
import uplotCss from "uplot/dist/uPlot.min.css?inline";
import css from "./style.css?inline";
import { App } from "./app/app";

declare global {
  interface Window {
    __tbb?: {
      app: App;
      debug: () => ReturnType<App["debug"]>;
    };
  }
}

export function render(): void {
  if (window.__tbb) return; // render() once per document
  const style = document.createElement("style");
  style.textContent = uplotCss + "\n" + css;
  document.head.append(style);
  document.documentElement.lang ||= "en";
  const app = new App(document.body);
  window.__tbb = { app, debug: () => app.debug() };
  app.start();
}
