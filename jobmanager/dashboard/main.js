/**
 * The dashboard's loop: every second it reads the cluster (`/overview`, `/jobs`, `/taskmanagers`) and
 * the selected job (`/jobs/:id`, its checkpoints, and the metric points since the newest one held),
 * then redraws. The selected job is in the URL (`#job=ID`); the busiest active job is selected by
 * default. Cancel and rescale call the REST API's own routes. A 401 asks for the bearer token once.
 */
import { ApiError, cancelJob, getCheckpoints, getJob, getJobs, getMetrics, getOverview, getTaskManagers, rescaleJob, storeToken, storedToken } from './api.js';
import { JobCharts } from './charts.js';
import { setText } from './dom.js';
import { isActive, orderJobs, renderJobDetail, renderJobs, renderOverview, renderTaskManagers } from './views.js';

const POLL_MS = 1000;
/** Metric points kept for the charts. */
const WINDOW_MS = 10 * 60 * 1000;
/** Failure/degraded reasons fetched for the jobs table per poll (besides the selected job). */
const REASONS_PER_POLL = 10;

const $ = (id) => document.getElementById(id);

const state = {
  jobs: [],
  selectedId: selectedFromHash(),
  /** jobId → failure or degraded text. */
  reasons: new Map(),
  /** The selected job's metric points and totals, and its charts. */
  metrics: { jobId: undefined, points: [], latest: undefined, unavailable: undefined },
  charts: undefined,
  chartsJobId: undefined,
  /** True while the rescale input holds what the user typed (not overwritten by polling). */
  rescaleTyped: false,
  waitingForToken: false,
};

function selectedFromHash() {
  const match = /^#job=(.+)$/.exec(location.hash);
  return match ? decodeURIComponent(match[1]) : undefined;
}

function select(jobId) {
  if (jobId === state.selectedId) return;
  history.replaceState(null, '', `#job=${encodeURIComponent(jobId)}`);
  state.selectedId = jobId;
  state.rescaleTyped = false;
  setText($('action-message'), '');
  void poll();
}

function describe(err) {
  if (err instanceof ApiError) return err.code ? `${err.code}: ${err.message}` : err.message;
  return err instanceof Error ? err.message : String(err);
}

function askForToken(message) {
  state.waitingForToken = true;
  $('token-form').hidden = false;
  $('main').hidden = true;
  setText($('token-message'), message);
  setText($('status'), 'waiting for the bearer token', 'error');
  $('token-input').focus();
}

$('token-form').addEventListener('submit', (e) => {
  e.preventDefault();
  storeToken($('token-input').value.trim());
  $('token-input').value = '';
  state.waitingForToken = false;
  $('token-form').hidden = true;
  $('main').hidden = false;
  void poll();
});

/** Reasons for failed (kept: final) and degraded (refreshed) jobs, a few per poll. */
async function refreshReasons(jobs) {
  const wanted = jobs.filter((j) => j.state === 'DEGRADED' || (j.state === 'FAILED' && !state.reasons.has(j.id))).slice(0, REASONS_PER_POLL);
  const known = new Set(jobs.map((j) => j.id));
  for (const id of state.reasons.keys()) if (!known.has(id)) state.reasons.delete(id);
  for (const j of jobs) if (j.state !== 'FAILED' && j.state !== 'DEGRADED') state.reasons.delete(j.id);
  await Promise.all(
    wanted.map(async (j) => {
      const status = await getJob(j.id).catch(() => undefined);
      const reason = status?.failure ?? status?.degraded;
      if (reason) state.reasons.set(j.id, reason);
    }),
  );
}

/** New metric points of the selected job (all kept ones on a change of job), trimmed to the window. */
async function refreshMetrics(jobId) {
  const held = state.metrics;
  if (held.jobId !== jobId) state.metrics = { jobId, points: [], latest: undefined, unavailable: undefined };
  const m = state.metrics;
  const since = m.points.at(-1)?.at;
  try {
    const answer = await getMetrics(jobId, since);
    const fresh = answer.points.filter((p) => since === undefined || p.at > since);
    const cutoff = Date.now() - WINDOW_MS;
    m.points = [...m.points, ...fresh].filter((p) => p.at >= cutoff);
    m.latest = answer;
    m.unavailable = undefined;
  } catch (err) {
    m.unavailable = `live figures unavailable: ${describe(err)}`;
  }
}

function renderSelected(status, checkpoints) {
  $('job-detail').hidden = false;
  if (state.chartsJobId !== status.id) {
    state.charts?.destroy();
    state.charts = new JobCharts();
    state.chartsJobId = status.id;
  }
  const m = state.metrics;
  const metrics = m.latest ? { ...m.latest, points: m.points } : undefined;
  renderJobDetail(status, checkpoints, metrics);
  setText($('metrics-message'), m.unavailable ?? (m.points.length === 0 ? 'no samples yet' : ''));
  state.charts.update(m.points);
  if (!state.rescaleTyped && document.activeElement !== $('rescale-input')) $('rescale-input').value = String(status.parallelism);
}

let polling = false;

async function poll() {
  if (polling || state.waitingForToken) return;
  polling = true;
  try {
    const [overview, jobList, taskmanagers] = await Promise.all([getOverview(), getJobs(), getTaskManagers()]);
    state.jobs = jobList.jobs;
    if (!state.jobs.some((j) => j.id === state.selectedId)) {
      const first = orderJobs(state.jobs).shown[0];
      state.selectedId = first && (isActive(first.state) || state.selectedId === undefined) ? first.id : undefined;
    }
    const id = state.selectedId;
    const [detail] = await Promise.all([
      id ? Promise.all([getJob(id), getCheckpoints(id).catch(() => undefined), refreshMetrics(id)]) : undefined,
      refreshReasons(state.jobs),
    ]);
    renderOverview(overview);
    const names = new Map(state.jobs.map((j) => [j.id, j.name]));
    renderJobs(state.jobs, id, state.reasons, select);
    renderTaskManagers(taskmanagers, names);
    if (detail) renderSelected(detail[0], detail[1]);
    else $('job-detail').hidden = true;
    setText($('status'), `updated ${new Date().toLocaleTimeString()}`, 'ok');
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) {
      askForToken(storedToken() ? 'The JobManager refused this token; enter the right one.' : '');
    } else {
      setText($('status'), `cannot read the JobManager: ${describe(err)}`, 'error');
    }
  } finally {
    polling = false;
  }
}

async function act(what, call) {
  const id = state.selectedId;
  if (!id) return;
  for (const b of ['rescale-button', 'cancel-button']) $(b).disabled = true;
  setText($('action-message'), `${what}…`, 'info');
  try {
    const status = await call(id);
    setText($('action-message'), `${what}: done (job ${status.state}, parallelism ${status.parallelism})`, 'ok');
    state.rescaleTyped = false;
  } catch (err) {
    setText($('action-message'), `${what} failed: ${describe(err)}`, 'error');
  } finally {
    await poll();
  }
}

$('rescale-input').addEventListener('input', () => (state.rescaleTyped = true));
$('rescale-button').addEventListener('click', () => {
  const parallelism = Number($('rescale-input').value);
  if (!Number.isInteger(parallelism) || parallelism < 1) {
    setText($('action-message'), 'parallelism must be a whole number from 1', 'error');
    return;
  }
  void act(`rescale to ${parallelism}`, (id) => rescaleJob(id, parallelism));
});
$('cancel-button').addEventListener('click', () => {
  const job = state.jobs.find((j) => j.id === state.selectedId);
  if (!job || !confirm(`Cancel job "${job.name}" (${job.id})? Its subtasks stop; this cannot be undone.`)) return;
  void act('cancel', cancelJob);
});
window.addEventListener('hashchange', () => {
  const id = selectedFromHash();
  if (id) select(id);
});

function loop() {
  void poll().finally(() => setTimeout(loop, POLL_MS));
}
loop();
