/**
 * Renders what the REST API answered into the page's sections: cluster summary, jobs, TaskManagers, and
 * the selected job's figures, subtasks, splits, errors and events. Pure DOM updates from data; no calls.
 */
import { el, fillFigures, fillTable, formatAge, formatDateTime, formatNumber, formatTime, setText, stateBadge } from './dom.js';

const $ = (id) => document.getElementById(id);

/** Finished jobs shown below the active ones (the API lists all of them). */
const FINISHED_SHOWN = 20;

export const isActive = (state) => state !== 'CANCELED' && state !== 'FAILED';

/** `GET /overview` → the header's figures. */
export function renderOverview(overview) {
  const used = overview.slotsTotal - overview.slotsAvailable;
  fillFigures($('cluster-summary'), [
    ['cluster', overview.cluster],
    ['active jobs', formatNumber(overview.jobs)],
    ['TaskManagers', formatNumber(overview.taskmanagers)],
    ['slots used', `${used} / ${overview.slotsTotal}`],
    ['access', overview.access],
  ]);
}

/** Active jobs first (newest first), then the newest finished ones. */
export function orderJobs(jobs) {
  const newest = (a, b) => b.submittedAt - a.submittedAt;
  const active = jobs.filter((j) => isActive(j.state)).sort(newest);
  const finished = jobs.filter((j) => !isActive(j.state)).sort(newest);
  return { shown: [...active, ...finished.slice(0, FINISHED_SHOWN)], hidden: Math.max(0, finished.length - FINISHED_SHOWN) };
}

/** `GET /jobs` → the jobs table; `reasons`: jobId → failure or degraded text; clicking a row selects it. */
export function renderJobs(jobs, selectedId, reasons, onSelect) {
  const { shown, hidden } = orderJobs(jobs);
  const rows = shown.map((job) => {
    const row = el(
      'tr',
      { class: job.id === selectedId ? 'selected clickable' : 'clickable', 'data-job-id': job.id, tabindex: 0 },
      el('td', {}, job.name),
      el('td', { class: 'mono', title: job.id }, job.id.slice(0, 8)),
      el('td', {}, stateBadge(job.state)),
      el('td', { class: 'num' }, formatNumber(job.parallelism)),
      el('td', { title: formatDateTime(job.submittedAt) }, formatTime(job.submittedAt)),
      el('td', { class: 'reason-cell' }, reasons.get(job.id) ?? ''),
    );
    row.addEventListener('click', () => onSelect(job.id));
    row.addEventListener('keydown', (e) => e.key === 'Enter' && onSelect(job.id));
    return row;
  });
  fillTable($('jobs-table'), rows, 'no jobs: submit one with `cs job submit FILE`');
  setText($('jobs-note'), hidden > 0 ? `${hidden} older finished job(s) not shown` : '');
}

/** `GET /taskmanagers` → the TaskManagers table; `names`: jobId → job name. */
export function renderTaskManagers(list, names) {
  const now = Date.now();
  const rows = [...list.taskmanagers]
    .sort((a, b) => a.id.localeCompare(b.id))
    .map((tm) => [
      tm.id,
      tm.host,
      `${tm.slots - tm.freeSlots} / ${tm.slots}`,
      el('span', { title: formatDateTime(tm.lastHeartbeat) }, formatAge(tm.lastHeartbeat, now)),
      tm.subtasks.map((s) => `${names.get(s.jobId) ?? s.jobId.slice(0, 8)} #${s.subtaskIndex}`).join(', ') || '–',
    ]);
  fillTable($('tm-table'), rows, 'no TaskManager registered: start one with `cs taskmanager start`');
}

/** The newest point's figures and the totals since submit, above the charts. */
export function renderFigures(status, metrics) {
  const last = metrics?.points.at(-1);
  const totals = metrics?.totals;
  fillFigures($('job-figures'), [
    ['throughput', last ? `${formatNumber(last.requestsPerSec)} /s` : '–', { id: 'figure-throughput', 'data-value': last?.requestsPerSec ?? '', 'data-points': metrics?.points.length ?? 0 }],
    ['p50 latency', last?.latencyP50Ms != null ? `${formatNumber(last.latencyP50Ms)} ms` : '–'],
    ['p99 latency', last?.latencyP99Ms != null ? `${formatNumber(last.latencyP99Ms)} ms` : '–'],
    ['mean batch', formatNumber(last?.meanBatchSize)],
    ['lag', formatNumber(last?.lag ?? sumOf(status.splitProgress, 'lag'))],
    ['pending', formatNumber(last?.pending ?? sumOf(status.splitProgress, 'pending'))],
    ['results', formatNumber(totals?.requests)],
    ['errors', formatNumber(totals?.errors), { id: 'figure-errors' }],
    ['dead letters', formatNumber(status.deadLetter?.entries)],
  ]);
}

function sumOf(list, field) {
  if (!list || list.length === 0) return undefined;
  return list.reduce((n, s) => n + (s[field] ?? 0), 0);
}

/** `GET /jobs/:id` (+ checkpoints and metrics totals) → the selected job's header and tables. */
export function renderJobDetail(status, checkpoints, metrics) {
  setText($('job-title'), status.name);
  $('job-state').replaceWith(Object.assign(stateBadge(status.state), { id: 'job-state' }));
  const reason = status.failure ?? status.degraded;
  $('job-reason').hidden = !reason;
  setText($('job-reason'), reason ? `${status.state === 'FAILED' ? 'Failed' : 'Degraded'}: ${reason}` : '');
  renderFigures(status, metrics);

  fillTable(
    $('subtasks-table'),
    status.subtasks.map((s) => [String(s.index), s.taskManagerId ?? 'unassigned', s.splits.join(', ') || '–', s.epoch ?? '–']),
  );

  const recorded = new Map((checkpoints?.splits ?? []).map((c) => [c.split, c]));
  fillTable(
    $('splits-table'),
    (status.splitProgress ?? []).map((s) => {
      const c = recorded.get(s.split);
      return [
        s.split,
        formatNumber(s.lag),
        formatNumber(s.pending),
        el('span', { class: 'mono' }, s.checkpoint ?? c?.offset ?? '–'),
        c ? el('span', { title: `by subtask ${c.subtaskIndex} on ${c.taskManagerId}` }, formatAge(c.updatedAt)) : '–',
      ];
    }),
  );

  const byCode = Object.entries(metrics?.totals.errorsByCode ?? {}).sort((a, b) => b[1] - a[1]);
  fillTable($('errors-table'), byCode.map(([code, n]) => [code, formatNumber(n)]), metrics ? 'no errors' : 'unknown');
  setText($('dead-letters'), status.deadLetter ? `Dead letters: ${formatNumber(status.deadLetter.entries)} in ${status.deadLetter.stream}` : '');

  const events = [...(status.events ?? [])].reverse();
  const list = $('events-list');
  list.replaceChildren(
    ...(events.length === 0
      ? [el('li', { class: 'note' }, 'none')]
      : events.map((e) => el('li', {}, el('time', {}, formatTime(e.at)), ` ${e.kind} on ${e.split} (subtask ${e.subtaskIndex}, ${e.taskManagerId}): ${e.message}`))),
  );

  const active = isActive(status.state);
  $('rescale-button').disabled = !active;
  $('cancel-button').disabled = !active;
  $('rescale-input').disabled = !active;
}
