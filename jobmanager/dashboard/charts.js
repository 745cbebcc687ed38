/**
 * One job's live charts, drawn with uPlot (served by the JobManager from its node_modules, no CDN):
 * throughput, end-to-end latency p50/p99, and lag/pending, from the JobMetrics points
 * (GET /jobs/:id/metrics). Times are uPlot's: seconds since epoch.
 */
import uPlot from './uplot.esm.js';

const HEIGHT = 170;

const COLORS = {
  requests: '#1f6feb',
  errors: '#d1242f',
  p50: '#1a7f37',
  p99: '#9a6700',
  lag: '#8250df',
  pending: '#bf3989',
};

function series(label, stroke, fill) {
  return { label, stroke, width: 2, fill, spanGaps: false, points: { show: false } };
}

/** The charts, their series (label + color + which JobMetricsPoint field they draw). */
const CHARTS = [
  {
    id: 'chart-throughput',
    series: [
      [series('results/s', COLORS.requests, 'rgba(31,111,235,0.12)'), (p) => p.requestsPerSec],
      [series('errors/s', COLORS.errors), (p) => p.errorsPerSec],
    ],
  },
  {
    id: 'chart-latency',
    series: [
      [series('p50 ms', COLORS.p50), (p) => p.latencyP50Ms],
      [series('p99 ms', COLORS.p99), (p) => p.latencyP99Ms],
    ],
  },
  {
    id: 'chart-lag',
    series: [
      [series('lag', COLORS.lag, 'rgba(130,80,223,0.10)'), (p) => p.lag],
      [series('pending', COLORS.pending), (p) => p.pending],
    ],
  },
];

function widthOf(container) {
  return Math.max(240, Math.floor(container.clientWidth || container.parentElement?.clientWidth || 320));
}

/** The three charts of one job, created empty in their containers; `update(points)` redraws them. */
export class JobCharts {
  constructor(root = document) {
    this.plots = CHARTS.map((chart) => {
      const container = root.getElementById(chart.id);
      container.replaceChildren();
      const opts = {
        width: widthOf(container),
        height: HEIGHT,
        series: [{}, ...chart.series.map(([s]) => s)],
        scales: { x: { time: true }, y: { range: (_u, min, max) => [0, max > 0 ? max * 1.1 : 1] } },
        axes: [{}, { size: 56 }],
        legend: { live: false },
        cursor: { drag: { x: false, y: false } },
      };
      const plot = new uPlot(opts, [[], ...chart.series.map(() => [])], container);
      return { chart, container, plot };
    });
    this.onResize = () => {
      for (const { container, plot } of this.plots) plot.setSize({ width: widthOf(container), height: HEIGHT });
    };
    window.addEventListener('resize', this.onResize);
  }

  /** Draws `points` (JobMetricsPoint[], oldest first). */
  update(points) {
    const xs = points.map((p) => p.at / 1000);
    for (const { chart, plot } of this.plots) plot.setData([xs, ...chart.series.map(([, field]) => points.map(field))]);
  }

  destroy() {
    window.removeEventListener('resize', this.onResize);
    for (const { plot, container } of this.plots) {
      plot.destroy();
      container.replaceChildren();
    }
  }
}
