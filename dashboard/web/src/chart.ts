// Line charts over a Series, with uPlot.
import uPlot from "uplot";
import type { Series } from "./live";
import { h } from "./dom";

const palette = ["#4f9dff", "#3fcf8e", "#f5a524", "#f0506e", "#b48cff", "#2ec4d6", "#e879c6", "#a3e635"];

export class LineChart {
  el: HTMLElement;
  private plot: uPlot | null = null;
  private keys: string[] = [];
  private ro: ResizeObserver;

  constructor(private title: string, private fmt: (v: number) => string, id?: string) {
    this.el = h("div", { class: "chart", id });
    this.ro = new ResizeObserver(() => this.plot?.setSize({ width: this.width(), height: 220 }));
    this.ro.observe(this.el);
  }

  private width(): number {
    return Math.max(240, this.el.clientWidth || 600);
  }

  // update redraws with the series' keys that pick returns.
  update(s: Series, pick: (key: string) => boolean = () => true) {
    const keys = [...s.values.keys()].filter(pick).sort();
    const data = [s.times, ...keys.map((k) => s.values.get(k)!)] as uPlot.AlignedData;
    if (!this.plot || keys.join("\u0000") !== this.keys.join("\u0000")) {
      this.plot?.destroy();
      this.keys = keys;
      const fmt = this.fmt;
      this.plot = new uPlot({
        title: this.title,
        width: this.width(),
        height: 220,
        series: [{}, ...keys.map((k, i) => ({ label: k, stroke: palette[i % palette.length], width: 2, value: (_u: uPlot, v: number | null) => (v == null ? "–" : fmt(v)) }))],
        axes: [{ stroke: "#8a93a6", grid: { stroke: "#8a93a622" } }, { stroke: "#8a93a6", grid: { stroke: "#8a93a622" }, size: 70, values: (_u, vals) => vals.map((v) => fmt(v)) }],
        scales: { x: { time: true } },
      }, data, this.el);
    } else {
      this.plot.setData(data);
    }
  }

  destroy() {
    this.ro.disconnect();
    this.plot?.destroy();
  }
}
