// One stream, live: status, worker and restarts; the champion and the candidate in shadow with
// their test's running evidence; each role's recent accuracy beside the trivial rules', with the
// loop's drifts, promotions and rollbacks marked and the price's turbulent regime shaded; the
// lineage; each model's scores, trading figures and equity curve over a window of events beside
// buy and hold; its alerts; and the manual triggers (retrain, promote, roll back, checkpoint),
// each recorded with who and why. Read again every few seconds while the stream runs.

import { api } from "../../api.js";
import { PALETTE, draw, release } from "../../charts.js";
import { FINISHED, badge, dialog, errorBox, fill, h, keyValues, loading, time, toast } from "../../ui.js";
import { RULES, fixed, percent } from "./shared.js";

const POLL_MS = 2000;
const ANSWER_MS = 30000;
const ROLES = ["champion", "candidate", "previous"];
/** What a retrain may name (the API's TriggerCreate.learner: stream.direction.LEARNERS). */
const LEARNERS = ["logreg-sgd", "logreg-adam", "mlp", "ensemble", ...RULES];
const MARKS = { drift: "#f2a541", promote: "#17a673", rollback: "#d32f2f" };
const TURBULENT = "regime/turbulent";
const ACTIONS = {
  retrain: "Retrain now",
  promote: "Promote the candidate",
  rollback: "Roll back",
  checkpoint: "Checkpoint now",
  pause: "Pause",
  resume: "Resume",
};

export async function renderDetail(main, { params }) {
  const id = Number(params[0]);
  let stream = await api.get(`/streams/${id}`);
  let timer = null;
  let stopped = false;

  const title = h("h1", {});
  const statusBox = h("span", { id: "stream-status" });
  const stopButton = h("button", { class: "danger", id: "stream-stop", onclick: stop }, "Stop");
  const sub = h("span", { class: "sub", id: "stream-sub" });
  const restartsBox = h("div", { class: "small muted", id: "stream-restarts" });
  const sourceBox = h("div", { class: "small", id: "stream-source" });
  const rolesBox = h("div", { id: "stream-roles" }, loading());
  const triggerBox = h("div", { id: "stream-triggers" });
  const chart = h("div", { class: "chart", id: "stream-chart" }, loading("Loading curves…"));
  const lineageBox = h("div", { class: "table-wrap", id: "stream-lineage" }, loading());
  const modelLink = h("a", { id: "stream-model", href: `#/models/${encodeURIComponent(stream.name)}` }, "its versions and alias history");
  const alertsBox = h("div", { class: "table-wrap", id: "stream-alerts" }, loading());
  const scoresBox = h("div", { class: "table-wrap", id: "stream-scores" });
  const equityBox = h("div", {});
  const errorArea = h("div");
  const start = h("input", { type: "number", min: "0", name: "start", value: "0", id: "window-start" });
  const end = h("input", { type: "number", min: "1", name: "end", placeholder: "last", id: "window-end" });

  fill(main,
    h("div", { class: "page-head" }, title, statusBox, stopButton, sub),
    restartsBox,
    sourceBox,
    errorArea,
    h("div", { class: "grid-2" },
      h("div", { class: "card" }, h("h2", {}, "Champion and candidates"), rolesBox),
      h("div", { class: "card" }, h("h2", {}, "Triggers"), triggerBox)),
    h("div", { class: "card", style: { marginTop: "1rem" } },
      h("h2", {}, "Recent accuracy beside the trivial rules"),
      h("div", { class: "small muted" }, "Marks: drift (orange), promotion (green), rollback (red). Shaded: the price's turbulent volatility regime."), chart),
    h("div", { class: "card", style: { marginTop: "1rem" } }, h("h2", {}, "Alerts"), alertsBox),
    h("div", { class: "card", style: { marginTop: "1rem" } }, h("h2", {}, "Lineage"),
      h("div", { class: "small muted" }, "Each promotion and rollback moves the champion alias of the registry's model named after the stream: ", modelLink, "."),
      lineageBox),
    h("div", { class: "card", style: { marginTop: "1rem" } },
      h("h2", {}, "Scores over a window of events"),
      h("form", { class: "row", id: "window-form", onsubmit: (event) => { event.preventDefault(); loadScores(); } },
        h("label", {}, "From event ", start), h("label", {}, "to ", end), h("button", { type: "submit" }, "Score")),
      scoresBox, equityBox));
  drawTriggers();

  async function refresh() {
    clearTimeout(timer);
    try {
      const [found, standing, lineage, curves, alerts] = await Promise.all([
        api.get(`/streams/${id}`),
        // A checkpoint of an older AzuraForge has no roles (409): the rest is still shown.
        api.get(`/streams/${id}/candidates`).catch((error) => ({ error })),
        api.get(`/streams/${id}/lineage`, { limit: 10000 }),
        api.get(`/runs/${id}/metrics`, { keys: [...curveKeys(), TURBULENT].join(","), max_points: 1000 }),
        api.get(`/streams/${id}/alerts`),
      ]);
      stream = found;
      fill(errorArea);
      drawHead();
      if (standing.error) fill(rolesBox, errorBox(standing.error, "Its roles could not be read"));
      else drawRoles(standing);
      drawLineage(lineage);
      drawAlerts(alerts);
      await drawChart(curves.metrics, lineage);
    } catch (error) {
      fill(errorArea, errorBox(error, "The stream could not be read"));
      if (error.status === 404) return; // deleted: nothing more to read
    }
    if (!stopped && !FINISHED.has(stream.status)) timer = setTimeout(refresh, POLL_MS);
  }

  function curveKeys() {
    return [...ROLES, ...RULES].map((name) => `${name}/recent_accuracy`);
  }

  function drawHead() {
    title.textContent = stream.name;
    fill(statusBox, badge(stream.status));
    stopButton.style.display = FINISHED.has(stream.status) ? "none" : "";
    const pace = [stream.events_per_second == null ? null : `${Math.round(stream.events_per_second).toLocaleString("en-US")} events/s`,
      stream.lag == null ? null : `last checkpoint ${stream.lag.toFixed(0)} s ago`].filter(Boolean);
    sub.textContent = `Stream ${stream.id} · ${stream.learner} on ${stream.source} · ${stream.events.toLocaleString("en-US")} events, ` +
      `${stream.scored.toLocaleString("en-US")} scored · ${[...pace, ""].join(" · ")}worker ${stream.worker || "–"} · ${stream.restarts} restarts`;
    // The last few restarts, newest first: a lost worker, a crash, a schedule, the memory limit.
    fill(restartsBox, stream.restart_history.slice(-3).reverse().map((restart) =>
      h("div", { dataset: { reason: restart.reason } }, `Restarted ${time(restart.at)} (${restart.reason}): ${restart.detail}`)));
    // What its source found in its rows (skipped rows with line and reason, repeats, gaps,
    // banners, mixed times): the summary, then each finding.
    const found = stream.source_report ? stream.source_report.lines : [];
    fill(sourceBox, found.map((line, index) => h("div", { class: index ? "" : "muted" }, index ? line : `Source: ${line}`)));
  }

  function drawRoles(standing) {
    const rows = ROLES.filter((role) => standing.roles[role]).map((role) => {
      const name = standing.roles[role];
      const test = standing.tests[role];
      // A stream that ended keeps no candidate in shadow and no rollback armed: said so.
      const ended = standing.ended && role !== "champion" ? " (ended with the stream)" : "";
      const label = (role === "previous" ? "previous (rollback armed)" : role) + ended;
      const testText = test ? `evidence ${test.evidence.toPrecision(3)} / against ${test.against.toPrecision(3)} after ${test.events.toLocaleString("en-US")} pairs (mean difference ${test.mean_difference >= 0 ? "+" : ""}${test.mean_difference.toFixed(4)})` : "";
      return [label, h("span", { dataset: { role } }, h("strong", {}, name), ` (${standing.kinds[name]}) `, h("span", { class: "small muted" }, testText))];
    });
    const training = standing.training;
    if (training) {
      rows.push(["training", h("span", { id: "stream-training" }, h("strong", {}, training.kind), " ",
        training.run === null ? "(its run is being queued)" : runLink(training.run), h("span", { class: "small muted" }, ` asked by ${training.actor}${training.reason ? `: ${training.reason}` : ""}`))]);
    }
    fill(rolesBox, keyValues([...rows, ["champion's accuracy", percent(stream.scores["champion/accuracy"])],
      standing.paused ? ["paused", h("span", { id: "stream-paused" }, "yes: no event is taken until a resume")] : null]));
  }

  function drawTriggers() {
    const reason = h("input", { type: "text", name: "reason", placeholder: "why (kept with the change)", id: "trigger-reason", maxlength: "500" });
    const learner = h("select", { name: "learner", id: "trigger-learner" },
      h("option", { value: "" }, "the stream's learner"), LEARNERS.map((name) => h("option", { value: name }, name)));
    const buttons = Object.entries(ACTIONS).map(([action, label]) =>
      h("button", { type: "button", id: `trigger-${action}`, class: action === "rollback" ? "danger" : "", onclick: () => ask(action, reason, learner) }, label));
    fill(triggerBox,
      h("div", { class: "small muted" }, "Taken at the stream's next event; the answer shows here and in the lineage."),
      h("div", { class: "row" }, h("label", {}, "Retrain with ", learner)),
      h("div", { class: "row" }, reason),
      h("div", { class: "row" }, buttons),
      h("div", { id: "trigger-answer", class: "small" }));
  }

  async function ask(action, reason, learner) {
    const body = { action, reason: reason.value };
    if (action === "retrain" && learner.value) body.learner = learner.value;
    if (action === "rollback" || action === "promote") {
      const sure = await dialog({ title: `${ACTIONS[action]}?`, body: action === "promote" ? "The candidate becomes champion now, whatever its test says; rollback stays armed." : "The previous champion comes back now.", confirm: ACTIONS[action], danger: action === "rollback" });
      if (!sure) return;
    }
    const answer = document.getElementById("trigger-answer");
    let trigger;
    try {
      trigger = await api.post(`/streams/${id}/triggers`, body);
    } catch (error) {
      toast(error.message, "error");
      return;
    }
    answer.textContent = `${action}: asked, waiting for the stream…`;
    const deadline = Date.now() + ANSWER_MS;
    while (Date.now() < deadline && !stopped) {
      let all = [];
      try {
        all = await api.get(`/streams/${id}/triggers`);
      } catch (error) {
        answer.textContent = `${action}: its answer could not be read (${error.message}); retrying…`;
      }
      const mine = all.find((t) => t.id === trigger.id);
      if (mine && mine.status !== "pending") {
        const where = mine.event === null ? "" : ` at event ${mine.event.toLocaleString("en-US")}`;
        answer.textContent = `${action} ${mine.status}${where}: ${mine.message}`;
        toast(answer.textContent, mine.status === "refused" ? "error" : "");
        refresh();
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, 300));
    }
    answer.textContent = `${action}: still waiting; the stream takes it at its next event.`;
  }

  function drawLineage(lineage) {
    const rows = lineage.slice().reverse().slice(0, 50).map((change) => h("tr", { dataset: { kind: change.kind } },
      h("td", { class: "num" }, change.event.toLocaleString("en-US")),
      h("td", {}, change.kind),
      h("td", {}, change.model, change.run ? [" ", runLink(change.run)] : null),
      h("td", {}, change.other || ""),
      h("td", { class: "small" }, evidenceText(change.evidence)),
      h("td", {}, change.actor),
      h("td", { class: "small" }, change.reason),
      h("td", { class: "small nowrap" }, time(change.created_at))));
    if (!rows.length) rows.push(h("tr", {}, h("td", { colspan: "8", class: "empty" }, "No change yet: the champion holds.")));
    fill(lineageBox, h("table", {},
      h("thead", {}, h("tr", {}, h("th", { class: "num" }, "Event"), h("th", {}, "Change"), h("th", {}, "Model"), h("th", {}, "Versus"),
        h("th", {}, "Evidence (for / against, mean diff)"), h("th", {}, "By"), h("th", {}, "Why"), h("th", {}, "When"))),
      h("tbody", {}, rows)));
  }

  function runLink(run) {
    return h("a", { href: `#/runs/${run}`, class: "run-link" }, `run ${run}`);
  }

  function evidenceText(evidence) {
    const { evidence: wealth, against, mean_difference: mean } = evidence;
    if (wealth === undefined || against === undefined || mean === undefined) return "";
    return `${wealth.toPrecision(3)} / ${against.toPrecision(3)}, ${mean.toFixed(4)}`;
  }

  function drawAlerts(alerts) {
    const shown = (value) => (value === null ? "" : Number.isInteger(value) ? String(value) : value.toFixed(4));
    const rows = alerts.map((alert) => h("tr", { dataset: { rule: alert.rule, state: alert.state } },
      h("td", {}, alert.rule),
      h("td", {}, badge(alert.state)),
      h("td", { class: "num" }, `${shown(alert.value)}${alert.bound === null ? "" : ` (bound ${shown(alert.bound)})`}`),
      h("td", { class: "small" }, alert.message),
      h("td", { class: "small nowrap" }, time(alert.fired_at ?? alert.started_at)),
      // The value and message are those of while it held; the value it resolved at beside its time.
      h("td", { class: "small nowrap", dataset: { field: "resolved" } }, alert.resolved_at
        ? `${time(alert.resolved_at)}${alert.resolved_value === null ? "" : ` at ${shown(alert.resolved_value)}`}` : "")));
    if (!rows.length) rows.push(h("tr", {}, h("td", { colspan: "6", class: "empty" }, "No alert.")));
    fill(alertsBox, h("table", {},
      h("thead", {}, h("tr", {}, h("th", {}, "Rule"), h("th", {}, "State"), h("th", { class: "num" }, "Value while it held"), h("th", {}, "What it saw"),
        h("th", {}, "Since"), h("th", {}, "Resolved"))),
      h("tbody", {}, rows)));
  }

  async function drawChart(metrics, lineage) {
    // A name keeps its colour whichever roles are held (the index among all the curves).
    const data = curveKeys().map((key, index) => [key, index]).filter(([key]) => metrics[key]).map(([key, index]) => ({
      type: "scatter", mode: "lines", name: key.split("/")[0], ...broken(metrics[key]),
      line: { color: PALETTE[index % PALETTE.length], width: ROLES.includes(key.split("/")[0]) ? 2.5 : 1.2 },
    }));
    if (!data.length) {
      fill(chart, h("div", { class: "chart-empty" }, "No checkpoint yet."));
      return;
    }
    const shapes = lineage.filter((change) => MARKS[change.kind]).map((change) => ({
      type: "line", xref: "x", yref: "paper", x0: change.event, x1: change.event, y0: 0, y1: 1,
      line: { color: MARKS[change.kind], width: 1.5, dash: change.kind === "drift" ? "dot" : "solid" },
    }));
    shapes.push(...bands(metrics[TURBULENT]));
    if (chart.querySelector(".loading")) fill(chart);
    await draw(chart, data, { shapes, showlegend: true, xaxis: { title: { text: "event" } }, yaxis: { title: { text: "recent accuracy" } } });
  }

  /** Shaded bands over the checkpoints' spans where the regime was turbulent more often than not. */
  function bands(regime) {
    if (!regime) return [];
    return regime.steps.map((step, index) => [index ? regime.steps[index - 1] : 0, step, regime.values[index]])
      .filter(([, , share]) => share > 0.5)
      .map(([from, to]) => ({
        type: "rect", xref: "x", yref: "paper", x0: from, x1: to, y0: 0, y1: 1, layer: "below",
        fillcolor: "rgba(211, 47, 47, 0.08)", line: { width: 0 }, name: "turbulent",
      }));
  }

  /** A role's curve, cut where it held nobody (no line across the events between). */
  function broken({ steps, values }) {
    const gaps = steps.slice(1).map((step, index) => step - steps[index]).sort((a, b) => a - b);
    const usual = gaps.length ? gaps[Math.floor(gaps.length / 2)] : 0;
    const x = [];
    const y = [];
    steps.forEach((step, index) => {
      if (index && step - steps[index - 1] > 3 * usual) {
        x.push(null);
        y.push(null);
      }
      x.push(step);
      y.push(values[index]);
    });
    return { x, y };
  }

  async function loadScores() {
    const query = { start: start.value || "0" };
    if (end.value) query.end = end.value;
    fill(scoresBox, loading());
    let found;
    try {
      found = await api.get(`/streams/${id}/scores`, query);
    } catch (error) {
      fill(scoresBox, errorBox(error, "The window could not be scored"));
      return;
    }
    const row = (name, scores, trading) => h("tr", { dataset: { model: name } },
      h("td", {}, name),
      h("td", { class: "num" }, scores ? scores.predictions.toLocaleString("en-US") : ""),
      h("td", { class: "num" }, scores ? percent(scores.accuracy) : ""),
      h("td", { class: "num" }, scores ? fixed(scores.log_loss) : ""),
      h("td", { class: "num" }, scores ? percent(scores.win_rate) : ""),
      h("td", { class: "num" }, trading ? percent(trading.total_return) : "–"),
      h("td", { class: "num" }, trading ? fixed(trading.sharpe, 2) : "–"),
      h("td", { class: "num" }, trading ? percent(trading.max_drawdown) : "–"));
    const models = Object.entries(found.models).sort(([a], [b]) => RULES.includes(a) - RULES.includes(b) || a.localeCompare(b));
    fill(scoresBox, h("table", {},
      h("thead", {}, h("tr", {}, h("th", {}, "Model"), h("th", { class: "num" }, "Predictions"), h("th", { class: "num" }, "Accuracy"),
        h("th", { class: "num" }, "Log-loss"), h("th", { class: "num" }, "Win rate"), h("th", { class: "num" }, "Return"),
        h("th", { class: "num" }, "Sharpe"), h("th", { class: "num" }, "Max drawdown"))),
      h("tbody", {}, models.map(([name, scores]) => row(name, scores, scores.trading)),
        row("buy and hold", null, found.buy_and_hold))),
      h("div", { class: "small muted" }, `Long when a model gives up 50 % or more, flat otherwise, one prediction every horizon events, net of ${(found.cost * 100).toFixed(2)} % a change.`));
    await drawEquity(found.equity);
  }

  /** What 1 became trading each learner's predictions over the window, beside buy and hold. */
  async function drawEquity(equity) {
    const names = Object.keys(equity).filter((name) => !RULES.includes(name));
    release(equityBox);
    if (!names.length) {
      fill(equityBox);
      return;
    }
    const equityChart = h("div", { class: "chart", id: "stream-equity" });
    fill(equityBox, equityChart);
    const data = names.map((name, index) => ({
      type: "scatter", mode: "lines", name, x: equity[name].times.map((t) => new Date(t * 1000)), y: equity[name].values,
      line: name === "buy and hold" ? { color: "#666", dash: "dash", width: 1.5 } : { color: PALETTE[index % PALETTE.length], width: 2 },
    }));
    await draw(equityChart, data, { showlegend: true, yaxis: { type: "log", title: { text: "equity (1 at its first step, log scale)" } } });
  }

  async function stop() {
    const sure = await dialog({ title: "Stop this stream?", body: "It stops at its next event, after its last checkpoint, and ends cancelled.", confirm: "Stop", danger: true });
    if (!sure) return;
    try {
      await api.post(`/streams/${id}/stop`);
      refresh();
    } catch (error) {
      toast(error.message, "error");
    }
  }

  await refresh();
  loadScores();
  return () => {
    stopped = true;
    clearTimeout(timer);
    release(chart);
    release(equityBox);
  };
}
